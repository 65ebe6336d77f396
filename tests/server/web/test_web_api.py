"""The JSON API: state, commands (mapping, refusals, the dose check), screen, people."""

import pytest

from calibration.intensity import Mark
from calibration.platform import Cell, PlatformCalibration
from calibration.platform_store import save_platform
from calibration.profiles import ProfileStore
from server.device_link import DeviceUnavailable
from server.store import open_store, sessions_path
from server.web import create_app
from tests.conftest import FakeDevice, frame, pair


def test_state_has_the_frame_the_connection_the_source_and_the_platform(paired_client, fake_device):
    fake_device.push(frame(t_s=2.5, force_n=210.0, warnings=["over_band"]))
    body = paired_client.get("/api/state").json
    assert body["connected"] is True and body["source"] == "simulated"
    assert body["frame"]["t_s"] == 2.5 and body["frame"]["force_n"] == 210.0
    assert body["frame"]["warnings"] == ["over_band"] and "type" not in body["frame"]
    assert body["platform"] == {"width_mm": 600.0, "depth_mm": 400.0, "from": "default",
                                "cells_xy": [[0.0, 0.0], [600.0, 0.0], [0.0, 400.0], [600.0, 400.0]]}
    assert body["cues"] == {"hardware": False}


def test_the_platform_comes_from_the_device_first_then_the_stored_calibration(tmp_path):
    data = tmp_path / "data"
    cells = tuple(Cell(x, y, 0.0, 420.0) for x, y in ((0, 0), (433, 0), (0, 238), (433, 238)))
    save_platform(data, PlatformCalibration(cells), "2026-11-20T10:00:00+01:00")
    device = FakeDevice(state={"t_s": 1.0, "cues": {"hardware": True}})
    client = pair(create_app({"DATA_DIR": data, "DEVICE": device}))
    body = client.get("/api/state").json
    assert body["platform"]["from"] == "stored" and body["platform"]["width_mm"] == 433.0
    assert body["platform"]["depth_mm"] == 238.0 and body["cues"] == {"hardware": True}
    device.state["platform"] = {"cells_xy": [[0, 0], [500, 0]]}
    body = client.get("/api/state").json
    assert body["platform"] == {"width_mm": 500.0, "depth_mm": 0.0, "cells_xy": [[0.0, 0.0], [500.0, 0.0]],
                                "from": "device"}
    device.state["platform"] = {"cells": [{"x_mm": 0, "y_mm": 0}, {"x_mm": 300, "y_mm": 100}]}
    assert client.get("/api/state").json["platform"]["width_mm"] == 300.0
    device.state["platform"] = {"cells_xy": [[0, "x"]]}  # nonsense from the device: the stored one instead
    assert client.get("/api/state").json["platform"]["from"] == "stored"


def test_state_without_a_device_or_before_its_first_frame(tmp_path):
    client = pair(create_app({"DATA_DIR": tmp_path, "DEVICE": None, "SOURCE_KIND": "hx711"}))
    body = client.get("/api/state").json
    assert body["connected"] is False and body["frame"] is None and body["source"] == "hx711"
    r = client.post("/api/command/next", json={})
    assert r.status_code == 503 and "not running" in r.json["error"]


def test_the_source_is_as_the_device_says_when_it_says(tmp_path):
    device = FakeDevice(state={"t_s": 1.0, "source": {"kind": "simulated", "seed": 1}})
    client = pair(create_app({"DATA_DIR": tmp_path, "DEVICE": device, "SOURCE_KIND": "hx711"}))
    assert client.get("/api/state").json["source"] == "simulated"   # auto fell back to the simulator
    device.state["source"] = {"kind": "bogus"}
    assert client.get("/api/state").json["source"] == "hx711"


@pytest.mark.parametrize("name, body", [
    ("mark_knot", {}), ("next", {}), ("pause", {}), ("resume", {}), ("stop", {}), ("rate", {"pain_after": 3}),
    ("steer", {"command": "press_harder", "kwargs": {"by_n": 20}}),
    ("start", {"person": "Ana", "region": "calf", "tool": "roller", "pain_before": 6, "signs": []}),
])
def test_commands_go_to_the_device_with_their_arguments(paired_client, fake_device, name, body):
    fake_device.replies[name] = {"ok": True, "knot": [1.0, 2.0]}
    r = paired_client.post(f"/api/command/{name}", json=body)
    assert r.status_code == 200 and r.json["ok"] is True and r.json["knot"] == [1.0, 2.0]
    assert "id" not in r.json and "type" not in r.json
    assert fake_device.commands == [(name, body)]


