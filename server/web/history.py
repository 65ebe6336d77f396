"""History: past sessions, progress per knot across days, exports and the next-day answer.

The rules live in ``server.progress`` and the exports' formats in
``server.sessions_cmd`` (the same CSV and JSON as ``knotcoach sessions``);
this blueprint checks the query, reads the store and shapes the JSON for the
history page. Query values are checked here, so a bad one is a 400 naming
it, never a store error.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_file

from server.web.api import json_object, now
from server.web.db import get_store
from server.web.errors import ApiError

bp = Blueprint("history", __name__, url_prefix="/api")


def _filters() -> dict[str, str | None]:
    """person, region and since from the query string, checked."""
    from calibration.profiles import ProfileError, person_key, region_key
    out: dict[str, str | None] = {"person": None, "region": None, "since": None}
    try:
        if request.args.get("person"):
            out["person"] = person_key(request.args["person"])
        if request.args.get("region"):
            out["region"] = region_key(request.args["region"])
    except ProfileError as e:
        raise ApiError(400, str(e)) from None
    since = request.args.get("since")
    if since:
        try:
            (dt.date if len(since.strip()) == 10 else dt.datetime).fromisoformat(since.strip())
        except ValueError:
            raise ApiError(400, "since is a date such as 2026-11-20 or an ISO 8601 date-time") from None
        out["since"] = since.strip()
    return out


def session_json(s) -> dict[str, Any]:
    totals = {name: {"count": n, "seconds": round(sec, 3)} for name, (n, sec) in s.warning_totals().items()}
    return {**s.to_dict(), "warning_totals": totals,
            "recording": f"/api/sessions/{s.id}/recording" if s.recording_path else None}


@bp.get("/sessions")
def sessions():
    return jsonify([session_json(s) for s in get_store().sessions(**_filters())])


@bp.get("/sessions.<fmt>")
def export(fmt: str):
    """The same exports as ``knotcoach sessions --format csv|json``, as a download."""
    from server.exports import to_csv, to_json
    if fmt not in ("csv", "json"):
        raise ApiError(404, "exports are sessions.csv and sessions.json")
    found = get_store().sessions(**_filters())
    text = to_csv(found) if fmt == "csv" else to_json(found)
    mimetype = "text/csv" if fmt == "csv" else "application/json"
    name = f"knotcoach-sessions-{now():%Y%m%d}.{fmt}"
    return Response(text, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/sessions/<int:session_id>")
def one_session(session_id: int):
    return jsonify(session_json(_session(session_id)))


def _session(session_id: int):
    from calibration.files import StoreError
    if session_id > 2**62:
        raise ApiError(404, f"no session {session_id}")
    try:
        return get_store().session(session_id)
    except StoreError:
        raise ApiError(404, f"no session {session_id}") from None


@bp.get("/sessions/<int:session_id>/recording")
def recording(session_id: int):
    """The session's raw recording, if one was kept in the data directory."""
    s = _session(session_id)
    data_dir = Path(current_app.config["DATA_DIR"]).resolve()
    if not s.recording_path:
        raise ApiError(404, f"session {session_id} has no recording")
    path = Path(s.recording_path)
    path = (path if path.is_absolute() else data_dir / path).resolve()
    if data_dir not in path.parents or not path.is_file():  # only files inside the data directory
        raise ApiError(404, f"the recording of session {session_id} is not there any more")
    return send_file(path, as_attachment=True, download_name=path.name, max_age=0)


@bp.post("/sessions/<int:session_id>/next_day")
def next_day(session_id: int):
    """The answer to "how tender is it now?": stored, and what it means."""
    from firmware.coach.screen import check_pain
    from server.progress import judge_next_day
    body = json_object()
    unknown = sorted(set(body) - {"tenderness", "bruising"})
    if unknown:
        raise ApiError(400, f"next_day takes tenderness (0-10) and bruising (true/false), not {unknown[0][:40]}")
    try:
        tenderness = check_pain(body.get("tenderness"), "tenderness")
    except ValueError as e:
        raise ApiError(400, str(e)) from None
    bruising = body.get("bruising")
    if bruising is not None and not isinstance(bruising, bool):
        raise ApiError(400, "bruising is true, false or null")
    s = _session(session_id)
    get_store().record_next_day(session_id, now().isoformat(timespec="seconds"), tenderness, bruising)
    advice = judge_next_day(s, tenderness, bruising)
    return jsonify({"ok": True, "advice": {"kind": advice.kind, "text": advice.text, "session_id": session_id}})


@bp.get("/progress")
def progress():
    """Per knot of one person: a point per day (for the charts), the trend, and advice texts."""
    from server import progress as pr
    person = _filters()["person"]
    if person is None:
        raise ApiError(400, "progress needs ?person=NAME")
    moment = now()
    now_iso = moment.isoformat(timespec="seconds")
    found = get_store().sessions(person=person)
    knots = [k for k in pr.group_knots(found) if k.person == person]
    knots.sort(key=lambda k: dt.datetime.fromisoformat(k.sessions[-1].started_at), reverse=True)
    out = []
    for knot in knots:
        trend = pr.trend(knot, now_iso)
        advice = [a for a in (pr.next_day_question(knot, now_iso), pr.recurring(knot), pr.maintenance(knot, now_iso))
                  if a is not None]
        if trend is not None:
            advice.insert(1 if advice and advice[0].kind == "next_day" else 0,
                          pr.Advice("trend", trend.text, knot.sessions[-1].id))
        out.append({"name": knot.name, "region": knot.region, "x_mm": knot.x_mm, "y_mm": knot.y_mm,
                    "sessions": len(knot.sessions), "session_ids": [s.id for s in knot.sessions],
                    "days": _days(knot.sessions, moment), "settled": pr.is_settled(knot),
                    "trend": None if trend is None else {"verdict": trend.verdict, "text": trend.text},
                    "advice": [_advice(a) for a in advice]})
    return jsonify({"person": person, "now": now_iso, "knots": out,
                    "advice": [_advice(a) for a in pr.report(found, person, now_iso)], "disclaimer": pr.DISCLAIMER})


def _advice(a) -> dict[str, Any]:
    return {"kind": a.kind, "text": a.text, "session_id": a.session_id}


def _days(sessions, moment: dt.datetime) -> list[dict[str, Any]]:
    """One point per calendar day (local to ``moment``): the day's first rating before, last after."""
    by_day: dict[dt.date, list] = {}
    for s in sessions:  # oldest first
        by_day.setdefault(dt.datetime.fromisoformat(s.started_at).astimezone(moment.tzinfo).date(), []).append(s)
    points = []
    for day, ss in sorted(by_day.items()):
        before = next((s.pain_before for s in ss if s.pain_before is not None), None)
        after = next((s.pain_after for s in reversed(ss) if s.pain_after is not None), None)
        points.append({"day": day.isoformat(), "pain_before": before, "pain_after": after,
                       "time_in_band_s": round(sum(s.time_in_band_s for s in ss), 3), "sessions": len(ss)})
    return points
