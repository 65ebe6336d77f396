"""Recording format v1: read and write what the platform measured, raw.

The format is a public interface (see RECORDING.md): a version line, ``# key:
value`` metadata with a required ``platform`` JSON object, a ``t_s,c0,..``
header and one row per sample with raw signed HX711 values (empty = no
reading). Files may be gzip-compressed.

Reading is strict: anything that is not a valid v1 recording raises
``RecordingError`` naming the file and line. A fast vectorised path handles
well-formed files; when it finds a problem, a slow line-by-line pass names
the exact line.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calibration.platform import RAW_MAX, RAW_MIN, CalibrationError, PlatformCalibration
from firmware.block import MISSING, Block

VERSION_LINE = "# knotcoach recording 1"
_VERSION_RE = re.compile(r"^# knotcoach recording (\S+)\s*$")
_META_RE = re.compile(r"^# ([A-Za-z0-9_.-]+):\s?(.*)$")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RAW = r"-?\d+"  # the range check after parsing bounds the digits
_GZIP_MAGIC = b"\x1f\x8b"
_ODD_CHARACTER = re.compile(r"[^0-9,.\n-]")
#: Refuse files that would not fit comfortably in memory (about 40 hours at 80/s).
MAX_BYTES = 512 * 1024 * 1024


class RecordingError(ValueError):
    """A file that is not a valid v1 recording; ``str()`` is one line for a person."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


@dataclass
class Recording:
    """A recording in memory: its platform, its metadata and its rows."""

    platform: PlatformCalibration
    block: Block
    meta: dict[str, str] = field(default_factory=dict)


def read_recording(path: str | os.PathLike) -> Recording:
    """Read and validate a v1 recording (plain or gzip) from ``path``."""
    text = _read_text(path)
    head, body_start = _split_head(text)
    platform, meta = _parse_head(path, head)
    block = _parse_body(path, text[body_start:], platform.n_cells, first_line=len(head) + 1)
    return Recording(platform=platform, block=block, meta=meta)


def _read_text(path: str | os.PathLike) -> str:
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise RecordingError(path, None, f"file is too large ({size} bytes; at most {MAX_BYTES})")
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise RecordingError(path, None, f"cannot read: {e.strerror or e}") from None
    if data[:2] == _GZIP_MAGIC:
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as g:
                data = g.read(MAX_BYTES + 1)
        except (OSError, EOFError) as e:
            raise RecordingError(path, None, f"broken gzip data: {e}") from None
        if len(data) > MAX_BYTES:
            raise RecordingError(path, None, "uncompressed data is too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise RecordingError(path, line, "not UTF-8 text, so not a knotcoach recording") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n")
    if "\r" in text:
        line = text[: text.index("\r")].count("\n") + 1
        raise RecordingError(path, line, "lines must end in \\n or \\r\\n (this file uses a bare \\r)")
    return text


def _split_head(text: str) -> tuple[list[str], int]:
    """The version, metadata and column-header lines, and where the data begins."""
    head: list[str] = []
    pos = 0
    while pos < len(text):
        nl = text.find("\n", pos)
        end = len(text) if nl < 0 else nl + 1
        line = text[pos:end].rstrip("\n")
        head.append(line)
        pos = end
        if not line.startswith("#") or len(head) == 1 and not _VERSION_RE.match(line):
            break
    return head, pos


def _parse_head(path, head: list[str]) -> tuple[PlatformCalibration, dict[str, str]]:
    if not head or not head[0].strip():
        raise RecordingError(path, 1, "empty file, so not a knotcoach recording")
    m = _VERSION_RE.match(head[0])
    if not m:
        raise RecordingError(path, 1, f"not a knotcoach recording (line 1 must be '{VERSION_LINE}')")
    if m.group(1) != "1":
        raise RecordingError(path, 1, f"recording version {m.group(1)!r} is not supported (this knotcoach reads version 1)")
    has_header = len(head) > 1 and not head[-1].startswith("#")
    meta: dict[str, str] = {}
    platform = None
    for i, line in enumerate(head[1:-1] if has_header else head[1:], start=2):
        mm = _META_RE.match(line)
        if not mm:
            raise RecordingError(path, i, "metadata lines look like '# key: value'")
        key, value = mm.group(1), mm.group(2).strip()
        if key == "platform":
            platform = _parse_platform(path, i, value)
        else:
            meta[key] = value
    if platform is None:
        raise RecordingError(path, len(head), "the required '# platform: {...}' line is missing")
    if not has_header:
        raise RecordingError(path, len(head) + 1, "the column header 't_s,c0,...' is missing")
    expected = ",".join(["t_s"] + [f"c{i}" for i in range(platform.n_cells)])
    if head[-1].strip() != expected:
        raise RecordingError(path, len(head), f"column header must be '{expected}' for {platform.n_cells} cell(s)")
    return platform, meta


