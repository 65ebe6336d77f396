"""A raw recording of each coached session, kept in ``DATA/recordings``.

The device loop hands every block of raw rows it reads (before any
filtering) to ``SessionRecordings.add``. While a session runs the rows are
kept in memory and written about once a second, gzip-compressed at a low
level, so the 80 samples/s loop pays a few microseconds a frame. The rows
since the platform was last empty are also held in memory (the pre-roll),
and a recording begins with them: a reader re-zeroes on a recording's first
half second, which must then be an empty platform, even when someone already
lay on the roller when the session started (or stayed on it since the last). The file is a v1
recording (RECORDING.md) named ``<YYYYMMDD-HHMMSS>-<person>-<region>.csv.gz``.
It is written as ``NAME.part`` and renamed when the session ends, so a crash
leaves at most a ``.part`` file, which nothing lists or serves.

Recording is a by-product: a disk error ends the recording (said once) and
never the coaching. Old recordings are deleted, oldest first, to keep the
folder within ``max_files`` files and ``max_bytes`` bytes, so a Pi's SD card
never fills.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
import time
import unicodedata
from collections import deque
from pathlib import Path
from typing import Any, Callable

import numpy as np

from calibration.platform import Cell, PlatformCalibration
from firmware.block import MISSING, Block
from firmware.pipeline.filterloop import FilterSettings
from firmware.recordings.format import format_header

#: The folder's name inside the data directory; paths in events and the database start with it.
FOLDER_NAME = "recordings"
MAX_FILES = 200
MAX_BYTES = 500 * 1024 * 1024
#: Rows wait in memory this many seconds of sample time before they are written.
FLUSH_S = 1.0
#: zlib level 1: about as small as level 9 on these rows, at a fraction of the cost.
GZIP_LEVEL = 1
#: At most this many rows are formatted in one pass of the loop (a long pre-roll drains over several).
MAX_ROWS_PER_WRITE = 240
#: A recording begins with this much of an empty platform when the pre-roll has it (a reader needs 0.5 s).
PREROLL_EMPTY_S = 1.0
#: The pre-roll holds at most this much (about 8 MB); someone on the platform longer before a
#: session starts gets a recording that begins loaded (its header then carries the live zero).
PREROLL_MAX_S = 600.0
#: Below this filtered total force the platform counts as empty: the band the zero tracking
#: calls zero, so a light load lying there is never taken for an empty platform.
EMPTY_N = FilterSettings().zero_band_n
#: A ``.part`` file untouched this long is a crash's leftover (a live one is written every second).
STALE_PART_S = 3600.0
#: Person and region each take at most this many characters of a file name.
NAME_PART_CHARS = 24
PART = ".part"
SUFFIX = ".csv.gz"
#: The names this module writes; nothing else in the folder is ever touched.
NAME_RE = re.compile(r"\d{8}-\d{6}-[a-z0-9-]{1,60}\.csv\.gz")


def slug(text: Any, max_chars: int = NAME_PART_CHARS) -> str:
    """``text`` as lower-case ASCII letters, digits and single '-', at most ``max_chars`` long."""
    plain = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    words = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")
    return words[:max_chars].strip("-") or "x"


def recording_name(started: dt.datetime, person: Any, region: Any, n: int = 1) -> str:
    """``YYYYMMDD-HHMMSS-person-region.csv.gz`` (``-n`` added for a second one in the same second)."""
    extra = "" if n == 1 else f"-{n}"
    return f"{started:%Y%m%d-%H%M%S}-{slug(person)}-{slug(region)}{extra}{SUFFIX}"


def format_rows_fast(t_s: np.ndarray, raw: np.ndarray) -> str:
    """The data rows as ``firmware.recordings.format.format_rows`` writes them (``t_s`` in seconds to 0.1 ms,
    MISSING as an empty field), built with Python's own formatting: about ten times faster for
    the 80 rows of a second, which matters in the live loop."""
    columns = raw.T.tolist()
    if not (raw == MISSING).any():
        row = "%.4f" + ",%d" * raw.shape[1] + "\n"
        return "".join([row % values for values in zip(t_s.tolist(), *columns)])
    missing = int(MISSING)
    return "".join(["%.4f" % t + "".join("," if v == missing else ",%d" % v for v in values) + "\n"
                    for t, *values in zip(t_s.tolist(), *columns)])


def live_zero_platform(monitor) -> PlatformCalibration:
    """The monitor's platform with each cell's offset set to the zero the live filter loop
    uses now (its unloaded start plus the drift it has followed since).

    A session often starts with someone already lying on the roller; a reader re-zeroes
    on an unloaded start but keeps the stored offsets when the start is loaded, so the
    header must carry the zero the device was actually using."""
    platform = monitor.platform
    zero = monitor.loop.zero
    if zero.zero0 is None:
        return platform
    counts = zero.zero0 + zero.drift_n * zero.cpn
    cells = tuple(Cell(c.x_mm, c.y_mm, float(round(z, 1)), c.counts_per_newton)
                  for c, z in zip(platform.cells, counts.tolist()))
    return PlatformCalibration(cells, platform.rate_hz, dict(platform.extra))


class SessionRecording:
    """One session's file while it is written; rows in sample time, shifted to start at ``t_origin_s``.

    ``add`` may raise OSError (the disk); ``SessionRecordings`` catches it."""

    def __init__(self, path: Path, platform: PlatformCalibration, meta: dict[str, Any], t_origin_s: float | None,
                 *, flush_s: float = FLUSH_S, compresslevel: int = GZIP_LEVEL, opener: Callable = open) -> None:
        self.path = path
        self.part = path.with_name(path.name + PART)
        self.t_origin_s, self.flush_s = t_origin_s, flush_s
        self.rows = 0
        self._pending: deque[Block] = deque()
        self._t_pending_s: float | None = None  # sample time of the first row waiting
        self._last_t_text = -np.inf     # the last t_s as written (0.1 ms), which must keep rising
        self._raw = opener(self.part, "xb")  # never overwrite: a name is used once
        try:
            self._gz = gzip.GzipFile(filename="", fileobj=self._raw, mode="wb", compresslevel=compresslevel, mtime=0)
            self._gz.write(format_header(platform, meta).encode("utf-8"))
        except BaseException:
            self._raw.close()
            raise

    def hold(self, blocks: list[Block]) -> None:
        """Rows to write first (the pre-roll): a long one is written over the passes that follow."""
        for block in blocks[:1]:
            if self.t_origin_s is None:
                self.t_origin_s = float(block.t_s[0])
            if self._t_pending_s is None:
                self._t_pending_s = float(block.t_s[0])
        self._pending.extend(blocks)

    def add(self, block: Block) -> None:
        """Keep ``block``'s rows; write what is kept once ``flush_s`` of samples has gathered,
        ``MAX_ROWS_PER_WRITE`` rows at most."""
        self.hold([block])
        if block.t_s[-1] - self._t_pending_s >= self.flush_s:
            self.flush(MAX_ROWS_PER_WRITE)

    def flush(self, max_rows: int | None = None) -> None:
        """Write the rows kept so far (the first ``max_rows`` of them; the rest wait)."""
        taken, n = [], 0
        while self._pending and (max_rows is None or n < max_rows):
            block = self._pending.popleft()
            if max_rows is not None and n + len(block) > max_rows:  # split it: the rest waits
                self._pending.appendleft(block.slice(max_rows - n, len(block)))
                block = block.slice(0, max_rows - n)
            taken.append(block)
            n += len(block)
        self._t_pending_s = float(self._pending[0].t_s[0]) if self._pending else None
        if not taken:
            return
        block = taken[0] if len(taken) == 1 else Block.concat(taken)
        t_s = np.round(block.t_s - self.t_origin_s, 4)
        # Rows before the origin, or rows that 0.1 ms rounding would make equal, are left out:
        # t_s must rise strictly and never be negative.
        keep = np.concatenate([[t_s[0] > self._last_t_text], np.diff(t_s) > 0]) & (t_s >= 0)
        if not keep.all():
            t_s, block = t_s[keep], Block(block.t_s[keep], block.raw[keep])
        if not len(t_s):
            return
        self._last_t_text = float(t_s[-1])
        self._gz.write(format_rows_fast(t_s, block.raw).encode("ascii"))
        self.rows += len(t_s)

    def close(self) -> int:
        """Write the rest, finish the file and give it its name; the number of rows."""
        self.flush()
        self._gz.close()
        self._raw.close()
        os.replace(self.part, self.path)
        return self.rows

    def abandon(self) -> None:
        """Stop writing after a failure; the ``.part`` file stays, never mistaken for a whole one."""
        self._pending.clear()
        for f in (self._gz, self._raw):
            try:
                f.close()
            except Exception:  # the disk that failed may fail again: nothing more to do
                pass


class PreRoll:
    """The raw rows since the platform was last empty (``empty_s`` of it), at most ``max_s``.

    ``add`` takes each block with the live filtered force at the end of the block before
    (the device judges a block once it has filtered it, after handing it over)."""

    def __init__(self, empty_s: float = PREROLL_EMPTY_S, max_s: float = PREROLL_MAX_S,
                 empty_n: float = EMPTY_N) -> None:
        self.empty_s, self.max_s, self.empty_n = empty_s, max_s, empty_n
        self.blocks: deque[Block] = deque()
        self._run = 0  # how many blocks at the end, before the newest, were judged empty

    def add(self, block: Block, force_before_n: float | None) -> None:
        held = self.blocks
        if held:
            empty = force_before_n is not None and abs(force_before_n) < self.empty_n
            self._run = self._run + 1 if empty else 0
            if self._run and held[-1].t_s[-1] - held[-self._run].t_s[0] >= self.empty_s:
                while len(held) > self._run:  # what came before this empty stretch is not needed
                    held.popleft()
                while self._run > 1 and held[-1].t_s[-1] - held[1].t_s[0] >= self.empty_s:
                    held.popleft()
                    self._run -= 1
        held.append(block)
        while len(held) > 1 and block.t_s[-1] - held[0].t_s[0] > self.max_s:
            held.popleft()
            self._run = min(self._run, len(held) - 1)

    def held(self) -> list[Block]:
        """The rows held, oldest first."""
        return list(self.blocks)


class SessionRecordings:
    """The folder of session recordings (``DATA/recordings``): one recording per session.

    ``start`` when a session starts, ``add`` each raw block, ``finish`` when it ends
    (done, aborted, or the device stopping). No method raises: a failure is said once
    through ``announce`` and the session goes on unrecorded."""

    def __init__(self, folder, announce: Callable[[str], None] = print, *, max_files: int = MAX_FILES,
                 max_bytes: int = MAX_BYTES, flush_s: float = FLUSH_S, compresslevel: int = GZIP_LEVEL,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone(),
                 wall_s: Callable[[], float] = time.time, opener: Callable = open) -> None:
        if max_files < 1 or max_bytes < 0:
            raise ValueError("keep at least one recording and a size of at least 0 bytes")
        self.folder = Path(folder)
        self.announce = announce
        self.max_files, self.max_bytes = max_files, max_bytes
        self.flush_s, self.compresslevel = flush_s, compresslevel
        self.now, self.wall_s, self.opener = now, wall_s, opener
        self.recording: SessionRecording | None = None
        self.preroll = PreRoll()
        self._meta: dict[str, Any] = {}
        self.prune()  # leftovers of a crash, or a smaller budget than last time

    @property
    def current(self) -> str | None:
        """The recording being written, relative to the data directory (``recordings/NAME``), or None."""
        return None if self.recording is None else self.relative(self.recording.path)

    def relative(self, path: Path) -> str:
        return f"{self.folder.name}/{path.name}"

    def start(self, platform: PlatformCalibration, t_session_s: float | None, person: str, region: str,
              meta: dict[str, Any] | None = None) -> str | None:
        """Begin a session's recording (ending one still open) with the pre-roll; its relative path,
        or None if it could not be opened. ``t_session_s``: the sample time the session started
        (the rows after it were not handed over yet); meta ``session_start_s`` says where it falls."""
        self.finish()
        held = self.preroll.held()
        started = self.now()
        meta = {"person": person, "region": region, "started": started.isoformat(timespec="seconds"),
                **(meta or {})}
        t_origin_s = float(held[0].t_s[0]) if held else t_session_s
        if t_origin_s is not None and t_session_s is not None:
            meta["session_start_s"] = f"{max(0.0, t_session_s - t_origin_s):.4f}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self._free_path(started, person, region)
            self.recording = SessionRecording(path, platform, meta, t_origin_s, flush_s=self.flush_s,
                                              compresslevel=self.compresslevel, opener=self.opener)
        except Exception as e:
            self._failed(e, "cannot start a recording of this session")
            return None
        self._meta = meta
        self.recording.hold(held)
        return self.current

    def add(self, block: Block, force_before_n: float | None = None) -> None:
        """The raw rows just read (cheap: they are written about once a second). The pre-roll
        keeps them too, judged by ``force_before_n``: the live filtered force at the end of the
        rows handed over before these."""
        if not len(block):
            return
        self.preroll.add(block, force_before_n)
        if self.recording is None:
            return
        try:
            self.recording.add(block)
        except Exception as e:
            self.recording.abandon()
            self.recording = None
            self._failed(e, "stopped recording this session")

    def finish(self) -> dict[str, Any] | None:
        """End the recording: ``{"path", "rows", "person", "region"}``, or None if none was finished."""
        recording, self.recording = self.recording, None
        if recording is None:
            return None
        try:
            rows = recording.close()
        except Exception as e:
            recording.abandon()
            self._failed(e, "could not finish the recording of this session")
            return None
        self.prune(keep=recording.path)
        return {"path": self.relative(recording.path), "rows": rows,
                "person": self._meta.get("person"), "region": self._meta.get("region")}

    def prune(self, keep: Path | None = None) -> list[Path]:
        """Delete the oldest recordings (and crash leftovers) beyond ``max_files`` or ``max_bytes``;
        never ``keep``, a recording being written, or a file not named as this module names them.
        The paths deleted."""
        try:
            found = self._prunable(keep)
        except OSError:
            return []  # no folder yet, or it cannot be read: nothing to prune
        deleted = []
        total = sum(size for _, size, _ in found) + (_size(keep) if keep is not None else 0)
        count = len(found) + (keep is not None)
        for _, size, path in sorted(found):
            if count <= self.max_files and total <= self.max_bytes:
                break
            try:
                path.unlink()
            except OSError as e:
                self.announce(f"cannot delete an old recording {path.name}: {e.strerror or e}")
                continue
            deleted.append(path)
            count, total = count - 1, total - size
        return deleted

    def _prunable(self, keep: Path | None) -> list[tuple[float, int, Path]]:
        """(modified time, size, path) of our finished recordings and stale ``.part`` files."""
        out = []
        writing = None if self.recording is None else self.recording.part
        stale_before_s = self.wall_s() - STALE_PART_S
        for entry in os.scandir(self.folder):
            name = entry.name
            finished = NAME_RE.fullmatch(name) is not None
            if not (finished or name.endswith(PART) and NAME_RE.fullmatch(name[:-len(PART)])):
                continue
            path = self.folder / name
            if path == keep or path == writing or not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            if finished or st.st_mtime < stale_before_s:
                out.append((st.st_mtime, st.st_size, path))
        return out

    def _free_path(self, started: dt.datetime, person: str, region: str) -> Path:
        for n in range(1, 100):
            name = recording_name(started, person, region, n)
            path = self.folder / name
            if path.parent != self.folder or not NAME_RE.fullmatch(name):  # cannot happen: slugs are safe
                raise ValueError(f"unsafe recording name {name!r}")
            if not path.exists() and not path.with_name(name + PART).exists():
                return path
        raise FileExistsError(f"{self.folder}: 99 recordings for the same second already")

    def _failed(self, error: Exception, what: str) -> None:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        self.announce(f"{what}: {reason}; coaching goes on without a recording")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
