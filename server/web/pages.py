"""HTML pages of the tablet app: live session, before a session, history. Owner: frontend helper.

The pages are thin shells: everything they show comes from the JSON API and the
live stream (``/api/state``, ``/api/stream``, ``/api/screen``, ``/api/progress``),
read by the page's script. The pairing check for pages lives with the auth
blueprint, which answers an unpaired browser with the pairing instructions.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, render_template

from calibration.profiles import REGIONS

bp = Blueprint("pages", __name__)

#: Everyday names of the body regions, the one mapping every page uses (the templates through
#: ``region_labels``, the scripts through KC.regionName in common.js, which reads it from
#: base.html). The keys stay what the API takes. The IT band is named so the start page can
#: explain why it is not rolled and point to the muscles that pull on it.
REGION_LABELS = {"calf": "Calf", "shins": "Shins", "hamstrings": "Hamstrings", "quads": "Quads",
                 "adductors": "Adductors (inner thigh)", "glutes": "Glutes", "tfl": "TFL (front of the hip)",
                 "lats": "Lats", "upper-back": "Upper back", "shoulders": "Shoulders", "chest": "Chest",
                 "forearms": "Forearms", "feet": "Feet", "it-band": "IT band"}


def region_label(key: str) -> str:
    """The everyday name of a region key ('upper-back' -> 'Upper back'), for keys not listed too."""
    return REGION_LABELS.get(key) or str(key).replace("-", " ").replace("_", " ").capitalize()


def regions() -> list[tuple[str, str]]:
    """(key, label) for every region the coach knows, in its own order, then the IT band."""
    return [(key, region_label(key)) for key in REGIONS] + [("it-band", REGION_LABELS["it-band"])]


@bp.app_context_processor
def region_names() -> dict[str, object]:
    """Every template (calibration pages too) gets the mapping and the helper."""
    return {"region_labels": dict(regions()), "region_label": region_label}


@bp.get("/")
def live():
    """The live session: reading, timer, map, chart, warnings, controls."""
    return render_template("live.html", page="live", coach=coach_numbers(current_app.config["DATA_DIR"]))


def coach_numbers(data_dir) -> dict[str, float]:
    """The band (out of 10) and the no-go radius (mm) the live page draws: the household's
    coach.json as the device process reads it at start, else the protocol's defaults."""
    import json

    from firmware.coach.settings import CoachSettings
    from firmware.device.main import SETTINGS_NAME
    settings = CoachSettings()
    try:
        path = Path(data_dir) / SETTINGS_NAME
        if path.is_file():
            settings = CoachSettings.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        pass  # the device refuses a broken file and says why; the page keeps the defaults
    return {"band_lo": settings.band_lo, "band_hi": settings.band_hi, "zone_mm": settings.zone_mm}


@bp.get("/start")
def start():
    """Before a session: person, region, tool, injury screen, rating before."""
    return render_template("start.html", page="start", regions=regions())


@bp.get("/history")
def history():
    """Per person and knot: ratings and time in band over days, advice, sessions, exports."""
    return render_template("history.html", page="history", coach=coach_numbers(current_app.config["DATA_DIR"]))


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for this whatever the page's icon link says."""
    return current_app.send_static_file("icon.svg")
