"""`knotcoach sessions`: past sessions, newest first, listed or exported.

    knotcoach sessions [--person NAME] [--region REGION] [--since DATE]
    knotcoach sessions ... --out FILE.csv|FILE.json [--format csv|json]
    knotcoach sessions ... --format csv|json          (the export to standard output)

The export is written atomically (a crash leaves the old file or the new one);
its CSV and JSON are ``server/exports.py``'s, the same the tablet's history
downloads.

Reading never creates the database: with none yet, the list is empty.
"""

from __future__ import annotations

import argparse
import os
from datetime import date, datetime

from calibration.profiles import ProfileError, person_key, region_key
from server.exports import FORMATS, to_csv, to_json


def _checked(key, what: str):
    def parse(text: str) -> str:
        try:
            return key(text)
        except ProfileError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = what
    return parse


def _since(text: str) -> str:
    try:
        (date if len(text.strip()) == 10 else datetime).fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since takes a date such as 2026-11-20 or an ISO 8601 date-time, "
                                         f"not {text!r}") from None
    return text.strip()


def configure(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("sessions", help="list past sessions, or export them as CSV or JSON",
                       description="Past coaching sessions, newest first: list them, or export them "
                                   "for a spreadsheet or a physiotherapist.")
    p.add_argument("--person", type=_checked(person_key, "person"), metavar="NAME", help="only this person's")
    p.add_argument("--region", type=_checked(region_key, "region"), help="only this body region's")
    p.add_argument("--since", type=_since, metavar="DATE",
                   help="only sessions started on or after this day (the person's own) or ISO date-time")
    p.add_argument("--format", choices=FORMATS, help="export as csv or json (default: from --out's extension)")
    p.add_argument("--out", metavar="FILE", help="write the export to FILE instead of listing")
    p.add_argument("--progress", action="store_true",
                   help="with --person: how each knot is coming along across days (trend, recurring, reminders)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="where calibrations and sessions live (default: $STATE_DIRECTORY or the user's data folder)")
    return p


def run(args, out=print, now_iso=None) -> int:
    from calibration.files import StoreError, write_text_atomic
    from server.cli_support import InputError, data_dir
    from server.store import open_store, sessions_path

    db = sessions_path(data_dir(args))
    if args.out:
        _check_out(args.out, db, InputError)
    fmt = _export_format(args, InputError)
    try:
        if db.exists():
            with open_store(db) as store:
                sessions = store.sessions(person=args.person, region=args.region, since=args.since)
        else:
            sessions = []
    except StoreError as e:
        raise InputError(str(e)) from None
    if args.progress:
        return _progress(args, sessions, out, InputError, now_iso)
    if fmt is None:
        if not sessions:
            out("No sessions yet." if not db.exists() else "No sessions match.")
        for s in sessions:
            out(format_session(s))
        return 0
    text = to_csv(sessions) if fmt == "csv" else to_json(sessions)
    if not args.out:
        out(text.rstrip("\n"))
        return 0
    try:
        write_text_atomic(args.out, text)
    except OSError as e:
        raise InputError(f"{args.out}: cannot write: {e.strerror or e}") from None
    out(f"Wrote {len(sessions)} session(s) to {args.out}")
    return 0


def _progress(args, sessions, out, InputError, now_iso) -> int:
    """Across days, per knot: the next-day question, the trend, a recurring knot, reminders."""
    import datetime as dt

    from calibration.profiles import ProfileError, person_key
    from server.progress import group_knots, report
    if not args.person or args.out or args.format:
        raise InputError("--progress needs --person, and goes without --out and --format")
    try:
        person = person_key(args.person)
    except ProfileError as e:
        raise InputError(str(e)) from None
    now = now_iso or dt.datetime.now().astimezone().isoformat(timespec="seconds")
    knots = [k for k in group_knots(sessions) if k.person == person]
    if not knots:
        out(f"No sessions for {args.person} yet.")
        return 0
    for knot in sorted(knots, key=lambda k: k.sessions[-1].started_at, reverse=True):
        out(knot_line(knot))
    advice = report(sessions, person, now)
    if advice:
        out("")
    for item in advice:
        out(f"- {item.text}")
    return 0


def knot_line(knot) -> str:
    """One knot at a glance: how often, since when, and how tender before and after lately."""
    last = knot.sessions[-1]
    def pain(value) -> str:
        return "?" if value is None else f"{value:g}"
    pains = f", tenderness {pain(last.pain_before)} -> {pain(last.pain_after)}/10 last time"
    first_day, last_day = knot.sessions[0].started_at[:10], last.started_at[:10]
    span = last_day if first_day == last_day else f"{first_day} to {last_day}"
    return f"{knot.name}: {len(knot.sessions)} session(s), {span}{pains}"


def _export_format(args, InputError) -> str | None:
    if args.format or not args.out:
        return args.format
    ext = os.path.splitext(args.out)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise InputError(f"{args.out}: say --format csv or --format json (or name the file .csv or .json)")
    return ext


def _check_out(out: str, db, InputError) -> None:
    path = os.path.abspath(out)
    if os.path.isdir(path):
        raise InputError(f"{out}: is a folder; give a file name such as {out}/sessions.csv")
    if not os.path.isdir(os.path.dirname(path)):
        raise InputError(f"{out}: folder {os.path.dirname(path)} does not exist")
    ours = {os.path.abspath(f"{db}{suffix}") for suffix in ("", "-wal", "-shm")}
    if path in ours or (os.path.exists(path) and db.exists() and os.path.samefile(path, db)):
        raise InputError(f"{out}: that is the sessions database itself; choose another file")


def _num(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}".rstrip("0").rstrip(".")


def format_session(s) -> str:
    """One line per session for the list."""
    when = datetime.fromisoformat(s.started_at)
    knot = "no knot marked" if s.knot_x_mm is None else (
        f"knot {_num(s.knot_x_mm)} mm" if s.knot_y_mm is None else f"knot {_num(s.knot_x_mm)},{_num(s.knot_y_mm)} mm")
    minutes = f"{int(s.elapsed_s // 60)}:{int(s.elapsed_s % 60):02d}"
    parts = [f"#{s.id}", when.strftime("%Y-%m-%d %H:%M %z"), s.person, s.region, s.tool, knot,
             f"pain {_num(s.pain_before)} -> {_num(s.pain_after)}", f"{minutes} ({_num(s.time_in_band_s)} s in band)",
             f"{s.cycles_done} cycle(s)", "unfinished" if s.outcome == "running" else s.outcome]
    totals = s.warning_totals()
    if totals:
        parts.append("warnings: " + ", ".join(f"{name} {n}x {_num(sec)} s" for name, (n, sec) in totals.items()))
    if s.next_day:
        parts.append(f"next day {_num(s.next_day.tenderness)}/10" + (", bruised" if s.next_day.bruising else ""))
    if s.recording_path:
        parts.append(f"recording {s.recording_path}")  # relative to the data directory
    return "  ".join(parts)
