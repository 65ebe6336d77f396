"""Sessions land in the database from what the device reports, checkpointed each second."""

import pytest

from firmware.device.loop import DeviceLoop
from firmware.pipeline.monitor import WatchSettings
from firmware.sources.simulated import SimulatedPlatform
from server.recorder import SessionRecorder
from server.store import open_store


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


class Wire:
    """Stands in for the channel: every broadcast goes straight to the recorder."""

    def __init__(self, recorder):
        self.recorder = recorder

    def broadcast(self, message):
        self.recorder.handle(message)

    def poll(self, timeout_s=0):
        return []


@pytest.fixture
def setup(tmp_path):
    clock = Clock()
    source = SimulatedPlatform(clock=clock, seed=3, autopilot=False)
    store = open_store(tmp_path / "sessions.db")
    recorder = SessionRecorder(store, now_iso=lambda: "2026-11-27T10:00:00+00:00")
    loop = DeviceLoop(source, WatchSettings(185.0, 330.0), channel=Wire(recorder), announce=lambda m: None)
    yield clock, source, loop, recorder, store
    store.close()


def advance(clock, loop, seconds):
    end = clock.t + seconds
    while clock.t < end:
        clock.t = round(clock.t + 0.04, 6)
        loop.step()


def test_a_full_session_is_stored_with_its_figures(setup):
    clock, source, loop, recorder, store = setup
    advance(clock, loop, 4)
    loop.command("start", person="ana", region="calf", tool="roller", pain_before=7)
    advance(clock, loop, 3)
    sid = recorder.session_id
    assert store.session(sid).outcome == "running"
    source.steer("move_onto_knot", transit_s=0.3)
    advance(clock, loop, 1)
    loop.command("mark_knot")
    loop.command("next")
    source.steer("press_harder")           # too hard for a while: a warning to store
    advance(clock, loop, 8)
    source.steer("ease_off")
    source.steer("move_off_knot", transit_s=0.3)
    advance(clock, loop, 55)
    mid = store.session(sid)               # checkpoints while it runs
    assert mid.outcome == "running" and mid.elapsed_s > 60 and mid.time_in_band_s > 0
    loop.command("next")
    advance(clock, loop, 60)
    summary = loop.command("rate", pain_after=3)["summary"]
    advance(clock, loop, 1)
    s = store.session(sid)
    assert recorder.session_id is None
    assert (s.outcome, s.pain_before, s.pain_after, s.cycles_done) == ("done", 7, 3, 3)
    assert s.knot_x_mm is not None and s.time_in_band_s > 0
    assert any(w.name == "over_band" and w.end_t_s is not None for w in s.warnings)
    # Every warning the person was given is stored, as many times as the summary counts it,
    # at the times the coach raised it, each with an end.
    stored = {name: [w for w in s.warnings if w.name == name] for name in summary["warnings"]}
    assert {name: len(ws) for name, ws in stored.items()} == summary["warnings"]
    assert sum(summary["warnings"].values()) >= 2 and summary["warnings"]["on_knot"] >= 1
    t0 = summary["warning_times_s"]
    for name, ws in stored.items():
        for w, start in zip(ws, t0[name]):
            assert w.end_t_s is not None and w.start_t_s <= w.end_t_s <= s.elapsed_s + 1e-6
            assert w.start_t_s == pytest.approx(start - loop.coach.start_t_s, abs=0.1)  # no pauses here


def test_after_a_power_cut_a_new_session_gets_its_own_row(tmp_path):
    store = open_store(tmp_path / "sessions.db")
    coach = {"step": "around", "session": {"person": "eve", "region": "quads", "tool": "roller", "pain_before": 8},
             "running_s": 5.0, "time_in_band_s": 2.0, "cycles_done": 0, "warnings": {}}
    before = SessionRecorder(store, now_iso=lambda: "2026-11-27T10:00:00+00:00")
    before.handle({"type": "hello", "boot_id": "a1", "state": {}})
    before.handle({"type": "frame", "t_s": 10.0, "coach": coach})
    old = before.session_id                            # ... the plug is pulled here
    after = SessionRecorder(store, now_iso=lambda: "2026-11-27T10:20:00+00:00")
    after.handle({"type": "hello", "boot_id": "b2", "state": {}})
    assert store.session(old).outcome == "crashed"      # the other run's session is over
    after.handle({"type": "frame", "t_s": 3.0,
                  "coach": {**coach, "session": {**coach["session"], "pain_before": 3}, "running_s": 1.0}})
    new = store.session(after.session_id)
    assert after.session_id != old and new.pain_before == 3 and new.started_at == "2026-11-27T10:20:00+00:00"
    store.close()


def test_an_aborted_session_and_a_device_restart(setup):
    clock, source, loop, recorder, store = setup
    advance(clock, loop, 3)
    loop.command("start", person="bo", region="quads", tool="roller", pain_before=5)
    advance(clock, loop, 2)
    loop.command("stop")
    advance(clock, loop, 0.2)
    assert store.sessions()[0].outcome == "aborted"
    loop.coach.__init__()                  # a fresh coach, as after a restart
    loop.command("start", person="bo", region="quads", tool="roller", pain_before=5)
    advance(clock, loop, 2)
    recorder.handle({"type": "hello", "restarted": True, "state": {}})
    newest = store.sessions()[0]
    assert newest.outcome == "crashed" and newest.elapsed_s >= 1.0


def test_a_web_restart_mid_session_resumes_the_same_row(setup, tmp_path):
    clock, source, loop, recorder, store = setup
    advance(clock, loop, 3)
    loop.command("start", person="cy", region="calf", tool="roller", pain_before=6)
    advance(clock, loop, 5)
    first = recorder.session_id
    fresh = SessionRecorder(store, now_iso=lambda: "2026-11-27T10:05:00+00:00")  # the web process restarted
    loop.channel = Wire(fresh)
    advance(clock, loop, 3)
    assert fresh.session_id == first and len(store.sessions(person="cy")) == 1
    assert store.session(first).elapsed_s >= 6.0
