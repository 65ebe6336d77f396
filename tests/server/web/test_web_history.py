"""History endpoints over sessions written through server/store.py: lists, exports, progress, next day."""

import json

import pytest

from server.exports import to_csv, to_json
from server.store import open_store, sessions_path


@pytest.fixture
def store(web_app):
    with open_store(sessions_path(web_app.config["DATA_DIR"])) as s:
        yield s


def add(store, started, person="ana", region="calf", knot=(300.0, 200.0), before=6.0, after=3.0, band_s=60.0,
        recording=None):
    sid = store.start_session(person, region, "roller", started, pain_before=before, recording_path=recording,
                              knot_x_mm=knot[0], knot_y_mm=knot[1])
    wid = store.add_warning(sid, "over_band", 10.0)
    store.end_warning(wid, 12.5)
    store.finish_session(sid, started, "done", pain_after=after, t_s=120.0, time_in_band_s=band_s)
    return sid


def test_sessions_newest_first_with_warning_totals_and_filters(paired_client, store):
    a = add(store, "2026-11-24T09:00:00+01:00")
    b = add(store, "2026-11-26T09:00:00+01:00", person="ben", region="quads")
    body = paired_client.get("/api/sessions").json
    assert [s["id"] for s in body] == [b, a]
    assert body[1]["warning_totals"] == {"over_band": {"count": 1, "seconds": 2.5}}
    assert body[1]["warnings"] == [{"name": "over_band", "start_t_s": 10.0, "end_t_s": 12.5}]
    assert body[1]["pain_before"] == 6.0 and body[1]["recording"] is None
    assert [s["id"] for s in paired_client.get("/api/sessions?person=Ana").json] == [a]
    assert [s["id"] for s in paired_client.get("/api/sessions?region=quads").json] == [b]
    assert [s["id"] for s in paired_client.get("/api/sessions?since=2026-11-25").json] == [b]
    assert paired_client.get("/api/sessions?person=nobody").json == []


@pytest.mark.parametrize("query, words", [("person=a/b", "person's name"), ("region=elbow", "unknown body region"),
                                          ("since=yesterday", "since is a date"), ("since=2026-13-01", "since")])
def test_bad_filters_are_a_400_naming_them(paired_client, query, words):
    for path in ("/api/sessions", "/api/sessions.csv", "/api/progress"):
        r = paired_client.get(f"{path}?{query}")
        assert r.status_code == 400 and words in r.json["error"], (path, r.json)


def test_exports_are_the_same_as_the_command_lines(paired_client, store):
    add(store, "2026-11-24T09:00:00+01:00")
    add(store, "2026-11-26T09:00:00+01:00", person="ben")
    r = paired_client.get("/api/sessions.csv")
    assert r.mimetype == "text/csv" and r.get_data(as_text=True) == to_csv(store.sessions())
    assert r.headers["Content-Disposition"] == 'attachment; filename="knotcoach-sessions-20261127.csv"'
    r = paired_client.get("/api/sessions.json?person=ben")
    assert r.mimetype == "application/json" and r.get_data(as_text=True) == to_json(store.sessions(person="ben"))
    assert len(json.loads(r.data)["sessions"]) == 1
    assert paired_client.get("/api/sessions.xml").status_code == 404


def test_one_session_and_missing_ones(paired_client, store):
    sid = add(store, "2026-11-24T09:00:00+01:00")
    assert paired_client.get(f"/api/sessions/{sid}").json["id"] == sid
    for path in ("/api/sessions/999", f"/api/sessions/{2**70}", "/api/sessions/-1"):
        r = paired_client.get(path)
        assert r.status_code == 404 and r.is_json, path


