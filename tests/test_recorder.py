"""Sessions land in the database from what the device reports, checkpointed each second."""

import pytest

from firmware.device import DeviceLoop
from firmware.monitor import WatchSettings
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
    loop.command("rate", pain_after=3)
    advance(clock, loop, 1)
    s = store.session(sid)
    assert recorder.session_id is None
    assert (s.outcome, s.pain_before, s.pain_after, s.cycles_done) == ("done", 7, 3, 3)
    assert s.knot_x_mm is not None and s.time_in_band_s > 0
    assert any(w.name == "over_band" and w.end_t_s is not None for w in s.warnings)


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
