"""The sessions database: settings, migrations, refusals, and sessions that survive a kill."""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from server import migrations
from server.store import StoreError, open_store, sessions_path

ROOT = Path(__file__).resolve().parents[2]
START = "2026-11-27T09:30:00+01:00"


@pytest.fixture
def db(tmp_path):
    return sessions_path(tmp_path / "data")  # the folder does not exist yet


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text and text
    return text


def test_a_new_database_uses_wal_full_sync_and_foreign_keys(db):
    with open_store(db) as store:
        pragma = lambda name: store.conn.execute(f"PRAGMA {name}").fetchone()[0]
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 2  # FULL
        assert pragma("foreign_keys") == 1
        assert store.schema_version == migrations.LATEST == pragma("user_version")
    assert store.conn is None  # the context closed it
    with open_store(db) as again:  # opening again applies nothing and keeps the mode
        assert again.schema_version == migrations.LATEST


def _v1_session(conn, person="ana"):
    conn.execute("INSERT INTO sessions (person, region, tool, started_at, started_utc, pain_before, elapsed_s) "
                 "VALUES (?, 'calf', 'roller', ?, '2026-11-27T08:30:00.000000Z', 7, 42)", (person, START))


@pytest.mark.parametrize("version", range(migrations.LATEST))
def test_migrates_from_every_earlier_version_keeping_the_sessions(db, version):
    db.parent.mkdir()
    conn = sqlite3.connect(db, isolation_level=None)
    assert migrations.migrate(conn, upto=version) == list(range(1, version + 1))
    if version >= 1:
        _v1_session(conn)
    conn.close()
    with open_store(db) as store:
        assert store.schema_version == migrations.LATEST
        got = store.sessions()
        if version >= 1:
            assert [(s.person, s.elapsed_s, s.step, s.next_day) for s in got] == [("ana", 42.0, None, None)]
            store.record_next_day(got[0].id, "2026-11-28T09:00:00+01:00", 3)  # a table from migration 2
        else:
            assert got == []


def test_a_failing_migration_changes_nothing(db):
    with open_store(db) as store:
        sid = store.start_session("ana", "calf", "roller", START)
        broken = migrations.MIGRATIONS + (("CREATE TABLE extra (a)", "THIS IS NOT SQL"),)
        with pytest.raises(sqlite3.OperationalError):
            migrations.migrate(store.conn, migrations=broken)
        assert store.schema_version == migrations.LATEST
        assert store.conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0
        assert store.session(sid).person == "ana"


def test_a_database_from_a_newer_version_is_refused_untouched(db):
    with open_store(db) as store:
        store.start_session("ana", "calf", "roller", START)
        store.conn.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")
    before = db.read_bytes()
    with pytest.raises(StoreError) as e:
        open_store(db)
    assert "newer Knot Coach" in one_line(e) and str(db) in str(e.value)
    assert db.read_bytes() == before


def test_a_file_that_is_not_a_database_is_refused_untouched(db):
    db.parent.mkdir()
    db.write_bytes(b"this is a shopping list, not a database\n" * 200)
    before = db.read_bytes()
    with pytest.raises(StoreError) as e:
        open_store(db)
    assert "damaged or not a sessions database" in one_line(e)
    assert db.read_bytes() == before and sorted(p.name for p in db.parent.iterdir()) == [db.name]


def test_a_damaged_database_is_refused_untouched(db):
    with open_store(db) as store:
        for i in range(400):
            sid = store.start_session("ana", "calf", "roller", START, recording_path="x" * 200)
            store.add_warning(sid, "over_band", 1.0, 2.0)
    data = bytearray(db.read_bytes())
    assert len(data) > 8 * 4096
    data[3 * 4096:6 * 4096] = b"\xa5" * (3 * 4096)  # scribble over pages in the middle
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError) as e:
        open_store(db)
    assert "damaged" in one_line(e)
    assert db.read_bytes() == bytes(data)


def test_another_programs_database_is_left_alone(db):
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError) as e:
        open_store(db)
    assert "not Knot Coach's" in one_line(e) and db.read_bytes() == before


def test_a_folder_in_the_way_is_one_line(tmp_path):
    with pytest.raises(StoreError) as e:
        open_store(tmp_path)
    assert "is a folder" in one_line(e)


