"""Each person's scale per body region, with its history, in the data directory.

One file per person and region, ``DATA/people/<person>/<region>.json``,
written atomically (``calibration.files``)::

    {"format": "knotcoach-intensity-profile", "version": 1,
     "person": "alex", "region": "calf",
     "calibrations": [{"date": "2025-03-01T09:30:00+01:00",
                       "marks": [{"force_n": 95.2, "rating": 2.0}, ...],
                       "info": {"source": "simulated"}}, ...],   # in the order added; the last is in use
     "band_reports": [{"date": "...", "felt": "too_hard"}, ...]}

An export holds all of a person's regions in one file::

    {"format": "knotcoach-intensity-export", "version": 1, "person": "alex",
     "profiles": [<profile as above>, ...]}

Dates are ISO 8601 strings passed in by the caller (nothing here reads a
clock); a date without a zone is taken as UTC. The calibration in use is the
one added last, whatever its date: a device without a real-time clock can
record wrong dates, and an imported file dated 2099 must not outrank a slow
press just made. Importing keeps the stored order and appends what is new. Names of people and regions
become file names, so only plain names are accepted. Every file read is
checked; problems raise ``ProfileError`` with one line naming the file.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from calibration.files import StoreError, read_json, write_json_atomic, write_text_atomic
from calibration.intensity import IntensityScale, Mark, ScaleError

PROFILE_FORMAT, EXPORT_FORMAT, VERSION = "knotcoach-intensity-profile", "knotcoach-intensity-export", 1
REGIONS = ("calf", "shins", "hamstrings", "quads", "adductors", "glutes", "tfl", "lats",
           "upper-back", "shoulders", "chest", "forearms", "feet")
FELT = ("too_hard", "too_light", "wrong")
#: A scale older than this is worth redoing.
MAX_AGE_DAYS = 30
#: Older calibrations beyond this many are dropped.
MAX_HISTORY = 50
_NAME = re.compile(r"[^\W_][\w-]{0,31}")


class ProfileError(ValueError):
    """A name, profile or file that cannot be used; ``str()`` is one line."""


class ExportExistsError(ProfileError):
    """The export file is already there and replacing it was not asked for."""


def person_key(name: str) -> str:
    """A person's name as used in file names: lower case, spaces as '-', and one Unicode
    form (NFKC), so 'é' typed two ways or full-width 'ａｌｅｘ' is the same person."""
    key = unicodedata.normalize("NFKC", str(name)).strip().casefold().replace(" ", "-")
    if not _NAME.fullmatch(key):
        raise ProfileError(f"a person's name needs 1-32 letters, digits, '-' or '_' "
                           f"(starting with a letter or digit), not {name!r}")
    return key


def region_key(name: str) -> str:
    """A known body region ('upper back' or 'upper-back' -> 'upper-back')."""
    key = str(name).strip().lower().replace(" ", "-").replace("_", "-")
    if key in ("it-band", "itband", "iliotibial-band"):
        raise ProfileError("the IT band is not rolled directly: calibrate glutes or tfl, the muscles that pull on it")
    if key not in REGIONS:
        raise ProfileError(f"unknown body region {name!r}: choose one of {', '.join(REGIONS)}")
    return key


def parse_date(text: Any) -> datetime:
    """An ISO 8601 date or date-time; without a zone it is UTC."""
    if not isinstance(text, str):
        raise ProfileError(f"a date must be an ISO 8601 string, not {text!r}")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ProfileError(f"not an ISO 8601 date: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Calibration:
    """One slow press: when it was done and the marks it gave."""

    date: str
    marks: tuple[Mark, ...]
    info: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        parse_date(self.date)
        IntensityScale(self.marks)  # refuses contradictory marks

    @property
    def scale(self) -> IntensityScale:
        return IntensityScale(self.marks)


@dataclass(frozen=True)
class BandReport:
    """The person said the band felt wrong ("too_hard", "too_light" or "wrong")."""

    date: str
    felt: str


@dataclass(frozen=True)
class Profile:
    """A person's scale for one region: every calibration (in the order added) and band reports."""

    person: str
    region: str
    calibrations: tuple[Calibration, ...]
    band_reports: tuple[BandReport, ...] = ()

    @property
    def current(self) -> Calibration:
        """The calibration added last (not the one with the latest date: clocks can be wrong)."""
        return self.calibrations[-1]

    @property
    def scale(self) -> IntensityScale:
        return self.current.scale

    def band_n(self, lo_rating: float = 4.0, hi_rating: float = 5.0) -> tuple[float, float]:
        return self.scale.band_n(lo_rating, hi_rating)


def _by_date(items) -> tuple:
    return tuple(sorted(items, key=lambda c: parse_date(c.date)))


def new_profile(person: str, region: str, marks, date_iso: str, info: dict | None = None) -> Profile:
    return add_calibration(None, marks, date_iso, info, person=person, region=region)


