"""Coaching sessions and their warnings in SQLite: the only module with SQL.

One file, ``DATA/sessions.db``, in WAL mode with ``synchronous=FULL`` and
foreign keys on; the schema is kept by ``server.migrations``. The device
writes a session as it goes, so a session killed mid-way keeps what happened
up to the last checkpoint::

    with open_store(sessions_path(data)) as store:
        store.recover_unfinished()                  # sessions a crash left 'running' -> 'crashed'
        sid = store.start_session("ana", "calf", "roller", "2026-11-27T09:30:00+01:00", pain_before=7)
        ...about once a second:
        with store.batch():                         # one transaction (each call alone is one too)
            store.update_progress(sid, t_s=12.0, time_in_band_s=8.5, cycles_done=0, step="around")
            wid = store.add_warning(sid, "over_band", 11.2)
        store.end_warning(wid, 13.0)
        store.finish_session(sid, "2026-11-27T09:34:10+01:00", "done", pain_after=3)

Every call commits before it returns (inside ``batch()``: when the batch
ends), so a kill -9 loses at most the time since the last call. Dates are
ISO 8601 strings with a UTC offset, passed in (nothing here reads a clock).
Bad values raise ``StoreError`` (one line); so does a file that is damaged,
not ours, or from a newer Knot Coach, which is then left exactly as it was.
A store object belongs to one thread.
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path

from calibration.files import StoreError
from calibration.profiles import ProfileError, person_key, region_key
from server import migrations
from server.progress import NextDay, Session, WarningEvent

DB_NAME = "sessions.db"
OUTCOMES = ("running", "done", "aborted", "crashed")
TOOLS = ("ball", "roller")
_TOOL_ALIASES = {"lacrosse-ball": "ball", "massage-ball": "ball", "foam-roller": "roller"}
STEPS = ("find", "around", "reset", "rerate", "done")  # the coach's steps while a session runs
OUR_TABLES = ("sessions", "warning_events", "next_day_checks")
_WARNING_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: A session's recording as the device reports it: a finished file in DATA/recordings (never a .part).
_RECORDING_PATH = re.compile(r"recordings/[A-Za-z0-9][A-Za-z0-9_.-]{0,199}\.csv(?:\.gz)?")
_SESSION_COLUMNS = ("id, person, region, tool, knot_x_mm, knot_y_mm, started_at, ended_at, outcome, pain_before, "
                    "pain_after, elapsed_s, time_in_band_s, cycles_done, recording_path, step")  # not device_boot


def sessions_path(data_dir) -> Path:
    return Path(data_dir) / DB_NAME


def open_store(path) -> SessionStore:
    """Open (creating if needed) and migrate the sessions database at ``path``."""
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a sessions database")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    except (OSError, sqlite3.Error) as e:
        raise StoreError(f"{path}: cannot open: {getattr(e, 'strerror', None) or e}") from None
    try:
        _prepare(conn, path)
    except BaseException as e:
        conn.close()
        if isinstance(e, migrations.NewerDatabaseError):
            raise StoreError(f"{path}: {e}") from None
        if isinstance(e, sqlite3.DatabaseError):
            raise StoreError(f"{path}: damaged or not a sessions database ({e})") from None
        raise
    return SessionStore(conn, path)


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    # Only reads until the file is known to be ours and sound: a damaged file is never written to.
    version = migrations.check_version(conn)
    check = conn.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        check = " ".join(check.split())
        raise StoreError(f"{path}: the database is damaged ({check}); it was left as it is")
    # Only tables of our own at version 0: another process is creating the database right now.
    ours = ", ".join(f"'{name}'" for name in OUR_TABLES)
    if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                     f"'sqlite_%' AND name NOT IN ({ours})").fetchone()[0]:
        raise StoreError(f"{path}: holds tables that are not Knot Coach's; it was left as it is")
    if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
        raise StoreError(f"{path}: cannot switch the database to WAL mode")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    migrations.migrate(conn)


def _guarded(method):
    """Database errors become one-line StoreErrors naming the file."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.IntegrityError as e:
            raise StoreError(f"{self.path}: refused: {e}") from None
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: {e}") from None
    return wrapper


