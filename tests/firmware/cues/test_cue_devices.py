"""Cue devices on gpiozero's MockFactory: pins over simulated time, buttons, no-GPIO fallback."""

from __future__ import annotations

import itertools
import threading

import pytest
from gpiozero import BadPinFactory, Buzzer

from firmware.cues import devices
from firmware.cues.devices import (
    DEFAULT_BUTTONS,
    MARK_OR_NEXT,
    NO_GPIO_REASON,
    PAUSE,
    ButtonInput,
    ButtonSpec,
    CueBuzzer,
    CueLed,
    CueOutput,
    NoGpioOutput,
    PressHold,
    open_cues,
)
from firmware.cues.patterns import FAULT, IN_BAND, PATTERNS
from firmware.cues.player import CuePlayer
from tests.gpio_fixtures import factory, no_global_factory, pwm_factory  # noqa: F401 (fixtures)

DT = 0.005  # simulated tick, seconds
WAIT_S = 5.0  # upper bound for waiting on gpiozero's threads (never a sleep)


def ticks(t0: float, t1: float, dt: float = DT) -> list[float]:
    return [round(t0 + i * dt, 6) for i in range(round((t1 - t0) / dt) + 1)]


def pin_beeps(output: CueOutput, pin, t0: float, t1: float) -> list[tuple[float, float]]:
    """Tick the output through simulated time; (start_s, length_s) of each time the pin was high."""
    out, start = [], None
    for t in ticks(t0, t1):
        output.tick(t)
        high = bool(pin.state)
        if high and start is None:
            start = t
        elif not high and start is not None:
            out.append((start, t - start))
            start = None
    return out


def assert_beeps(heard, expected, tol: float = DT + 1e-9) -> None:
    assert len(heard) == len(expected), (heard, expected)
    for (hs, hl), (es, el) in zip(heard, expected):
        assert hs == pytest.approx(es, abs=tol)
        assert hl == pytest.approx(el, abs=tol)


def make_output(factory, **led_kw) -> CueOutput:
    return CueOutput(CuePlayer(), CueBuzzer(pin_factory=factory), CueLed(pin_factory=factory, **led_kw))


# --- buzzer and LED pins over simulated time ----------------------------------------

@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_the_buzzer_pin_plays_each_pattern_rhythm(factory, name):
    with make_output(factory) as out:
        out.player.play(name, 0.0)
        heard = pin_beeps(out, factory.pin(18), 0.0, 3.0)
    assert_beeps(heard, PATTERNS[name].beeps())


def test_a_fault_interrupts_contract_on_the_pin(factory):
    with make_output(factory) as out:
        pin = factory.pin(18)
        out.player.play("contract", 0.0)
        out.tick(0.2)
        assert pin.state
        out.player.hold("fault", 0.2)
        assert not out.tick(0.2).buzzer_on and not pin.state  # cut at once
        heard = pin_beeps(out, pin, 0.2, 1.95)
    start = 0.2 + out.player.min_gap_s
    assert_beeps(heard, [(start + s, n) for s, n in PATTERNS["fault"].beeps()])


def test_the_led_pin_shows_the_states(factory):
    with make_output(factory) as out:
        pin = factory.pin(12)
        player = out.player
        player.set_led(IN_BAND, 0.0)
        assert all(out.tick(t) and pin.state for t in ticks(0.0, 1.0))  # steady
        player.hold("ease_off", 1.0)  # over: red, blinking 2 per second
        over = [bool(pin.state) for t in ticks(1.0, 2.0 - DT) if out.tick(t)]
        assert sum(over) == pytest.approx(len(over) / 2, abs=2)
        assert over[0] and over[int(0.2 / DT)] and not over[int(0.3 / DT)] and over[int(0.6 / DT)]
        assert sum(1 for a, b in itertools.pairwise(over) if b and not a) == 1  # lit again at 1.5
        player.hold("fault", 2.0)  # fault: 5 per second
        fault = [bool(pin.state) for t in ticks(2.0, 3.0 - DT) if out.tick(t)]
        rises = sum(1 for a, b in itertools.pairwise(fault) if b and not a)
        assert rises == 4 and fault[0]  # lit at 2.0, then 4 more flashes in the second
        player.stop_all(3.0)
        player.set_led("idle", 3.0)
        idle = [bool(pin.state) for t in ticks(3.0, 5.0 - DT) if out.tick(t)]
        assert 0 < sum(idle) <= len(idle) * 0.1


def test_pwm_led_brightness(pwm_factory):
    with make_output(pwm_factory, kind="pwm") as out:
        pin = pwm_factory.pin(12)
        out.tick(0.0)  # idle: a dim flash
        assert pin.state == pytest.approx(0.25)
        out.tick(0.5)
        assert pin.state == 0
        out.player.set_led(IN_BAND, 1.0)
        out.tick(1.0)
        assert pin.state == 1.0


