"""What each ``knotcoach`` subcommand does, once its arguments are parsed."""

from __future__ import annotations

import json
import os
import sys
import time

from firmware.pipeline.monitor import Knot, WatchSettings
from firmware.recordings.format import RecordingError, RecordingWriter, read_recording


#: Until a person calibrates their own scale: about 25-45 % of a 75 kg person's weight.
DEFAULT_BAND_N = (185.0, 330.0)


class InputError(ValueError):
    """Input from outside that cannot be used; shown as one line, exit status 2."""


def dispatch(args) -> int:
    if args.command == "sessions":
        from server import sessions_cmd
        return sessions_cmd.run(args)
    if args.command in ("pair", "doctor"):
        import importlib
        return importlib.import_module(f"server.{args.command}_cmd").run(args)
    if args.command == "profile":
        from server import profile_cmd
        return profile_cmd.run(args)
    if args.command == "calibrate":
        from server import calibrate_person_cmd, calibrate_platform_cmd
        module = {"platform": calibrate_platform_cmd, "person": calibrate_person_cmd}[args.target]
        return module.run(args)
    if args.command in ("run", "serve"):
        from server import run_cmd
        return getattr(run_cmd, args.command)(args)
    return {"analyze": analyze, "record": record}[args.command](args)


def data_dir(args):
    """The data directory from --data-dir, $STATE_DIRECTORY or the user's data folder."""
    from pathlib import Path

    from calibration.files import default_data_dir
    path = Path(args.data_dir) if getattr(args, "data_dir", None) else default_data_dir()
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: is a file, not a data folder (--data-dir)")
    return path


def stored_platform(args):
    """The platform calibration saved by 'knotcoach calibrate platform', if any."""
    from calibration.files import StoreError
    from calibration.platform_store import load_platform
    try:
        return load_platform(data_dir(args))
    except (StoreError, ValueError) as e:
        raise InputError(f"the stored platform calibration cannot be used: {e}") from None


def _band(args, default_band=None) -> tuple[float, float] | None:
    """The band in newtons from --band-newtons, --profile (their 4/10 to 5/10) or the default."""
    if getattr(args, "profile", None):
        from calibration.profiles import ProfileError, band_from_profile_file
        try:
            return band_from_profile_file(args.profile, region=args.region)
        except ProfileError as e:
            raise InputError(str(e)) from None
        except OSError as e:
            raise InputError(f"{args.profile}: cannot read: {e.strerror or e}") from None
    if getattr(args, "person", None):
        return _person_band(args)
    if getattr(args, "region", None):
        raise InputError("--region goes with --profile or --person")
    return args.band_newtons or default_band


def person_profile(args):
    """The stored profile for --person and --region; says when to recalibrate."""
    import datetime as dt
    import shlex

    from calibration.profiles import ProfileError, ProfileStore, suggest_recalibration
    if args.band_newtons or not args.region:
        raise InputError("--person needs --region, and no --band-newtons")
    try:
        profile = ProfileStore(data_dir(args)).load(args.person, args.region)
    except ProfileError as e:
        raise InputError(str(e)) from None
    if profile is None:
        raise InputError(f"no {args.region} scale stored for {args.person}: run 'knotcoach calibrate person "
                         f"--person {shlex.quote(args.person)} --region {shlex.quote(args.region)}'")
    hint = suggest_recalibration(profile, dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    if hint:
        _say(hint.text)
    return profile


def _person_band(args) -> tuple[float, float]:
    profile = person_profile(args)
    lo, hi = profile.band_n()
    _say(f"{profile.person}'s {profile.region} band: {lo:.0f}-{hi:.0f} N (4/10 to 5/10)")
    return lo, hi


def _watch(args, default_band=None) -> WatchSettings:
    band = _band(args, default_band)
    if band is None:
        raise InputError("a band is needed: --band-newtons LO:HI or --profile FILE")
    knot = Knot(*args.knot) if args.knot else None
    return WatchSettings(band_lo_n=band[0], band_hi_n=band[1], knot=knot,
                         zone_mm=args.zone_mm, dwell_s=args.dwell_s)


def analyze(args) -> int:
    from firmware.pipeline.analysis import analyze as run_analysis, format_summary, write_trace

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

    out = os.path.abspath(args.out)
    if os.path.isdir(out):
        raise InputError(f"{args.out}: is a folder; give a file name such as {args.out}/session.csv")
    if not os.path.isdir(os.path.dirname(out)):
        raise InputError(f"{args.out}: folder {os.path.dirname(out)} does not exist")
    if os.path.exists(out) and not args.force:
        raise InputError(f"{args.out}: already exists; choose another name or add --force to replace it")
    try:
        source = open_source(args.source, pins=args.pins, seed=args.seed, fast=args.fast, announce=_say,
                             platform=stored_platform(args))
    except SourceSpecError as e:
        raise InputError(str(e)) from None
    meta = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "source": source.kind}
    with source:
        try:
            with RecordingWriter(args.out, source.platform, meta) as writer:
                if source.kind == "simulated" and not args.realtime:
                    _record_simulated(source, writer, args.seconds)
                else:
                    _record_live(source, writer, args.seconds)
        except OSError as e:
            raise InputError(f"{args.out}: cannot write: {e.strerror or e}") from None
    _say(f"wrote {writer.rows} samples from {source.n_cells} cell(s) to {args.out}")
    return 0


def _record_simulated(source, writer, seconds: float) -> None:
    """Simulated time, a minute at a time so long recordings need little memory."""
    left = seconds
    while left > 0:
        writer.write(source.generate(min(left, 60.0)))
        left -= 60.0


def _record_live(source, writer, seconds: float) -> None:
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds and not source.finished:
            writer.write(source.read())
            time.sleep(getattr(source, "poll_interval_s", 0.0))
    except KeyboardInterrupt:
        _say("stopped early; keeping what was recorded")


def _say(message: str) -> None:
    print(f"knotcoach: {message}", file=sys.stderr)
