"""Buzzer, LED and buttons on the Pi's GPIO (gpiozero), driven by the player.

- ``CueBuzzer``, ``CueLed``: one gpiozero output each (``Buzzer`` or
  ``TonalBuzzer``; ``LED``, ``PWMLED`` or ``RGBLED``). They only write when the
  wanted state changes; no blink or ``source`` threads: ``CueOutput.tick(t_s)``
  asks the ``CuePlayer`` what to show at ``t_s`` and applies it.
- ``ButtonInput``: gpiozero ``Button``s whose press / hold become commands
  (``mark_or_next``, ``pause``). A press counts when released before
  ``hold_time_s``; a hold counts once, when it is reached, and its release is
  ignored. Commands go to a thread-safe queue (``poll()``) and, if given, to
  ``on_command`` — which gpiozero calls on its own background thread.
- ``open_cues(...)``: everything above on the default pins (hardware.md 3.4:
  buzzer BCM 18, LED BCM 12, buttons BCM 26 and 16). Where there is no GPIO
  (gpiozero's ``BadPinFactory``) or the pins cannot be had, it returns a
  ``NoGpioOutput`` that keeps the same states for the tablet, and a one-line
  reason.

Every class takes ``pin_factory=`` and passes it to gpiozero; nothing here
sets ``Device.pin_factory``. All have ``close()``, ``closed`` and work as
context managers, like gpiozero's devices.
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gpiozero import (
    LED,
    PWMLED,
    RGBLED,
    BadPinFactory,
    Button,
    Buzzer,
    Device,
    GPIOZeroError,
    TonalBuzzer,
)
from gpiozero.tones import Tone

from firmware.cues.player import CuePlayer, CueState

#: Default BCM pins (hardware.md, section 3.4).
BUZZER_PIN = 18
LED_PIN = 12
BUTTON1_PIN = 26
BUTTON2_PIN = 16

MARK_OR_NEXT = "mark_or_next"
PAUSE = "pause"

NO_GPIO_REASON = "no GPIO here: cues are off; the tablet shows them"


def _need_factory(pin_factory: Any) -> Any:
    if pin_factory is None:
        raise ValueError("pass pin_factory= (gpiozero's global factory is never used or set here)")
    return pin_factory


class _Closing:
    """gpiozero's protocol: close() (idempotent), closed, context manager."""

    _devices: tuple = ()

    def close(self) -> None:
        for dev in self._devices:
            dev.close()

    @property
    def closed(self) -> bool:
        return all(dev.closed for dev in self._devices)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CueBuzzer(_Closing):
    """An active buzzer (``tonal=False``: on/off, one pitch) or a passive piezo
    (``tonal=True``: a ``TonalBuzzer``, needs a PWM pin; tones are clamped to
    its range of ``mid_tone`` ± one octave)."""

    def __init__(self, pin: Any = BUZZER_PIN, *, pin_factory: Any, tonal: bool = False,
                 mid_tone: str = "A5") -> None:
        _need_factory(pin_factory)
        self.tonal = tonal
        if tonal:
            self.device: Any = TonalBuzzer(pin, mid_tone=Tone(mid_tone), octaves=1,
                                           pin_factory=pin_factory)
        else:
            self.device = Buzzer(pin, pin_factory=pin_factory)
        self._devices = (self.device,)
        self._last: tuple[bool, float | None] | None = None

    def set(self, on: bool, tone_hz: float | None = None) -> None:
        """Sound (at ``tone_hz`` on a piezo; default its middle tone) or be silent."""
        if self.tonal:
            if on:
                lo, hi = self.device.min_tone.frequency, self.device.max_tone.frequency
                hz = self.device.mid_tone.frequency if tone_hz is None else min(max(tone_hz, lo), hi)
            wanted = (on, hz if on else None)
        else:
            wanted = (on, None)
        if wanted == self._last:
            return
        if self.tonal:
            if on:
                self.device.play(Tone(frequency=wanted[1]))
            else:
                self.device.stop()
        elif on:
            self.device.on()
        else:
            self.device.off()
        self._last = wanted