class SessionStore:
    """Owns one connection; use ``open_store``."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn, self.path, self._depth = conn, path, 0

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    @property
    def schema_version(self) -> int:
        return migrations.user_version(self.conn)

    @contextmanager
    def batch(self, _begin: str = "BEGIN IMMEDIATE"):
        """Group calls into one transaction, committed when the block ends (rolled back on error)."""
        if self._depth == 0:
            self._execute(_begin)
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            if self._depth == 0 and self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self._execute("COMMIT")

    def _execute(self, sql: str) -> None:
        try:
            self.conn.execute(sql)
        except sqlite3.Error as e:  # e.g. another process held the lock past the timeout
            if sql == "COMMIT" and self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise StoreError(f"{self.path}: {e}") from None

    def _write(self, sql: str, params=()) -> sqlite3.Cursor:
        with self.batch():
            return self.conn.execute(sql, params)

    # -- the device, during a session ------------------------------------------------

    @_guarded
    def start_session(self, person: str, region: str, tool: str, started_at: str, *,
                      knot_x_mm: float | None = None, knot_y_mm: float | None = None,
                      pain_before: float | None = None, recording_path: str | None = None,
                      step: str | None = "find", device_boot: str | None = None) -> int:
        """Write the session row as it starts; its id for the calls that follow."""
        started, started_utc = _when(started_at, "started_at")
        if knot_x_mm is None and knot_y_mm is not None:
            raise StoreError("a knot needs x_mm when it has y_mm")
        if recording_path is not None and str(recording_path).endswith(".part"):
            raise StoreError("a recording still being written (.part) is not a session's recording")
        row = (_name(person_key, person), _name(region_key, region), _tool(tool),
               _number(knot_x_mm, "knot_x_mm", optional=True, lo=None),
               _number(knot_y_mm, "knot_y_mm", optional=True, lo=None), started, started_utc,
               _pain(pain_before, "pain_before"), None if recording_path is None else str(recording_path),
               _step(step), _boot(device_boot))
        cur = self._write("INSERT INTO sessions (person, region, tool, knot_x_mm, knot_y_mm, started_at, "
                          "started_utc, pain_before, recording_path, step, device_boot) "
                          "VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)
        return int(cur.lastrowid)

    @_guarded
    def running_session(self, person: str, region: str, device_boot: str | None) -> int | None:
        """The session of this person and region still running under this run of the device, if any."""
        row = self.conn.execute("SELECT id FROM sessions WHERE outcome = 'running' AND person = ? AND region = ? "
                                "AND device_boot IS ? ORDER BY id DESC LIMIT 1",
                                (_name(person_key, person), _name(region_key, region), _boot(device_boot))).fetchone()
        return None if row is None else int(row[0])

    @_guarded
    def update_progress(self, session_id: int, t_s: float, time_in_band_s: float, cycles_done: int, *,
                        step: str | None = None, knot_x_mm: float | None = None,
                        knot_y_mm: float | None = None) -> None:
        """The checkpoint: seconds since the start, time in band, cycles; ``step`` and the
        knot's position when they change (None leaves them as they are)."""
        t_s = _number(t_s, "t_s")
        if _number(time_in_band_s, "time_in_band_s") > t_s + 1e-6:
            raise StoreError(f"time in band ({time_in_band_s:g} s) cannot exceed the session time ({t_s:g} s)")
        if knot_x_mm is None and knot_y_mm is not None:
            raise StoreError("a knot needs x_mm when it has y_mm")
        knot = knot_x_mm is not None
        cur = self._write(
            "UPDATE sessions SET elapsed_s = ?, time_in_band_s = ?, cycles_done = ?, step = coalesce(?, step), "
            "knot_x_mm = CASE WHEN ? THEN ? ELSE knot_x_mm END, knot_y_mm = CASE WHEN ? THEN ? ELSE knot_y_mm END "
            "WHERE id = ? AND outcome = 'running'",
            (t_s, time_in_band_s, _count(cycles_done), _step(step),
             knot, _number(knot_x_mm, "knot_x_mm", optional=True, lo=None),
             knot, _number(knot_y_mm, "knot_y_mm", optional=True, lo=None), session_id))
        if cur.rowcount != 1:
            raise StoreError(self._why_not_running(session_id))

    @_guarded
    def set_recording(self, session_id: int, path: str) -> None:
        """The session's raw recording, relative to the data directory (``recordings/NAME.csv.gz``).
        Allowed whatever the outcome: the device finishes the file as, or just after, the session ends."""
        if not isinstance(path, str) or not _RECORDING_PATH.fullmatch(path) or ".." in path:
            raise StoreError(f"a session's recording is a .csv or .csv.gz file in recordings/, not {str(path)[:80]!r}")
        if self._write("UPDATE sessions SET recording_path = ? WHERE id = ?", (path, session_id)).rowcount != 1:
            raise StoreError(f"no session {session_id}")

    @_guarded
    def add_warning(self, session_id: int, name: str, start_t_s: float, end_t_s: float | None = None) -> int:
        """A warning that started at ``start_t_s`` (ended, if ``end_t_s`` is given); its id."""
        if not isinstance(name, str) or not _WARNING_NAME.fullmatch(name):
            raise StoreError(f"a warning name is lower case letters, digits and '_', not {name!r}")
        start = _number(start_t_s, "start_t_s")
        end = _end(end_t_s, start)
        with self.batch():
            if self._session_row(session_id)["outcome"] != "running":
                raise StoreError(self._why_not_running(session_id))
            cur = self.conn.execute("INSERT INTO warning_events (session_id, name, start_t_s, end_t_s) "
                                    "VALUES (?,?,?,?)", (session_id, name, start, end))
        return int(cur.lastrowid)

    @_guarded
    def end_warning(self, warning_id: int, end_t_s: float) -> None:
        with self.batch():
            row = self.conn.execute("SELECT start_t_s FROM warning_events WHERE id = ?", (warning_id,)).fetchone()
            if row is None:
                raise StoreError(f"no warning {warning_id}")
            self.conn.execute("UPDATE warning_events SET end_t_s = ? WHERE id = ?",
                              (_end(end_t_s, row[0]), warning_id))

    @_guarded
    def finish_session(self, session_id: int, ended_at: str, outcome: str = "done", *,
                       pain_after: float | None = None, t_s: float | None = None,
                       time_in_band_s: float | None = None, cycles_done: int | None = None) -> None:
        """How it ended (done, aborted or crashed); warnings still on end at the session's last second."""
        if outcome not in OUTCOMES[1:]:
            raise StoreError(f"a session ends as one of {', '.join(OUTCOMES[1:])}, not {outcome!r}")
        ended, _ = _when(ended_at, "ended_at")
        with self.batch():
            row = self._session_row(session_id)
            if row["outcome"] != "running":
                raise StoreError(self._why_not_running(session_id))
            if _utc(ended) < _utc(row["started_at"]):
                raise StoreError(f"ended_at {ended} is before the session started ({row['started_at']})")
            if t_s is not None or time_in_band_s is not None or cycles_done is not None:
                self.update_progress(session_id, row["elapsed_s"] if t_s is None else t_s,
                                     row["time_in_band_s"] if time_in_band_s is None else time_in_band_s,
                                     row["cycles_done"] if cycles_done is None else cycles_done)
            self._close_session(session_id, ended, outcome, _pain(pain_after, "pain_after"))

    @_guarded
    def recover_unfinished(self, device_boot: str | None = None) -> list[int]:
        """Mark sessions left 'running' by a crash or kill as 'crashed' (what they reached is kept).

        With ``device_boot`` (the device process now running), only sessions of other runs
        of the device: its own may still be going. Without, every running session: call it
        so only when no device process can be coaching one.
        """
        with self.batch():
            rows = self.conn.execute("SELECT id, started_at, elapsed_s FROM sessions WHERE outcome = 'running' "
                                     "AND (? IS NULL OR device_boot IS NOT ?) ORDER BY id",
                                     (_boot(device_boot), _boot(device_boot))).fetchall()
            for sid, started_at, elapsed_s in rows:
                ended = datetime.fromtimestamp(_utc(started_at).timestamp() + elapsed_s,
                                               datetime.fromisoformat(started_at).tzinfo)
                self._close_session(sid, ended.isoformat(), "crashed", None)
        return [r[0] for r in rows]

    @_guarded
    def record_next_day(self, session_id: int, asked_at: str, tenderness: float, bruising: bool | None = None) -> None:
        """The answer to "how tender is it now?" for a session (a new answer replaces the old one)."""
        asked, _ = _when(asked_at, "asked_at")
        if bruising is not None and not isinstance(bruising, bool):
            raise StoreError(f"bruising is yes, no or unknown, not {bruising!r}")
        with self.batch():
            self._session_row(session_id)
            self.conn.execute("INSERT OR REPLACE INTO next_day_checks (session_id, asked_at, tenderness, bruising) "
                              "VALUES (?,?,?,?)", (session_id, asked, _pain(tenderness, "tenderness", optional=False),
                                                   None if bruising is None else int(bruising)))

    # -- reading -------------------------------------------------------------------

    @_guarded
    def session(self, session_id: int) -> Session:
        found = self._read("WHERE id = ?", (session_id,))
        if not found:
            raise StoreError(f"no session {session_id}")
        return found[0]

    @_guarded
    def sessions(self, person: str | None = None, region: str | None = None, since: str | None = None) -> list[Session]:
        """Sessions, newest first; ``since`` is a date (the person's local day) or a date-time."""
        where, params = [], []
        if person is not None:
            where.append("person = ?")
            params.append(_name(person_key, person))
        if region is not None:
            where.append("region = ?")
            params.append(_name(region_key, region))
        if since is not None:
            column, value = _since(since)
            where.append(f"{column} >= ?")
            params.append(value)
        return self._read(("WHERE " + " AND ".join(where)) if where else "", params)

    def _read(self, where: str, params) -> list[Session]:
        with self.batch("BEGIN"):  # one snapshot for the sessions and their warnings, without the write lock
            rows = self._rows(f"SELECT {_SESSION_COLUMNS} FROM sessions {where} ORDER BY started_utc DESC, id DESC",
                              params)
            warnings: dict[int, list[WarningEvent]] = {}
            checks: dict[int, NextDay] = {}
            ids = [r["id"] for r in rows]
            for i in range(0, len(ids), 500):
                marks = ",".join("?" * len(ids[i:i + 500]))
                for w in self.conn.execute(f"SELECT session_id, name, start_t_s, end_t_s FROM warning_events "
                                           f"WHERE session_id IN ({marks}) ORDER BY start_t_s, id", ids[i:i + 500]):
                    warnings.setdefault(w[0], []).append(WarningEvent(w[1], w[2], w[3]))
                for c in self.conn.execute(f"SELECT session_id, asked_at, tenderness, bruising FROM "
                                           f"next_day_checks WHERE session_id IN ({marks})", ids[i:i + 500]):
                    checks[c[0]] = NextDay(c[1], c[2], None if c[3] is None else bool(c[3]))
        return [Session(**dict(r), warnings=tuple(warnings.get(r["id"], ())), next_day=checks.get(r["id"]))
                for r in rows]

    def _rows(self, sql: str, params=()) -> list[sqlite3.Row]:
        cur = self.conn.cursor()
        cur.row_factory = sqlite3.Row
        return cur.execute(sql, params).fetchall()

    def _session_row(self, session_id: int) -> sqlite3.Row:
        rows = self._rows("SELECT * FROM sessions WHERE id = ?", (session_id,))
        if not rows:
            raise StoreError(f"no session {session_id}")
        return rows[0]

    def _why_not_running(self, session_id: int) -> str:
        row = self.conn.execute("SELECT outcome FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return f"no session {session_id}" if row is None else f"session {session_id} has already ended ({row[0]})"

    def _close_session(self, session_id: int, ended: str, outcome: str, pain_after: float | None) -> None:
        self.conn.execute("UPDATE sessions SET ended_at = ?, outcome = ?, pain_after = coalesce(?, pain_after), "
                          "step = CASE WHEN ? = 'done' THEN 'done' ELSE step END WHERE id = ?",
                          (ended, outcome, pain_after, outcome, session_id))
        self.conn.execute("UPDATE warning_events SET end_t_s = max(start_t_s, (SELECT elapsed_s FROM sessions "
                          "WHERE id = ?)) WHERE session_id = ? AND end_t_s IS NULL", (session_id, session_id))


# -- checking values from outside ---------------------------------------------------

def _name(key, text) -> str:
    try:
        return key(text)
    except ProfileError as e:
        raise StoreError(str(e)) from None


def _boot(text) -> str | None:
    """A device process's boot id: a short token of letters and digits (None: not known)."""
    if text is None:
        return None
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", text):
        raise StoreError(f"a device boot id is a short token, not {str(text)[:40]!r}")
    return text


def _tool(text) -> str:
    key = str(text).strip().lower().replace(" ", "-").replace("_", "-")
    key = _TOOL_ALIASES.get(key, key)
    if key not in TOOLS:
        raise StoreError(f"the tool is a ball or a roller, not {text!r}")
    return key


def _step(step) -> str | None:
    if step is not None and step not in STEPS:
        raise StoreError(f"a step is one of {', '.join(STEPS)}, not {step!r}")
    return step


def _number(value, what: str, optional: bool = False, lo: float | None = 0.0) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise StoreError(f"{what} must be a finite number, not {value!r}")
    if lo is not None and value < lo:
        raise StoreError(f"{what} must be at least {lo:g}, not {value:g}")
    return float(value)


def _count(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StoreError(f"cycles_done must be a whole number >= 0, not {value!r}")
    return value


def _pain(value, what: str, optional: bool = True) -> float | None:
    value = _number(value, what, optional=optional)
    if value is not None and value > 10:
        raise StoreError(f"{what} is rated 0-10, not {value:g}")
    return value


def _end(end_t_s, start: float) -> float | None:
    end = _number(end_t_s, "end_t_s", optional=True)
    if end is not None and end < start:
        raise StoreError(f"a warning cannot end ({end:g} s) before it starts ({start:g} s)")
    return end


def _when(text, what: str) -> tuple[str, str]:
    """An ISO 8601 date-time with a UTC offset: (as stored, the instant in UTC for sorting)."""
    try:
        when = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise StoreError(f"{what} must be an ISO 8601 date-time with a UTC offset "
                         f"(e.g. 2026-11-27T09:30:00+01:00), not {text!r}")
    return when.isoformat(), _utc_text(when)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def _utc_text(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _since(text) -> tuple[str, str]:
    """The column and value for "started on or after": a date is the person's local day; a
    date-time without an offset is UTC."""
    if isinstance(text, str) and len(text.strip()) == 10:
        try:
            return "substr(started_at, 1, 10)", date.fromisoformat(text.strip()).isoformat()
        except ValueError:
            pass
    try:
        when = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        when = None
    if when is None:
        raise StoreError(f"since must be a date (2026-11-20) or an ISO 8601 date-time, not {text!r}")
    return "started_utc", _utc_text(when if when.tzinfo else when.replace(tzinfo=timezone.utc))