def _parse_platform(path, line: int, value: str) -> PlatformCalibration:
    try:
        data = json.loads(value)
    except json.JSONDecodeError as e:
        raise RecordingError(path, line, f"platform is not valid JSON ({e.msg})") from None
    try:
        return PlatformCalibration.from_dict(data)
    except CalibrationError as e:
        raise RecordingError(path, line, str(e)) from None


def _row_pattern(n_cells: int) -> str:
    return rf"{_NUMBER}(?:,(?:{_RAW})?){{{n_cells}}}"


def _parse_body(path, body: str, n_cells: int, first_line: int) -> Block:
    stripped = body.rstrip("\n")
    if not stripped:
        return Block.empty(n_cells)
    # Fast path: only digits, signs, points, commas and newlines, parsed by
    # numpy's C reader; anything else, or anything it refuses, goes to the slow
    # line-by-line check, which names the line.
    table = _fast_table(stripped, n_cells)
    if table is None:
        table = _slow_table(path, stripped, n_cells, first_line)
    t_s = np.ascontiguousarray(table[:, 0])
    values = table[:, 1:]
    missing = np.isnan(values)
    bad = ~missing & ((values < RAW_MIN) | (values > RAW_MAX))
    if bad.any():
        i = int(np.argmax(bad.any(axis=1)))
        raise RecordingError(path, first_line + i, f"raw values must be within {RAW_MIN}..{RAW_MAX}")
    bad_t = ~(np.isfinite(t_s) & (t_s >= 0))
    if bad_t.any():
        raise RecordingError(path, first_line + int(np.argmax(bad_t)),
                             "t_s must be a finite number of seconds since the start, not negative")
    not_increasing = np.diff(t_s) <= 0
    if not_increasing.any():
        i = int(np.argmax(not_increasing)) + 1
        raise RecordingError(path, first_line + i, f"t_s must increase strictly ({t_s[i - 1]:g} then {t_s[i]:g})")
    raw = np.where(missing, MISSING, np.nan_to_num(values)).astype(np.int64)
    return Block(t_s, raw)


