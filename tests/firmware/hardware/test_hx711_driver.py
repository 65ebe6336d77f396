"""The HX711 driver: the package's defects shown against the emulator, then ours fixed.

Everything runs on a FakeClock: no real sleeps, no threads.
"""

from __future__ import annotations

import subprocess
import sys
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.hardware import hx711 as driver
from firmware.hardware.hx711 import HX711, HX711Error, HX711FrameError, HX711Timeout, decode_frame
from firmware.hardware.hx711_emulator import EmulatedHX711, EmulatedPins, FakeClock

A128, B32, A64 = HX711.CHAN_A_GAIN_128, HX711.CHAN_B_GAIN_32, HX711.CHAN_A_GAIN_64
PERIOD_NS = 12_500_000
#: Every value a good frame can carry: 0x800000, 0x7FFFFF and 0xFFFFFF (-1) are rejected.
GOOD_VALUES = st.integers(-(1 << 23) + 1, (1 << 23) - 2).filter(lambda v: v != -1)


class Signal:
    """A settable constant signal, in counts."""

    def __init__(self, value: float = 0) -> None:
        self.value = value

    def __call__(self, t_s: float) -> float:
        return self.value


class Rig:
    def __init__(self, value_a=0, value_b=0, connected=True, clock_cost_ns=None, rate_hz=80):
        self.clock = FakeClock()
        self.a = Signal(value_a)
        self.b = Signal(value_b)
        self.chip = EmulatedHX711(self.clock, self.a, self.b, rate_hz=rate_hz, connected=connected)
        self.pins = EmulatedPins(self.chip, clock_cost_ns=clock_cost_ns)

    def driver(self, **kw) -> HX711:
        return HX711(self.pins.data, self.pins.clock, clock_ns=self.clock.now_ns, sleep=self.clock.sleep, **kw)


@pytest.fixture
def rig():
    return Rig()


# -- the unpatched package ----------------------------------------------------


@pytest.fixture
def package(monkeypatch):
    """adafruit_hx711.hx711 with its 1 ms reset sleep on the fake clock set later."""
    module = driver._adafruit
    fake_time = types.SimpleNamespace(sleep=None)
    monkeypatch.setattr(module, "time", fake_time)

    def build(rig: Rig):
        fake_time.sleep = rig.clock.sleep
        return module.HX711(rig.pins.data, rig.pins.clock)

    build.module = module
    return build


@pytest.fixture
def interrupts_patched(monkeypatch):
    """Give Blinka's microcontroller the no-op interrupt calls it lacks; returns a delay_us setter."""
    mc = driver._adafruit.microcontroller
    monkeypatch.setattr(mc, "disable_interrupts", lambda: None, raising=False)
    monkeypatch.setattr(mc, "enable_interrupts", lambda: None, raising=False)

    def set_delay_us_cost(rig: Rig, ns_per_call: int):
        monkeypatch.setattr(mc, "delay_us", lambda us: rig.clock.advance_ns(ns_per_call))

    return set_delay_us_cost


def test_package_read_raises_attribute_error_under_blinka(package, rig):
    assert not hasattr(driver._adafruit.microcontroller, "disable_interrupts")
    chip = package(rig)
    with pytest.raises(AttributeError, match="disable_interrupts"):
        chip.read()


def test_package_returns_negative_values_as_large_positives(package, interrupts_patched):
    rig = Rig(value_a=-1000)
    interrupts_patched(rig, 0)
    value = package(rig).read()
    assert value == (-1000) & 0xFFFFFFFF == 4_294_966_296
    assert rig.chip.power_downs == 1  # only the reset in the constructor


def test_package_delay_us_on_linux_powers_the_chip_down(package, interrupts_patched):
    rig = Rig(value_a=1234)
    interrupts_patched(rig, 90_000)  # time.sleep(1e-6) takes about 90 us on Linux
    chip = package(rig)
    downs_before = rig.chip.power_downs
    value = chip.read()
    assert rig.chip.power_downs - downs_before >= 24
    assert value != 1234
    assert value == 0xFFFFFFFF  # all ones from a sleeping chip, sign-extended wrongly


