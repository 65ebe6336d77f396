"""`knotcoach profile`: the people's 0-10 scales kept in the data directory.

list, show (every calibration with its date and band), export (one file for
`analyze --profile` or another device), import, and felt (the band felt too
hard or too light: noted, and a fresh calibration is suggested).
"""

from __future__ import annotations

import datetime as dt

from calibration.profiles import (
    FELT, ExportExistsError, ProfileError, ProfileStore, report_band_felt_wrong, suggest_recalibration,
)


def configure(sub) -> list:
    prof = sub.add_parser("profile", help="list, show, export or import people's 0-10 scales",
                          description="People's own 0-10 pressure scales, per body region.")
    actions = prof.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    actions.add_parser("list", help="who has a scale, for which regions")
    show = actions.add_parser("show", help="a person's calibrations with their dates and bands")
    show.add_argument("--person", required=True, metavar="NAME")
    exp = actions.add_parser("export", help="write all of a person's scales to one file")
    exp.add_argument("--person", required=True, metavar="NAME")
    exp.add_argument("out", metavar="OUT.json")
    exp.add_argument("--force", action="store_true", help="replace OUT.json if it already exists")
    imp = actions.add_parser("import", help="add the scales in an exported file")
    imp.add_argument("file", metavar="FILE.json")
    felt = actions.add_parser("felt", help="note that the band felt wrong, so recalibrating is suggested")
    felt.add_argument("--person", required=True, metavar="NAME")
    felt.add_argument("--region", required=True)
    felt.add_argument("how", choices=FELT, help="too_hard, too_light or wrong")
    return list(actions.choices.values())


def run(args, now_iso: str | None = None, out=print) -> int:
    from server.cli_support import InputError, data_dir

    store = ProfileStore(data_dir(args))
    now_iso = now_iso or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    try:
        return _ACTIONS[args.action](store, args, now_iso, out)
    except ProfileError as e:
        raise InputError(str(e)) from None
    except OSError as e:
        raise InputError(f"{getattr(e, 'filename', '') or 'file'}: {e.strerror or e}") from None


def _list(store, args, now_iso, out) -> int:
    people = store.people()
    if not people:
        out("No scales yet: make one with 'knotcoach calibrate person --person NAME --region REGION'.")
    for person in people:
        out(f"{person}: {', '.join(store.regions(person)) or '(none)'}")
    return 0


def _show(store, args, now_iso, out) -> int:
    regions = store.regions(args.person)
    if not regions:
        raise ProfileError(f"no scales stored for {args.person}")
    for region in regions:
        profile = store.load(args.person, region)
        lo, hi = profile.band_n()
        out(f"{profile.person} / {region}: band {lo:.0f}-{hi:.0f} N (4/10 to 5/10)")
        for cal in reversed(profile.calibrations):
            marks = ", ".join(f"{m.rating:g}/10 at {m.force_n:.0f} N" for m in cal.marks)
            out(f"  {cal.date}  {marks}")
        hint = suggest_recalibration(profile, now_iso)
        if hint:
            out(f"  {hint.text}")
    return 0


def _export(store, args, now_iso, out) -> int:
    try:
        count = store.export(args.person, args.out, replace_existing=args.force)
    except ExportExistsError as e:
        raise ProfileError(f"{e}: add --force to replace it") from None
    out(f"Wrote {count} scale(s) of {args.person} to {args.out}")
    return 0


def _import(store, args, now_iso, out) -> int:
    for profile in store.import_file(args.file):
        out(f"Imported {profile.person} / {profile.region} ({len(profile.calibrations)} calibration(s))")
    return 0


def _felt(store, args, now_iso, out) -> int:
    profile = store.load(args.person, args.region)
    if profile is None:
        raise ProfileError(f"no {args.region} scale stored for {args.person}")
    profile = report_band_felt_wrong(profile, now_iso, args.how)
    store.save(profile)
    hint = suggest_recalibration(profile, now_iso)
    out(hint.text if hint else "Noted.")
    return 0


_ACTIONS = {"list": _list, "show": _show, "export": _export, "import": _import, "felt": _felt}
