"""Hardware checks for ``knotcoach doctor``: the HX711 chips, GPIO access, the pin library, the buttons.

Each check gives :class:`Check` lines (OK / WARN / FAIL, a subject, what was
found and what to do). The pin opener, the nanosecond clock, ``sleep``, the
gpiozero pin factory, ``/dev`` and the user lookups are arguments, so tests
run this exact code against the emulated HX711 and gpiozero's MockFactory.
The chip check resets every chip, waits for its first conversion, tries a
silent chip's pins the other way round (DOUT and SCK swapped), then reads all
chips for a short window: rate (80/s; 10/s with RATE tied low), noise, and
the frames the driver dropped (clock-high over 50 us, saturated, all ones).
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from firmware.sources.factory import NOMINAL_COUNTS_PER_NEWTON
from firmware.sources.hx711_source import DEFAULT_POLL_S

OK, WARN, FAIL = "OK", "WARN", "FAIL"

#: Waiting for a chip's first conversion after its reset: 400 ms of settling at 10/s, and a margin.
ANSWER_TIMEOUT_S = 0.6
#: How far from the expected rate still counts as that rate (the internal oscillator is not exact).
RATE_TOLERANCE = 0.15
#: The rate of a board whose RATE pin is tied low.
LOW_RATE_HZ = 10.0
#: Noise (counts rms, in newtons) above which a cell is worth a look, and above which it is unusable.
NOISE_WARN_N = 0.5
NOISE_FAIL_N = 5.0
#: Share of frames dropped for a long clock-high phase above which it is a failure, not a warning.
CLOCK_HIGH_FAIL_SHARE = 0.10
#: At least this many identical values in a row mean a frozen chip (a real one always shows noise).
FROZEN_MIN_FRAMES = 10

# Message fragments hardware.md's troubleshooting table quotes (a test checks they exist here).
NOT_ANSWERING = "does not answer"
SWAPPED = "answers only with DOUT and SCK swapped"
RATE_LOW = "its RATE pin is tied low"
RATE_ODD = "samples/s, expected"
NOISY = "noisy"
TOO_NOISY = "too noisy to coach"
FROZEN = "gives exactly the same value every time"
CLOCK_HIGH = "clock-high phase over 50 us"
SATURATED = "saturated frames"
ALL_ONES = "all-ones frames"
PIN_BUSY = "is in use by another program"
NO_GPIOCHIP = "no /dev/gpiochip"
NO_GPIO_ACCESS = "cannot open"
NOT_IN_GPIO_GROUP = "is not in the gpio group"
NO_PIN_FACTORY = "gpiozero finds no pin library"
BUTTON_STUCK = "reads pressed while nobody presses it"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report: ``status`` OK / WARN / FAIL, ``subject``, ``text``."""

    status: str
    subject: str
    text: str

    def line(self) -> str:
        return f"{self.status:<4} {self.subject}: {self.text}"


# --- the HX711 chips ---------------------------------------------------------------

@dataclass
class _Cell:
    """One cell's pins, driver and what was seen of it during the checks."""

    index: int
    bcm: tuple[Any, Any]
    data: Any = None
    clock: Any = None
    chip: Any = None
    error: str | None = None          # the pins could not be opened
    drive_error: str | None = None    # the driver could not use the pins (the last attempt)
    answered: bool = False
    swapped: bool = False
    arrivals_ns: list[int] = field(default_factory=list)   # when each conversion was seen
    values: list[int] = field(default_factory=list)        # good frames, counts
    dropped: dict[str, int] = field(default_factory=dict)  # frames dropped, by reason

    @property
    def name(self) -> str:
        d, c = self.bcm
        if isinstance(d, int) and isinstance(c, int):
            return f"cell {self.index} (DOUT BCM {d}, SCK BCM {c})"
        return f"cell {self.index}"

    @property
    def frames(self) -> int:
        return len(self.values) + sum(self.dropped.values())