def test_package_read_consumes_two_conversions(package, interrupts_patched):
    rig = Rig(value_a=42)
    interrupts_patched(rig, 0)
    chip = package(rig)
    assert chip.read() == 42
    assert rig.chip.frames_read == 2
    chip.read()
    assert rig.chip.frames_read == 4


class Spun(Exception):
    """Raised by a DOUT pin that has been polled too often."""


class CountingData:
    def __init__(self, pin, limit=100_000):
        self.pin = pin
        self.limit = limit
        self.polls = 0

    @property
    def value(self):
        self.polls += 1
        if self.polls > self.limit:
            raise Spun(self.polls)
        return self.pin.value


def test_package_ready_wait_spins_forever_on_a_dead_chip(package):
    rig = Rig(connected=False)
    chip = package(rig)
    chip._data_pin = CountingData(rig.pins.data)
    with pytest.raises(Spun):
        chip.read()
    assert rig.clock.sleeps == 1  # the reset sleep only: the wait never sleeps or gives up


# -- our driver ---------------------------------------------------------------


def test_driver_keeps_the_package_class_and_constants():
    assert issubclass(HX711, driver.AdafruitHX711)
    assert (A128, B32, A64) == (25, 26, 27)
    assert issubclass(HX711Timeout, TimeoutError) and issubclass(HX711Timeout, HX711Error)
    assert issubclass(HX711FrameError, ValueError) and issubclass(HX711FrameError, HX711Error)


def test_construction_resets_with_injected_sleep(rig):
    rig.driver()
    assert rig.clock.sleeps == 1
    assert rig.chip.power_downs == 1
    assert rig.chip.powered and rig.pins.clock.direction == "output"


@pytest.mark.parametrize("value", [0, 1, -1000, 0x7FFFFE, -0x7FFFFF, 123456, -2])
def test_signed_values(value):
    rig = Rig(value_a=value)
    assert rig.driver().read() == value


@settings(max_examples=150, deadline=None)
@given(GOOD_VALUES)
def test_signed_values_over_the_whole_range(value):
    rig = Rig(value_a=value)
    assert rig.driver().read_frame() == value


@given(st.integers(0, 0xFFFFFF))
def test_decode_frame_is_twos_complement(raw):
    value = decode_frame(raw)
    assert -(1 << 23) <= value < (1 << 23)
    assert value & 0xFFFFFF == raw


def test_one_conversion_per_read(rig):
    chip = rig.driver()
    rig.a.value = 7
    for n in range(1, 11):
        assert chip.read() == 7
        assert rig.chip.frames_read == n
    # ten reads take about ten sample periods after the 50 ms settling
    assert rig.clock.now_ns() < 51_000_000 + 10 * PERIOD_NS


def test_works_at_10_samples_per_second():
    rig = Rig(value_a=-77, rate_hz=10)
    chip = rig.driver()  # the default 0.5 s wait covers the 400 ms settling
    assert [chip.read() for _ in range(3)] == [-77] * 3
    assert 0.6 < rig.clock.monotonic() < 0.62


def test_clock_high_phases_stay_short(rig):
    chip = rig.driver()
    chip.read()
    assert rig.chip.power_downs == 1  # the constructor's reset only


def test_tare_is_applied_by_read_but_not_read_frame(rig):
    rig.a.value = 500
    chip = rig.driver()
    chip.tare_value_a = 100
    assert chip.read() == 400
    assert chip.read_frame() == 500


