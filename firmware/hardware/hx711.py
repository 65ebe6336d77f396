"""HX711 driver that works under Blinka on Linux (a Raspberry Pi).

It keeps adafruit-circuitpython-hx711's ``HX711`` class (pins, the
``CHAN_A_GAIN_128`` / ``CHAN_B_GAIN_32`` / ``CHAN_A_GAIN_64`` constants,
tare values) and replaces its frame read, which is broken under Blinka on
Linux (checked with adafruit-circuitpython-hx711 1.1.2 and Blinka 10):

* ``read()`` raises AttributeError: Blinka's ``microcontroller`` has no
  ``disable_interrupts``;
* negative values come back as large positive numbers (it ORs 0xFF000000
  into a Python int, which has no 32-bit wrap-around);
* ``microcontroller.delay_us(1)`` is ``time.sleep(1e-6)``, about 90 us on
  Linux, while the clock is high: over 60 us powers the chip down;
* each ``read()`` waits for two conversions;
* the ready-wait spins forever when no chip answers.

Here a read shifts out one conversion, never sleeps with the clock high,
times every high phase with ``clock_ns`` and drops the frame if one took
longer than ``max_high_ns`` (50 us), converts two's complement correctly,
rejects the frames 0x7FFFFF and 0x800000 (saturated) and 0xFFFFFF (all ones:
a powered-down or absent chip), and gives up waiting for a ready chip after
``timeout_s`` with :class:`HX711Timeout`.

Pins are duck-typed (``.value``), so tests run this exact code against
``firmware.hardware.hx711_emulator``.

Importing this module imports the Adafruit package and with it Blinka's
``microcontroller``, which prints a warning on a PC; that goes to stderr so
our JSON on stdout stays clean. ``import firmware`` does not import this.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Callable


def _import_quietly() -> tuple[Any, Any]:
    """Import the Adafruit driver and ``digitalio`` with Blinka's chatter sent to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        from adafruit_hx711 import hx711 as adafruit_hx711_module

        try:
            import digitalio
        except Exception:  # pragma: no cover - Blinka always has digitalio
            digitalio = None
    return adafruit_hx711_module, digitalio


_adafruit, _digitalio = _import_quietly()
AdafruitHX711 = _adafruit.HX711

#: The longest clock-high phase we accept; the chip powers down after 60 us.
MAX_HIGH_NS = 50_000
#: Default wait for a ready chip: covers the 400 ms settling at 10 samples/s.
DEFAULT_TIMEOUT_S = 0.5
#: Default pause between polls of DOUT while waiting.
DEFAULT_POLL_S = 0.0005
#: How long the clock is held high to reset the chip (datasheet: > 60 us).
RESET_HIGH_S = 0.001

_ALL_ONES = 0xFFFFFF
_SATURATED_HIGH = 0x7FFFFF
_SATURATED_LOW = 0x800000
#: A clock-high phase longer than this may have powered the chip down (datasheet: 60 us).
_POWER_DOWN_NS = 60_000


class HX711Error(Exception):
    """Base class of everything this driver raises about the chip."""


class HX711Timeout(HX711Error, TimeoutError):
    """The chip did not get ready in time: not wired, not powered, or wrong pins."""


class HX711FrameError(HX711Error, ValueError):
    """A frame was read but cannot be trusted, so it was dropped.

    ``reason`` is one of ``CLOCK_HIGH_TOO_LONG``, ``SATURATED`` or
    ``ALL_ONES``; ``raw`` is the 24-bit pattern shifted out; ``high_ns`` the
    longest clock-high phase measured during the frame.
    """

    CLOCK_HIGH_TOO_LONG = "clock high too long"
    SATURATED = "saturated"
    ALL_ONES = "all ones"

    def __init__(self, reason: str, raw: int, high_ns: int, detail: str) -> None:
        super().__init__(f"HX711 frame dropped ({reason}): {detail}")
        self.reason = reason
        self.raw = raw
        self.high_ns = high_ns


def decode_frame(raw: int) -> int:
    """Turn a 24-bit two's complement pattern into a signed count."""
    raw &= 0xFFFFFF
    return raw - (1 << 24) if raw & 0x800000 else raw