class _ChipRig:
    """The driver class and clock the chip checks share."""

    def __init__(self, clock_ns: Callable[[], int], sleep: Callable[[float], None], poll_s: float) -> None:
        from firmware.hardware.hx711 import HX711, HX711Error, HX711FrameError  # imports Blinka: only when probing
        self.driver, self.chip_error, self.frame_error = HX711, HX711Error, HX711FrameError
        self.clock_ns, self.sleep, self.poll_s = clock_ns, sleep, poll_s

    def drive(self, cell: _Cell, data: Any, clock: Any) -> None:
        """(Re)build cell's driver on ``data`` / ``clock``: this resets the chip."""
        try:
            cell.chip = self.driver(data, clock, clock_ns=self.clock_ns, sleep=self.sleep,
                                    timeout_s=0.0, poll_s=self.poll_s)
            cell.drive_error = None
        except Exception as exc:  # a pin that cannot be driven is that cell's problem, not the doctor's
            cell.chip = None
            cell.drive_error = f"cannot drive its pins ({type(exc).__name__}: {exc})"

    def take(self, cell: _Cell) -> bool:
        """If cell's chip is ready, read its frame into the cell's record; True if it was ready."""
        try:
            if not cell.chip.is_ready:
                return False
            seen_ns = self.clock_ns()
            cell.values.append(cell.chip.read_frame(cell.chip.CHAN_A_GAIN_128, timeout_s=0.0))
        except self.frame_error as exc:
            cell.dropped[exc.reason] = cell.dropped.get(exc.reason, 0) + 1
        except self.chip_error:
            return False
        except Exception as exc:  # a pin failing mid-read: report it, do not stop the other checks
            cell.chip, cell.drive_error = None, f"failed while being read ({type(exc).__name__}: {exc})"
            return False
        cell.arrivals_ns.append(seen_ns)
        return True

    def await_answers(self, cells: list[_Cell], timeout_s: float) -> None:
        """Poll every cell until each gave its first conversion or ``timeout_s`` passed."""
        deadline_ns = self.clock_ns() + round(timeout_s * 1e9)
        waiting = [c for c in cells if c.chip is not None and not c.answered]
        while waiting:
            for cell in waiting:
                cell.answered = self.take(cell)
            waiting = [c for c in waiting if c.chip is not None and not c.answered]
            if waiting and self.clock_ns() < deadline_ns:
                self.sleep(self.poll_s)
            else:
                break

    def measure(self, cells: list[_Cell], window_s: float) -> None:
        """Read every answering cell for ``window_s``: arrivals, values and drops.

        The rate comes from this window's arrivals alone: while the doctor
        waited for a silent chip, the others' conversions went unread.
        """
        for cell in cells:
            cell.arrivals_ns.clear()
        deadline_ns = self.clock_ns() + round(window_s * 1e9)
        while self.clock_ns() < deadline_ns:
            progressed = False
            for cell in cells:
                progressed = cell.chip is not None and self.take(cell) or progressed
            if not progressed:
                self.sleep(self.poll_s)


def check_chips(
    pins: Sequence[tuple[Any, Any]],
    *,
    pin_opener: Callable[[int], Any],
    clock_ns: Callable[[], int],
    sleep: Callable[[float], None],
    window_s: float = 1.0,
    expect_rate_hz: float = 80.0,
    counts_per_newton: Sequence[float] | None = None,
    poll_s: float = DEFAULT_POLL_S,
) -> list[Check]:
    """Which cells answer on ``pins`` (DOUT, SCK per cell), at what rate, how noisy, which frames drop.

    ``pin_opener(bcm)`` opens a BCM pin (Blinka's ``DigitalInOut`` on the Pi);
    entries that are not ints are used as pin objects as they are.
    ``counts_per_newton`` (per cell, from the stored calibration) turns noise
    into newtons; without it a nominal sensitivity gives a rough figure.
    Every pin opened here is released before returning.
    """
    cells = [_Cell(i, tuple(pair)) for i, pair in enumerate(pins)]
    opened: list[Any] = []
    try:
        for cell in cells:
            _open_cell(cell, pin_opener, opened)
        shared = _shared_error(cells)
        if shared is not None:
            return [Check(FAIL, "HX711 chips", shared)]
        rig = _ChipRig(clock_ns, sleep, poll_s)
        for cell in cells:
            if cell.error is None:
                rig.drive(cell, cell.data, cell.clock)
        rig.await_answers(cells, ANSWER_TIMEOUT_S)
        _try_swapped(rig, [c for c in cells if c.error is None and not c.answered])
        rig.measure([c for c in cells if c.answered and not c.swapped], window_s)
    finally:
        for pin in reversed(opened):
            with contextlib.suppress(Exception):
                pin.deinit()
    cpn = list(counts_per_newton or [])
    return [line for cell in cells
            for line in _report_cell(cell, expect_rate_hz, cpn[cell.index] if cell.index < len(cpn) else None)]


