"""The emulated HX711 honours the datasheet, checked by bit-banging its pins by hand."""

from __future__ import annotations

import pytest

from firmware.hardware.hx711_emulator import (
    GAIN_A_64,
    GAIN_A_128,
    GAIN_B_32,
    EmulatedHX711,
    EmulatedPins,
    FakeClock,
)

PERIOD_NS_80 = 12_500_000
SETTLE_NS_80 = 50_000_000


@pytest.fixture
def clock():
    return FakeClock()


def make(clock, value_a=0, value_b=0, **kw):
    chip = EmulatedHX711(clock, signal_a=lambda t_s: value_a, signal_b=lambda t_s: value_b, **kw)
    return chip, EmulatedPins(chip)


def wait_ready(clock, pins, limit_ns=2_000_000_000):
    start = clock.now_ns()
    while pins.data.value:
        clock.advance_ns(100_000)
        assert clock.now_ns() - start < limit_ns, "never ready"


def pulse(pins):
    """One short clock pulse; returns DOUT read after the rising edge."""
    pins.clock.value = True
    bit = pins.data.value
    pins.clock.value = False
    return bit


def shift(pins, pulses=25):
    bits = [pulse(pins) for _ in range(pulses)]
    raw = 0
    for b in bits[:24]:
        raw = (raw << 1) | int(b)
    return raw


def test_fake_clock_never_really_sleeps_and_pins_cost_time(clock):
    clock.sleep(3600.0)
    assert clock.now_ns() == 3600 * 10**9
    chip, pins = make(clock)
    before = clock.now_ns()
    pins.data.value
    assert clock.now_ns() - before == clock.pin_cost_ns == 1_000
    with pytest.raises(ValueError):
        clock.sleep(-1)


def test_dout_high_while_settling_then_low_when_ready(clock):
    chip, pins = make(clock, 1234)
    clock.advance_ns(SETTLE_NS_80 - 10_000)
    assert pins.data.value is True
    clock.advance_ns(10_000)
    assert pins.data.value is False


@pytest.mark.parametrize("value", [0, 1, 1234, -1234, 0x5A5A5A, -0x400000, (1 << 23) - 2, -(1 << 23) + 1])
def test_bits_shift_out_msb_first_as_twos_complement(clock, value):
    chip, pins = make(clock, value)
    wait_ready(clock, pins)
    assert shift(pins) == value & 0xFFFFFF
    assert chip.frames_read == 1


def test_25th_pulse_pulls_dout_back_high_until_next_conversion(clock):
    chip, pins = make(clock, 0)  # all-zero bits: DOUT low during the frame
    wait_ready(clock, pins)
    shift(pins, 24)
    assert pins.data.value is False  # last data bit still on DOUT
    pulse(pins)
    assert pins.data.value is True
    clock.advance_ns(PERIOD_NS_80)
    assert pins.data.value is False


def test_conversions_continue_at_rate_and_newest_replaces_unread(clock):
    value = {"v": 1}
    chip = EmulatedHX711(clock, signal_a=lambda t_s: value["v"])
    pins = EmulatedPins(chip)
    wait_ready(clock, pins)
    value["v"] = 2
    clock.advance_ns(3 * PERIOD_NS_80)
    assert shift(pins) == 2
    assert chip.conversions >= 4
    assert chip.frames_read == 1


@pytest.mark.parametrize(
    "pulses, expected",
    [(GAIN_A_128, 1000), (GAIN_B_32, 77), (GAIN_A_64, 500)],
)
def test_extra_pulses_select_gain_for_the_next_conversion(clock, pulses, expected):
    chip, pins = make(clock, 1000, 77)
    wait_ready(clock, pins)
    assert shift(pins, pulses) == 1000  # this frame was converted at the old setting
    assert chip.gain_pulses == pulses
    wait_ready(clock, pins)
    assert shift(pins, pulses) == expected


@pytest.mark.parametrize("value, raw", [(10**9, 0x7FFFFF), (-(10**9), 0x800000), ((1 << 23), 0x7FFFFF)])
def test_output_saturates(clock, value, raw):
    chip, pins = make(clock, value)
    wait_ready(clock, pins)
    assert shift(pins) == raw


def test_clock_high_up_to_60us_keeps_chip_on(clock):
    chip, pins = make(clock, 5)
    wait_ready(clock, pins)
    pins.clock.value = True
    clock.advance_ns(58_000)  # + 1 us for the next pin access = 59 us
    pins.clock.value = False
    assert chip.power_downs == 0
    assert chip.powered


def test_clock_high_over_60us_powers_down_and_corrupts_the_frame(clock):
    chip, pins = make(clock, 0)
    wait_ready(clock, pins)
    assert [pulse(pins) for _ in range(5)] == [False] * 5
    pins.clock.value = True
    clock.advance_ns(61_000)
    assert pins.data.value is True  # DOUT high while powered down
    assert chip.power_downs == 1 and not chip.powered
    pins.clock.value = False  # wakes up with a reset: no data until settled
    rest = [pulse(pins) for _ in range(20)]
    assert rest == [True] * 20
    assert chip.stray_pulses == 20


def test_wake_up_resets_gain_and_waits_settling_80hz(clock):
    chip, pins = make(clock, 1000, 77)
    wait_ready(clock, pins)
    shift(pins, GAIN_B_32)
    assert chip.gain_pulses == GAIN_B_32
    pins.clock.value = True
    clock.advance_ns(100_000)
    pins.clock.value = False
    woke = clock.now_ns()
    assert chip.gain_pulses == GAIN_A_128
    clock.advance_ns(SETTLE_NS_80 - (clock.now_ns() - woke) - 2_000)
    assert pins.data.value is True
    clock.advance_ns(2_000)
    assert pins.data.value is False
    assert shift(pins) == 1000  # channel A again


def test_settling_is_400ms_at_10hz(clock):
    chip, pins = make(clock, 3, rate_hz=10)
    clock.advance_ns(399_000_000)
    assert pins.data.value is True
    clock.advance_ns(1_000_000)
    assert pins.data.value is False


def test_disconnected_chip_never_gets_ready(clock):
    chip, pins = make(clock, 3, connected=False)
    for _ in range(100):
        clock.sleep(0.1)
        assert pins.data.value is True
    shift(pins)
    assert chip.frames_read == 0 and chip.conversions == 0


def test_reconnected_chip_powers_up_fresh(clock):
    chip, pins = make(clock, 9, connected=False)
    clock.sleep(1.0)
    chip.connected = True
    assert pins.data.value is True
    clock.sleep(0.05)
    assert pins.data.value is False


def test_pins_behave_like_digitalinout(clock):
    chip, pins = make(clock)
    with pytest.raises(AttributeError):
        pins.data.value = True  # an input
    pins.data.switch_to_input(pull="up")
    assert pins.data.pull == "up"
    pins.clock.switch_to_input()
    with pytest.raises(AttributeError):
        pins.clock.value = True
    pins.clock.switch_to_output(value=False)
    pins.clock.deinit()
    with pytest.raises(RuntimeError):
        pins.clock.value = True