def test_an_empty_body_is_an_empty_object_whatever_its_type(paired_client, fake_device):
    assert paired_client.post("/api/command/pause").status_code == 200
    assert paired_client.post("/api/command/pause", data=" ", content_type="text/plain").status_code == 200
    assert fake_device.commands == [("pause", {}), ("pause", {})]


def test_a_refusal_by_the_device_is_a_400_with_its_reason(paired_client, fake_device):
    fake_device.replies["next"] = {"ok": False, "error": "there is no next step now"}
    r = paired_client.post("/api/command/next", json={})
    assert r.status_code == 400 and r.json == {"error": "there is no next step now"}


def test_a_missing_device_is_a_503(paired_client, fake_device):
    fake_device.replies["stop"] = DeviceUnavailable("the device did not answer 'stop' in time")
    r = paired_client.post("/api/command/stop", json={})
    assert r.status_code == 503 and "did not answer" in r.json["error"]
    fake_device.connected.clear()
    assert paired_client.post("/api/command/stop", json={}).status_code == 503


@pytest.mark.parametrize("path, kwargs, status, words", [
    ("/api/command/explode", {"json": {}}, 404, "no command"),
    ("/api/command/state", {"json": {}}, 404, "no command"),
    ("/api/command/next", {"json": {"timeout_s": 1e9}}, 400, "does not take timeout_s"),
    ("/api/command/start", {"json": {"name": "x"}}, 400, "does not take name"),
    ("/api/command/rate", {"json": [3]}, 400, "JSON object"),
    ("/api/command/rate", {"json": "3"}, 400, "JSON object"),
    ("/api/command/rate", {"data": "{", "content_type": "application/json"}, 400, "not valid JSON"),
    ("/api/command/rate", {"data": '{"pain_after": NaN}', "content_type": "application/json"}, 400, "not valid JSON"),
    ("/api/command/rate", {"data": "[" * 5000 + "]" * 5000, "content_type": "application/json"}, 400, "not valid"),
    ("/api/command/rate", {"data": b'{"\xff": 1}', "content_type": "application/json"}, 400, "not valid JSON"),
    ("/api/command/rate", {"data": '{"pain_after": 3}', "content_type": "text/plain"}, 415, "Content-Type"),
    ("/api/command/rate", {"json": {"pain_after": "x" * 20000}}, 413, "too large"),
    ("/api/command/steer", {"json": {"command": "lift_off", "kwargs": [1]}}, 400, "kwargs"),
    ("/api/command/start", {"json": {"person": "ana", "region": "calf", "anyway": "yes"}}, 400, "anyway"),
    ("/api/command/next", {"method": "GET"}, 405, "method"),
])
def test_bad_command_requests_get_a_json_4xx(paired_client, fake_device, path, kwargs, status, words):
    r = paired_client.open(path, method=kwargs.pop("method", "POST"), **kwargs)
    assert r.status_code == status and r.is_json and words in r.json["error"], r.json
    assert fake_device.commands == []


def _session(store, started, elapsed_s=300.0, person="ana", region="calf"):
    sid = store.start_session(person, region, "roller", started, pain_before=6)
    store.finish_session(sid, started, "done", pain_after=3, t_s=elapsed_s, time_in_band_s=elapsed_s / 2)
    return sid


START = {"person": "Ana", "region": "calf", "tool": "roller", "pain_before": 6}


def test_start_is_refused_with_advice_when_the_region_was_worked_today(paired_client, fake_device, tmp_path):
    with open_store(sessions_path(tmp_path / "data")) as store:
        _session(store, "2026-11-26T20:00:00+01:00")            # yesterday: fine
        _session(store, "2026-11-27T07:00:00+01:00", person="ben")  # someone else today: fine
        assert paired_client.post("/api/command/start", json=START).status_code == 200
        _session(store, "2026-11-27T08:05:00+01:00")            # this morning
    r = paired_client.post("/api/command/start", json=START)
    assert r.status_code == 409 and r.json["advice"][0]["kind"] == "second_today"
    assert "08:05" in r.json["error"] and r.json["seconds_left"] == 300.0
    assert len(fake_device.commands) == 1                       # only the first start reached the device
    r = paired_client.post("/api/command/start", json={**START, "anyway": True})
    assert r.status_code == 200 and r.json["dose"]["seconds_left"] == 300.0
    assert fake_device.commands[-1] == ("start", START)         # "anyway" is not passed on