def test_recordings_download_only_from_the_data_directory(paired_client, store, web_app, tmp_path):
    data = web_app.config["DATA_DIR"]
    (data / "recordings").mkdir()
    (data / "recordings" / "s1.csv").write_text("# knotcoach recording\n")
    (tmp_path / "secret.txt").write_text("not yours")
    inside = add(store, "2026-11-24T09:00:00+01:00", recording="recordings/s1.csv")
    outside = add(store, "2026-11-25T09:00:00+01:00", recording=str(tmp_path / "secret.txt"))
    sneaky = add(store, "2026-11-25T10:00:00+01:00", recording="../secret.txt")
    gone = add(store, "2026-11-25T11:00:00+01:00", recording="recordings/gone.csv")
    none = add(store, "2026-11-25T12:00:00+01:00")
    r = paired_client.get(f"/api/sessions/{inside}/recording")
    assert r.status_code == 200 and r.data == b"# knotcoach recording\n"
    assert "attachment" in r.headers["Content-Disposition"]
    r.close()
    assert paired_client.get(f"/api/sessions/{inside}").json["recording"] == f"/api/sessions/{inside}/recording"
    for sid in (outside, sneaky, gone, none):
        r = paired_client.get(f"/api/sessions/{sid}/recording")
        assert r.status_code == 404 and r.is_json and b"not yours" not in r.data


def test_the_next_day_answer_is_stored_and_judged(paired_client, store):
    sid = add(store, "2026-11-26T09:00:00+01:00", before=6.0)
    r = paired_client.post(f"/api/sessions/{sid}/next_day", json={"tenderness": 3, "bruising": False})
    assert r.status_code == 200 and r.json["advice"]["kind"] == "next_day_answer" and "Good" in r.json["advice"]["text"]
    assert store.session(sid).next_day.tenderness == 3.0
    assert store.session(sid).next_day.asked_at == "2026-11-27T09:30:00+01:00"
    r = paired_client.post(f"/api/sessions/{sid}/next_day", json={"tenderness": 2, "bruising": True})
    assert "bruise" in r.json["advice"]["text"]


@pytest.mark.parametrize("body, words", [({"tenderness": 11}, "0 (no pain)"), ({"tenderness": "x"}, "number"),
                                         ({}, "number"), ({"tenderness": 2, "bruising": "no"}, "bruising"),
                                         ({"tenderness": 2, "mood": 1}, "next_day takes")])
def test_bad_next_day_answers_are_400(paired_client, store, body, words):
    sid = add(store, "2026-11-26T09:00:00+01:00")
    r = paired_client.post(f"/api/sessions/{sid}/next_day", json=body)
    assert r.status_code == 400 and words in r.json["error"]
    assert store.session(sid).next_day is None
    assert paired_client.post("/api/sessions/999/next_day", json={"tenderness": 2}).status_code == 404


def test_progress_gives_day_points_per_knot_and_the_advice(paired_client, store):
    for day, before, after, band in ((23, 7, 5, 40.0), (24, 6, 4, 50.0), (25, 5, 3, 70.0), (26, 4, 2, 80.0)):
        add(store, f"2026-11-{day}T09:00:00+01:00", before=before, after=after, band_s=band)
    add(store, "2026-11-26T18:00:00+01:00", before=3, after=1, band_s=20.0)  # a second one that day
    add(store, "2026-11-20T09:00:00+01:00", region="quads", knot=(None, None))
    body = paired_client.get("/api/progress?person=Ana").json
    assert body["person"] == "ana" and body["now"] == "2026-11-27T09:30:00+01:00" and "not medical" in body["disclaimer"]
    calf, quads = body["knots"]
    assert calf["region"] == "calf" and calf["sessions"] == 5 and quads["name"] == "quads (no knot marked)"
    assert [p["day"] for p in calf["days"]] == ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26"]
    assert calf["days"][-1] == {"day": "2026-11-26", "pain_before": 4.0, "pain_after": 1.0,
                                "time_in_band_s": 100.0, "sessions": 2}
    assert calf["trend"]["verdict"] == "better"
    kinds = [a["kind"] for a in calf["advice"]]
    assert kinds[:2] == ["next_day", "trend"]
    assert {a["kind"] for a in body["advice"]} >= {"next_day", "trend"}


def test_progress_needs_a_person(paired_client):
    r = paired_client.get("/api/progress")
    assert r.status_code == 400 and "person" in r.json["error"]
    assert paired_client.get("/api/progress?person=zed").json["knots"] == []
