"""The calibration wizards through the JSON API: both end to end against a real device process on
the simulator (at 10x), the refusals with a scripted device, and bad input (4xx JSON, never 500)."""

import json
import subprocess
import sys
import time

import pytest

from calibration.intensity import IntensityScale, Mark
from calibration.platform_store import load_all
from calibration.profiles import ProfileStore
from firmware.device.loop import platform_info
from firmware.sources.simulated import SimulatedPlatform
from server.device_link import DeviceLink
from tests.conftest import pair

SEED = 5
SPEED = 10.0


# -- a real device process on the simulator ----------------------------------------------------

@pytest.fixture
def real(tmp_path):
    """(app, paired client, link, data dir) with ``python -m firmware.device.main --source sim``."""
    from server.web import create_app
    data = tmp_path / "data"
    data.mkdir()
    device = subprocess.Popen([sys.executable, "-m", "firmware.device.main", "--source", "sim", "--seed", str(SEED),
                               "--data-dir", str(data), "--speed", str(SPEED)],
                              stderr=subprocess.DEVNULL)
    link = DeviceLink(data / "device.sock", retry_s=0.05, max_retry_s=0.2).start()
    try:
        assert link.connected.wait(30), "the device process did not come up"
        app = create_app({"DATA_DIR": data, "DEVICE": link, "SOURCE_KIND": "simulated", "TESTING": True})
        yield app, pair(app), link, data
    finally:
        link.close()
        device.terminate()
        device.wait(10)


def wait_for(predicate, timeout_s=30.0, what="a condition"):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}: {value!r}")


def steer(client, command, **kwargs):
    r = client.post("/api/command/steer", json={"command": command, "kwargs": kwargs})
    assert r.status_code == 200, r.json


def hold_force(client, link, force_n):
    """The simulated person presses steadily with ``force_n`` until the device measures it."""
    steer(client, "set_force", force_n=force_n, ramp_s=0.5, steady=True)
    steady = []

    def there():
        f = link.state.get("force_n")
        steady.append(f is not None and abs(f - force_n) < 0.02 * force_n)
        return len(steady) > 10 and all(steady[-8:])
    wait_for(there, what=f"{force_n} N on the roller")


def test_slow_press_taps_at_held_forces_give_the_band_of_those_forces(real):
    app, client, link, data = real
    r = client.post("/api/calibrate/person/begin", json={"person": "Ana", "region": "calf", "ramp_s": 60,
                                                         "sim_follows": False})
    assert r.status_code == 200, r.json
    assert r.json["phase"] == "waiting" and r.json["ask"] == "Tap when it feels 2/10"
    for command, kwargs in (("autopilot", {"on": False}), ("lie_down", {"ramp_s": 0.5})):
        steer(client, command, **kwargs)
    hold_force(client, link, 60.0)
    wait_for(lambda: client.get("/api/calibrate/person/status").json["phase"] == "ramping", what="the rise")
    tapped = [(100.0, 2.0), (200.0, 5.0), (280.0, 7.0)]
    for force_n, rating in tapped:
        hold_force(client, link, force_n)
        r = client.post("/api/calibrate/person/mark", json={})
        assert r.status_code == 200, r.json
        assert r.json["rating"] == rating and r.json["mark"]["force_n"] == pytest.approx(force_n, rel=0.03)
    status = client.get("/api/calibrate/person/status").json
    assert status["phase"] == "done" and status["can_finish"] and len(status["marks"]) == 3
    r = client.post("/api/calibrate/person/finish", json={})
    assert r.status_code == 200, r.json
    result = r.json
    expected_lo, expected_hi = IntensityScale([Mark(f, r) for f, r in tapped]).band_n()
    lo, hi = result["band_n"]
    assert result["saved"] and lo == pytest.approx(expected_lo, rel=0.05) and hi == pytest.approx(expected_hi, rel=0.05)
    stored = ProfileStore(data).load("ana", "calf")
    assert stored.band_n() == pytest.approx((lo, hi), abs=0.06)
    assert dict(stored.current.info) == {"source": "simulated", "from": "tablet"}
    curve = result["curve"]
    assert curve["force_n"][0] == 0 and curve["rating"][0] == 0 and max(curve["rating"]) <= 10
    assert all(a <= b for a, b in zip(curve["rating"], curve["rating"][1:]))  # monotone, for the plot
    assert client.get("/api/calibrate/person/status").json == {"active": False, "last": result}
    # The device coaches Ana on that scale: her band is now the one the session watches.
    r = client.post("/api/command/start", json={"person": "ana", "region": "calf", "tool": "foam_roller",
                                                "pain_before": 5})
    assert r.status_code == 200 and r.json["band_n"] == pytest.approx([lo, hi], abs=0.06)