def test_a_whole_session_round_trip(db):
    with open_store(db) as store:
        sid = store.start_session("Ana", "Upper back", "lacrosse ball", START, pain_before=7.5,
                                  recording_path="/data/rec/ana-1.csv.gz")
        store.update_progress(sid, 1.0, 0.0, 0, knot_x_mm=120.0, knot_y_mm=-35.5)
        w = store.add_warning(sid, "over_band", 20.0)
        store.update_progress(sid, 40.0, 30.0, 0, step="around")
        store.end_warning(w, 23.5)
        store.add_warning(sid, "over_band", 50.0, 51.0)
        store.add_warning(sid, "on_knot", 60.0)  # still on when the session ends
        store.finish_session(sid, "2026-11-27T09:35:00+01:00", "done", pain_after=3, t_s=240.0,
                             time_in_band_s=150.0, cycles_done=4)
        s = store.session(sid)
    assert (s.person, s.region, s.tool, s.knot_x_mm, s.knot_y_mm) == ("ana", "upper-back", "ball", 120.0, -35.5)
    assert (s.pain_before, s.pain_after, s.elapsed_s, s.time_in_band_s, s.cycles_done) == (7.5, 3.0, 240.0, 150.0, 4)
    assert (s.outcome, s.step, s.ended_at, s.recording_path) == ("done", "done", "2026-11-27T09:35:00+01:00",
                                                                "/data/rec/ana-1.csv.gz")
    assert s.warning_totals() == {"over_band": (2, 4.5), "on_knot": (1, 180.0)}
    assert s.to_dict()["warnings"][0] == {"name": "over_band", "start_t_s": 20.0, "end_t_s": 23.5}


def test_newest_first_across_time_zones_and_filters(db):
    with open_store(db) as store:
        a = store.start_session("ana", "calf", "roller", "2026-11-20T09:00:00+01:00")   # 08:00 UTC
        b = store.start_session("ana", "calf", "roller", "2026-11-20T08:30:00+00:00")   # 08:30 UTC: later
        c = store.start_session("ana", "glutes", "ball", "2026-11-25T23:30:00-05:00")  # local day the 25th
        d = store.start_session("bo", "calf", "roller", "2026-11-26T07:00:00+00:00")
        ids = lambda **kw: [s.id for s in store.sessions(**kw)]
        assert ids() == [d, c, b, a]  # c is 04:30 UTC on the 26th
        assert ids(person="ana") == [c, b, a]
        assert ids(person="ana", region="calf") == [b, a]
        assert ids(since="2026-11-25") == [d, c]  # a date is the person's own day
        assert ids(since="2026-11-26") == [d]
        assert ids(since="2026-11-26T04:00:00+00:00") == [d, c]
        assert ids(since="2026-11-20T08:15:00") == [d, c, b]  # no offset: UTC
        assert ids(person="nobody") == []


@pytest.mark.parametrize("call, message", [
    (lambda s, sid: s.start_session("ana", "calf", "roller", "2026-11-27T09:30:00"), "UTC offset"),
    (lambda s, sid: s.start_session("ana", "calf", "roller", "yesterday"), "ISO 8601"),
    (lambda s, sid: s.start_session("ana", "it band", "roller", START), "IT band"),
    (lambda s, sid: s.start_session("ana", "calf", "stick", START), "ball or a roller"),
    (lambda s, sid: s.start_session("../x", "calf", "roller", START), "person's name"),
    (lambda s, sid: s.start_session("ana", "calf", "roller", START, pain_before=11), "0-10"),
    (lambda s, sid: s.start_session("ana", "calf", "roller", START, knot_y_mm=3.0), "needs x_mm"),
    (lambda s, sid: s.update_progress(sid, float("nan"), 0.0, 0), "finite"),
    (lambda s, sid: s.update_progress(sid, 5.0, 6.0, 0), "cannot exceed"),
    (lambda s, sid: s.update_progress(sid, 5.0, 1.0, -1), "whole number"),
    (lambda s, sid: s.update_progress(sid, 5.0, 1.0, 0, step="dance"), "step"),
    (lambda s, sid: s.update_progress(999, 5.0, 1.0, 0), "no session 999"),
    (lambda s, sid: s.add_warning(sid, "Over Band!", 1.0), "warning name"),
    (lambda s, sid: s.add_warning(sid, "over_band", 5.0, 4.0), "before it starts"),
    (lambda s, sid: s.add_warning(999, "over_band", 1.0), "no session 999"),
    (lambda s, sid: s.end_warning(999, 1.0), "no warning 999"),
    (lambda s, sid: s.finish_session(sid, "2026-11-27T09:00:00+01:00"), "before the session started"),
    (lambda s, sid: s.finish_session(sid, "2026-11-27T10:00:00+01:00", "exploded"), "ends as one of"),
    (lambda s, sid: s.record_next_day(sid, "2026-11-28T09:00:00+01:00", 12), "0-10"),
    (lambda s, sid: s.sessions(since="last week"), "since must be"),
    (lambda s, sid: s.session(999), "no session 999"),
])
def test_bad_values_are_refused_in_one_line_and_store_nothing(db, call, message):
    with open_store(db) as store:
        sid = store.start_session("ana", "calf", "roller", START, pain_before=7)
        before = store.sessions()
        with pytest.raises(StoreError) as e:
            call(store, sid)
        assert message in one_line(e)
        assert store.sessions() == before