def test_a_session_late_yesterday_in_utc_counts_for_today(paired_client, tmp_path):
    with open_store(sessions_path(tmp_path / "data")) as store:
        _session(store, "2026-11-26T23:30:00+00:00")  # 00:30 today at +01:00
    assert paired_client.post("/api/command/start", json=START).status_code == 409


def test_start_past_the_daily_cap_gives_both_messages(paired_client, tmp_path):
    with open_store(sessions_path(tmp_path / "data")) as store:
        _session(store, "2026-11-27T08:00:00+01:00", elapsed_s=600.0)
    r = paired_client.post("/api/command/start", json=START)
    assert r.status_code == 409 and [a["kind"] for a in r.json["advice"]] == ["second_today", "over_cap"]


def test_start_with_names_the_store_cannot_take_goes_to_the_device_to_refuse(paired_client, fake_device):
    fake_device.replies["start"] = {"ok": False, "error": "unknown body region 'elbow'"}
    r = paired_client.post("/api/command/start", json={**START, "region": "elbow"})
    assert r.status_code == 400 and "elbow" in r.json["error"]


def test_screen_tells_tools_the_it_band_redirect_and_the_signs(paired_client):
    body = paired_client.get("/api/screen?region=glutes").json
    assert body["region"] == "glutes" and body["it_band"] is False and body["tools"] == ["lacrosse_ball"]
    assert body["suggested"]["tool"] == "lacrosse_ball" and "ball" in body["suggested"]["why"]
    assert {s["name"] for s in body["signs"]} == {"swelling", "discoloration", "sharp_pain", "movement_worsens"}
    body = paired_client.get("/api/screen?region=IT band").json
    assert body["it_band"] is True and body["redirect"] == ["glutes", "tfl"] and "connective" in body["redirect_text"]
    body = paired_client.get("/api/screen").json
    assert body["region"] is None and "calf" in body["regions"] and body["tools"] == ["lacrosse_ball", "foam_roller"]
    r = paired_client.get("/api/screen?region=elbow")
    assert r.status_code == 400 and "unknown body region" in r.json["error"]


def test_people_lists_scales_and_session_only_people(paired_client, tmp_path):
    data = tmp_path / "data"
    ProfileStore(data).add_calibration("Ana", "calf", [Mark(100.0, 2.0), Mark(250.0, 5.0), Mark(400.0, 7.0)],
                                       "2026-09-01T10:00:00+01:00")
    (data / "people" / "ana" / "quads.json").write_text("{broken")
    with open_store(sessions_path(data)) as store:
        _session(store, "2026-11-20T10:00:00+01:00", person="ben")
    body = paired_client.get("/api/people").json
    assert [p["person"] for p in body] == ["ana", "ben"]
    calf, quads = body[0]["regions"]
    assert calf["region"] == "calf" and calf["calibrated"] == "2026-09-01T10:00:00+01:00"
    assert calf["band_n"][0] < calf["band_n"][1] and calf["calibrations"] == 1
    assert calf["suggest"] is not None  # older than 30 days by NOW
    assert quads["region"] == "quads" and "error" in quads
    assert body[1] == {"person": "ben", "regions": []}



@pytest.mark.parametrize("person, region, says", [
    ("O'Brien", "calf", "a person's name needs 1-32 letters"),
    ("x" * 40, "calf", "a person's name needs 1-32 letters"),
    ("ana", "elbow", "unknown body region"),
])
def test_start_refuses_names_the_history_could_not_keep(paired_client, fake_device, person, region, says):
    r = paired_client.post("/api/command/start", json={"person": person, "region": region, "tool": "roller",
                                                        "pain_before": 5, "signs": []})
    assert r.status_code == 400 and says in r.json["error"]
    assert fake_device.commands == []                   # the device never started a session


def test_the_it_band_goes_to_the_device_which_redirects_it(paired_client, fake_device):
    r = paired_client.post("/api/command/start", json={"person": "ana", "region": "IT band", "tool": "roller",
                                                        "pain_before": 5, "signs": []})
    assert r.status_code == 200 and fake_device.commands[0][0] == "start"