def test_on_the_simulator_the_person_follows_the_pacer(real):
    app, client, link, data = real
    r = client.post("/api/calibrate/person/begin", json={"person": "bo", "region": "quads", "body_kg": 80})
    assert r.status_code == 200, r.json
    start_n, top_n = r.json["start_n"], r.json["top_n"]
    assert start_n == pytest.approx(0.08 * 80 * 9.81, abs=0.1) and top_n == pytest.approx(0.65 * 80 * 9.81, abs=0.1)
    seen = []
    for threshold in (0.3 * top_n, 0.55 * top_n, 0.8 * top_n):
        # During the rise (before it, the simulated person may still be easing down from rolling).
        status = wait_for(lambda: (s := client.get("/api/calibrate/person/status").json)["force_n"] is not None
                          and s["phase"] in ("ramping", "holding") and s["force_n"] >= threshold and s,
                          what=f"the pacer passing {threshold:.0f} N")
        assert abs(status["force_n"] - status["target_n"]) < 0.1 * top_n  # keeps up with the pacer
        r = client.post("/api/calibrate/person/mark", json={})
        assert r.status_code == 200, r.json
        seen.append((status["force_n"], r.json["mark"]["force_n"]))
    for at_status, marked in seen:  # the mark is the force felt just before the tap
        assert marked == pytest.approx(at_status, rel=0.12)
    r = client.post("/api/calibrate/person/finish", json={})
    assert r.status_code == 200 and r.json["saved"], r.json
    lo, hi = r.json["band_n"]
    assert seen[0][1] < lo < hi < seen[2][1]  # 4/10 and 5/10 lie between the 2/10 and 7/10 marks


def test_the_platform_wizard_recovers_the_simulators_cells_saves_and_the_device_uses_it(real):
    app, client, link, data = real
    r = client.post("/api/calibrate/platform/begin", json={"mass": "11lb"})
    assert r.status_code == 200, r.json
    plan = r.json["steps"]
    assert [s["label"] for s in plan] == ["tare", "centre", "cell 0", "cell 1", "cell 2", "cell 3", "empty"]
    assert plan[3]["where"] == {"cell": 1, "x_mm": 600.0, "y_mm": 0.0, "name": "near right"}
    lines = []
    for i in range(len(plan)):
        r = client.post("/api/calibrate/platform/step", json={})
        assert r.status_code == 200, r.json
        status = wait_for(lambda: (s := client.get("/api/calibrate/platform/status").json)["sampling"] is False
                          and s or lines.append(s["progress_text"]), what=f"step {i}")
        assert status["refusal"] is None and status["failed"] is None, status
        assert status["steps"][i]["result"]["steady_n"] < 0.5
    assert any(line and " s left, steady to \u00b1" in line for line in lines)
    result = status["result"]
    truth = SimulatedPlatform(seed=SEED).true_platform
    for got, true in zip(result["cells"], truth.cells):
        assert got["counts_per_newton"] == pytest.approx(true.counts_per_newton, rel=0.005)
    assert result["cop_error_mm"] < 5.0 and abs(result["force_error_n"]) < 0.5
    assert status["can_finish"]
    r = client.post("/api/calibrate/platform/finish", json={})
    assert r.status_code == 200 and r.json["saved"] and r.json["applied"], r.json
    current, _ = load_all(data)
    assert current.report["source"] == "simulated" and current.report["seed"] == SEED
    assert current.report["mass_kg"] == pytest.approx(11 * 0.45359237)
    wait_for(lambda: (link.state.get("platform") or {}).get("calibrated_at") == current.calibrated_at,
             what="the device to use the new calibration")
    assert client.get("/api/state").json["platform"]["cells_xy"] == [[c.x_mm, c.y_mm] for c in truth.cells]
    steer(client, "place_mass", mass_kg=8.0, x_mm=450.0, y_mm=100.0)
    wait_for(lambda: (print(link.state.get("force_n"), link.state.get("x_mm")) or True) and link.state.get("force_n") and abs(link.state["force_n"] - 8.0 * 9.81) < 0.01 * 8.0 * 9.81
             and abs(link.state["x_mm"] - 450.0) < 5 and abs(link.state["y_mm"] - 100.0) < 5,
             what="a placed mass measured with the new calibration")


