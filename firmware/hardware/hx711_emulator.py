"""A bit-level HX711 in software, on a fake clock, for tests and ``knotcoach doctor``.

The real driver code (``firmware.hardware.hx711``) runs unchanged against it: the
emulated pins look like Blinka's ``digitalio.DigitalInOut`` (``.value``,
``.direction``, ``switch_to_input``, ``switch_to_output``, ``deinit``).
Setting the clock pin's value drives the chip; reading the data pin returns
DOUT.

What the chip model enforces (HX711 datasheet):

* DOUT is high while a conversion is running and goes low when one is ready.
* Data is shifted out MSB first, one bit per rising clock edge; the bit is on
  DOUT after the rising edge and stays there until the next rising edge.
* 24 data bits, then the 25th, 26th or 27th pulse selects channel A gain 128,
  channel B gain 32 or channel A gain 64 **for the next conversion**. The
  25th pulse pulls DOUT back high.
* Output is 24-bit two's complement and saturates at 0x7FFFFF / 0x800000.
* The clock held high for more than 60 us powers the chip down: DOUT reads
  high while it is down and a frame in progress is lost. The clock going low
  again powers it up with a reset (gain back to channel A / 128) and a
  settling time of four conversion periods (50 ms at 80 samples/s, 400 ms at
  10 samples/s) before the first conversion is ready.
* Conversions run continuously at ``rate_hz``; a newer conversion replaces an
  unread one.
* A disconnected chip never gets ready: DOUT stays high (the pull-up).

Time is a :class:`FakeClock` in integer nanoseconds. Every pin access
advances it by a small cost (about 1 us by default, modelling GPIO call
overhead), so time passes as the driver works and nothing ever really sleeps.
Noise is not modelled here: the signals are callables, add noise in them.
"""

from __future__ import annotations

from typing import Any, Callable

#: Pulse counts that select the next conversion's channel and gain.
GAIN_A_128 = 25
GAIN_B_32 = 26
GAIN_A_64 = 27

#: The clock high for longer than this powers the chip down (datasheet: 60 us).
POWER_DOWN_HIGH_NS = 60_000
#: Settling after power-up, in conversion periods (50 ms at 80/s, 400 ms at 10/s).
SETTLING_PERIODS = 4

RAW_MAX = (1 << 23) - 1
RAW_MIN = -(1 << 23)

#: A signal maps time in seconds to counts (see EmulatedHX711 for the gain).
Signal = Callable[[float], float]


