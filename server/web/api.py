"""The JSON API: live state, the SSE stream, commands, the injury screen, people, paired tablets.

Every answer is JSON (the stream is ``text/event-stream``); every refusal is
``{"error": "one line"}`` with a 4xx, or 503 when the device process is not
there. Access (pairing, CSRF, Host) is checked before any view here runs
(``server.web.auth``). The README lists every route.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from server.web.auth import current_device_id, pairing_store
from server.web.broadcast import TooManyViewers
from server.web.errors import ApiError
from server.web.pairing import iso

bp = Blueprint("api", __name__, url_prefix="/api")

#: Command name -> the fields its JSON body may have (anything else is refused before the device sees it).
COMMANDS: dict[str, frozenset[str]] = {
    "start": frozenset({"person", "region", "tool", "pain_before", "signs", "anyway"}),
    "mark_knot": frozenset(), "next": frozenset(), "pause": frozenset(), "resume": frozenset(),
    "stop": frozenset(), "rate": frozenset({"pain_after"}), "steer": frozenset({"command", "kwargs"}),
}
COMMAND_TIMEOUT_S = 2.0


def extension(name: str):
    return current_app.extensions["knotcoach"][name]


# -- request bodies --------------------------------------------------------------------

def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def json_object() -> dict[str, Any]:
    """The request's JSON object body ({} when empty); 413/415/400 ApiErrors otherwise."""
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413 from werkzeug
    if not raw.strip():
        return {}
    if not request.is_json:
        raise ApiError(415, "the body must be JSON, sent with Content-Type: application/json")
    try:
        body = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object, e.g. {}")
    return body


# -- live state ------------------------------------------------------------------------

@bp.get("/state")
def state():
    return jsonify(extension("snapshot")())


@bp.get("/stream")
def stream():
    broadcaster = extension("broadcaster")
    try:
        viewer = broadcaster.open_viewer()
    except TooManyViewers as e:
        raise ApiError(503, f"{e}: close one and try again", retry_after_s=5) from None
    try:
        chunks = broadcaster.stream(viewer)
    except BaseException:
        broadcaster.close_viewer(viewer)
        raise
    response = Response(chunks, mimetype="text/event-stream")
    response.call_on_close(lambda: broadcaster.close_viewer(viewer))  # also when the stream never started
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # a proxy in front must not hold frames back
    return response


def state_body(device, source_kind: str, data_dir) -> dict[str, Any]:
    """What /api/state answers and every stream starts with (works outside a request)."""
    latest = {k: v for k, v in (getattr(device, "state", None) or {}).items() if k not in ("type", "v")}
    said = latest.get("source")
    if isinstance(said, dict) and said.get("kind") in ("simulated", "hx711", "replay"):
        source_kind = said["kind"]  # the device knows best (auto may have fallen back to the simulator)
    platform = platform_geometry(latest.pop("platform", None), data_dir)
    cues = latest.pop("cues", None)
    connected = device is not None and device.connected.is_set()
    frame = latest if latest.get("t_s") is not None or latest.get("coach") else None
    return {"connected": connected, "source": source_kind, "frame": frame, "platform": platform,
            "cues": {"hardware": bool(isinstance(cues, dict) and cues.get("hardware") is True)}}


def platform_geometry(from_device: Any, data_dir) -> dict[str, Any]:
    """The platform for the live map: as the device says, else the stored calibration, else the simulator's."""
    cells = _cells_xy(from_device)
    origin = "device"
    if cells is None:
        cells, origin = _stored_cells(data_dir), "stored"
    if cells is None:
        from firmware.sim.platform_model import default_platform
        cells, origin = [[c.x_mm, c.y_mm] for c in default_platform().cells], "default"
    xs, ys = [c[0] for c in cells], [c[1] for c in cells]
    return {"width_mm": max(xs) - min(xs), "depth_mm": max(ys) - min(ys), "cells_xy": cells, "from": origin}


def _cells_xy(data: Any) -> list[list[float]] | None:
    """Cell positions from the device's ``platform`` ({"cells_xy": ...} or a calibration's "cells")."""
    if not isinstance(data, dict):
        return None
    raw = data.get("cells_xy")
    if raw is None and isinstance(data.get("cells"), list):
        raw = [[c.get("x_mm"), c.get("y_mm")] if isinstance(c, dict) else None for c in data["cells"]]
    if not isinstance(raw, list) or not 1 <= len(raw) <= 4:
        return None
    cells = []
    for c in raw:
        if not (isinstance(c, (list, tuple)) and len(c) == 2 and all(_finite(v) for v in c)):
            return None
        cells.append([float(c[0]), float(c[1])])
    return cells


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _stored_cells(data_dir) -> list[list[float]] | None:
    from calibration.files import StoreError
    from calibration.platform_store import load_platform
    try:
        platform = load_platform(data_dir)
    except (StoreError, ValueError, OSError):
        return None  # a damaged calibration file is the calibration page's to report
    return None if platform is None else [[c.x_mm, c.y_mm] for c in platform.cells]


# -- commands --------------------------------------------------------------------------

@bp.post("/command/<name>")
def command(name: str):
    if name not in COMMANDS:
        raise ApiError(404, f"no command {name[:40]!r}: use one of {', '.join(COMMANDS)}")
    args = json_object()
    unknown = sorted(set(args) - COMMANDS[name])
    if unknown:
        allowed = ", ".join(sorted(COMMANDS[name])) or "no fields"
        raise ApiError(400, f"{name} does not take {', '.join(k[:40] for k in unknown)[:120]} (it takes {allowed})")
    extra = {}
    if name == "start":
        anyway = args.pop("anyway", False)
        if not isinstance(anyway, bool):
            raise ApiError(400, "anyway is true or false")
        extra["dose"] = _dose_guard(args, anyway)
    if name == "steer" and not isinstance(args.get("kwargs", {}), dict):
        raise ApiError(400, "steer's kwargs must be an object")
    reply = device_command(name, args)
    return jsonify({**reply, **extra})