# -- refusals, with a scripted device ---------------------------------------------------------------

def scripted(fake_device, n_cells=4):
    platform = SimulatedPlatform(seed=SEED, n_cells=n_cells).platform
    fake_device.state["platform"] = platform_info(platform)
    fake_device.state["source"] = {"kind": "hx711"}
    return platform


def stats(levels, spread=20.0, n=240):
    return {"level_counts": list(levels), "spread_counts": [spread] * len(levels), "n_valid": [n] * len(levels),
            "n_rows": n}


def run_step(client, fake_device, levels, spread=20.0):
    fake_device.replies["capture"] = {"ok": True, "capture_id": 7, "seconds_left": 3.5}
    fake_device.replies["capture_result"] = {"ok": True, "done": True, "seconds_left": 0.0,
                                             "stats": stats(levels, spread)}
    assert client.post("/api/calibrate/platform/step", json={}).status_code == 200
    return client.get("/api/calibrate/platform/status").json


def test_a_refused_step_can_be_repeated_and_a_refused_fit_stores_nothing(web_app, paired_client, fake_device):
    client = paired_client
    platform = scripted(fake_device)
    data = web_app.config["DATA_DIR"]
    r = client.post("/api/calibrate/platform/begin", json={"mass_kg": 5})
    assert r.status_code == 200, r.json
    offsets = [c.offset for c in platform.cells]
    cpn = [c.counts_per_newton for c in platform.cells]
    status = run_step(client, fake_device, offsets, spread=2000.0)  # swaying: +/-4-5 N
    assert "moving" in status["refusal"] and status["step"] == 0 and status["failed"] is None
    status = run_step(client, fake_device, offsets)
    assert status["refusal"] is None and status["step"] == 1
    weight_n = 5 * 9.80665
    # The mass at the centre: a quarter on each cell; cell 2 is three times as sensitive as the rest.
    bad = [o + weight_n / 4 * c * (3.5 if i == 2 else 1) for i, (o, c) in enumerate(zip(offsets, cpn))]
    status = run_step(client, fake_device, bad)
    assert status["step"] == 2
    for cell in range(4):
        levels = [o + (weight_n * c * (3.5 if i == 2 else 1) if i == cell else 0) for i, (o, c) in
                  enumerate(zip(offsets, cpn))]
        status = run_step(client, fake_device, levels)
    assert "sensitivities differ" in status["failed"] and status["can_finish"] is False
    assert client.post("/api/calibrate/platform/step", json={}).status_code == 409
    assert client.post("/api/calibrate/platform/finish", json={}).status_code == 409
    assert not (data / "platform.json").exists()
    assert ("capture", {"seconds": 3.0, "settle_s": 0.5}) in fake_device.commands
    assert not any(name in ("sim_place_mass", "reload_platform") for name, _ in fake_device.commands)
    assert client.post("/api/calibrate/platform/begin", json={"mass_kg": 5}).status_code == 200  # a new one


def test_a_capture_that_never_ends_is_refused_and_the_device_told(web_app, paired_client, fake_device):
    client = paired_client
    scripted(fake_device)
    now = [100.0]
    assert client.post("/api/calibrate/platform/begin", json={"mass": "5 kg"}).status_code == 200
    web_app.extensions["knotcoach_calibrate"].platform.monotonic = lambda: now[0]
    fake_device.replies["capture"] = {"ok": True, "capture_id": 3}
    fake_device.replies["capture_result"] = {"ok": True, "done": False, "seconds_left": 3.5, "stats": None}
    assert client.post("/api/calibrate/platform/step", json={}).status_code == 200
    now[0] = 105.0   # the deadline was set when the step began, before the clock was replaced
    status = client.get("/api/calibrate/platform/status").json
    assert status["sampling"] and status["seconds_left"] == 3.5 and "settling" in status["progress_text"]
    web_app.extensions["knotcoach_calibrate"].platform.capture["deadline"] = 110.0
    now[0] = 111.0
    status = client.get("/api/calibrate/platform/status").json
    assert not status["sampling"] and "no readings arrived" in status["refusal"]
    assert fake_device.commands[-1][0] == "capture_cancel"