def add_calibration(profile: Profile | None, marks, date_iso: str, info: dict | None = None, *,
                    person: str | None = None, region: str | None = None) -> Profile:
    """The profile with one more calibration, which becomes the one in use whatever its date."""
    try:
        cal = Calibration(date_iso, tuple(marks), tuple(sorted((str(k), str(v)) for k, v in (info or {}).items())))
    except ScaleError as e:
        raise ProfileError(str(e)) from None
    if profile is None:
        return Profile(person_key(person), region_key(region), (cal,))
    return replace(profile, calibrations=(profile.calibrations + (cal,))[-MAX_HISTORY:])


def report_band_felt_wrong(profile: Profile, date_iso: str, felt: str = "wrong") -> Profile:
    """Record that the band felt wrong (``too_hard``, ``too_light`` or just ``wrong``)."""
    if felt not in FELT:
        raise ProfileError(f"how the band felt must be one of {', '.join(FELT)}, not {felt!r}")
    parse_date(date_iso)
    reports = _by_date(profile.band_reports + (BandReport(date_iso, felt),))[-MAX_HISTORY:]
    return replace(profile, band_reports=reports)


class Suggestion(NamedTuple):
    reason: str  # "felt_wrong" or "old"
    text: str


def suggest_recalibration(profile: Profile, now_iso: str, max_age_days: float = MAX_AGE_DAYS) -> Suggestion | None:
    """Why this scale is worth redoing now, or None when it is fine."""
    now, done = parse_date(now_iso), parse_date(profile.current.date)
    later = [r for r in profile.band_reports if parse_date(r.date) > done]
    if later:
        how = {"too_hard": "too hard", "too_light": "too light"}.get(later[-1].felt, "not right")
        return Suggestion("felt_wrong", f"You said the {profile.region} band felt {how}: a fresh slow press "
                                        "takes a minute and will fit you better.")
    age_days = (now - done).total_seconds() / 86400.0
    if age_days > max_age_days:
        return Suggestion("old", f"Your {profile.region} scale is {int(age_days)} days old: how pressure feels "
                                 "changes, so a fresh slow press is worth doing.")
    return None


# -- files ----------------------------------------------------------------------

def profile_to_dict(profile: Profile) -> dict[str, Any]:
    return {
        "format": PROFILE_FORMAT, "version": VERSION, "person": profile.person, "region": profile.region,
        "calibrations": [{"date": c.date, "marks": [m.to_dict() for m in c.marks], "info": dict(c.info)}
                         for c in profile.calibrations],
        "band_reports": [{"date": r.date, "felt": r.felt} for r in profile.band_reports],
    }


def _list(data: dict, key: str, required: bool = True) -> list:
    value = data.get(key, None if required else [])
    if not isinstance(value, list) or (required and not value):
        raise ProfileError(f"'{key}' must be a {'non-empty ' if required else ''}list")
    return value


def _calibration(c: Any) -> Calibration:
    if not isinstance(c, dict):
        raise ProfileError("each calibration must be an object with date and marks")
    info = c.get("info", {})
    if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
        raise ProfileError("a calibration's info must map names to text")
    date = c.get("date")
    try:
        return Calibration(date, tuple(Mark.from_dict(m) for m in _list(c, "marks")), tuple(sorted(info.items())))
    except ScaleError as e:
        raise ProfileError(f"calibration of {date}: {e}") from None


def profile_from_dict(data: Any) -> Profile:
    """Check a profile object; ProfileError says what is wrong."""
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        raise ProfileError(f"not a Knot Coach intensity profile (format should be {PROFILE_FORMAT!r})")
    if data.get("version") != VERSION:
        raise ProfileError(f"profile version {data.get('version')!r} is not supported (expected {VERSION})")
    cals = tuple(_calibration(c) for c in _list(data, "calibrations"))  # as stored: the last is in use
    reports = []
    for r in _list(data, "band_reports", required=False):
        if not isinstance(r, dict) or r.get("felt") not in FELT:
            raise ProfileError(f"a band report needs a date and felt ({', '.join(FELT)})")
        parse_date(r.get("date"))
        reports.append(BandReport(r["date"], r["felt"]))
    return Profile(person_key(data.get("person", "")), region_key(data.get("region", "")),
                   cals, _by_date(reports))


def _read(path: Path) -> Any:
    try:
        return read_json(path)
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such file") from None
    except StoreError as e:
        raise ProfileError(str(e)) from None


def _write(path: Path, data: Any) -> None:
    try:
        write_json_atomic(path, data)
    except OSError as e:
        raise ProfileError(f"{path}: cannot save: {e.strerror or e}") from None


