"""The stored platform calibration, with the earlier ones kept as history.

One JSON file, ``platform.json`` in the data directory, replaced atomically
(``calibration.files.write_json_atomic``), so a crash or a kill leaves either
the old file or the new one::

    {
      "format": "knotcoach-platform-calibration",
      "version": 1,
      "current": {"calibrated_at": "2026-11-27T11:20:03+00:00",
                  "platform": {"rate_hz": 80.0, "cells": [{"x_mm": 0.0, "y_mm": 0.0,
                               "offset": 12345.6, "counts_per_newton": 421.3}, ...]},
                  "report": {"mass_kg": 5.0, "cop_error_mm": 1.2, ...}},
      "history": [ older entries like "current", newest first, at most MAX_HISTORY ]
    }

Only a finished, checked calibration is ever saved; the date is passed in
(ISO 8601), never read from a clock here. A damaged file is reported
(``StoreError``), never silently replaced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from calibration.files import StoreError, read_json, write_json_atomic
from calibration.platform import CalibrationError, PlatformCalibration

PLATFORM_FILE = "platform.json"
FORMAT = "knotcoach-platform-calibration"
VERSION = 1
MAX_HISTORY = 50


@dataclass(frozen=True)
class StoredCalibration:
    """One calibration as stored: the platform, when, and how it went."""

    platform: PlatformCalibration
    calibrated_at: str
    report: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"calibrated_at": self.calibrated_at, "platform": self.platform.to_dict(), "report": self.report}


def platform_path(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / PLATFORM_FILE


def check_iso8601(text: Any) -> str:
    """The text itself when it is an ISO 8601 date and time, else CalibrationError."""
    try:
        datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise CalibrationError(f"calibration date must be ISO 8601 (e.g. 2026-11-27T11:20:03+00:00), "
                               f"not {text!r}") from None
    return text


def load_all(data_dir: str | os.PathLike) -> tuple[StoredCalibration | None, list[StoredCalibration]]:
    """(current, history newest first); (None, []) when nothing is stored; StoreError when damaged."""
    path = platform_path(data_dir)
    try:
        data = read_json(path)
    except FileNotFoundError:
        return None, []
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StoreError(f"{path}: not a Knot Coach platform calibration")
    if data.get("version") != VERSION:
        raise StoreError(f"{path}: calibration format version {data.get('version')!r} is not supported "
                         f"(this Knot Coach reads version {VERSION})")
    history = data.get("history", [])
    if not isinstance(history, list):
        raise StoreError(f"{path}: history must be a list")
    current = None if data.get("current") is None else _entry(data["current"], path, "current")
    return current, [_entry(h, path, f"history[{i}]") for i, h in enumerate(history)]


def _entry(data: Any, path: Path, where: str) -> StoredCalibration:
    if not isinstance(data, dict):
        raise StoreError(f"{path}: {where} must be an object")
    try:
        when = check_iso8601(data.get("calibrated_at"))
        platform = PlatformCalibration.from_dict(data.get("platform"))
    except CalibrationError as e:
        raise StoreError(f"{path}: {where}: {e}") from None
    report = data.get("report") or {}
    if not isinstance(report, dict):
        raise StoreError(f"{path}: {where}.report must be an object")
    return StoredCalibration(platform, when, report)


def load_platform(data_dir: str | os.PathLike) -> PlatformCalibration | None:
    """The current platform calibration (``extra['calibrated_at']`` set), or None if there is none.

    Raises ``StoreError`` (one line) when the file exists but is damaged.
    """
    current, _ = load_all(data_dir)
    if current is None:
        return None
    p = current.platform
    return PlatformCalibration(p.cells, p.rate_hz, extra={**p.extra, "calibrated_at": current.calibrated_at})


def save_platform(data_dir: str | os.PathLike, platform: PlatformCalibration, calibrated_at: str,
                  report: dict[str, Any] | None = None) -> Path:
    """Make ``platform`` the current calibration; the one it replaces goes first into the history.

    Raises ``StoreError`` when the existing file is damaged (it is left as it
    is) or cannot be written; ``CalibrationError`` for a bad date.
    """
    check_iso8601(calibrated_at)
    try:
        current, history = load_all(data_dir)
    except StoreError as e:
        raise StoreError(f"{e}; not replacing it: move it aside to start a new history") from None
    if current is not None:
        history = [current] + history
    extra = {k: v for k, v in platform.extra.items() if k not in ("calibrated_at", "uncalibrated")}
    # Through the stored form, so what is saved can always be loaded again.
    platform = PlatformCalibration.from_dict(PlatformCalibration(platform.cells, platform.rate_hz, extra).to_dict())
    entry = StoredCalibration(platform, calibrated_at, dict(report or {}))
    data = {"format": FORMAT, "version": VERSION, "current": entry.to_dict(),
            "history": [h.to_dict() for h in history[:MAX_HISTORY]]}
    path = platform_path(data_dir)
    try:
        write_json_atomic(path, data)
    except OSError as e:
        raise StoreError(f"{path}: cannot write: {e.strerror or e}") from None
    return path
