"""What the ``knotcoach`` subcommands share: ``InputError``, the data directory, the
stored platform calibration, the band chosen on the command line, and one line to say.

The command modules (``server/*_cmd.py``) import this; it imports none of them, and
the registry of subcommands (``server/commands.py``) lives elsewhere.
"""

from __future__ import annotations

import sys

#: Until a person calibrates their own scale: about 25-45 % of a 75 kg person's weight.
DEFAULT_BAND_N = (185.0, 330.0)


class InputError(ValueError):
    """Input from outside that cannot be used; shown as one line, exit status 2."""


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


def chosen_band(args, default_band=None) -> tuple[float, float] | None:
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
        say(hint.text)
    return profile


def _person_band(args) -> tuple[float, float]:
    profile = person_profile(args)
    lo, hi = profile.band_n()
    say(f"{profile.person}'s {profile.region} band: {lo:.0f}-{hi:.0f} N (4/10 to 5/10)")
    return lo, hi


def say(message: str) -> None:
    """One line for the person at the terminal, on standard error."""
    print(f"knotcoach: {message}", file=sys.stderr)