class CueLed(_Closing):
    """One LED (``kind="plain"``: on/off), a dimmable one (``"pwm"``: PWMLED,
    brightness) or an RGB LED (``"rgb"``: three pins, colour and brightness)."""

    KINDS = ("plain", "pwm", "rgb")

    def __init__(self, pin: Any = LED_PIN, *, pin_factory: Any, kind: str = "plain",
                 rgb_pins: Sequence[Any] | None = None) -> None:
        _need_factory(pin_factory)
        if kind not in self.KINDS:
            raise ValueError(f"LED kind is one of {self.KINDS}, not {kind!r}")
        self.kind = kind
        if kind == "rgb":
            if rgb_pins is None or len(rgb_pins) != 3:
                raise ValueError("an RGB LED needs rgb_pins=(red, green, blue)")
            self.device: Any = RGBLED(*rgb_pins, pwm=True, pin_factory=pin_factory)
        elif kind == "pwm":
            self.device = PWMLED(pin, pin_factory=pin_factory)
        else:
            self.device = LED(pin, pin_factory=pin_factory)
        self._devices = (self.device,)
        self._last: Any = None

    def set(self, on: bool, level: float = 1.0,
            rgb: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> None:
        """Light (at ``level``; in colour ``rgb`` on an RGB LED) or go dark."""
        level = min(max(float(level), 0.0), 1.0)
        if self.kind == "rgb":
            wanted: Any = tuple(min(max(float(c), 0.0), 1.0) for c in rgb) if on else (0.0, 0.0, 0.0)
        elif self.kind == "pwm":
            wanted = level if on else 0.0
        else:
            wanted = bool(on)
        if wanted == self._last:
            return
        if self.kind == "rgb":
            self.device.color = wanted
        elif self.kind == "pwm":
            self.device.value = wanted
        elif wanted:
            self.device.on()
        else:
            self.device.off()
        self._last = wanted


class CueOutput(_Closing):
    """Applies the player's state to the buzzer and LED at each ``tick(t_s)``."""

    def __init__(self, player: CuePlayer, buzzer: CueBuzzer | None, led: CueLed | None) -> None:
        self.player = player
        self.buzzer, self.led = buzzer, led
        self._devices = tuple(d for d in (buzzer, led) if d is not None)
        self.state: CueState | None = None

    def tick(self, t_s: float) -> CueState:
        state = self.player.update(t_s)
        if self.buzzer is not None and not self.buzzer.closed:
            self.buzzer.set(state.buzzer_on, state.tone_hz)
        if self.led is not None and not self.led.closed:
            self.led.set(state.led_on, state.led_level, state.led_rgb)
        self.state = state
        return state


class NoGpioOutput(_Closing):
    """Same interface as ``CueOutput`` where there is no GPIO: the states are
    still computed (for the tablet), nothing is driven. ``reason`` says why."""

    def __init__(self, player: CuePlayer, reason: str = NO_GPIO_REASON) -> None:
        self.player = player
        self.reason = reason
        self.state: CueState | None = None
        self._closed = False

    def tick(self, t_s: float) -> CueState:
        self.state = self.player.update(t_s)
        return self.state

    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed


# --- buttons ---------------------------------------------------------------------

class PressHold:
    """Pure press/hold logic of one button: a press is a command on release
    unless the hold was reached; a hold gives its command once."""

    def __init__(self, press_command: str | None, hold_command: str | None) -> None:
        self.press_command, self.hold_command = press_command, hold_command
        self.down = False
        self.was_held = False

    def pressed(self) -> None:
        self.down, self.was_held = True, False

    def held(self) -> str | None:
        if not self.down or self.was_held:
            return None
        self.was_held = True
        return self.hold_command

    def released(self) -> str | None:
        if not self.down:
            return None
        self.down = False
        return None if self.was_held else self.press_command


@dataclass(frozen=True)
class ButtonSpec:
    """A button's BCM pin and the commands for a press and a hold (None: none)."""

    pin: Any
    press: str | None
    hold: str | None


#: Button 1 (BCM 26): mark the knot / next step; hold to pause.
#: Button 2 (BCM 16): pause / resume (easier to reach with the other hand).
DEFAULT_BUTTONS = (ButtonSpec(BUTTON1_PIN, MARK_OR_NEXT, PAUSE), ButtonSpec(BUTTON2_PIN, PAUSE, None))


class ButtonInput(_Closing):
    """Buttons (to ground, internal pull-up) turned into commands.

    Commands arrive in ``poll()`` (drains a thread-safe queue) and, if given,
    through ``on_command(command)``, called on gpiozero's background thread —
    keep it short and thread-safe. ``hold_time_s`` is how long a press must
    last to count as a hold; ``bounce_s`` filters contact bounce.
    """

    def __init__(self, buttons: Sequence[ButtonSpec] = DEFAULT_BUTTONS, *, pin_factory: Any,
                 on_command: Callable[[str], None] | None = None, hold_time_s: float = 1.0,
                 bounce_s: float | None = 0.05) -> None:
        _need_factory(pin_factory)
        if not hold_time_s > 0:
            raise ValueError("hold_time_s must be positive")
        self.on_command = on_command
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.specs = tuple(buttons)
        self._logic = [PressHold(s.press, s.hold) for s in self.specs]
        opened: list[Button] = []
        try:
            for i, spec in enumerate(self.specs):
                btn = Button(spec.pin, pull_up=True, bounce_time=bounce_s, hold_time=hold_time_s,
                             pin_factory=pin_factory)
                opened.append(btn)
                btn.when_pressed = self._callback(i, PressHold.pressed)
                btn.when_held = self._callback(i, PressHold.held)
                btn.when_released = self._callback(i, PressHold.released)
        except BaseException:
            for btn in opened:
                btn.close()
            raise
        self.buttons = tuple(opened)
        self._devices = self.buttons

    def _callback(self, index: int, method: Callable[[PressHold], str | None]) -> Callable[[], None]:
        def on_edge() -> None:
            with self._lock:
                command = method(self._logic[index])
            if command is not None:
                self._deliver(command)
        return on_edge

    def _deliver(self, command: str) -> None:
        self._queue.put(command)
        if self.on_command is not None:
            self.on_command(command)

    def poll(self) -> list[str]:
        """Commands received since the last call, oldest first."""
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out


# --- opening everything --------------------------------------------------------------

@dataclass
class Cues(_Closing):
    """What ``open_cues`` returns: the output (GPIO or not), the buttons (None
    without GPIO) and ``reason`` (None when the cues are live)."""

    output: CueOutput | NoGpioOutput
    buttons: ButtonInput | None
    reason: str | None
    _factory: Any = None

    @property
    def player(self) -> CuePlayer:
        return self.output.player

    def tick(self, t_s: float) -> CueState:
        return self.output.tick(t_s)

    def poll(self) -> list[str]:
        return self.buttons.poll() if self.buttons is not None else []

    def close(self) -> None:
        if self.buttons is not None:
            self.buttons.close()
        self.output.close()
        if self._factory is not None:
            self._factory.close()
            self._factory = None

    @property
    def closed(self) -> bool:
        return self.output.closed and (self.buttons is None or self.buttons.closed)


def default_pin_factory() -> Any:
    """gpiozero's own choice of factory (honours GPIOZERO_PIN_FACTORY), made
    without setting it globally. Its fall-back warnings are kept out of the
    caller's way; raises ``BadPinFactory`` where there is no GPIO."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return Device._default_pin_factory()


def open_cues(
    player: CuePlayer | None = None,
    on_command: Callable[[str], None] | None = None,
    *,
    pin_factory: Any = None,
    buzzer_pin: Any = BUZZER_PIN,
    tonal: bool = False,
    led_pin: Any = LED_PIN,
    led_kind: str = "plain",
    rgb_pins: Sequence[Any] | None = None,
    buttons: Sequence[ButtonSpec] = DEFAULT_BUTTONS,
    hold_time_s: float = 1.0,
) -> Cues:
    """Buzzer, LED and buttons on GPIO, or the no-GPIO mirror with a reason.

    ``pin_factory=None`` asks gpiozero for its default factory (closed again
    by ``Cues.close()``); a factory passed in is the caller's to close.
    Raises ValueError when two cues share a pin.
    """
    player = player if player is not None else CuePlayer()
    led_pins = list(rgb_pins) if led_kind == "rgb" and rgb_pins is not None else [led_pin]
    pins = [buzzer_pin, *led_pins, *(b.pin for b in buttons)]
    if len(set(map(str, pins))) != len(pins):
        raise ValueError(f"cue pins must differ: {pins}")
    own_factory = None
    if pin_factory is None:
        try:
            pin_factory = own_factory = default_pin_factory()
        except BadPinFactory:
            return Cues(NoGpioOutput(player), None, NO_GPIO_REASON)
    opened: list[_Closing] = []
    try:
        buzzer = CueBuzzer(buzzer_pin, pin_factory=pin_factory, tonal=tonal)
        opened.append(buzzer)
        led = CueLed(led_pin, pin_factory=pin_factory, kind=led_kind, rgb_pins=rgb_pins)
        opened.append(led)
        inputs = ButtonInput(buttons, pin_factory=pin_factory, on_command=on_command,
                             hold_time_s=hold_time_s)
    except BaseException as exc:
        for dev in opened:
            dev.close()
        if own_factory is not None:
            own_factory.close()
        if not isinstance(exc, (GPIOZeroError, OSError)):
            raise
        reason = f"GPIO pins unavailable ({exc}): cues are off; the tablet shows them"
        return Cues(NoGpioOutput(player, reason), None, reason)
    return Cues(CueOutput(player, buzzer, led), inputs, None, own_factory)
