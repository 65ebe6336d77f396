"""`knotcoach calibrate person`: the slow press that sets a person's own 0-10 scale.

The person lies on the roller and follows a pacer that rises steadily from a
light press to about 60 % of body weight, tapping Enter (or space) each time
the pressure feels like the rating shown (2/10, 5/10, 7/10 by default).
``q`` or Ctrl-C stops at once and nothing is saved. At the end the fitted
4-5/10 band is shown in newtons and the profile saved in the data directory.

With ``--source sim`` a simulated person presses along the pacer and taps
when they feel each rating (``firmware.sim.perception``), so the whole flow
runs on a laptop; ``--manual`` lets you tap for them instead, ``--fast`` runs
simulated time as fast as possible. When ``--source auto`` finds no boards and
falls back to the simulator, the simulated person still follows the pacer but
never taps for itself: you tap. A scale measured on the simulator is saved
only when ``--data-dir`` is given, never over the person's real data folder.
If the press ends before a rating is reached, the person is told which one
was skipped and the scale is fitted from the marks made (at least two).
Keys, clock, sleep and output are injectable for tests.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import select
import sys
import time
from datetime import datetime
from typing import Callable, TextIO

from calibration.intensity import IntensityScale, ScaleError, check_ratings, words_for
from calibration.profiles import REGIONS, ProfileError, ProfileStore, person_key, region_key
from calibration.scale_procedure import (DEFAULT_RATINGS, HOLDING, RAMPING, SETTLING, WAITING, ProcedureError,
                                         ScaleProcedure)

G_MS2 = 9.81
#: The pacer starts at this share of body weight and rises to the top share.
START_SHARE, TOP_SHARE = 0.08, 0.65
#: The display and the keys are looked at this often (seconds).
FRAME_S = 0.04
#: Nobody on the roller for this long ends the session.
WAIT_LIMIT_S = 120.0
MARK_KEYS, STOP_KEYS = "\n\r ", "qQ\x1b"


def configure(sub) -> None:
    p = sub.add_parser("person", help="set a person's own 0-10 pressure scale for one body region "
                       "(a slow press of about half a minute)",
                       description="Lie on the roller, follow the rising pacer and tap Enter each time "
                       "the pressure feels like the rating shown. q or Ctrl-C stops without saving.")
    p.add_argument("--person", required=True, metavar="NAME", help="whose scale this is, e.g. alex")
    p.add_argument("--region", required=True, metavar="REGION", help=f"body region: {', '.join(REGIONS)}")
    p.add_argument("--marks", type=_ratings, default=DEFAULT_RATINGS, metavar="R,R,...",
                   help="ratings to tap on the way up (default 2,5,7)")
    p.add_argument("--body-kg", type=_number("body-kg", 15.0, 300.0), default=75.0,
                   help="body mass; sets how far the pacer rises (default 75)")
    p.add_argument("--ramp-s", type=_number("ramp-s", 10.0, 120.0), default=25.0,
                   help="how long the pacer takes to rise (default 25 s)")
    p.add_argument("--manual", action="store_true",
                   help="with --source sim: you tap instead of the simulated person (a simulator that "
                   "stands in for missing boards never taps for you)")


def _ratings(text: str) -> tuple[float, ...]:
    try:
        return check_ratings(float(part) for part in text.split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--marks wants rising ratings like 2,5,7: {e}" if isinstance(e, ScaleError)
                                         else f"--marks wants numbers like 2,5,7, not {text!r}") from None


def _number(what: str, lo: float, hi: float):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be a number from {lo:g} to {hi:g}, not {text!r}")
        return value
    parse.__name__ = what
    return parse


class VirtualClock:
    """Simulated time for ``--fast``: sleeping moves the clock on at once."""

    def __init__(self) -> None:
        self.t_s = 0.0

    def __call__(self) -> float:
        return self.t_s

    def sleep(self, seconds: float) -> None:
        self.t_s += seconds


class TerminalKeys:
    """Keys from standard input without waiting: single keys on a terminal, lines from a pipe."""

    def __init__(self, stream=None) -> None:
        stream = sys.stdin if stream is None else stream
        try:
            self.fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None  # e.g. under pytest: no keys
        self._saved = None

    @property
    def usable(self) -> bool:
        return self.fd is not None

    def __enter__(self):
        if self.fd is not None and os.isatty(self.fd):
            import termios
            import tty
            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc) -> None:
        if self._saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def __call__(self) -> str:
        if self.fd is None or not select.select([self.fd], [], [], 0)[0]:
            return ""
        data = os.read(self.fd, 64)
        if not data:  # end of a pipe: no more keys
            self.fd = None
        return data.decode("utf-8", "ignore")


def run(args, *, keys: Callable[[], str] | None = None, clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None, out: TextIO | None = None,
        now_iso: Callable[[], str] | None = None) -> int:
    from server.cli_support import InputError, data_dir

    try:
        person, region = person_key(args.person), region_key(args.region)
        store = ProfileStore(data_dir(args))
        store.load(person, region)  # a damaged file is reported before the person starts
    except ProfileError as e:
        raise InputError(str(e)) from None
    source, sleep = _open(args, clock, sleep)
    out = sys.stdout if out is None else out
    terminal = TerminalKeys() if keys is None else None
    keys = terminal if keys is None else keys
    simulated = source.kind == "simulated" and hasattr(source, "steer")
    # Only a simulator asked for by name taps for itself; one standing in for missing boards does not.
    asked_for_sim = _source_kind(args) in ("sim", "simulated")
    auto_tap = simulated and asked_for_sim and not args.manual
    if terminal is not None and not terminal.usable and not auto_tap:
        source.close()
        hint = "" if asked_for_sim or not simulated else \
            " (or give --source sim to let the simulated person tap)"
        raise InputError(f"tapping the marks needs a keyboard: run this in a terminal{hint}")
    if source.kind == "simulated" and not asked_for_sim:
        _write(out, "No HX711 boards here, so the simulated platform stands in: you tap the marks yourself"
                    + ("" if args.data_dir else ", and the result is not saved") + ".\n")
    bw_n = args.body_kg * G_MS2
    proc = ScaleProcedure(START_SHARE * bw_n, TOP_SHARE * bw_n, args.marks, ramp_s=args.ramp_s)
    _write(out, f"Slow press for {person}, {region}. Lie on the roller and rest on it lightly. A pacer will "
                "rise slowly: follow it, and press Enter each time the pressure feels like the rating shown. "
                "Press q to stop at once (nothing is saved).\n")
    try:
        with source, (terminal or contextlib.nullcontext()):
            session = _Session(source, proc, keys, out, args.seed if simulated else None, args.body_kg,
                               auto_tap=auto_tap)
            if source.kind == "hx711":  # on the device: the buzzer paces the ramp
                from firmware.cues.devices import open_cues
                session.cues = open_cues()
            try:
                stopped = session.run(sleep)
            finally:
                if session.cues is not None:
                    session.cues.close()
    except KeyboardInterrupt:
        _write(out, "\nStopped. Nothing was saved.\n")
        return 130
    if stopped:
        _write(out, f"\n{stopped} Nothing was saved.\n")
        return 1
    save = source.kind != "simulated" or bool(args.data_dir)
    return _finish(store, person, region, proc, source.kind, out, now_iso or _now_iso, save=save)


def _source_kind(args) -> str:
    return str(args.source).partition(":")[0]


def _open(args, clock, sleep):
    from firmware.sources.factory import SourceSpecError, open_source
    from server.cli_support import InputError

    if clock is None and args.fast and _source_kind(args) in ("sim", "simulated"):
        virtual = VirtualClock()
        clock, sleep = virtual, virtual.sleep
    try:
        source = open_source(args.source, pins=args.pins, seed=args.seed, fast=args.fast,
                             clock=clock or time.monotonic, announce=_say)
    except SourceSpecError as e:
        raise InputError(str(e)) from None
    return source, sleep or time.sleep


def _say(message: str) -> None:
    print(f"knotcoach: {message}", file=sys.stderr)


def _now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _finish(store, person, region, proc, source_kind, out, now_iso, *, save: bool = True) -> int:
    """Fit the marks, show the band and (when ``save``) add the calibration to the person's profile."""
    from server.cli_support import InputError

    marks = proc.result()
    skipped = proc.ratings[len(marks):]
    if skipped:
        names = ", ".join(f"{r:g}/10 ({words_for(r)})" for r in skipped)
        _write(out, f"\nThe press ended before you tapped {names}: "
                    f"{'that rating was' if len(skipped) == 1 else 'those ratings were'} skipped.\n")
        if len(marks) >= 2:
            _write(out, f"Your scale is fitted from the {len(marks)} marks you made.\n")
    try:
        scale = IntensityScale(marks)
        if save:
            profile = store.add_calibration(person, region, marks, now_iso(), {"source": source_kind})
    except (ScaleError, ProfileError) as e:
        raise InputError(f"{e} (nothing was saved)") from None
    lo_n, hi_n = profile.band_n() if save else scale.band_n()
    tops = ", ".join(f"{m.rating:g}/10 at {m.force_n:.0f} N" for m in scale.marks)
    _write(out, f"\nDone, thank you. Your marks: {tops}.\n"
                f"Your 4-5/10 band for {region}: {lo_n:.0f}-{hi_n:.0f} N.\n")
    if not save:
        _write(out, "simulated: not saved (give --data-dir to keep it)\n")
        return 0
    _write(out, f"Saved in {store.path(person, region)} "
                f"(use it with: knotcoach run --person {person} --region {region}).\n")
    return 0