def _open_cell(cell: _Cell, pin_opener: Callable[[int], Any], opened: list[Any]) -> None:
    """Open the cell's two pins (BCM numbers through ``pin_opener``); note why not if it fails."""
    got = []
    for p in cell.bcm:
        if not (isinstance(p, int) and not isinstance(p, bool)):
            got.append(p)
            continue
        try:
            pin = pin_opener(p)
        except Exception as exc:
            cell.error = _open_error(p, exc)
            return
        opened.append(pin)
        got.append(pin)
    cell.data, cell.clock = got


def _open_error(bcm: int, exc: Exception) -> str:
    """Why BCM pin ``bcm`` could not be opened, in words a person can act on."""
    text = str(exc)
    if getattr(exc, "errno", None) == 16 or "busy" in text.lower():
        return (f"GPIO BCM {bcm} {PIN_BUSY} (the device process? 'sudo systemctl stop knotcoach-device' "
                "or stop 'knotcoach run', then check again)")
    return text


def _shared_error(cells: list[_Cell]) -> str | None:
    """The one reason when no cell's pins could be opened for the same reason (e.g. not a Pi)."""
    reasons = {c.error for c in cells}
    if len(reasons) == 1 and None not in reasons and PIN_BUSY not in next(iter(reasons)):
        return f"{next(iter(reasons))}: the chips cannot be checked here"
    return None


def _try_swapped(rig: _ChipRig, silent: list[_Cell]) -> None:
    """Drive each silent chip with its two pins the other way round; mark those that answer so.

    A chip wired the right way round that stayed silent is reported as it was
    found (its first attempt's error, or not answering), not by this retry.
    """
    first_errors = {cell.index: cell.drive_error for cell in silent}
    for cell in silent:
        rig.drive(cell, cell.clock, cell.data)
    rig.await_answers([c for c in silent if c.chip is not None], ANSWER_TIMEOUT_S)
    for cell in silent:
        cell.swapped = cell.answered
        if not cell.swapped:
            cell.drive_error = first_errors[cell.index]


def _report_cell(cell: _Cell, rate_hz: float, counts_per_newton: float | None) -> list[Check]:
    """The cell's lines: answering and rate, noise, dropped frames."""
    d, c = cell.bcm
    if cell.error is not None:
        return [Check(FAIL, cell.name, cell.error)]
    if cell.swapped:
        return [Check(FAIL, cell.name, f"{SWAPPED}: swap its two wires at the Pi (DOUT to BCM {d}, "
                                       f"SCK to BCM {c}), or give --pins {c}:{d}")]
    if cell.drive_error is not None:
        return [Check(FAIL, cell.name, f"{cell.drive_error}: check its wiring (hardware.md 3.1)")]
    if not cell.answered:
        return [Check(FAIL, cell.name, f"{NOT_ANSWERING} (DOUT stayed high for {ANSWER_TIMEOUT_S:g} s): "
                                       "check 3.3 V and GND at its board, that DOUT and SCK go to the pins "
                                       "named here, and the wires (hardware.md 3.1, 6.3)")]
    if len(cell.values) >= FROZEN_MIN_FRAMES and len(set(cell.values)) == 1:
        return [Check(FAIL, cell.name, f"{FROZEN} ({cell.values[0]}, {len(cell.values)} times): a stuck "
                                       "DOUT line, SCK not reaching the board, or a board that stopped "
                                       "converting (hardware.md 6.6)")]
    return [_rate_check(cell, rate_hz), *_noise_check(cell, counts_per_newton), _frames_check(cell)]


