"""Small JSON files in the data directory, written so a crash never loses the old one.

A calibration is written to a temporary file in the same directory, flushed
and fsync'd, then moved over the old file with ``os.replace`` (atomic on
POSIX) and the directory fsync'd. A process killed at any moment leaves
either the complete old file or the complete new one, never a mix. Reading
checks the file and raises ``StoreError`` with a one-line reason.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

#: Calibration files are small; anything bigger is not ours.
MAX_BYTES = 4 * 1024 * 1024


class StoreError(ValueError):
    """A stored file that cannot be read or written; ``str()`` is one line."""


def write_json_atomic(path: str | os.PathLike, data: Any, mode: int | None = 0o644) -> None:
    """Replace ``path`` with ``data`` as JSON, atomically and durably."""
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_text_atomic(path, text, mode, make_parents=True)


def write_text_atomic(path: str | os.PathLike, text: str, mode: int | None = None,
                      make_parents: bool = False) -> None:
    """Replace ``path`` with ``text``: temp file, fsync, rename, fsync the folder.

    ``mode`` None gives an ordinary file (0666 less the umask), not mkstemp's 0600.
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by ``write_json_atomic``; StoreError says what is wrong."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise StoreError(f"{path}: too large to be a calibration file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise StoreError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def default_data_dir(environ: dict | None = None) -> Path:
    """Where Knot Coach keeps its files: ``$STATE_DIRECTORY`` under systemd, else
    the user's data directory (e.g. ~/.local/share/knotcoach)."""
    env = os.environ if environ is None else environ
    state = env.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0])
    from platformdirs import user_data_dir
    return Path(user_data_dir("knotcoach", appauthor=False))