def _fast_table(body: str, n_cells: int) -> np.ndarray | None:
    """The whole body parsed by numpy's C reader, or None if it is not plainly
    digits, signs, points, commas and newlines in the expected shape."""
    if _ODD_CHARACTER.search(body) or "\n\n" in body or _point_in_a_count(body):
        return None
    filled = body.replace(",,", ",nan,").replace(",,", ",nan,").replace(",\n", ",nan\n")
    if filled.endswith(","):
        filled += "nan"
    try:
        table = np.loadtxt(io.StringIO(filled), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        return None
    if table.shape[1] != n_cells + 1 or np.isnan(table[:, 0]).any():
        return None
    values = table[:, 1:]
    present = values[~np.isnan(values)]
    if (present != np.round(present)).any():  # "12.5" is not a count
        return None
    return table


def _point_in_a_count(body: str) -> bool:
    """Whether any '.' stands after a comma on its line (a count like '5.' or '.0'),
    found by positions in the bytes rather than a slow regular expression."""
    if "." not in body:
        return False
    text = np.frombuffer(body.encode("ascii"), dtype=np.uint8)  # plain ASCII here
    dots = np.flatnonzero(text == ord("."))
    newlines = np.flatnonzero(text == ord("\n"))
    commas = np.flatnonzero(text == ord(","))
    line_start = np.concatenate([[0], newlines + 1])[np.searchsorted(newlines, dots)]
    commas_before = np.searchsorted(commas, dots) - np.searchsorted(commas, line_start)
    return bool((commas_before > 0).any())


def _slow_table(path, body: str, n_cells: int, first_line: int) -> np.ndarray:
    """Line by line: every row checked and converted; the first bad one is named."""
    row_re = re.compile(_row_pattern(n_cells))
    table = np.empty((body.count("\n") + 1, n_cells + 1))
    for i, line in enumerate(body.split("\n")):
        if not row_re.fullmatch(line):
            raise RecordingError(path, first_line + i, _why_bad(line, n_cells))
        fields = line.split(",")
        table[i, 0] = float(fields[0])
        table[i, 1:] = [float(int(f)) if f else np.nan for f in fields[1:]]
    return table


def _why_bad(line: str, n_cells: int) -> str:
    fields = line.split(",")
    if not line.strip():
        return "blank line inside the data"
    if len(fields) != n_cells + 1:
        return f"expected {n_cells + 1} fields (t_s and {n_cells} cell(s)), found {len(fields)}"
    if not re.fullmatch(_NUMBER, fields[0]):
        return f"t_s {fields[0][:20]!r} is not a number"
    bad = next((f for f in fields[1:] if f and not re.fullmatch(_RAW, f)), "?")
    return f"raw value {bad[:20]!r} is not a whole number of counts"


def format_header(platform: PlatformCalibration, meta: dict[str, Any] | None = None) -> str:
    """The lines before the data rows, ending with the column header and a newline."""
    lines = [VERSION_LINE, "# platform: " + json.dumps(platform.to_dict(), separators=(", ", ": "))]
    for key, value in (meta or {}).items():
        if key == "platform" or not re.fullmatch(r"[A-Za-z0-9_.-]+", key):
            raise ValueError(f"bad metadata key {key!r}")
        lines.append(f"# {key}: {' '.join(str(value).split())}")
    lines.append(",".join(["t_s"] + [f"c{i}" for i in range(platform.n_cells)]))
    return "\n".join(lines) + "\n"


def format_column(values: np.ndarray, fmt: str, empty=None) -> np.ndarray:
    """Format numbers as strings; NaN (or ``empty`` values) become empty fields."""
    blank = np.isnan(values) if empty is None else values == empty
    text = np.char.mod(fmt, np.where(blank, 0, values))
    return np.where(blank, "", text)


def join_rows(columns: list[np.ndarray]) -> str:
    """Join string columns into CSV lines, each ending in a newline."""
    if not len(columns[0]):
        return ""
    rows = columns[0]
    for col in columns[1:]:
        rows = np.char.add(np.char.add(rows, ","), col)
    return "\n".join(rows.tolist()) + "\n"


def format_rows(block: Block) -> str:
    """Data rows for ``block``, one line each, MISSING as an empty field."""
    cols = [format_column(block.t_s, "%.4f")]
    cols += [format_column(block.raw[:, c], "%d", empty=MISSING) for c in range(block.n_cells)]
    return join_rows(cols)


class RecordingWriter:
    """Write a recording as rows arrive; the file appears under its name at close.

    Rows go to ``NAME.part`` first and are renamed on ``close()``, so a crash
    or an error leaves a ``.part`` file rather than a truncated file that
    looks complete.
    """

    def __init__(self, path: str | os.PathLike, platform: PlatformCalibration, meta: dict[str, Any] | None = None):
        self.path = Path(path)
        self._part = self.path.with_name(self.path.name + ".part")
        raw = open(self._part, "wb")
        self._file = gzip.GzipFile(fileobj=raw, mode="wb") if self.path.suffix == ".gz" else raw
        self._raw = raw
        self._last_t = -math.inf
        self.rows = 0
        self._file.write(format_header(platform, meta).encode("utf-8"))

    def write(self, block: Block) -> None:
        if len(block) == 0:
            return
        t_text = np.char.mod("%.4f", block.t_s).astype(float)
        keep = np.concatenate([[t_text[0] > self._last_t], np.diff(t_text) > 0])
        if not keep.all():  # rounding to 0.1 ms must not break strict ordering
            block = Block(block.t_s[keep], block.raw[keep])
            t_text = t_text[keep]
        if len(block):
            self._last_t = float(t_text[-1])
            self._file.write(format_rows(block).encode("utf-8"))
            self.rows += len(block)

    def close(self, complete: bool = True) -> None:
        """Finish the file; with ``complete`` False (a failure) leave it as ``NAME.part``."""
        if self._file is None:
            return
        self._file.close()
        if self._file is not self._raw:
            self._raw.close()
        self._file = None
        if complete:
            os.replace(self._part, self.path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(complete=exc_type is None)


def write_recording(path, platform: PlatformCalibration, block: Block, meta: dict[str, Any] | None = None) -> None:
    """Write a whole recording at once."""
    with RecordingWriter(path, platform, meta) as w:
        w.write(block)