def measured_rate_hz(arrivals_ns: Sequence[int]) -> float | None:
    """Conversions per second from the times they were seen; None with fewer than two."""
    if len(arrivals_ns) < 2 or arrivals_ns[-1] <= arrivals_ns[0]:
        return None
    return (len(arrivals_ns) - 1) / ((arrivals_ns[-1] - arrivals_ns[0]) / 1e9)


def _rate_check(cell: _Cell, rate_hz: float) -> Check:
    rate = measured_rate_hz(cell.arrivals_ns)
    if rate is None:
        return Check(WARN, cell.name, "answers, but gave too few conversions to measure its rate: "
                                      "check again with a longer --seconds")
    if abs(rate - rate_hz) <= RATE_TOLERANCE * rate_hz:
        return Check(OK, cell.name, f"answers, {rate:.1f} samples/s")
    if abs(rate - LOW_RATE_HZ) <= RATE_TOLERANCE * LOW_RATE_HZ:
        return Check(FAIL, cell.name, f"answers at {rate:.1f} samples/s: {RATE_LOW} (10/s is too slow for "
                                      "live feedback); connect RATE (chip pin 15) to VCC for 80 samples/s "
                                      "(hardware.md section 4)")
    return Check(WARN, cell.name, f"answers at {rate:.1f} {RATE_ODD} {rate_hz:g}: an odd board or a chip "
                                  "that keeps resetting (see its frames line)")


def noise_counts(values: Sequence[int]) -> float | None:
    """Noise in counts rms from consecutive differences, so a slow drift does not count as noise."""
    if len(values) < 5:
        return None
    diffs = [b - a for a, b in zip(values, values[1:])]
    mean = sum(diffs) / len(diffs)
    return math.sqrt(sum((x - mean) ** 2 for x in diffs) / (len(diffs) - 1) / 2)


def _noise_check(cell: _Cell, counts_per_newton: float | None) -> list[Check]:
    noise = noise_counts(cell.values)
    if noise is None:
        return []
    subject = f"cell {cell.index} noise"
    calibrated = bool(counts_per_newton)
    newtons = noise / abs(counts_per_newton if calibrated else NOMINAL_COUNTS_PER_NEWTON)
    figure = f"{noise:.0f} counts rms ({'' if calibrated else 'about '}{newtons:.2f} N"
    figure += ")" if calibrated else ", uncalibrated)"
    fix = ("with the platform empty and still: move the board next to its cell, shielded cell cable with "
           "the shield to GND at the board, its own GND wire to the Pi, E- joined to GND (hardware.md 6.2)")
    if newtons > NOISE_FAIL_N:
        return [Check(FAIL, subject, f"{figure}: {TOO_NOISY}; {fix}")]
    if newtons > NOISE_WARN_N:
        return [Check(WARN, subject, f"{figure}: {NOISY}; {fix}")]
    return [Check(OK, subject, figure)]


