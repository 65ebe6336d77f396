"""The sessions database schema, as numbered migrations.

``PRAGMA user_version`` holds the number of the last migration applied (0 for
a new, empty file). Opening the store applies the missing ones in order, each
in its own transaction together with the new ``user_version``, so a crash
mid-migration leaves the database at the previous version, never half-way.
A database whose version is higher than ``LATEST`` was written by a newer
Knot Coach and is refused, untouched.

Never edit a migration that has shipped: add a new one at the end.
"""

from __future__ import annotations

import sqlite3

#: MIGRATIONS[n - 1] takes the schema from version n - 1 to version n.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: sessions and the warnings raised during them.
    (
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            person TEXT NOT NULL,
            region TEXT NOT NULL,
            tool TEXT NOT NULL,
            knot_x_mm REAL,
            knot_y_mm REAL,
            started_at TEXT NOT NULL,          -- ISO 8601 with the person's UTC offset
            started_utc TEXT NOT NULL,         -- the same instant in UTC, for sorting and --since
            ended_at TEXT,
            outcome TEXT NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'done', 'aborted', 'crashed')),
            pain_before REAL CHECK (pain_before BETWEEN 0 AND 10),
            pain_after REAL CHECK (pain_after BETWEEN 0 AND 10),
            elapsed_s REAL NOT NULL DEFAULT 0 CHECK (elapsed_s >= 0),
            time_in_band_s REAL NOT NULL DEFAULT 0 CHECK (time_in_band_s >= 0),
            cycles_done INTEGER NOT NULL DEFAULT 0 CHECK (cycles_done >= 0),
            recording_path TEXT
        )""",
        """CREATE TABLE warning_events (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            start_t_s REAL NOT NULL CHECK (start_t_s >= 0),
            end_t_s REAL CHECK (end_t_s >= start_t_s)  -- NULL while the warning is on
        )""",
    ),
    # 2: which step a session reached, and the next-day answer ("how tender is it now?").
    (
        "ALTER TABLE sessions ADD COLUMN step TEXT",
        """CREATE TABLE next_day_checks (
            session_id INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
            asked_at TEXT NOT NULL,
            tenderness REAL NOT NULL CHECK (tenderness BETWEEN 0 AND 10),
            bruising INTEGER CHECK (bruising IN (0, 1))
        )""",
    ),
    # 3: indexes for listing a person's sessions and a session's warnings.
    (
        "CREATE INDEX sessions_by_person ON sessions(person, region, started_utc)",
        "CREATE INDEX sessions_by_start ON sessions(started_utc)",
        "CREATE INDEX warning_events_by_session ON warning_events(session_id, start_t_s)",
    ),
    # 4: which run of the device process a session belongs to, so a restarted web process
    # resumes only a session that device is still coaching (not one a power cut ended).
    (
        "ALTER TABLE sessions ADD COLUMN device_boot TEXT",
    ),
)

LATEST = len(MIGRATIONS)


class NewerDatabaseError(Exception):
    """The database was written by a newer Knot Coach."""


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_version(conn: sqlite3.Connection, migrations=MIGRATIONS) -> int:
    """The database's version; NewerDatabaseError if this code does not know it."""
    version = user_version(conn)
    if version > len(migrations):
        raise NewerDatabaseError(f"it was written by a newer Knot Coach (schema version {version}, this one "
                                 f"knows up to {len(migrations)}): update Knot Coach to read it")
    if version < 0:
        raise NewerDatabaseError(f"its schema version {version} is not one Knot Coach writes")
    return version


def migrate(conn: sqlite3.Connection, upto: int | None = None, migrations=MIGRATIONS) -> list[int]:
    """Apply the missing migrations up to ``upto`` (default: all); the numbers applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Each
    migration and its ``user_version`` commit together or not at all.
    """
    upto = len(migrations) if upto is None else upto
    applied = []
    for number in range(check_version(conn, migrations) + 1, upto + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if user_version(conn) >= number:  # another process got there first
                conn.execute("ROLLBACK")
                continue
            for statement in migrations[number - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(number)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(number)
    return applied