def device_command(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Send a command to the device: its reply (ok) or ApiError 400 (refused) / 503 (not there)."""
    from firmware.device.channel import ChannelError
    from server.device_link import DeviceUnavailable
    device = current_app.config.get("DEVICE")
    if device is None:
        raise ApiError(503, "the device process is not running")
    try:
        reply = device.command(name, timeout_s=COMMAND_TIMEOUT_S, **args)
    except DeviceUnavailable as e:
        raise ApiError(503, f"{e}: is the coach running?") from None
    except ChannelError as e:
        raise ApiError(400, f"the command could not be sent: {e}") from None
    if not isinstance(reply, dict) or not reply.get("ok"):
        error = reply.get("error") if isinstance(reply, dict) else None
        raise ApiError(400, str(error or f"the device refused {name}"))
    return {k: v for k, v in reply.items() if k not in ("type", "id", "v")}


def _dose_guard(args: dict[str, Any], anyway: bool) -> dict[str, Any] | None:
    """The once-a-day guard before a session: 409 with advice, unless ``anyway``."""
    from calibration.profiles import ProfileError, person_key, region_key
    from firmware.coach.screen import is_it_band
    from server.progress import dose_check
    from server.web.db import get_store
    if isinstance(args.get("region"), str) and is_it_band(args["region"]):
        return None  # the device's own screen redirects it to the glutes and TFL; no session starts
    try:  # a session that could not be kept must not start
        person, region = person_key(args.get("person")), region_key(args.get("region"))
    except ProfileError as e:
        raise ApiError(400, str(e)) from None
    moment = now()
    # From yesterday: a stored date is in the offset it was written with, which may not be ours.
    since = (moment - dt.timedelta(days=1)).date().isoformat()
    check = dose_check(get_store().sessions(person=person, region=region, since=since), person, region,
                       None, None, moment.isoformat(timespec="seconds"))
    advice = [{"kind": a.kind, "text": a.text} for a in check.advice]
    if advice and not anyway:
        raise ApiError(409, advice[0]["text"], advice=advice, seconds_left=check.seconds_left)
    return {"seconds_left": check.seconds_left, "advice": advice}


def now() -> dt.datetime:
    """Local time with its UTC offset (config NOW replaces the clock in tests)."""
    clock = current_app.config.get("NOW")
    return clock() if clock else dt.datetime.now().astimezone()


# -- before a session ---------------------------------------------------------------------

@bp.get("/screen")
def screen_info():
    """What the start page asks: tools for a region, the IT-band redirect, injury signs."""
    import importlib

    from calibration.profiles import REGIONS, ProfileError, region_key
    sc = importlib.import_module("firmware.coach.screen")  # the package's 'screen' is the function
    region = request.args.get("region")
    body: dict[str, Any] = {"region": None, "it_band": False, "redirect": [], "redirect_text": None,
                            "tools": list(sc.TOOLS), "suggested": None, "regions": list(REGIONS),
                            "signs": [{"name": k, "text": v} for k, v in sc.INJURY_SIGNS.items()],
                            "hint": sc.KNOT_OR_INJURY}
    if region is None:
        return jsonify(body)
    if sc.is_it_band(region):
        decision = sc.screen(region, sc.FOAM_ROLLER, 0.0)
        return jsonify({**body, "region": "it-band", "it_band": True, "redirect": list(decision.regions),
                        "redirect_text": decision.reason})
    try:
        key = region_key(region)
    except ProfileError as e:
        raise ApiError(400, str(e)) from None
    tools = sc.tools_for(key)
    why = sc._TOOL_WHY[tools[0]]  # the screen's own wording, kept in one place
    return jsonify({**body, "region": key, "tools": list(tools),
                    "suggested": {"tool": tools[0], "why": f"{sc.TOOL_NAMES[tools[0]].capitalize()}: {why}."}})


@bp.get("/people")
def people():
    """Everyone with a stored scale or a session, with their regions' scales."""
    from calibration.profiles import ProfileError, ProfileStore, suggest_recalibration
    from server.web.db import get_store
    store, now_iso = ProfileStore(current_app.config["DATA_DIR"]), now().isoformat(timespec="seconds")
    names = set(store.people()) | {s.person for s in get_store().sessions()}
    out = []
    for person in sorted(names):
        regions = []
        for region in store.regions(person):
            try:
                profile = store.load(person, region)
            except ProfileError as e:
                regions.append({"region": region, "error": str(e)})
                continue
            hint = suggest_recalibration(profile, now_iso)
            regions.append({"region": region, "band_n": list(profile.band_n()),
                            "calibrated": profile.current.date, "calibrations": len(profile.calibrations),
                            "suggest": None if hint is None else hint._asdict()})
        out.append({"person": person, "regions": regions})
    return jsonify(out)


# -- paired tablets ------------------------------------------------------------------------

@bp.get("/paired")
def paired():
    me = current_device_id()
    return jsonify([{"id": d["id"], "name": d["name"], "created": iso(d["created_s"]),
                     "last_seen": iso(d["last_seen_s"]), "this_browser": d["id"] == me}
                    for d in pairing_store().devices()])


@bp.delete("/paired/<device_id>")
def unpair(device_id: str):
    if not pairing_store().revoke(device_id):
        raise ApiError(404, "no paired tablet with that id")
    return jsonify({"ok": True, "revoked": device_id})