@pytest.mark.parametrize("chan_gain, expected", [(A128, 1000), (B32, -300), (A64, 500)])
def test_all_three_gain_settings(chan_gain, expected):
    rig = Rig(value_a=1000, value_b=-300)
    chip = rig.driver()
    assert chip.read(chan_gain) == expected
    # switching from A/128 (after reset) costs one discarded conversion
    assert rig.chip.frames_read == (1 if chan_gain == A128 else 2)
    assert chip.read(chan_gain) == expected
    assert rig.chip.frames_read == (2 if chan_gain == A128 else 3)


def test_alternating_channels(rig):
    rig.a.value, rig.b.value = 12, 22
    chip = rig.driver()
    assert [chip.read(g) for g in (A128, B32, A128, A64, B32)] == [12, 22, 12, 6, 22]


def test_invalid_gain_is_refused(rig):
    with pytest.raises(ValueError):
        rig.driver().read(24)


def test_dead_chip_times_out_quickly_in_fake_time():
    rig = Rig(connected=False)
    chip = rig.driver(timeout_s=0.2, poll_s=0.001)
    start = rig.clock.now_ns()
    with pytest.raises(HX711Timeout, match="not ready"):
        chip.read()
    waited_ns = rig.clock.now_ns() - start
    assert 200_000_000 <= waited_ns < 202_000_000
    assert 190 <= rig.clock.sleeps <= 202


def test_timeout_zero_checks_once_without_sleeping(rig):
    chip = rig.driver()
    sleeps = rig.clock.sleeps
    with pytest.raises(TimeoutError):
        chip.read_frame(timeout_s=0)  # still settling after the reset
    assert rig.clock.sleeps == sleeps
    assert not chip.is_ready


def test_slow_clock_high_phase_drops_the_frame():
    rig = Rig(value_a=99, clock_cost_ns=55_000)  # 55 us per clock write: high for ~56 us
    chip = rig.driver()
    with pytest.raises(HX711FrameError) as info:
        chip.read()
    assert info.value.reason == HX711FrameError.CLOCK_HIGH_TOO_LONG
    assert info.value.high_ns > 50_000
    assert rig.chip.power_downs == 1  # under 60 us: the chip stayed on, we still refuse it


def test_clock_high_past_60us_drops_the_frame_and_recovers():
    rig = Rig(value_a=99, clock_cost_ns=70_000)
    chip = rig.driver()
    with pytest.raises(HX711FrameError, match="clock high too long"):
        chip.read()
    assert rig.chip.power_downs > 1
    rig.pins.clock.cost_ns = 1_000  # the hiccup is over
    assert chip.read() == 99  # after the wake-up settling, at the reset gain A/128


def test_slow_pulse_while_switching_gain_is_reported():
    rig = Rig(value_a=99, value_b=5, clock_cost_ns=70_000)
    chip = rig.driver()
    with pytest.raises(HX711FrameError):
        chip.read(B32)
    rig.pins.clock.cost_ns = 1_000
    assert chip.read(B32) == 5


@pytest.mark.parametrize(
    "value, reason, raw",
    [
        (10**8, HX711FrameError.SATURATED, 0x7FFFFF),
        (-(10**8), HX711FrameError.SATURATED, 0x800000),
        (-1, HX711FrameError.ALL_ONES, 0xFFFFFF),
    ],
)
def test_rejected_frames(value, reason, raw):
    rig = Rig(value_a=value)
    chip = rig.driver()
    with pytest.raises(HX711FrameError) as info:
        chip.read()
    assert info.value.reason == reason and info.value.raw == raw
    rig.a.value = 3
    assert chip.read() == 3  # the gain pulses still went out: one conversion later, fine


def test_package_entry_points_use_our_read(rig):
    rig.a.value = -5
    chip = rig.driver()
    assert chip.read_channel_blocking(A128) == -5
    assert chip._read_channel_raw(A128) == -5
    assert rig.chip.frames_read == 2


def test_importing_the_driver_keeps_stdout_clean():
    code = "import firmware; import sys; assert 'adafruit_hx711' not in sys.modules; import firmware.hardware.hx711"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