def test_rgb_led_colours(pwm_factory):
    led = CueLed(kind="rgb", rgb_pins=(19, 20, 21), pin_factory=pwm_factory)
    with CueOutput(CuePlayer(), None, led) as out:
        r, g, b = (pwm_factory.pin(n) for n in (19, 20, 21))
        out.player.set_led(IN_BAND, 0.0)
        out.tick(0.0)
        assert (r.state, g.state, b.state) == (0, 1, 0)
        out.player.set_led(FAULT, 1.0)
        out.tick(1.0)
        assert (r.state, g.state, b.state) == (1, 0.5, 0)  # amber
        out.tick(1.15)
        assert (r.state, g.state, b.state) == (0, 0, 0)


def test_tonal_buzzer_plays_the_melody(pwm_factory):
    buzzer = CueBuzzer(tonal=True, pin_factory=pwm_factory)
    with CueOutput(CuePlayer(), buzzer, None) as out:
        pin = pwm_factory.pin(18)
        out.player.play("relax", 0.0)
        freqs = []
        for t in ticks(0.0, 1.2):
            out.tick(t)
            if pin.frequency is not None and (not freqs or freqs[-1] != pin.frequency):
                freqs.append(pin.frequency)
                assert pin.state == 0.5
        assert freqs == [659.0, 554.0, 440.0]  # falling
        assert pin.frequency is None and pin.state == 0


def test_tonal_buzzer_clamps_tones_to_its_range(pwm_factory):
    with CueBuzzer(tonal=True, pin_factory=pwm_factory) as buzzer:
        buzzer.set(True, 100.0)
        assert pwm_factory.pin(18).frequency == pytest.approx(440.0)
        buzzer.set(True, None)
        assert pwm_factory.pin(18).frequency == pytest.approx(880.0)


def test_devices_write_only_changes(factory, monkeypatch):
    with make_output(factory) as out:
        calls = []
        monkeypatch.setattr(out.buzzer.device, "on", lambda: calls.append("on"))
        monkeypatch.setattr(out.buzzer.device, "off", lambda: calls.append("off"))
        out.player.play("contract", 0.0)
        for t in ticks(0.0, 2.0):
            out.tick(t)
        assert calls == ["on", "off", "on", "off"]


def test_output_devices_close_and_release_their_pins(factory):
    with make_output(factory) as out:
        out.tick(0.0)
    assert out.closed and out.buzzer.closed and out.led.closed
    out.tick(0.1)  # closed devices are left alone; the state is still computed
    with Buzzer(18, pin_factory=factory):  # the pin is free again
        pass


def test_a_pin_factory_must_be_passed():
    with pytest.raises(ValueError, match="pin_factory"):
        CueBuzzer(pin_factory=None)
    with pytest.raises(ValueError, match="pin_factory"):
        CueLed(pin_factory=None)
    with pytest.raises(ValueError, match="pin_factory"):
        ButtonInput(pin_factory=None)


def test_led_kind_is_checked(factory):
    with pytest.raises(ValueError):
        CueLed(kind="laser", pin_factory=factory)
    with pytest.raises(ValueError, match="rgb_pins"):
        CueLed(kind="rgb", pin_factory=factory)


# --- buttons ------------------------------------------------------------------------------

def test_press_hold_logic():
    logic = PressHold(MARK_OR_NEXT, PAUSE)
    assert logic.released() is None  # a release without a press
    logic.pressed()
    assert logic.released() == MARK_OR_NEXT
    logic.pressed()
    assert logic.held() == PAUSE
    assert logic.held() is None  # once per press
    assert logic.released() is None  # the release after a hold is not a press
    assert logic.held() is None  # a late hold after the release