class _Session:
    """Runs the procedure on a live source: samples in, taps in, a pacer bar out."""

    def __init__(self, source, proc: ScaleProcedure, keys, out, sim_seed: int | None, body_kg: float,
                 auto_tap: bool = True) -> None:
        from firmware.pipeline.filterloop import FilterLoop

        self.source, self.proc, self.keys, self.out = source, proc, keys, out
        self.loop = FilterLoop(source.platform)
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.perceiver, self.auto_tap = None, auto_tap
        self._steered_ramp = False
        self._last_tick_s: float | None = None
        self.cues = None  # the buzzer paces the ramp on the device; a terminal bell otherwise
        self._last_shown_s = -math.inf
        self._phase_shown = None
        if sim_seed is not None:
            from firmware.sim.perception import Perceiver
            self.perceiver = Perceiver(sim_seed, body_kg)
            source.steer("autopilot", on=False)
            source.steer("set_body_mass", mass_kg=body_kg)
            source.steer("set_force", force_n=self.perceiver.pressing_n(proc.start_n), ramp_s=1.0, steady=True)

    def run(self, sleep) -> str | None:
        """Until the procedure ends; returns why it stopped early, or None when it is done."""
        polled = getattr(self.source, "poll_interval_s", 0.0) > 0
        while not self.proc.finished:
            if self.source.finished:
                return "The recording ended before the slow press was finished."
            self._take(self.source.read())
            if self.proc.phase == WAITING and self.proc.t_s > WAIT_LIMIT_S:
                return "Nobody rested on the roller for two minutes."
            pressed = self.keys()
            if any(k in STOP_KEYS for k in pressed):
                self.proc.stop(self.proc.t_s)
                return "Stopped."
            if any(k in MARK_KEYS for k in pressed):
                self._tap(self.proc.t_s)
            self._pace()
            self._show()
            if polled:
                sleep(FRAME_S)
        return None

    def _take(self, block) -> None:
        if not len(block):
            return
        result = self.loop.process(block)
        for t_s, force_n in zip(result.t_s.tolist(), result.force_n.tolist()):
            self.proc.feed(t_s, force_n)
        if self.perceiver is not None:
            self._simulated_taps()

    def _simulated_taps(self) -> None:
        """The simulated person follows the pacer and (unless --manual) taps when they feel each rating."""
        proc, truth = self.proc, self.source.last_truth
        if proc.phase in (RAMPING, HOLDING) and not self._steered_ramp:
            self._steered_ramp = True
            left_s = max(proc.ramp_s * (1.0 - (proc.target_n - proc.start_n) / (proc.top_n - proc.start_n)), 0.0)
            self.source.steer("set_force", force_n=self.perceiver.pressing_n(proc.top_n), ramp_s=left_s, steady=True)
        for t_s, force_n in zip(truth.t_s.tolist(), truth.force_n.tolist()):
            if self.auto_tap and proc.phase != WAITING and self.perceiver.step(t_s, force_n, proc.next_rating):
                self._tap(min(t_s, proc.t_s))
        if proc.finished:
            self.source.steer("set_force", force_n=proc.start_n, ramp_s=2.0, steady=True)

    def _pace(self) -> None:
        """The pacing tick: the buzzer where there is one, the terminal bell on a screen."""
        t_s = self.proc.t_s
        if self.proc.tick_due(self._last_tick_s):
            self._last_tick_s = t_s
            if self.cues is not None:
                self.cues.player.play("press_a_bit_more", t_s)
            if self.tty:
                _write(self.out, "\a")
        if self.cues is not None and math.isfinite(t_s):
            self.cues.tick(t_s)

    def _tap(self, t_s: float) -> None:
        rating = self.proc.next_rating
        try:
            mark = self.proc.mark(t_s)
        except ProcedureError as e:
            _write(self.out, f"\n  {e}\n")
            return
        text = f"  marked {rating:g}/10 at {mark.force_n:.0f} N"
        _write(self.out, ("\r" if self.tty else "") + text.ljust(78) + "\n")

    def _show(self) -> None:
        proc = self.proc
        if proc.phase != self._phase_shown:
            self._phase_shown = proc.phase
            text = _PHASE_TEXT.get(proc.phase)
            if text:
                _write(self.out, ("\r" if self.tty else "") + text.ljust(78) + "\n")
        every_s = 0.2 if self.tty else 2.0
        if proc.phase in (SETTLING, RAMPING, HOLDING) and proc.t_s - self._last_shown_s >= every_s:
            self._last_shown_s = proc.t_s
            line = pacer_line(proc)
            _write(self.out, f"\r{line:<78}" if self.tty else line + "\n")


_PHASE_TEXT = {
    SETTLING: "Good, you are on the roller. Stay light for a moment.",
    RAMPING: "Now press slowly harder, keeping up with the pacer.",
    HOLDING: "Hold this pressure. Tap if you feel the rating; it ends in a moment.",
}


def pacer_line(proc: ScaleProcedure, width: int = 28) -> str:
    """One line: a bar of the force with the pacer's mark, the numbers and what to tap for."""
    full_n = proc.top_n * 1.1
    force_n = 0.0 if math.isnan(proc.force_n) else max(proc.force_n, 0.0)
    filled = min(int(round(force_n / full_n * width)), width)
    bar = ["="] * filled + [" "] * (width - filled)
    bar[min(int(round(proc.target_n / full_n * width)), width - 1)] = "|"
    you = "  -- N" if math.isnan(proc.force_n) else f"{proc.force_n:4.0f} N"
    ask = f"tap at {proc.next_rating:g}/10 ({proc.next_words})" if proc.next_rating is not None else ""
    return f"[{''.join(bar)}] you {you}, pacer {proc.target_n:4.0f} N  {ask}"


def _write(out: TextIO, text: str) -> None:
    out.write(text)
    out.flush()