def test_contradictory_marks_are_refused_with_what_to_redo_and_nothing_saved(web_app, paired_client, fake_device):
    from tests.conftest import frame
    client = paired_client
    scripted(fake_device)  # real boards
    assert client.post("/api/calibrate/person/begin", json={"person": "cy", "region": "glutes",
                                                            "ratings": [2, 5]}).status_code == 200
    t = [0.0]

    def feed(force_n, seconds):
        for _ in range(int(seconds * 25)):
            t[0] += 0.04
            fake_device.push(frame(t_s=round(t[0], 3), force_n=force_n))
    feed(60.0, 4.0)   # on the roller, settled: the rise begins
    assert client.get("/api/calibrate/person/status").json["phase"] == "ramping"
    feed(200.0, 1.0)
    assert client.post("/api/calibrate/person/mark", json={}).json["mark"]["force_n"] == 200.0
    assert client.post("/api/calibrate/person/finish", json={}).status_code == 409  # still going
    feed(150.0, 1.0)
    assert client.post("/api/calibrate/person/mark", json={}).status_code == 200
    r = client.post("/api/calibrate/person/finish", json={})
    assert r.status_code == 422 and r.json["redo"] is True
    assert "less pressure" in r.json["error"] and "nothing was saved" in r.json["error"]
    assert ProfileStore(web_app.config["DATA_DIR"]).load("cy", "glutes") is None
    assert client.get("/api/calibrate/person/status").json["active"] is False
    assert not any(name == "steer" for name, _ in fake_device.commands)  # real boards: nobody is steered


# -- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, body, status, words", [
    ("/api/calibrate/person/begin", {"region": "calf"}, 400, "person's name"),
    ("/api/calibrate/person/begin", {"person": "a", "region": "it band"}, 400, "IT band"),
    ("/api/calibrate/person/begin", {"person": "a", "region": "calf", "body_kg": 5}, 400, "body_kg"),
    ("/api/calibrate/person/begin", {"person": "a", "region": "calf", "ramp_s": "slow"}, 400, "ramp_s"),
    ("/api/calibrate/person/begin", {"person": "a", "region": "calf", "ratings": [5, 2]}, 400, "rise"),
    ("/api/calibrate/person/begin", {"person": "a", "region": "calf", "ratings": "2,5"}, 400, "ratings"),
    ("/api/calibrate/person/begin", {"person": "a", "region": "calf", "sim_follows": 1}, 400, "true or false"),
    ("/api/calibrate/person/begin", {"person": "a", "region": "calf", "x": 1}, 400, "does not take x"),
    ("/api/calibrate/person/mark", {}, 409, "no slow press"),
    ("/api/calibrate/person/finish", {}, 409, "no slow press"),
    ("/api/calibrate/platform/begin", {"mass": "5"}, 400, "needs a unit"),
    ("/api/calibrate/platform/begin", {"mass": "0.1kg"}, 400, "too light"),
    ("/api/calibrate/platform/begin", {"mass_kg": 1e9}, 400, "not plausible"),
    ("/api/calibrate/platform/begin", {"mass_kg": True}, 400, "number"),
    ("/api/calibrate/platform/begin", {"mass": "5kg", "mass_kg": 5}, 400, "once"),
    ("/api/calibrate/platform/begin", {}, 400, "once"),
    ("/api/calibrate/platform/begin", {"mass": "5kg", "preset": "ends:540"}, 400, "2 cells"),
    ("/api/calibrate/platform/begin", {"mass": "5kg", "preset": "corners:1:1"}, 400, "lengths"),
    ("/api/calibrate/platform/begin", {"mass": "5kg", "preset": 4}, 400, "preset"),
    ("/api/calibrate/platform/begin", {"mass": "5kg", "fresh": "yes"}, 400, "true or false"),
    ("/api/calibrate/platform/step", {}, 409, "no platform calibration"),
    ("/api/calibrate/platform/finish", {}, 409, "no platform calibration"),
])
def test_bad_requests_get_a_4xx_json_message(paired_client, fake_device, path, body, status, words):
    scripted(fake_device)
    r = paired_client.post(path, json=body)
    assert r.status_code == status and r.is_json, (r.status_code, r.data)
    assert words in r.json["error"]