def test_an_ended_session_takes_no_more_progress(db):
    with open_store(db) as store:
        sid = store.start_session("ana", "calf", "roller", START)
        store.finish_session(sid, "2026-11-27T09:31:00+01:00", "aborted")
        for call in (lambda: store.update_progress(sid, 5.0, 1.0, 0), lambda: store.add_warning(sid, "x", 1.0),
                     lambda: store.finish_session(sid, "2026-11-27T09:32:00+01:00")):
            with pytest.raises(StoreError, match="already ended \\(aborted\\)"):
                call()


def test_a_batch_commits_together_or_not_at_all(db):
    with open_store(db) as store:
        sid = store.start_session("ana", "calf", "roller", START)
        with pytest.raises(StoreError), store.batch():
            store.update_progress(sid, 10.0, 5.0, 1)
            store.add_warning(sid, "over_band", 9.0)
            store.add_warning(sid, "BAD", 9.5)
        s = store.session(sid)
        assert (s.elapsed_s, s.warnings) == (0.0, ())
        with store.batch():
            store.update_progress(sid, 10.0, 5.0, 1)
            store.add_warning(sid, "over_band", 9.0)
        assert store.session(sid).elapsed_s == 10.0 and len(store.session(sid).warnings) == 1


def test_a_reader_sees_each_checkpoint_while_the_device_writes(db):
    with open_store(db) as device, open_store(db) as server:
        sid = device.start_session("ana", "calf", "roller", START)
        for t in (1.0, 2.0, 3.0):
            device.update_progress(sid, t, t / 2, 0)
            assert server.session(sid).elapsed_s == t


KILLED_DEVICE = """
import sys, time
from server.store import open_store
store = open_store(sys.argv[1])
sid = store.start_session("ana", "calf", "roller", "2026-11-27T09:30:00+01:00", pain_before=7)
t, step = 0.0, 0
while True:
    step += 1
    t = step * 0.25
    with store.batch():
        store.update_progress(sid, t, t / 2, step // 40, step="around", knot_x_mm=100.0)
        if step == 4:
            wid = store.add_warning(sid, "over_band", 0.9)
    if step == 8:
        store.end_warning(wid, 1.8)
    if step == 12:
        store.add_warning(sid, "on_knot", 2.9)
    print(t, flush=True)  # only after the checkpoint committed
    time.sleep(0.02)
"""


def test_a_session_killed_mid_way_keeps_its_last_checkpoint(db):
    db.parent.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", KILLED_DEVICE, str(db)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    try:
        last = 0.0
        while last < 5.0:
            line = proc.stdout.readline()
            assert line, "the device died on its own"
            last = float(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with open_store(db) as store:
        s = store.session(1)
        assert s.outcome == "running" and s.ended_at is None
        assert last <= s.elapsed_s <= last + 1.0  # at most ~1 s lost (here: nothing acknowledged was)
        assert (s.time_in_band_s, s.knot_x_mm, s.step, s.pain_before) == (s.elapsed_s / 2, 100.0, "around", 7.0)
        assert [(w.name, w.start_t_s, w.end_t_s) for w in s.warnings] == [("over_band", 0.9, 1.8),
                                                                          ("on_knot", 2.9, None)]
        assert store.recover_unfinished() == [1]
        s = store.session(1)
        assert s.outcome == "crashed" and s.warnings[1].end_t_s == s.elapsed_s
        assert s.ended_at.startswith("2026-11-27T09:30:0") and s.ended_at.endswith("+01:00")
        assert store.recover_unfinished() == []


def test_several_processes_opening_a_new_database_at_once(db):
    from concurrent.futures import ThreadPoolExecutor

    def open_and_close(_):
        with open_store(db) as store:
            return store.schema_version
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(open_and_close, range(6))) == [migrations.LATEST] * 6


def test_a_write_lock_held_too_long_is_one_line_and_the_reader_still_reads(db):
    with open_store(db) as device, open_store(db) as other:
        sid = device.start_session("ana", "calf", "roller", START)
        device.conn.execute("PRAGMA busy_timeout = 50")
        with other.batch():  # another writer holds the lock
            with pytest.raises(StoreError) as e:
                device.update_progress(sid, 1.0, 0.5, 0)
            assert "locked" in one_line(e)
            assert device.session(sid).elapsed_s == 0.0  # reading is not blocked (WAL)
        device.update_progress(sid, 1.0, 0.5, 0)
        assert other.session(sid).elapsed_s == 1.0
