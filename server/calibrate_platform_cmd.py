"""`knotcoach calibrate platform`: tare, a known mass at the centre and over each cell, saved.

The person is told what to do at each step and presses Enter; each step
samples for about 3 s with a progress line; a refused step (moving, loaded,
no change) can be repeated. The result (sensitivities, centre-of-pressure
error) is shown and saved to the data directory, the previous calibration
kept in the history. Ctrl-C or end of input at any step abandons it and
changes nothing; so does ``q`` at the known-mass prompt, which asks again
after an answer it cannot use. With the simulator (``--source sim``) the simulated platform
is cleared and the mass put in place at each step automatically; ``--fast``
then runs in simulated time.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone

from calibration.files import StoreError
from calibration.platform import CalibrationError
from calibration.platform_cal import (DEFAULT_LAYOUT, LIMITS, STANDARD_GRAVITY_MS2, Refused, cell_names,
                                      parse_layout, parse_mass)
from calibration.platform_store import load_all, save_platform
from server.cli_support import InputError, data_dir

#: Refusals a person can fix and then repeat the step.
RETRYABLE = ("moving", "loaded", "no_change", "no_readings")


def configure(sub) -> None:
    p = sub.add_parser("platform", help="calibrate the platform: tare, a known mass, the cell positions",
                       description="Calibrate the platform in newtons and millimetres: zero it empty, then "
                       "put a known mass at the centre and over each cell in turn. With --source sim the "
                       "simulated platform follows each step by itself (--fast: in simulated time).")
    p.add_argument("--preset", default=DEFAULT_LAYOUT, metavar="GEOMETRY",
                   help=f"cell positions in mm: corners:W:D, ends:L, single or cells:X,Y;X,Y;... "
                   f"(default {DEFAULT_LAYOUT}, hardware.md's platform)")
    p.add_argument("--mass", metavar="MASS", help="the known mass, e.g. 5kg or 11lb (asked for if not given)")
    p.add_argument("--fresh", action="store_true",
                   help="do not compare the empty platform with the stored calibration (after rebuilding it)")


class _VirtualClock:
    """Simulated time for ``--fast``: sleeping moves the clock on at once."""

    def __init__(self) -> None:
        self.t_s = 0.0

    def __call__(self) -> float:
        return self.t_s

    def sleep(self, seconds: float) -> None:
        self.t_s += max(float(seconds), 0.0)


def run(args, *, ask=None, out=None, clock=None, sleep=None, now_iso=None) -> int:
    """Run the calibration; ``ask(prompt) -> str`` reads the person's answers (default ``input``)."""
    ask = ask or input
    out = out or sys.stdout
    layout = _checked(parse_layout, args.preset)
    mass_kg = _checked(parse_mass, args.mass) if args.mass else None
    folder = data_dir(args)
    try:
        stored, _ = load_all(folder)
    except StoreError as e:
        raise InputError(f"{e}; move it aside to calibrate afresh") from None
    kind = args.source.partition(":")[0]
    if kind == "replay":
        raise InputError("calibrate platform needs a live platform (--source hx711 or sim), not a recording")
    if clock is None and args.fast and kind in ("sim", "simulated"):
        virtual = _VirtualClock()
        clock, sleep = virtual, virtual.sleep
    source = _open(args, clock or time.monotonic, stored.platform if stored else None, len(layout))
    with source:
        try:
            if mass_kg is None:
                mass_kg = _ask_mass(ask, out)
                if mass_kg is None:
                    _say(out, "calibration abandoned; the stored calibration is unchanged")
                    return 1
            result = _calibrate(args, source, layout, mass_kg, stored, ask, out, clock, sleep)
        except KeyboardInterrupt:
            _say(out, "\ncalibration abandoned; the stored calibration is unchanged")
            return 130
        except EOFError:
            _say(out, "\ncalibration abandoned (end of input); the stored calibration is unchanged")
            return 1
    _show(out, result, layout)
    return _save(args, out, folder, source.kind, result, now_iso)


def _ask_mass(ask, out) -> float | None:
    """The known mass from the person, asked again (with the reason) until it is usable; None on q."""
    while True:
        text = ask("Known mass (e.g. 5kg or 11lb, q to give up): ")
        if text.strip().lower() in ("q", "quit"):
            return None
        try:
            return parse_mass(text)
        except CalibrationError as e:
            _say(out, f"  {e}")