class Collector:
    """Thread-safe command sink: an Event per expected count."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.commands: list[str] = []
        self.threads: set[str] = set()
        self.got = threading.Event()

    def __call__(self, command: str) -> None:
        with self.lock:
            self.commands.append(command)
            self.threads.add(threading.current_thread().name)
        self.got.set()

    def wait(self) -> list[str]:
        assert self.got.wait(WAIT_S), "no command arrived"
        self.got.clear()
        with self.lock:
            return list(self.commands)


def test_a_press_is_mark_or_next(factory):
    sink = Collector()
    with ButtonInput(pin_factory=factory, on_command=sink, hold_time_s=5.0) as buttons:
        pin = factory.pin(26)
        pin.drive_low()
        pin.drive_high()
        assert sink.wait() == [MARK_OR_NEXT]
        assert buttons.poll() == [MARK_OR_NEXT]
        assert buttons.poll() == []


def test_a_hold_is_pause_once_and_its_release_nothing(factory):
    sink = Collector()
    with ButtonInput(pin_factory=factory, on_command=sink, hold_time_s=0.05) as buttons:
        pin = factory.pin(26)
        pin.drive_low()
        assert sink.wait() == [PAUSE]  # from gpiozero's hold thread
        pin.drive_high()
        pin.drive_low()  # and a short press afterwards
        pin.drive_high()
        assert sink.wait() == [PAUSE, MARK_OR_NEXT]
        assert buttons.poll() == [PAUSE, MARK_OR_NEXT]


def test_button_two_pauses(factory):
    sink = Collector()
    with ButtonInput(pin_factory=factory, on_command=sink, hold_time_s=5.0) as buttons:
        pin = factory.pin(16)
        pin.drive_low()
        pin.drive_high()
        assert sink.wait() == [PAUSE]
        assert [s.pin for s in buttons.specs] == [26, 16]


def test_buttons_without_a_callback_fill_the_queue(factory):
    specs = (ButtonSpec(5, "next", None),)
    with ButtonInput(specs, pin_factory=factory, hold_time_s=5.0) as buttons:
        pin = factory.pin(5)
        for _ in range(3):
            pin.drive_low()
            pin.drive_high()
        assert buttons.poll() == ["next"] * 3
    assert buttons.closed


def test_buttons_pressed_from_many_threads_lose_nothing(factory):
    with ButtonInput(pin_factory=factory, hold_time_s=5.0) as buttons:
        pins = (factory.pin(26), factory.pin(16))
        barrier = threading.Barrier(2)

        def mash(pin):
            barrier.wait(WAIT_S)
            for _ in range(50):
                pin.drive_low()
                pin.drive_high()

        threads = [threading.Thread(target=mash, args=(p,)) for p in pins]
        for th in threads:
            th.start()
        for th in threads:
            th.join(WAIT_S)
        got = buttons.poll()
        assert got.count(MARK_OR_NEXT) == 50 and got.count(PAUSE) == 50


# --- open_cues and the no-GPIO fallback -------------------------------------------------------

def test_open_cues_on_mock_pins(factory):
    sink = Collector()
    with open_cues(on_command=sink, pin_factory=factory) as cues:
        assert cues.reason is None and isinstance(cues.output, CueOutput)
        cues.player.play("step_done", 0.0)
        assert cues.tick(0.0).buzzer_on and factory.pin(18).state
        factory.pin(26).drive_low()
        factory.pin(26).drive_high()
        assert sink.wait() == [MARK_OR_NEXT]
        assert cues.poll() == [MARK_OR_NEXT]
    assert cues.closed


def test_no_gpio_gives_the_mirror_and_a_reason(monkeypatch):
    def no_gpio():
        raise BadPinFactory("Unable to load any default pin factory!")

    monkeypatch.setattr(devices, "default_pin_factory", no_gpio)
    with open_cues() as cues:
        assert cues.reason == NO_GPIO_REASON == "no GPIO here: cues are off; the tablet shows them"
        assert isinstance(cues.output, NoGpioOutput) and cues.buttons is None
        cues.player.hold("ease_off", 0.0)
        state = cues.tick(0.01)
        assert state.to_dict()["cue"] == "ease_off" and state.buzzer_on and state.led_colour == "red"
        assert cues.poll() == []
    assert cues.closed


def test_default_factory_on_this_machine_warns_nothing():
    """Where gpiozero finds no GPIO (CI, laptops) open_cues falls back without
    letting gpiozero's fall-back warnings out (pytest turns them into errors)."""
    try:
        factory = devices.default_pin_factory()
    except BadPinFactory:
        with open_cues() as cues:
            assert cues.reason == NO_GPIO_REASON
    else:  # a real Pi: do not touch its pins here
        factory.close()
        pytest.skip("this machine has GPIO")


def test_the_mirror_matches_the_gpio_output(factory):
    gpio, mirror = make_output(factory), NoGpioOutput(CuePlayer())
    with gpio, mirror:
        for out in (gpio, mirror):
            out.player.set_led(IN_BAND, 0.0)
            out.player.play("contract", 0.1)
            out.player.hold("fault", 0.4)
        for t in ticks(0.0, 3.0, 0.05):
            assert gpio.tick(t) == mirror.tick(t)


def test_busy_pins_fall_back_with_a_reason_and_close_what_was_opened(factory):
    # someone holds button 2's pin
    with Buzzer(16, pin_factory=factory), open_cues(pin_factory=factory) as cues:
        assert isinstance(cues.output, NoGpioOutput)
        assert cues.reason.startswith("GPIO pins unavailable (")
        assert cues.reason.endswith("cues are off; the tablet shows them")
    with open_cues(pin_factory=factory) as cues:  # buzzer, LED and button 1 were released
        assert cues.reason is None


def test_tonal_buzzer_needs_a_pwm_pin(factory):
    with open_cues(pin_factory=factory, tonal=True) as cues:  # plain mock pins have no PWM
        assert cues.reason is not None and "GPIO pins unavailable" in cues.reason


def test_cue_pins_must_differ(factory):
    with pytest.raises(ValueError, match="differ"):
        open_cues(pin_factory=factory, led_pin=26)
    with pytest.raises(ValueError, match="differ"):
        open_cues(pin_factory=factory, led_kind="rgb", rgb_pins=(18, 20, 21))


def test_default_buttons_match_hardware_md():
    assert [(b.pin, b.press, b.hold) for b in DEFAULT_BUTTONS] == [(26, MARK_OR_NEXT, PAUSE), (16, PAUSE, None)]
    assert (devices.BUZZER_PIN, devices.LED_PIN) == (18, 12)