class FakeClock:
    """Monotonic time in integer nanoseconds that only moves when told to.

    ``pin_cost_ns`` is how far each emulated pin access moves it (the cost of
    one GPIO call). Use ``now_ns`` where the code wants ``time.perf_counter_ns``,
    ``monotonic`` where it wants ``time.monotonic`` and ``sleep`` where it
    wants ``time.sleep``.
    """

    def __init__(self, start_ns: int = 0, pin_cost_ns: int = 1_000) -> None:
        if start_ns < 0 or pin_cost_ns < 0:
            raise ValueError("start_ns and pin_cost_ns must not be negative")
        self._now_ns = int(start_ns)
        self.pin_cost_ns = int(pin_cost_ns)
        #: How many times ``sleep`` was called (tests use it to check polling).
        self.sleeps = 0

    def now_ns(self) -> int:
        return self._now_ns

    def monotonic(self) -> float:
        """Current time in seconds."""
        return self._now_ns / 1e9

    def advance_ns(self, n: int) -> None:
        if n < 0:
            raise ValueError("time cannot go backwards")
        self._now_ns += int(n)

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` at once; like ``time.sleep``, never negative."""
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        self.sleeps += 1
        self.advance_ns(round(seconds * 1e9))


class EmulatedHX711:
    """One HX711 with its load cell, modelled bit by bit.

    ``signal_a(t_s)`` gives channel A in counts at gain 128 (gain 64 reads
    half of it); ``signal_b(t_s)`` gives channel B in counts at its fixed gain
    32. Values are rounded and saturated to the 24-bit range when a
    conversion completes. ``rate_hz`` is the conversion rate (the RATE pin:
    10 or 80). ``connected=False`` models a chip whose wires are off.

    Counters for tests: ``frames_read`` (conversions whose shifting out began,
    i.e. conversions consumed), ``power_downs``, ``conversions`` (completed),
    ``stray_pulses`` (clock pulses with no frame to shift out).
    """

    def __init__(
        self,
        clock: FakeClock,
        signal_a: Signal = lambda t_s: 0,
        signal_b: Signal = lambda t_s: 0,
        rate_hz: float = 80.0,
        connected: bool = True,
    ) -> None:
        if not rate_hz > 0:
            raise ValueError("rate_hz must be positive")
        self.clock = clock
        self.signal_a = signal_a
        self.signal_b = signal_b
        self.rate_hz = float(rate_hz)
        self.period_ns = round(1e9 / self.rate_hz)
        self.settling_ns = SETTLING_PERIODS * self.period_ns
        self.frames_read = 0
        self.power_downs = 0
        self.conversions = 0
        self.stray_pulses = 0
        self._clock_high = False
        self._rise_ns = 0
        self._powered = True
        self._connected = bool(connected)
        #: Pulse count (25/26/27) that the next conversion will use.
        self.gain_pulses = GAIN_A_128
        self._output = 0  # 24-bit pattern of the newest conversion
        self._ready = False  # an unread conversion waits in the output register
        self._shift = 0  # pattern being shifted out
        self._pulses = 0  # rising edges in the current frame; 0 = no frame
        self._power_up(clock.now_ns())

    # -- state --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @connected.setter
    def connected(self, value: bool) -> None:
        """Pull the wires off (False) or plug them back in (True: a fresh power-up)."""
        now = self.clock.now_ns()
        self._sync(now)
        if value and not self._connected:
            self._power_up(now)
            self._rise_ns = now  # a clock already high counts from now
        self._connected = bool(value)

    @property
    def powered(self) -> bool:
        """False while the chip is powered down by a long clock-high phase."""
        self._sync(self.clock.now_ns())
        return self._powered

    @property
    def dout(self) -> bool:
        """The level on DOUT now (True = high)."""
        self._sync(self.clock.now_ns())
        return self._dout()

    @property
    def sck(self) -> bool:
        """The level the clock pin is driven to."""
        return self._clock_high

    def _dout(self) -> bool:
        if not self._connected or not self._powered:
            return True
        if 1 <= self._pulses <= 24:
            return bool((self._shift >> (24 - self._pulses)) & 1)
        if self._pulses >= 25:
            return True
        return not self._ready

    def _power_up(self, now_ns: int) -> None:
        self._powered = True
        self.gain_pulses = GAIN_A_128
        self._ready = False
        self._pulses = 0
        self._next_ready_ns = now_ns + self.settling_ns

    def _sync(self, now_ns: int) -> None:
        """Bring the chip up to ``now_ns``: conversions and power-down, in time order."""
        if not self._connected or not self._powered:
            return
        limit = now_ns
        power_down_at = None
        if self._clock_high and now_ns - self._rise_ns > POWER_DOWN_HIGH_NS:
            power_down_at = self._rise_ns + POWER_DOWN_HIGH_NS
            limit = min(limit, power_down_at)
        if self._next_ready_ns <= limit:
            # Only the newest of several missed conversions matters.
            skipped = (limit - self._next_ready_ns) // self.period_ns
            self._next_ready_ns += skipped * self.period_ns
            self.conversions += skipped  # completed, then replaced unread
            self._complete_conversion(self._next_ready_ns)
            self._next_ready_ns += self.period_ns
        if power_down_at is not None:
            self._powered = False
            self.power_downs += 1
            self._pulses = 0  # the frame in progress is lost
            self._ready = False

    def _complete_conversion(self, t_ns: int) -> None:
        self.conversions += 1
        if 1 <= self._pulses <= 24:
            return  # the shift register is busy: this conversion is lost
        t_s = t_ns / 1e9
        if self.gain_pulses == GAIN_B_32:
            counts = self.signal_b(t_s)
        elif self.gain_pulses == GAIN_A_64:
            counts = self.signal_a(t_s) / 2
        else:
            counts = self.signal_a(t_s)
        value = min(RAW_MAX, max(RAW_MIN, round(counts)))
        self._output = value & 0xFFFFFF
        self._ready = True
        self._pulses = 0

    # -- pin events ---------------------------------------------------------

    def set_clock(self, high: bool) -> None:
        """Drive PD_SCK to ``high`` at the clock's current time."""
        now = self.clock.now_ns()
        self._sync(now)
        high = bool(high)
        if high == self._clock_high:
            return
        self._clock_high = high
        if not self._connected:
            return
        if high:
            self._rise_ns = now
            self._rising_edge()
        elif not self._powered:
            self._power_up(now)

    def _rising_edge(self) -> None:
        if not self._powered:
            return
        if self._pulses == 0:
            if not self._ready:
                self.stray_pulses += 1
                return
            self._shift = self._output
            self._ready = False
            self._pulses = 1
            self.frames_read += 1
        elif self._pulses < GAIN_A_64:
            self._pulses += 1
            if self._pulses >= GAIN_A_128:
                self.gain_pulses = self._pulses
        else:
            self.stray_pulses += 1



class Direction:
    """Pin directions, standing in for ``digitalio.Direction``."""

    INPUT = "input"
    OUTPUT = "output"


class _EmulatedPin:
    """Shared behaviour of the two pins: cost per access, direction, deinit."""

    def __init__(self, chip: EmulatedHX711, cost_ns: int | None, direction: str) -> None:
        self._chip = chip
        self.cost_ns = chip.clock.pin_cost_ns if cost_ns is None else int(cost_ns)
        self.direction = direction
        self.pull: Any = None
        self.deinitialized = False
        #: Number of ``.value`` reads and writes, for tests.
        self.accesses = 0

    def _access(self) -> None:
        if self.deinitialized:
            raise RuntimeError("pin used after deinit()")
        self.accesses += 1
        self._chip.clock.advance_ns(self.cost_ns)

    def switch_to_input(self, pull: Any = None) -> None:
        self.direction = Direction.INPUT
        self.pull = pull

    def switch_to_output(self, value: bool = False, drive_mode: Any = None) -> None:
        self.direction = Direction.OUTPUT
        self.value = value

    def deinit(self) -> None:
        self.deinitialized = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.deinit()


class EmulatedDataPin(_EmulatedPin):
    """DOUT as seen by the Pi: read-only."""

    @property
    def value(self) -> bool:
        self._access()
        return self._chip.dout

    @value.setter
    def value(self, val: bool) -> None:
        if self.direction != Direction.OUTPUT:
            raise AttributeError("Not an output")
        raise RuntimeError("driving the HX711's DOUT line would short it")


class EmulatedClockPin(_EmulatedPin):
    """PD_SCK as seen by the Pi: setting ``value`` drives the chip."""

    @property
    def value(self) -> bool:
        self._access()
        return self._chip.sck

    @value.setter
    def value(self, val: bool) -> None:
        if self.direction != Direction.OUTPUT:
            raise AttributeError("Not an output")
        self._access()
        self._chip.set_clock(bool(val))


class EmulatedPins:
    """The two GPIO lines wired to one emulated chip: ``.data`` (DOUT) and ``.clock`` (PD_SCK).

    The clock pin starts as an output driven low (as the driver would leave
    it), the data pin as an input. ``data_cost_ns`` / ``clock_cost_ns``
    override the clock's per-access cost for one pin (e.g. a slow clock pin).
    """

    def __init__(
        self,
        chip: EmulatedHX711,
        data_cost_ns: int | None = None,
        clock_cost_ns: int | None = None,
    ) -> None:
        self.chip = chip
        self.data = EmulatedDataPin(chip, data_cost_ns, Direction.INPUT)
        self.clock = EmulatedClockPin(chip, clock_cost_ns, Direction.OUTPUT)

    def pair(self) -> tuple[EmulatedDataPin, EmulatedClockPin]:
        """(data, clock), the order ``HX711Source`` takes pin pairs in."""
        return self.data, self.clock