def _checked(parse, text):
    try:
        return parse(text)
    except CalibrationError as e:
        raise InputError(str(e)) from None


def _open(args, clock, stored_platform, n_layout):
    from firmware.sources.factory import SourceSpecError, open_source, parse_pins

    try:
        n_pins = len(parse_pins(args.pins))
        platform = stored_platform if stored_platform and stored_platform.n_cells == n_pins else None
        return open_source(args.source, pins=args.pins, seed=args.seed, fast=args.fast, clock=clock,
                           announce=lambda m: print(f"knotcoach: {m}", file=sys.stderr), platform=platform)
    except SourceSpecError as e:
        raise InputError(str(e)) from None


def _calibrate(args, source, layout, mass_kg, stored, ask, out, clock, sleep):
    from firmware.device.platform_calibration import PlatformCalibrationRun, sim_placer

    simulated = source.kind == "simulated"
    # The simulator knows its own previous calibration; a real platform has the stored one.
    reference = source.platform if simulated or stored is None else stored.platform
    progress = _progress_printer(out)
    try:
        cal = PlatformCalibrationRun(source, layout, mass_kg, reference=reference, check_loaded=not args.fresh,
                                     clock=clock or time.monotonic, sleep=sleep or time.sleep, progress=progress)
    except CalibrationError as e:
        raise InputError(str(e)) from None
    place = sim_placer(source, mass_kg) if simulated else None
    _say(out, f"Platform calibration: {len(layout)} cell(s), known mass {mass_kg:.3g} kg "
         f"({mass_kg * STANDARD_GRAVITY_MS2:.2f} N).")
    for i, step in enumerate(cal.steps, 1):
        _do_step(cal, step, f"Step {i} of {len(cal.steps)}: {step.instruction}, then press Enter ", ask, out, place)
    try:
        return cal.finish()
    except CalibrationError as e:
        raise InputError(f"{e}; nothing saved") from None


def _do_step(cal, step, prompt, ask, out, place) -> None:
    while True:
        ask(prompt)
        if place is not None:
            place(step)
        try:
            cal.do(step)
            return
        except Refused as e:
            message = str(e) + (" (or add --fresh if the platform was rebuilt)" if e.kind == "loaded" else "")
            if e.kind not in RETRYABLE:
                raise InputError(f"{message}; nothing saved") from None
            _say(out, f"  not accepted: {message}")
            if ask("Press Enter to try this step again, or type q to give up: ").strip().lower() in ("q", "quit"):
                raise InputError(f"{message}; nothing saved") from None


def _progress_printer(out):
    tty = bool(getattr(out, "isatty", lambda: False)())

    def show(line: str) -> None:
        if tty:
            out.write("\r  " + line.ljust(50) + ("\n" if " 0.0 s left" in line else ""))
        else:
            out.write("  " + line + "\n")
        out.flush()
    return show


def _show(out, result, layout) -> None:
    names = cell_names(layout)
    _say(out, "Result:")
    for i, c in enumerate(result.platform.cells):
        _say(out, f"  cell {i} ({names[i]}, x {c.x_mm:.0f} mm, y {c.y_mm:.0f} mm): "
             f"{c.counts_per_newton:.2f} counts/N, zero {c.offset:.0f} counts")
    if result.cop_error_mm is not None:
        _say(out, f"  centre of pressure within {result.cop_error_mm:.1f} mm of the mass "
             f"(limit {LIMITS.max_cop_error_mm:g} mm)")
    worst_n = max(result.force_errors_n, key=abs)
    _say(out, f"  total force within {abs(worst_n):.2f} N of the mass's weight")


def _save(args, out, folder, source_kind, result, now_iso) -> int:
    if source_kind == "simulated" and not args.data_dir:
        _say(out, "Not saved: this was the simulated platform (give --data-dir to keep its calibration).")
        return 0
    when = now_iso() if now_iso else datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    report = {**result.report(), "source": source_kind}
    if source_kind == "simulated":  # the device uses a simulator's calibration only on the same simulator
        report["seed"] = args.seed
    try:
        path = save_platform(folder, result.platform, when, report)
    except (StoreError, CalibrationError) as e:
        raise InputError(str(e)) from None
    _say(out, f"Saved to {path} (earlier calibrations are kept in its history).")
    return 0


def _say(out, text: str) -> None:
    out.write(text + "\n")
    out.flush()

