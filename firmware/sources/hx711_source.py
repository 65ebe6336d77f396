"""The live source: 1-4 HX711 boards, one per load cell, on a Raspberry Pi.

Each cell has its own HX711 with its own DOUT (data) and PD_SCK (clock)
GPIO line. The chips convert on their own, unsynchronised, at the RATE pin's
rate; ``read()`` collects one conversion from every chip into a row and
returns it as a one-row Block. A chip that has nothing valid in time for the
row (not ready before the deadline, or a dropped frame) gives ``MISSING`` in
its column, and the other columns keep coming.

Blinka and the driver are imported only when pins are opened, so importing
this module is cheap and prints nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

from calibration.platform import MAX_CELLS, PlatformCalibration
from firmware.block import MISSING, Block
from firmware.sources.base import Clock, Source, SourceError

#: (DOUT, PD_SCK) BCM pin numbers of cells 0-3, in column order.
DEFAULT_PINS: tuple[tuple[int, int], ...] = ((5, 6), (17, 27), (22, 23), (24, 25))

#: Channel A, gain 128: where a load cell is wired on HX711 boards.
CHAN_A_GAIN_128 = 25
#: A row waits at most this many sample periods for its slowest chip.
ROW_DEADLINE_PERIODS = 1.5
#: Settling after a chip reset, in sample periods (50 ms at 80/s, 400 ms at 10/s).
SETTLING_PERIODS = 4
#: probe_hx711: a chip's second conversion must come within this many expected periods.
RATE_CHECK_PERIODS = 2
#: Pause between polls of the DOUT lines while a row is incomplete.
DEFAULT_POLL_S = 0.0005

PinOpener = Callable[[int], Any]


def open_blinka_pin(bcm: int) -> Any:
    """Open BCM pin ``bcm`` as a Blinka ``digitalio.DigitalInOut``.

    Raises SourceError with a reason a person can act on when this machine
    has no Raspberry Pi GPIO (Blinka on a PC imports, but its ``board`` has
    no ``D<n>`` pins) or the line cannot be opened.
    """
    # Blinka otherwise stops to ask "[Y/n]" about installing packages when run from a terminal.
    os.environ.setdefault("BLINKA_SKIP_DEPENDENCY_CHECK", "1")
    try:
        with contextlib.redirect_stdout(sys.stderr):  # Blinka prints warnings on a PC
            import board
            import digitalio
    except Exception as exc:  # ImportError, NotImplementedError, RuntimeError...
        raise SourceError(f"no usable GPIO library (Blinka): {exc}") from exc
    board_id = getattr(board, "board_id", "unknown")
    pin = getattr(board, f"D{bcm}", None)
    if pin is None:
        raise SourceError(f"no Raspberry Pi GPIO on this machine (Blinka board: {board_id})")
    try:
        return digitalio.DigitalInOut(pin)
    except Exception as exc:
        raise SourceError(f"cannot open GPIO BCM {bcm} (Blinka board: {board_id}): {exc}") from exc


def _is_bcm(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


class _Opened:
    """Pin pairs for some cells, remembering which pins we opened (and must release)."""

    def __init__(self, pins: Sequence[tuple[Any, Any]], pin_opener: PinOpener | None) -> None:
        self.pairs: list[tuple[Any, Any]] = []
        self.bcm: list[tuple[int | None, int | None]] = []
        self.owned: list[Any] = []
        opener = pin_opener or open_blinka_pin
        try:
            for i, pair in enumerate(pins):
                if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                    raise SourceError(f"cell {i}: pins must be a (data, clock) pair, not {pair!r}")
                opened = []
                for p in pair:
                    if _is_bcm(p):
                        if not 0 <= p <= 27:
                            raise SourceError(f"cell {i}: BCM pin {p} is not a Raspberry Pi GPIO (0-27)")
                        pin = opener(p)
                        self.owned.append(pin)
                        opened.append(pin)
                    else:
                        opened.append(p)
                self.pairs.append((opened[0], opened[1]))
                self.bcm.append(tuple(p if _is_bcm(p) else None for p in pair))  # type: ignore[arg-type]
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        while self.owned:
            pin = self.owned.pop()
            try:
                pin.deinit()
            except Exception:
                pass


def _check_pins(pins: Sequence[Any]) -> None:
    if not 1 <= len(pins) <= MAX_CELLS:
        raise SourceError(f"an HX711 platform has 1 to {MAX_CELLS} chips, not {len(pins)}")
    bcm = [p for pair in pins if isinstance(pair, (tuple, list)) for p in pair if _is_bcm(p)]
    if len(set(bcm)) != len(bcm):
        raise SourceError(f"the same BCM pin is used twice in {list(pins)}")


def _pins_for_platform(pins: Sequence[tuple[Any, Any]], platform: PlatformCalibration) -> list[Any]:
    """``pins`` as a list, checked, one pair per cell of ``platform``."""
    pins = list(pins)
    _check_pins(pins)
    if len(pins) != platform.n_cells:
        raise SourceError(f"{len(pins)} HX711 pin pairs given for a platform of {platform.n_cells} cells")
    return pins


class HX711Source(Source):
    """Rows of raw counts from 1-4 HX711 chips, one per cell, in column order.

    ``pins``: one (DOUT, PD_SCK) pair per cell, either BCM numbers (opened
    with ``pin_opener``, by default Blinka's ``DigitalInOut``) or pin objects
    already made. ``platform`` gives the cell count and the sample rate
    (``rate_hz``, which must match the boards' RATE pin). ``clock`` stamps the
    rows (monotonic seconds); ``clock_ns`` times the driver's clock pulses and
    the row deadline; ``sleep`` waits between polls. ``chan_gain`` is the
    HX711 channel/gain setting (25 = channel A, gain 128).

    Counters per cell: ``timeouts`` (rows the chip missed by not getting
    ready) and ``dropped_frames`` (frames it gave but that were rejected);
    ``last_error`` keeps the latest error per cell.
    """

    kind = "hx711"

    def __init__(
        self,
        pins: Sequence[tuple[Any, Any]],
        platform: PlatformCalibration,
        *,
        pin_opener: PinOpener | None = None,
        clock: Clock = time.monotonic,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
        sleep: Callable[[float], None] = time.sleep,
        poll_s: float = DEFAULT_POLL_S,
        chan_gain: int = CHAN_A_GAIN_128,
    ) -> None:
        pins = _pins_for_platform(pins, platform)
        from firmware.hardware.hx711 import HX711, HX711Error, HX711FrameError  # imports Blinka: only when really used

        self.platform = platform
        self._clock = clock
        self._t0 = float(clock())  # rows carry seconds since the source opened
        self._clock_ns = clock_ns
        self._sleep = sleep
        self._poll_s = float(poll_s)
        self._chan_gain = chan_gain
        self._period_ns = round(1e9 / platform.rate_hz)
        self._chip_error, self._frame_error = HX711Error, HX711FrameError
        self._opened = _Opened(pins, pin_opener)
        self._closed = False
        try:
            self._chips = _make_chips(HX711, self._opened, clock_ns=clock_ns, sleep=sleep, poll_s=poll_s)
        except BaseException:
            self._opened.release()
            raise
        n = len(self._chips)
        self.timeouts = [0] * n
        self.dropped_frames = [0] * n
        self.last_error: list[Exception | None] = [None] * n
        # The chips were just reset: the first row also waits out the settling.
        self._extra_wait_ns = SETTLING_PERIODS * self._period_ns

    def read(self) -> Block:
        """Block until every chip gave one reading or the row deadline passed; one row."""
        if self._closed:
            raise SourceError("the HX711 source is closed")
        values: list[int | None] = [None] * len(self._chips)
        pending = list(range(len(self._chips)))
        deadline_ns = self._clock_ns() + self._extra_wait_ns + round(ROW_DEADLINE_PERIODS * self._period_ns)
        self._extra_wait_ns = 0
        while pending:
            still = self._poll_chips(pending, values)
            progressed = len(still) < len(pending)
            pending = still
            if not pending:
                break
            if self._clock_ns() >= deadline_ns:
                self._count_late(pending)
                break
            if not progressed:
                self._sleep(self._poll_s)
        t_s = float(self._clock()) - self._t0
        raw = np.array([[MISSING if v is None else v for v in values]], dtype=np.int64)
        return Block(np.array([t_s], dtype=np.float64), raw)

    def _poll_chips(self, pending: list[int], values: list[int | None]) -> list[int]:
        """One pass over the ``pending`` chips: read the ready ones into ``values``; those still not ready."""
        still = []
        for i in pending:
            chip = self._chips[i]
            try:
                if not chip.is_ready:
                    still.append(i)
                    continue
                values[i] = chip.read_frame(self._chan_gain, timeout_s=0.0)
            except self._frame_error as exc:
                self.dropped_frames[i] += 1
                self.last_error[i] = exc
            except self._chip_error as exc:
                self.timeouts[i] += 1
                self.last_error[i] = exc
        return still

    def _count_late(self, pending: list[int]) -> None:
        """The row deadline passed: count a timeout for every chip still not ready."""
        for i in pending:
            self.timeouts[i] += 1
            self.last_error[i] = SourceError(
                f"cell {i} was not ready within {ROW_DEADLINE_PERIODS} sample periods"
            )

    def close(self) -> None:
        """Release the GPIO lines this source opened; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._opened.release()


def probe_hx711(
    pins: Sequence[tuple[Any, Any]] = DEFAULT_PINS,
    *,
    pin_opener: PinOpener | None = None,
    clock_ns: Callable[[], int] = time.perf_counter_ns,
    sleep: Callable[[float], None] = time.sleep,
    timeout_s: float = 0.5,
    poll_s: float = DEFAULT_POLL_S,
    expect_rate_hz: float | None = 80.0,
) -> tuple[bool, str]:
    """Check whether HX711 boards answer on ``pins``; (ok, reason) for ``--source auto``.

    Opens the pins, resets every chip and waits up to ``timeout_s`` (the
    settling is 400 ms at 10 samples/s) for each to get ready and give a good
    frame; then, unless ``expect_rate_hz`` is None, checks that each gives its
    next conversion within two periods of that rate (many boards tie the RATE
    pin low: 10 samples/s, too slow for live feedback). Never raises for
    hardware trouble: the reason says what is wrong ("no Raspberry Pi GPIO on
    this machine (Blinka board: ...)", "cell 2 (DOUT BCM 22) never became
    ready: ..."). Releases the pins it opened before returning.
    """
    try:
        pins = list(pins)
        _check_pins(pins)
        opened = _Opened(pins, pin_opener)
    except SourceError as exc:
        return False, str(exc)
    try:
        probe = _Probe.start(opened, clock_ns=clock_ns, sleep=sleep, poll_s=poll_s)
        # 1. Every chip gets ready after its reset (the settling) and gives a good frame.
        probe.await_first_frames(timeout_s)
        # 2. The next conversion comes at the expected rate (RATE pin high = 80/s).
        if expect_rate_hz and probe.first_ns:
            probe.check_rates(expect_rate_hz)
        return probe.verdict()
    except _ProbeFailed as exc:
        return False, str(exc)
    finally:
        opened.release()


class _ProbeFailed(Exception):
    """probe_hx711 cannot even start checking the chips; the message is its reason."""


class _Probe:
    """probe_hx711's chips, when each gave its first good frame, and what is wrong with each."""

    def __init__(self, opened: _Opened, chips: list[Any], chip_error: type[Exception],
                 clock_ns: Callable[[], int], sleep: Callable[[float], None], poll_s: float) -> None:
        self.bcm = opened.bcm
        self.chips = chips
        self.chip_error = chip_error
        self.clock_ns = clock_ns
        self.sleep = sleep
        self.poll_s = poll_s
        self.first_ns: dict[int, int] = {}
        self.problems: dict[int, str] = {}

    @classmethod
    def start(cls, opened: _Opened, *, clock_ns: Callable[[], int], sleep: Callable[[float], None],
              poll_s: float) -> "_Probe":
        """Drive (and so reset) every opened chip; _ProbeFailed if the driver cannot."""
        try:
            from firmware.hardware.hx711 import HX711, HX711Error
        except Exception as exc:  # pragma: no cover - the driver is a dependency
            raise _ProbeFailed(f"the HX711 driver cannot be imported: {exc}") from exc
        try:
            chips = _make_chips(HX711, opened, clock_ns=clock_ns, sleep=sleep, poll_s=poll_s)
        except Exception as exc:
            raise _ProbeFailed(f"cannot drive the HX711 pins: {exc}") from exc
        return cls(opened, chips, HX711Error, clock_ns, sleep, poll_s)

    def take_frame(self, i: int) -> bool:
        """Read chip i's ready frame; False (and a problem noted) if it was bad."""
        try:
            self.chips[i].read_frame(CHAN_A_GAIN_128, timeout_s=0.0)
            return True
        except self.chip_error as exc:
            self.problems[i] = f"gave a bad frame ({exc})"
        except Exception as exc:
            self.problems[i] = f"cannot be read: {exc}"
        return False

    def await_first_frames(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for every chip's first frame; note the chips that never got ready."""
        deadline_ns = self.clock_ns() + int(timeout_s * 1e9)
        waiting = set(range(len(self.chips)))
        while waiting:
            for i in sorted(waiting):
                if self._first_frame_done(i):
                    waiting.discard(i)
            if not waiting or self.clock_ns() >= deadline_ns:
                break
            self.sleep(self.poll_s)
        for i in waiting:
            self.problems[i] = "never became ready: check its wiring and power"

    def _first_frame_done(self, i: int) -> bool:
        """If chip i is ready, take its first frame (noting when it was seen if good); True if it was."""
        if not self.chips[i].is_ready:
            return False
        seen_ns = self.clock_ns()
        if self.take_frame(i):
            self.first_ns[i] = seen_ns
        return True

    def check_rates(self, rate_hz: float) -> None:
        """Wait for each chip with a good first frame to give its next one within the rate check."""
        limit_ns = round(RATE_CHECK_PERIODS * 1e9 / rate_hz)
        pending = dict(self.first_ns)
        while pending:
            now_ns = self.clock_ns()
            for i in sorted(pending):
                if self._rate_settled(i, now_ns - pending[i], limit_ns, rate_hz):
                    del pending[i]
            if pending:
                self.sleep(self.poll_s)

    def _rate_settled(self, i: int, since_first_ns: int, limit_ns: int, rate_hz: float) -> bool:
        """Chip i's rate check: True once it gave its second frame or has taken too long."""
        if self.chips[i].is_ready:
            self.take_frame(i)
            return True
        if since_first_ns > limit_ns:
            self.problems[i] = (
                f"converts slower than {rate_hz:g} samples/s (no second conversion "
                f"within {limit_ns / 1e6:.0f} ms): is its RATE pin tied low (10 samples/s)?"
            )
            return True
        return False

    def verdict(self) -> tuple[bool, str]:
        """(ok, reason) as probe_hx711 returns it."""
        if self.problems:
            return False, "; ".join(
                f"cell {i} ({_describe(self.bcm[i])}) {self.problems[i]}" for i in sorted(self.problems)
            )
        where = ", ".join(_describe(b) for b in self.bcm)
        return True, f"{len(self.chips)} HX711 chip(s) ready ({where})"


def _make_chips(driver: Callable[..., Any], opened: _Opened, *, clock_ns: Callable[[], int],
                sleep: Callable[[float], None], poll_s: float) -> list[Any]:
    """One driver per opened pin pair; it never waits itself (``timeout_s=0``), the caller polls."""
    return [
        driver(data, clk, clock_ns=clock_ns, sleep=sleep, timeout_s=0.0, poll_s=poll_s)
        for data, clk in opened.pairs
    ]


def _describe(bcm: tuple[int | None, int | None]) -> str:
    """How a person finds a cell's chip on the header: its DOUT pin."""
    return "DOUT on a pin object" if bcm[0] is None else f"DOUT BCM {bcm[0]}"