def _profiles_in(path: Path) -> list[Profile]:
    """The profiles in a profile file or an export file, checked."""
    data = _read(path)
    try:
        if isinstance(data, dict) and data.get("format") == EXPORT_FORMAT:
            if data.get("version") != VERSION:
                raise ProfileError(f"export version {data.get('version')!r} is not supported (expected {VERSION})")
            profiles = [profile_from_dict(p) for p in _list(data, "profiles")]
            if len({(p.person, p.region) for p in profiles}) != len(profiles):
                raise ProfileError("the same person and region appear twice")
            return profiles
        return [profile_from_dict(data)]
    except ProfileError as e:
        raise ProfileError(f"{path}: {e}") from None


def band_from_profile_file(path: str | os.PathLike, region: str | None = None,
                           lo_rating: float = 4.0, hi_rating: float = 5.0) -> tuple[float, float]:
    """The band (lo_n, hi_n) from a profile or export file (``region`` picks one of several)."""
    path = Path(path)
    profiles = _profiles_in(path)
    if region is not None:
        key = region_key(region)
        profiles = [p for p in profiles if p.region == key]
        if not profiles:
            raise ProfileError(f"{path}: has no scale for {key}")
    if len(profiles) > 1:
        names = ", ".join(f"{p.person}/{p.region}" for p in profiles)
        raise ProfileError(f"{path}: holds several scales ({names}): choose a region")
    return profiles[0].band_n(lo_rating, hi_rating)


class ProfileStore:
    """Profiles in ``DATA/people/<person>/<region>.json``."""

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.root = Path(data_dir) / "people"

    def path(self, person: str, region: str) -> Path:
        return self.root / person_key(person) / f"{region_key(region)}.json"

    def load(self, person: str, region: str) -> Profile | None:
        """The stored profile, None when there is none; ProfileError when the file is damaged."""
        path = self.path(person, region)
        if not path.exists():
            return None
        profile = _profiles_in(path)[0]
        if (profile.person, profile.region) != (person_key(person), region_key(region)):
            raise ProfileError(f"{path}: holds {profile.person}/{profile.region}, not what its name says")
        return profile

    def save(self, profile: Profile) -> Path:
        path = self.path(profile.person, profile.region)
        _write(path, profile_to_dict(profile))
        return path

    def add_calibration(self, person: str, region: str, marks, date_iso: str, info: dict | None = None) -> Profile:
        """Store a new calibration, keeping the earlier ones."""
        profile = add_calibration(self.load(person, region), marks, date_iso, info, person=person, region=region)
        self.save(profile)
        return profile

    def people(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.fullmatch(p.name))

    def regions(self, person: str) -> list[str]:
        folder = self.root / person_key(person)
        return sorted(p.stem for p in folder.glob("*.json") if p.stem in REGIONS) if folder.is_dir() else []

    def export(self, person: str, path: str | os.PathLike, replace_existing: bool = False) -> int:
        """Write all of a person's scales to one file; returns how many.

        An existing file is only replaced when ``replace_existing`` (ExportExistsError otherwise),
        and a missing folder is not made: a typo in the path should not scatter folders about.
        """
        path = Path(path)
        profiles = [self.load(person, r) for r in self.regions(person)]
        if not profiles:
            raise ProfileError(f"no scales stored for {person_key(person)}")
        folder = path.parent
        if not folder.is_dir():
            raise ProfileError(f"{path}: the folder {folder} does not exist")
        if path.is_dir():
            raise ProfileError(f"{path}: is a folder: give a file name to write")
        if (path.exists() or path.is_symlink()) and not replace_existing:
            raise ExportExistsError(f"{path}: already exists and was left as it is")
        data = {"format": EXPORT_FORMAT, "version": VERSION, "person": person_key(person),
                "profiles": [profile_to_dict(p) for p in profiles]}
        text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"
        try:
            write_text_atomic(path, text, 0o644)
        except OSError as e:
            raise ProfileError(f"{path}: cannot save: {e.strerror or e}") from None
        return len(profiles)

    def import_file(self, path: str | os.PathLike) -> list[Profile]:
        """Merge every scale in a profile or export file into the store (nothing is written if any is bad).

        Stored calibrations keep their order; new ones from the file are appended in the file's order,
        so the last new one becomes the one in use."""
        incoming = _profiles_in(Path(path))
        merged = []
        for new in incoming:
            old = self.load(new.person, new.region)
            if old is not None:
                known = {(c.date, c.marks) for c in old.calibrations}
                added = []
                for c in new.calibrations:
                    if (c.date, c.marks) not in known:
                        known.add((c.date, c.marks))
                        added.append(c)
                reports = set(old.band_reports + new.band_reports)
                new = replace(new, calibrations=(old.calibrations + tuple(added))[-MAX_HISTORY:],
                              band_reports=_by_date(reports)[-MAX_HISTORY:])
            merged.append(new)
        for profile in merged:
            self.save(profile)
        return merged