def test_one_wizard_at_a_time_and_none_during_a_session(paired_client, fake_device):
    client = paired_client
    scripted(fake_device)
    assert client.post("/api/calibrate/person/begin", json={"person": "a", "region": "calf"}).status_code == 200
    for path, body in (("/api/calibrate/person/begin", {"person": "b", "region": "calf"}),
                       ("/api/calibrate/platform/begin", {"mass": "5kg"})):
        r = client.post(path, json=body)
        assert r.status_code == 409 and "cancel it first" in r.json["error"]
    assert client.post("/api/calibrate/person/cancel", json={}).json == {"cancelled": True}
    assert client.post("/api/calibrate/person/cancel", json={}).json == {"cancelled": False}
    fake_device.state["coach"] = {"step": "around"}
    r = client.post("/api/calibrate/platform/begin", json={"mass": "5kg"})
    assert r.status_code == 409 and "session is running" in r.json["error"]


def test_without_a_device_or_pairing_or_csrf_the_answers_are_json_4xx_or_503(web_app, web_client, fake_device):
    scripted(fake_device)
    assert web_client.get("/api/calibrate/person/status").status_code == 401
    client = pair(web_app)
    r = client.post("/api/calibrate/person/begin", json={"person": "a", "region": "calf"},
                    headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403 and r.is_json
    r = client.post("/api/calibrate/person/begin", data="person=a", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415 and r.is_json
    r = client.post("/api/calibrate/person/begin", data="{", content_type="application/json")
    assert r.status_code == 400 and r.is_json
    fake_device.connected.clear()
    r = client.post("/api/calibrate/person/begin", json={"person": "a", "region": "calf"})
    assert r.status_code == 503 and r.is_json
    r = client.post("/api/calibrate/platform/begin", json={"mass": "5kg"})
    assert r.status_code == 503 and r.is_json
    for path in ("/api/calibrate/person/status", "/api/calibrate/platform/status"):
        assert client.get(path).json["active"] is False


def test_a_damaged_profile_is_reported_before_the_press(web_app, paired_client, fake_device):
    folder = web_app.config["DATA_DIR"] / "people" / "dee"
    folder.mkdir(parents=True)
    (folder / "calf.json").write_text(json.dumps({"format": "something else"}))
    r = paired_client.post("/api/calibrate/person/begin", json={"person": "dee", "region": "calf"})
    assert r.status_code == 503 and "calf.json" in r.json["error"]


def test_the_pages_render_for_a_paired_tablet(paired_client, web_client):
    for path, words in (("/calibrate/person", b"Tap"), ("/calibrate/platform", b"known mass")):
        r = paired_client.get(path)
        assert r.status_code == 200 and words in r.data and b'name="csrf-token"' in r.data
        assert web_client.get(path).status_code == 401  # not paired: the pairing instructions


@pytest.mark.parametrize("body", [{"person": "a", "region": "calf", "body_kg": 10**400},
                                  {"person": "a", "region": "calf", "ratings": [2, 10**400]},
                                  {"person": ["a"], "region": {"r": 1}}])
def test_numbers_too_big_for_a_float_are_refused_not_a_crash(paired_client, fake_device, body):
    scripted(fake_device)
    r = paired_client.post("/api/calibrate/person/begin", data=json.dumps(body), content_type="application/json")
    assert r.status_code == 400 and r.is_json
    r = paired_client.post("/api/calibrate/platform/begin", data=json.dumps({"mass_kg": 10**400}),
                           content_type="application/json")
    assert r.status_code == 400 and "number" in r.json["error"]


def test_a_device_gone_while_sampling_is_a_503_not_a_crash(paired_client, fake_device):
    from server.device_link import DeviceUnavailable
    scripted(fake_device)
    assert paired_client.post("/api/calibrate/platform/begin", json={"mass": "5kg"}).status_code == 200
    fake_device.replies["capture"] = {"ok": True, "capture_id": 1}
    assert paired_client.post("/api/calibrate/platform/step", json={}).status_code == 200
    fake_device.replies["capture_result"] = DeviceUnavailable("the device process went away")
    status = paired_client.get("/api/calibrate/platform/status").json
    assert "went away" in status["refusal"] and not status["sampling"]   # measure this step again
    fake_device.connected.clear()
    r = paired_client.post("/api/calibrate/platform/step", json={})
    assert r.status_code == 503 and r.is_json
    assert paired_client.post("/api/calibrate/platform/cancel", json={}).json == {"cancelled": True}
