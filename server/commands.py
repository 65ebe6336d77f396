"""What each ``knotcoach`` subcommand does, once its arguments are parsed."""

from __future__ import annotations

import json
import os
import sys
import time

from firmware.monitor import Knot, WatchSettings
from firmware.recording import RecordingError, RecordingWriter, read_recording


#: Until a person calibrates their own scale: about 25-45 % of a 75 kg person's weight.
DEFAULT_BAND_N = (185.0, 330.0)


class InputError(ValueError):
    """Input from outside that cannot be used; shown as one line, exit status 2."""


def dispatch(args) -> int:
    return {"analyze": analyze, "record": record, "run": run}[args.command](args)


def _watch(args, default_band=None) -> WatchSettings:
    band = args.band_newtons or default_band
    if band is None:
        raise InputError("a band is needed: --band-newtons LO:HI")
    knot = Knot(*args.knot) if args.knot else None
    return WatchSettings(band_lo_n=band[0], band_hi_n=band[1], knot=knot,
                         zone_mm=args.zone_mm, dwell_s=args.dwell_s)


def analyze(args) -> int:
    from firmware.analysis import analyze as run_analysis, format_summary, write_trace

    try:
        recording = read_recording(args.recording)
    except RecordingError as e:
        raise InputError(str(e)) from None
    watch = _watch(args)
    if args.trace and os.path.abspath(args.trace) == os.path.abspath(args.recording):
        raise InputError(f"{args.trace}: the trace would overwrite the recording")
    result = run_analysis(recording, watch)
    if args.trace:
        try:
            write_trace(args.trace, result.output)
        except OSError as e:
            raise InputError(f"{args.trace}: cannot write the trace: {e.strerror or e}") from None
    if args.json:
        out = sys.stdout
        for event in result.events:
            out.write(json.dumps(event.to_dict()) + "\n")
        out.flush()
    else:
        print(format_summary(args.recording, result, watch))
    return 0


def record(args) -> int:
    from firmware.sources.factory import SourceSpecError, open_source

    try:
        source = open_source(args.source, pins=args.pins, seed=args.seed, fast=args.fast, announce=_say)
    except SourceSpecError as e:
        raise InputError(str(e)) from None
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise InputError(f"{args.out}: folder {out_dir} does not exist")
    meta = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "source": source.kind}
    with source:
        try:
            writer = RecordingWriter(args.out, source.platform, meta)
        except OSError as e:
            raise InputError(f"{args.out}: cannot write: {e.strerror or e}") from None
        with writer:
            if source.kind == "simulated" and not args.realtime:
                writer.write(source.generate(args.seconds))
            else:
                _record_live(source, writer, args.seconds)
    _say(f"wrote {writer.rows} samples from {source.n_cells} cell(s) to {args.out}")
    return 0


def _record_live(source, writer, seconds: float) -> None:
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds and not source.finished:
            writer.write(source.read())
            time.sleep(getattr(source, "poll_interval_s", 0.0))
    except KeyboardInterrupt:
        _say("stopped early; keeping what was recorded")


def run(args) -> int:
    from firmware.live import run_live
    from firmware.sources.factory import SourceSpecError, open_source

    try:
        source = open_source(args.source, pins=args.pins, seed=args.seed, fast=args.fast, announce=_say)
    except SourceSpecError as e:
        raise InputError(str(e)) from None
    if args.band_newtons is None:
        _say(f"no personal scale yet: using a band of {DEFAULT_BAND_N[0]:g}-{DEFAULT_BAND_N[1]:g} N "
             "(set one with --band-newtons LO:HI)")
    if args.knot is None and hasattr(source, "knot_mm"):
        args.knot = source.knot_mm  # the simulated person's knot, so the demo shows on_knot too
    watch = _watch(args, default_band=DEFAULT_BAND_N)
    with source:
        return run_live(source, watch, seconds=args.seconds, out=sys.stdout, announce=_say)


def _say(message: str) -> None:
    print(f"knotcoach: {message}", file=sys.stderr)