class HX711(AdafruitHX711):
    """One HX711 on two GPIO lines, read one conversion at a time.

    ``data_pin`` / ``clock_pin``: DOUT and PD_SCK, objects with ``.value``
    like ``digitalio.DigitalInOut``; if they have ``switch_to_input`` /
    ``switch_to_output`` they are set up here (DOUT with a pull-up, so an
    absent chip reads "not ready" instead of floating). ``clock_ns`` times
    the clock-high phases (``time.perf_counter_ns``), ``sleep`` waits between
    polls and during the reset (``time.sleep``). ``timeout_s`` is the default
    ready-wait, ``poll_s`` the pause between polls, ``max_high_ns`` the
    longest clock-high phase accepted.

    Construction resets the chip (clock high for 1 ms, then low); its first
    conversion is ready after the settling time (50 ms at 80 samples/s).
    """

    def __init__(
        self,
        data_pin: Any,
        clock_pin: Any,
        *,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
        sleep: Callable[[float], None] = time.sleep,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        poll_s: float = DEFAULT_POLL_S,
        max_high_ns: int = MAX_HIGH_NS,
    ) -> None:
        if timeout_s < 0 or poll_s < 0 or max_high_ns <= 0:
            raise ValueError("timeout_s and poll_s must be >= 0 and max_high_ns > 0")
        self._clock_ns = clock_ns
        self._sleep = sleep
        self.timeout_s = float(timeout_s)
        self.poll_s = float(poll_s)
        self.max_high_ns = int(max_high_ns)
        #: Pulse count the chip will use for its next conversion; None = unknown.
        self._next_gain: int | None = None
        self._powered_down = False
        _setup_pins(data_pin, clock_pin)
        super().__init__(data_pin, clock_pin)

    # -- power --------------------------------------------------------------

    def _initialize(self) -> None:
        """Reset the chip: clock high past the power-down time, then low again."""
        self.power_down(True)
        self._sleep(RESET_HIGH_S)
        self.power_down(False)

    def power_down(self, down: bool) -> None:
        """Power the chip down (clock high) or up (clock low, which resets it to A/128)."""
        self._clock_pin.value = down
        if down:
            self._powered_down = True
        elif self._powered_down:
            self._powered_down = False
            self._next_gain = self.CHAN_A_GAIN_128

    # -- waiting ------------------------------------------------------------

    @property
    def is_ready(self) -> bool:
        """True when a conversion is waiting to be read (DOUT low)."""
        return not self._data_pin.value

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Poll DOUT until a conversion is ready; HX711Timeout after ``timeout_s``.

        ``timeout_s=0`` checks once and never sleeps.
        """
        if timeout_s is None:
            timeout_s = self.timeout_s
        start_ns = self._clock_ns()
        deadline_ns = start_ns + int(timeout_s * 1e9)
        while self._data_pin.value:
            if self._clock_ns() >= deadline_ns:
                waited_ms = (self._clock_ns() - start_ns) / 1e6
                raise HX711Timeout(
                    f"HX711 not ready after {waited_ms:.1f} ms (DOUT stayed high): "
                    "check its wiring, power and pins"
                )
            self._sleep(self.poll_s)

    # -- reading ------------------------------------------------------------

    def read_frame(self, chan_gain: int = AdafruitHX711.CHAN_A_GAIN_128, timeout_s: float | None = None) -> int:
        """Read one conversion made at ``chan_gain`` and return it as a signed count.

        ``chan_gain`` is 25, 26 or 27 (``CHAN_A_GAIN_128``, ``CHAN_B_GAIN_32``,
        ``CHAN_A_GAIN_64``); the pulses that end the frame select the same
        setting for the next conversion, so reading at one setting costs one
        conversion per call. Switching setting shifts out (and discards) one
        conversion first, because the chip applies a setting to the *next*
        conversion. Raises HX711Timeout or HX711FrameError; no tare applied.
        """
        if chan_gain not in (self.CHAN_A_GAIN_128, self.CHAN_B_GAIN_32, self.CHAN_A_GAIN_64):
            raise ValueError(f"chan_gain must be 25, 26 or 27, not {chan_gain!r}")
        if self._next_gain != chan_gain:
            self.wait_ready(timeout_s)
            try:
                self._shift_frame(chan_gain)
            except HX711FrameError:
                # Only the gain selection mattered; if even that may not have
                # taken (the chip may have reset), report the fault.
                if self._next_gain != chan_gain:
                    raise
        self.wait_ready(timeout_s)
        return self._shift_frame(chan_gain)

    def _shift_frame(self, pulses: int) -> int:
        """Clock out one ready frame with ``pulses`` pulses; check it and decode it."""
        raw, worst_high_ns = self._clock_out(pulses)
        self._check_clock(pulses, raw, worst_high_ns)
        _check_pattern(raw, worst_high_ns)
        return decode_frame(raw)

    def _clock_out(self, pulses: int) -> tuple[int, int]:
        """Give ``pulses`` timed clock pulses; the first 24 bits read and the longest high phase.

        This is the hot loop: everything it needs is bound to locals first,
        and nothing runs between setting the clock high and setting it low.
        """
        clock = self._clock_pin
        data = self._data_pin
        now_ns = self._clock_ns
        raw = 0
        worst_high_ns = 0
        for i in range(pulses):
            # The bit is on DOUT from the rising edge until the next one, so
            # it is read with the clock already low: the high phase is only
            # the two pin writes, with nothing between them.
            t0 = now_ns()
            clock.value = True
            clock.value = False
            high_ns = now_ns() - t0
            if high_ns > worst_high_ns:
                worst_high_ns = high_ns
            if i < 24:
                raw = (raw << 1) | (1 if data.value else 0)
        return raw, worst_high_ns

    def _check_clock(self, pulses: int, raw: int, worst_high_ns: int) -> None:
        """Note the setting the chip uses next; drop the frame if a clock-high phase was too long."""
        if worst_high_ns <= self.max_high_ns:
            self._next_gain = pulses
            return
        if worst_high_ns > _POWER_DOWN_NS:
            # The chip may have powered down and reset to A/128.
            self._next_gain = self.CHAN_A_GAIN_128 if pulses == self.CHAN_A_GAIN_128 else None
        else:
            self._next_gain = pulses
        raise HX711FrameError(
            HX711FrameError.CLOCK_HIGH_TOO_LONG,
            raw,
            worst_high_ns,
            f"a clock-high phase took {worst_high_ns / 1000:.1f} us "
            f"(limit {self.max_high_ns / 1000:.0f} us; the chip powers down after 60 us)",
        )

    # -- the package's entry points, routed through read_frame --------------

    def _read_channel_raw(self, chan_gain: int) -> int:
        return self.read_frame(chan_gain)

    def read_channel_blocking(self, chan_gain: int) -> int:
        """One conversion at ``chan_gain`` minus that channel's tare value."""
        return self._read_channel(chan_gain)

    def read(self, chan_gain: int = AdafruitHX711.CHAN_A_GAIN_128) -> int:
        """One conversion at ``chan_gain`` minus that channel's tare value."""
        return self._read_channel(chan_gain)


def _check_pattern(raw: int, high_ns: int) -> None:
    """Drop a frame whose bit pattern no working chip gives: all ones, or saturated."""
    if raw == _ALL_ONES:
        raise HX711FrameError(
            HX711FrameError.ALL_ONES, raw, high_ns, "0xFFFFFF: chip powered down or DOUT stuck high"
        )
    if raw in (_SATURATED_HIGH, _SATURATED_LOW):
        raise HX711FrameError(
            HX711FrameError.SATURATED,
            raw,
            high_ns,
            f"0x{raw:06X}: input out of range (overloaded cell or broken wire)",
        )


def _setup_pins(data_pin: Any, clock_pin: Any) -> None:
    """Make DOUT an input with a pull-up and PD_SCK an output driven low, if the pins allow."""
    if hasattr(data_pin, "switch_to_input"):
        pull = _digitalio.Pull.UP if _digitalio is not None else None
        data_pin.switch_to_input(pull=pull)
    if hasattr(clock_pin, "switch_to_output"):
        clock_pin.switch_to_output(value=False)
