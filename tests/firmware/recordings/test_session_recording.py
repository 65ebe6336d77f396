"""Each coached session's raw rows kept as a v1 recording in DATA/recordings: the writer in
simulated time, the device loop's session around it, the recorder's row and the download."""

from __future__ import annotations

import datetime as dt
import errno
import gzip
import os

import numpy as np
import pytest

from firmware.block import MISSING, Block
from firmware.device.loop import DeviceLoop
from firmware.pipeline.analysis import analyze
from firmware.pipeline.monitor import Knot, WatchSettings
from firmware.recordings.format import format_rows, read_recording
from firmware.recordings.session import (
    NAME_RE,
    SessionRecordings,
    format_rows_fast,
    recording_name,
    slug,
)
from firmware.sources.simulated import SimulatedPlatform
from server.recorder import SessionRecorder
from server.store import StoreError, open_store, sessions_path

STARTED = dt.datetime(2026, 11, 27, 9, 30, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def frames_of(block: Block, pattern=(3, 3, 4)):
    """A block cut as a 25 frames/s device loop gets it at 80 samples/s."""
    start, i = 0, 0
    while start < len(block):
        n = pattern[i % len(pattern)]
        yield block.slice(start, start + n)
        start, i = start + n, i + 1


def recordings(tmp_path, said=None, **kwargs):
    said = [] if said is None else said
    return SessionRecordings(tmp_path / "recordings", said.append, now=lambda: STARTED, **kwargs)


# ------------------------------------------------------------------------------------- the writer

def test_the_file_holds_exactly_the_rows_fed_with_the_platform_and_who(tmp_path):
    source = SimulatedPlatform(clock=lambda: 0.0, seed=2, n_cells=3)
    before, rows = source.generate(2.0), source.generate(5.0)
    raw = rows.raw.copy()
    raw[40:45, 1] = MISSING                       # a cell that gave no reading for a few rows
    rows = Block(rows.t_s, raw)
    said = []
    rec = recordings(tmp_path, said)
    t_origin_s = float(before.t_s[-1])
    assert rec.start(source.platform, t_origin_s, "Ana María", "calf", {"tool": "roller"}) \
        == "recordings/20261127-093005-ana-maria-calf.csv.gz"
    for block in frames_of(rows):
        rec.add(block)
    done = rec.finish()
    assert done == {"path": "recordings/20261127-093005-ana-maria-calf.csv.gz", "rows": len(rows),
                    "person": "Ana María", "region": "calf"}
    back = read_recording(tmp_path / done["path"])
    np.testing.assert_array_equal(back.block.raw, raw)
    np.testing.assert_allclose(back.block.t_s, rows.t_s - t_origin_s, atol=5e-5)
    assert back.block.t_s[0] > 0 and back.platform == source.platform
    assert back.meta == {"person": "Ana María", "region": "calf", "started": "2026-11-27T09:30:05+01:00",
                         "session_start_s": "0.0000", "tool": "roller"}
    assert os.listdir(tmp_path / "recordings") == ["20261127-093005-ana-maria-calf.csv.gz"]  # no .part left
    assert rec.current is None and said == []


def test_rows_wait_in_memory_and_are_written_about_once_a_second(tmp_path):
    source = SimulatedPlatform(clock=lambda: 0.0, seed=1)
    rec = recordings(tmp_path)
    rec.start(source.platform, None, "ana", "calf")
    written = []
    for block in frames_of(source.generate(3.5)):
        rec.add(block)
        written.append(rec.recording.rows)
    assert written[:24] == [0] * 24                     # 24 frames (0.99 s of samples) stay in memory
    steps = np.diff(sorted(set(written)))
    assert len(steps) == 3 and all(80 <= n <= 84 for n in steps)  # then about a second's worth at a time
    assert rec.finish()["rows"] == 280


def test_the_fast_row_format_is_the_recording_modules_own():
    rng = np.random.default_rng(5)
    for n_cells, missing in ((1, 0.0), (4, 0.0), (4, 0.2), (2, 1.0)):
        raw = rng.integers(-(1 << 23), 1 << 23, size=(50, n_cells))
        raw[rng.random(raw.shape) < missing] = MISSING
        t_s = np.round(np.cumsum(rng.uniform(0.0001, 0.05, 50)), 4)
        assert format_rows_fast(t_s, raw) == format_rows(Block(t_s, raw))


@pytest.mark.parametrize("person, region, expect", [
    ("Ana", "calf", "20261127-093005-ana-calf.csv.gz"),
    ("../../etc/passwd", "calf", "20261127-093005-etc-passwd-calf.csv.gz"),
    ("C:\\Users\\x", "/tmp", "20261127-093005-c-users-x-tmp.csv.gz"),
    ("", "...", "20261127-093005-x-x.csv.gz"),
    ("Zoë  Smith-Jones", "upper back", "20261127-093005-zoe-smith-jones-upper-back.csv.gz"),
    ("名前", "calf\n# platform: {}", "20261127-093005-x-calf-platform.csv.gz"),
    ("a" * 300, "b" * 300, f"20261127-093005-{'a' * 24}-{'b' * 24}.csv.gz"),
])
def test_file_names_are_safe_and_bounded(tmp_path, person, region, expect):
    assert recording_name(STARTED, person, region) == expect and NAME_RE.fullmatch(expect)
    rec = recordings(tmp_path)
    rel = rec.start(SimulatedPlatform(clock=lambda: 0.0, seed=1).platform, 0.0, person, region)
    assert rel == f"recordings/{expect}"
    assert rec.finish()["path"] == rel
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [expect]  # in DATA/recordings, nowhere else
    assert read_recording(tmp_path / rel).meta["person"] == " ".join(person.split())  # meta stays one line


def test_slugs():
    assert slug("Ana María") == "ana-maria" and slug("--") == "x" and len(slug("x-" * 100)) <= 24
    assert not slug("a" * 23 + "-b").endswith("-")


def test_two_sessions_in_the_same_second_get_two_files(tmp_path):
    platform = SimulatedPlatform(clock=lambda: 0.0, seed=1).platform
    rec = recordings(tmp_path)
    rec.start(platform, 0.0, "ana", "calf")
    first = rec.finish()["path"]
    rec.start(platform, 0.0, "ana", "calf")
    assert rec.finish()["path"] == first.replace("-calf.csv.gz", "-calf-2.csv.gz")


def test_the_preroll_keeps_a_second_of_empty_platform_and_what_came_after():
    from firmware.recordings.session import PreRoll
    preroll = PreRoll(empty_s=1.0, max_s=30.0)
    block = lambda t0: Block(t0 + np.arange(4) / 80.0, np.zeros((4, 1), dtype=np.int64))
    force_n, t_s = None, 0.0
    for load_n in [0.0] * 100 + [250.0] * 50 + [3.0] * 10 + [None] * 3 + [250.0] * 100:  # per 50 ms block
        preroll.add(block(t_s), force_n)
        force_n, t_s = load_n, t_s + 0.05
    held = preroll.held()
    # The last full second of the long empty stretch (blocks from 3.95 s to 4.99 s), not the short one later.
    assert held[0].t_s[0] == pytest.approx(3.95) and held[-1].t_s[0] == pytest.approx(13.1)
    assert preroll.held() == held
    # Loaded for longer than it holds: the last max_s of rows.
    preroll = PreRoll(empty_s=1.0, max_s=2.0)
    for i in range(100):
        preroll.add(block(i * 0.05), 250.0)
    held = preroll.held()
    assert held[-1].t_s[-1] - held[0].t_s[0] <= 2.0 and held[-1].t_s[0] == pytest.approx(4.95)


# ----------------------------------------------------------------------------------- pruning

def _old(folder, name, age_s, size=1000, now_s=2_000_000_000.0):
    path = folder / name
    path.write_bytes(b"x" * size)
    os.utime(path, (now_s - age_s, now_s - age_s))
    return path


def test_the_oldest_recordings_go_first_and_nothing_else_is_touched(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    kept = [_old(folder, f"2026112{d}-090000-ana-calf.csv.gz", age_s=(9 - d) * 86400) for d in range(5)]
    stale_part = _old(folder, "20261120-080000-bo-calf.csv.gz.part", age_s=30 * 86400)
    live_part = _old(folder, "20261127-092900-bo-calf.csv.gz.part", age_s=5)   # another process is writing it
    mine = _old(folder, "notes.csv.gz", age_s=90 * 86400)                      # not a name we write
    rec = recordings(tmp_path, max_files=4, wall_s=lambda: 2_000_000_000.0)   # pruned when opened
    left = lambda: sorted(p.name for p in folder.iterdir())
    assert left() == sorted([k.name for k in kept[1:]] + [live_part.name, mine.name])
    assert not stale_part.exists()
    # A new one makes the oldest go; so does a size budget; the newest stays even if alone over it.
    rec.start(SimulatedPlatform(clock=lambda: 0.0, seed=1).platform, 0.0, "cy", "calf")
    rec.add(SimulatedPlatform(clock=lambda: 0.0, seed=1).generate(1.0))
    new = tmp_path / rec.finish()["path"]
    assert left() == sorted([k.name for k in kept[2:]] + [new.name, live_part.name, mine.name])
    rec.max_bytes = new.stat().st_size + 1000
    assert rec.prune(keep=new) == kept[2:4]
    rec.max_bytes = 10
    assert rec.prune(keep=new) == [kept[4]] and new.exists()
    assert left() == sorted([new.name, live_part.name, mine.name])


# ------------------------------------------------------------------------------ disk errors

class FullDisk:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, path, mode, room):
        self.f, self.room = open(path, mode), room

    def write(self, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_a_full_disk_stops_the_recording_once_and_nothing_else(tmp_path):
    said = []
    source = SimulatedPlatform(clock=lambda: 0.0, seed=1)
    rec = recordings(tmp_path, said, opener=lambda path, mode: FullDisk(path, mode, room=2000))
    rel = rec.start(source.platform, 0.0, "ana", "calf")
    for block in frames_of(source.generate(120.0)):    # compressed data reaches the disk in chunks
        rec.add(block)                                     # never raises
    assert rec.current is None and rec.finish() is None
    assert len(said) == 1 and "No space left on device" in said[0] and "coaching goes on" in said[0]
    assert not (tmp_path / rel).exists() and (tmp_path / (rel + ".part")).exists()  # only a .part, never served


def test_a_recording_that_cannot_be_opened_is_said_once(tmp_path):
    said = []
    (tmp_path / "recordings").write_text("a file where the folder should be")
    rec = recordings(tmp_path, said)
    assert rec.start(SimulatedPlatform(clock=lambda: 0.0, seed=1).platform, 0.0, "ana", "calf") is None
    rec.add(SimulatedPlatform(clock=lambda: 0.0, seed=1).generate(2.0))
    assert rec.finish() is None and len(said) == 1 and "cannot start a recording" in said[0]


# ----------------------------------------------------------------------- the device loop

class Spy:
    """The source, with every block the loop read kept."""

    def __init__(self, source):
        self._source, self.blocks = source, []

    def read(self):
        block = self._source.read()
        self.blocks.append(block)
        return block

    def __getattr__(self, name):
        return getattr(self._source, name)


class Wire:
    """Stands in for the channel: every broadcast is kept (and handed on, if asked)."""

    def __init__(self, then=None):
        self.messages, self.then = [], then

    def broadcast(self, message):
        self.messages.append(message)
        if self.then is not None:
            self.then(message)

    def poll(self, timeout_s=0):
        return []


def advance(clock, loop, seconds):
    end = clock.t + seconds
    while clock.t < end:
        clock.t = round(clock.t + 0.04, 6)
        loop.step()


def device(tmp_path, then=None, said=None):
    clock = Clock()
    source = Spy(SimulatedPlatform(clock=clock, seed=3, autopilot=False, lie_down_at_s=None))
    wire = Wire(then)
    said = [] if said is None else said
    loop = DeviceLoop(source, WatchSettings(185.0, 330.0, Knot(*source.knot_mm)), channel=wire,
                      announce=said.append, recordings_dir=tmp_path / "recordings")
    return clock, source, loop, wire


def coach_a_session(clock, source, loop):
    """Start on an empty platform, lie down, press too hard, rest on the knot, finish and rate;
    the sample time of the start."""
    advance(clock, loop, 2.0)
    t_start_s = loop.latest["t_s"]
    assert loop.command("start", person="ana", region="calf", tool="roller", pain_before=7)["ok"]
    advance(clock, loop, 1.0)
    source.steer("lie_down")
    advance(clock, loop, 3.0)
    source.steer("move_onto_knot", transit_s=0.3)
    advance(clock, loop, 1.0)
    loop.command("mark_knot")
    loop.command("next")
    source.steer("press_harder")
    advance(clock, loop, 6.0)
    source.steer("ease_off")
    advance(clock, loop, 3.0)
    source.steer("move_off_knot", transit_s=0.3)
    advance(clock, loop, 53.0)
    assert loop.command("next")["ok"]
    advance(clock, loop, 60.0)
    source.steer("lift_off")
    advance(clock, loop, 2.0)
    assert loop.coach.step == "rerate"
    assert loop.command("rate", pain_after=3)["ok"]
    return t_start_s


def test_a_coached_session_is_recorded_and_analyze_warns_as_the_device_did(tmp_path):
    clock, source, loop, wire = device(tmp_path)
    advance(clock, loop, 1.0)
    assert loop.state()["recording"] is None
    n_before = len(source.blocks)
    t_start_s = coach_a_session(clock, source, loop)
    recorded = [m for m in wire.messages if m.get("kind") == "recording"]
    assert len(recorded) == 1 and loop.state()["recording"] is None
    event = recorded[0]
    assert event["path"].startswith("recordings/") and event["path"].endswith("-ana-calf.csv.gz")
    assert (event["person"], event["region"], event["t_s"]) == ("ana", "calf", loop.latest["t_s"])
    frames = [m for m in wire.messages if m["type"] == "frame"]
    during = [f for f in frames if f["recording"] is not None]
    assert during and {f["recording"] for f in during} == {event["path"]}
    assert t_start_s < during[0]["t_s"] <= t_start_s + 0.05
    rec = read_recording(tmp_path / event["path"])
    assert event["rows"] == len(rec.block) and rec.meta["tool"] == "foam_roller" and rec.meta["pain_before"] == "7.0"
    # It begins with the platform empty for a second before the start (the pre-roll).
    preroll_s = float(rec.meta["session_start_s"])
    # (kept in whole batches of a frame's rows, so up to about two batches more than the second)
    assert 1.0 <= preroll_s <= 1.15 and rec.block.t_s[0] == 0.0
    origin_s = t_start_s - preroll_s

    # Exactly the raw rows the loop read from then to the rating.
    fed = Block.concat([b for b in source.blocks[n_before:] if len(b)])
    inside = fed.t_s > origin_s - 1e-3
    np.testing.assert_array_equal(rec.block.raw, fed.raw[inside])
    np.testing.assert_allclose(rec.block.t_s, fed.t_s[inside] - origin_s, atol=5e-5)

    # Offline analysis of the file gives the warnings the device gave live, at the same times.
    live = [(m["t_s"] - origin_s, m["event"], m["edge"]) for m in wire.messages
            if m.get("kind") == "warning" and origin_s <= m["t_s"] <= fed.t_s[-1]]
    offline = [(e.t_s, e.event, e.edge) for e in analyze(rec, loop.monitor.watch).events]
    assert {name for _, name, _ in live} >= {"over_band", "on_knot"} and len(live) >= 4
    assert [x[1:] for x in offline] == [x[1:] for x in live]
    np.testing.assert_allclose([x[0] for x in offline], [x[0] for x in live], atol=2e-4)  # the same samples

    # The next session gets a file of its own; stopping the device finishes it.
    advance(clock, loop, 1.0)
    assert loop.command("start", person="bo", region="quads", tool="roller", pain_before=5)["ok"]
    advance(clock, loop, 2.0)
    loop.finish()
    second = [m for m in wire.messages if m.get("kind") == "recording"][1]
    again = read_recording(tmp_path / second["path"])
    preroll_s = float(again.meta["session_start_s"])           # a second of the empty platform, then 2 s
    assert second["path"].endswith("-bo-quads.csv.gz") and second["rows"] == len(again.block)
    assert 1.0 <= preroll_s <= 1.15 and 158 <= second["rows"] - preroll_s * 80 <= 162
    assert sorted(p.name for p in (tmp_path / "recordings").iterdir()) == \
        sorted([event["path"][11:], second["path"][11:]])


def test_a_loaded_start_keeps_the_zero_the_device_used(tmp_path):
    """Someone already lies on the roller when the session starts: the recording still begins
    with the empty platform before, so a reader zeroes as the device did and reads the same forces."""
    clock, source, loop, wire = device(tmp_path)
    advance(clock, loop, 2.0)
    source.steer("lie_down")
    advance(clock, loop, 20.0)
    t_start_s = loop.latest["t_s"]
    loop.command("start", person="ana", region="calf", tool="roller", pain_before=7)
    advance(clock, loop, 4.0)
    force_live_n = loop.latest["force_n"]
    loop.command("stop")
    rec = read_recording(tmp_path / [m for m in wire.messages if m.get("kind") == "recording"][0]["path"])
    assert 20.0 <= float(rec.meta["session_start_s"]) <= 21.1
    assert rec.block.t_s[-1] == pytest.approx(t_start_s + 4.0 - (t_start_s - float(rec.meta["session_start_s"])),
                                              abs=0.05)
    def check(rec, force_live_n):
        offline = analyze(rec, loop.monitor.watch)
        assert offline.summary["rezero_refused"] == [False] * 4
        assert max(map(abs, offline.summary["zero_shift_n"])) < 1
        assert np.nanmax(abs(offline.output.force_n[:40])) < 20.0  # the first half second: the empty platform
        assert force_live_n > 150 and offline.output.force_n[-1] == pytest.approx(force_live_n, abs=0.5)

    check(rec, force_live_n)
    first_start_s = float(rec.meta["session_start_s"])
    # A second session while still lying there: its recording begins at the same empty stretch.
    advance(clock, loop, 5.0)
    loop.command("start", person="ana", region="calf", tool="roller", pain_before=6)
    advance(clock, loop, 3.0)
    force_live_n = loop.latest["force_n"]
    loop.command("stop")
    rec = read_recording(tmp_path / [m for m in wire.messages if m.get("kind") == "recording"][1]["path"])
    assert float(rec.meta["session_start_s"]) == pytest.approx(first_start_s + 9.0, abs=0.05)  # same origin
    check(rec, force_live_n)


def test_a_disk_error_mid_session_stops_the_recording_not_the_coaching(tmp_path):
    said = []
    clock, source, loop, wire = device(tmp_path, said=said)
    loop.recordings.opener = lambda path, mode: FullDisk(path, mode, room=3000)
    coach_a_session(clock, source, loop)
    assert loop.coach.step == "done" and loop.coach.summary().cycles_done == 3
    assert len(said) == 1 and "No space left on device" in said[0]
    assert not [m for m in wire.messages if m.get("kind") == "recording"]
    assert [p.name.endswith(".part") for p in (tmp_path / "recordings").iterdir()] == [True]


def test_without_a_recordings_folder_nothing_is_written(tmp_path):
    clock = Clock()
    source = SimulatedPlatform(clock=clock, seed=3, autopilot=False)
    loop = DeviceLoop(source, WatchSettings(185.0, 330.0), channel=Wire(), announce=lambda m: None)
    advance(clock, loop, 1.0)
    loop.command("start", person="ana", region="calf", tool="roller", pain_before=7)
    advance(clock, loop, 2.0)
    loop.command("stop")
    assert loop.recordings is None and loop.state()["recording"] is None and not list(tmp_path.iterdir())


def test_the_device_process_option(tmp_path):
    from firmware.device import main as device_main
    parse = device_main.build_parser().parse_args
    assert parse([]).recordings is True and parse(["--no-recordings"]).recordings is False
    for argv, folder in (([], tmp_path / "recordings"), (["--no-recordings"], None)):
        args = parse(["--source", "sim", *argv])
        loop, closers = device_main._assemble(args, tmp_path, WatchSettings(185.0, 330.0), lambda m: None)
        for close in reversed(closers):
            close()
        assert (loop.recordings.folder if loop.recordings else None) == folder


# ------------------------------------------------------------------ the session row and download

def test_the_recording_lands_on_the_session_row(tmp_path):
    store = open_store(tmp_path / "sessions.db")
    recorder = SessionRecorder(store, now_iso=lambda: "2026-11-27T10:00:00+00:00")
    clock, source, loop, wire = device(tmp_path, then=recorder.handle)
    coach_a_session(clock, source, loop)
    advance(clock, loop, 0.5)
    s = store.sessions()[0]
    event = [m for m in wire.messages if m.get("kind") == "recording"][0]
    assert s.outcome == "done" and s.recording_path == event["path"]
    store.close()


def _frame(t_s, step, person="ana", **coach):
    session = {"person": person, "region": "calf", "tool": "roller", "pain_before": 6}
    return {"type": "frame", "t_s": t_s, "coach": {"step": step, "session": session, "running_s": t_s - 1, **coach}}


@pytest.mark.parametrize("order", ["event first", "done frame first"])
def test_the_recording_event_may_cross_the_last_frame(tmp_path, order):
    store = open_store(tmp_path / "sessions.db")
    recorder = SessionRecorder(store, now_iso=lambda: "2026-11-27T10:00:00+00:00")
    recorder.handle(_frame(2.0, "find"))
    sid = recorder.session_id
    event = {"type": "event", "kind": "recording", "path": "recordings/20261127-100000-ana-calf.csv.gz",
             "rows": 80, "t_s": 3.0, "person": "ana", "region": "calf"}
    done = _frame(3.0, "done", pain_after=2)
    for message in ([event, done] if order == "event first" else [done, event]):
        recorder.handle(message)
    assert store.session(sid).outcome == "done" and store.session(sid).recording_path == event["path"]
    # Someone else's recording (a session this recorder never saw) is not put on this row.
    recorder.handle({**event, "person": "bo", "path": "recordings/20261127-100500-bo-calf.csv.gz"})
    assert store.session(sid).recording_path == event["path"]
    store.close()


@pytest.mark.parametrize("path", ["recordings/x.csv.gz.part", "../x.csv.gz", "recordings/../sessions.db",
                                  "/etc/passwd", "recordings/sub/x.csv", "recordings/.csv", None, 5])
def test_only_a_finished_file_in_recordings_can_be_a_sessions_recording(tmp_path, path):
    with open_store(tmp_path / "sessions.db") as store:
        sid = store.start_session("ana", "calf", "roller", "2026-11-27T10:00:00+00:00")
        with pytest.raises(StoreError):
            store.set_recording(sid, path)
        with pytest.raises(StoreError, match="no session 99"):
            store.set_recording(99, "recordings/x.csv.gz")
        with pytest.raises(StoreError, match=r"\.part"):
            store.start_session("ana", "calf", "roller", "2026-11-27T10:00:00+00:00",
                                recording_path="recordings/x.csv.gz.part")
        assert store.session(sid).recording_path is None


def test_a_paired_tablet_downloads_the_recording_but_never_a_part_file(paired_client, web_app):
    data = web_app.config["DATA_DIR"]
    source = SimulatedPlatform(clock=lambda: 0.0, seed=1)
    rec = SessionRecordings(data / "recordings", now=lambda: STARTED)
    rec.start(source.platform, 0.0, "ana", "calf")
    rec.add(source.generate(3.0))
    finished = rec.finish()["path"]
    crashed = rec.start(source.platform, 0.0, "bo", "calf")   # the device died while writing this one
    rec.add(source.generate(3.0))
    rec.recording.flush()
    with open_store(sessions_path(data)) as store:
        a = store.start_session("ana", "calf", "roller", "2026-11-27T09:30:05+01:00")
        store.set_recording(a, finished)
        b = store.start_session("bo", "calf", "roller", "2026-11-27T09:31:00+01:00")
        store.set_recording(b, crashed)          # what a stale row could say: the name it would have had
    r = paired_client.get(f"/api/sessions/{a}/recording")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    assert r.data == (data / finished).read_bytes() and gzip.decompress(r.data).startswith(b"# knotcoach recording 1")
    r.close()
    assert paired_client.get("/api/sessions").json[1]["recording"] == f"/api/sessions/{a}/recording"
    r = paired_client.get(f"/api/sessions/{b}/recording")
    assert r.status_code == 404 and r.is_json and (data / (crashed + ".part")).exists()
    unpaired = web_app.test_client().get(f"/api/sessions/{a}/recording")
    assert unpaired.status_code == 401
    rec.recording.abandon()