def _frames_check(cell: _Cell) -> Check:
    from firmware.hardware.hx711 import HX711FrameError as E
    total, subject = cell.frames, f"cell {cell.index} frames"
    high = cell.dropped.get(E.CLOCK_HIGH_TOO_LONG, 0)
    saturated = cell.dropped.get(E.SATURATED, 0)
    ones = cell.dropped.get(E.ALL_ONES, 0)
    if saturated:
        return Check(FAIL, subject, f"{saturated} of {total} {SATURATED} (0x7FFFFF / 0x800000): a supply and a "
                                    "signal wire mixed up, A+ or A- open, or an overloaded cell (hardware.md 6.4)")
    if high and high > CLOCK_HIGH_FAIL_SHARE * total:
        status = FAIL
    else:
        status = WARN if (high or ones) else OK
    if status == OK:
        return Check(OK, subject, f"{total} read, none dropped")
    parts = []
    if high:
        parts.append(f"{high} of {total} dropped for a {CLOCK_HIGH} (the CPU was busy mid-frame; the chip "
                     "may reset): keep heavy work off the Pi; the device unit's real-time priority helps "
                     "(hardware.md 6.1)")
    if ones:
        parts.append(f"{ones} of {total} {ALL_ONES} (0xFFFFFF): the chip powered down or DOUT is stuck high")
    return Check(status, subject, "; ".join(parts))


# --- GPIO access ------------------------------------------------------------------

def check_gpio_access(
    dev_dir: Path,
    *,
    user: str,
    is_root: bool,
    groups_of: Callable[[str], set[str] | None],
    access: Callable[[str, int], bool] = os.access,
    service_user: str = "knotcoach",
) -> list[Check]:
    """The GPIO character devices exist, this user may open them, the service user is in gpio.

    ``groups_of(name)`` gives a user's group names (None: no such user).
    """
    chips = sorted(dev_dir.glob("gpiochip*"))
    if not chips:
        return [Check(FAIL, "gpio", f"{NO_GPIOCHIP}* here: this is not a Raspberry Pi, or its kernel has "
                                    "no GPIO driver (the simulator still works)")]
    out = []
    usable = [p for p in chips if access(str(p), os.R_OK | os.W_OK)]
    if usable:
        out.append(Check(OK, "gpio", f"{', '.join(p.name for p in usable)} open to {user}"))
    else:
        fix = ("add the user to the gpio group: sudo usermod -aG gpio " + user + ", then log in again"
               if not is_root else "check the udev rule that gives /dev/gpiochip* to the gpio group")
        out.append(Check(FAIL, "gpio", f"{user} {NO_GPIO_ACCESS} {chips[0]}: {fix}"))
    service_groups = groups_of(service_user)
    if service_groups is not None and "gpio" not in service_groups:
        out.append(Check(FAIL, "gpio", f"the service user {service_user} {NOT_IN_GPIO_GROUP}: sudo usermod "
                                       f"-aG gpio {service_user} && sudo systemctl restart knotcoach-device"))
    elif service_groups is not None:
        out.append(Check(OK, "gpio", f"the service user {service_user} is in the gpio group"))
    return out


def check_pin_factory(make_factory: Callable[[], Any]) -> tuple[Check, Any]:
    """(the check, the factory or None): gpiozero can drive the buzzer, LED and buttons."""
    try:
        factory = make_factory()
    except Exception as exc:  # gpiozero's BadPinFactory, or a back end failing to load
        return Check(FAIL, "pin library", f"{NO_PIN_FACTORY} ({exc}): the pi extra (lgpio) is missing; "
                                          "reinstall with deploy/install.sh or "
                                          "'.venv/bin/pip install lgpio'"), None
    return Check(OK, "pin library", f"gpiozero uses {type(factory).__name__}"), factory


def check_buttons(factory: Any, pins: Sequence[tuple[str, int]]) -> list[Check]:
    """Each button (name, BCM pin), wired to GND with the internal pull-up, reads released."""
    from gpiozero import Button
    out = []
    for name, bcm in pins:
        try:
            with Button(bcm, pull_up=True, pin_factory=factory) as button:
                pressed = button.is_pressed
        except Exception as exc:
            out.append(Check(FAIL, name, f"BCM {bcm} {NO_GPIO_ACCESS} it ({type(exc).__name__}: {exc})"))
            continue
        if pressed:
            out.append(Check(WARN, name, f"BCM {bcm} {BUTTON_STUCK}: the button shorts the pin to GND, or is "
                                         "wired to the wrong pin (hardware.md 3.4)"))
        else:
            out.append(Check(OK, name, f"BCM {bcm} reads released"))
    return out
