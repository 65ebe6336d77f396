"""Raw captures for calibration: the per-cell counts of the next few seconds of samples.

The device process owns the HX711 boards, so a calibration run elsewhere (the
tablet's platform wizard) asks the device for a window of raw counts, taken
before the filter loop (no zeroing, no scaling, no spike rejection): exactly
what ``calibration.platform_checks.window_stats`` expects. A capture covers
``settle_s`` of sample time that is dropped (the platform stops swaying after
a mass is put down) followed by ``seconds`` that are kept.

Pure: sample times come with the blocks; nothing here reads a clock.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from calibration.platform_checks import window_stats
from firmware.block import Block

#: Shortest and longest window a capture may keep, and the longest settling time, in seconds.
MIN_SECONDS, MAX_SECONDS, MAX_SETTLE_S = 0.5, 10.0, 5.0


class CaptureError(ValueError):
    """A capture that cannot be started or read; ``str()`` is one line."""


def check_seconds(value: Any, name: str, lo: float, hi: float) -> float:
    """A number of seconds from ``lo`` to ``hi`` (JSON from the channel: no bools, no text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= float(value) <= hi:
        raise CaptureError(f"{name} must be a number of seconds from {lo:g} to {hi:g}, not {value!r}")
    return float(value)


class Capture:
    """One capture in progress or done: rows after ``t_start_s + settle_s`` up to ``t_end_s`` are kept.

    ``t_start_s`` is the last sample time seen when it was asked for (None before
    any sample: then it starts just before the first row that comes).
    """

    def __init__(self, capture_id: int, seconds: float, settle_s: float, t_start_s: float | None,
                 rate_hz: float) -> None:
        self.capture_id = int(capture_id)
        self.seconds, self.settle_s = float(seconds), float(settle_s)
        self._half_period_s = 0.5 / rate_hz
        self.t_start_s: float | None = None
        self._kept: list[np.ndarray] = []
        self.n_rows = 0
        self.done = False
        self.t_last_s = t_start_s
        if t_start_s is not None:
            self._begin(t_start_s)

    def _begin(self, t_start_s: float) -> None:
        self.t_start_s = float(t_start_s)
        self.t_keep_s = self.t_start_s + self.settle_s
        # Half a sample period of slack: the window ends at the sample nearest its end.
        self.t_end_s = self.t_keep_s + self.seconds + self._half_period_s

    def add(self, block: Block) -> bool:
        """Take a block's rows (those in the window); True once the window is complete."""
        if self.done or not len(block):
            return self.done
        t = block.t_s
        if self.t_start_s is None:
            self._begin(float(t[0]) - 2 * self._half_period_s)
        t_first_s, self.t_last_s = float(t[0]), float(t[-1])
        if t_first_s > self.t_keep_s and self.t_last_s <= self.t_end_s:  # most blocks: all inside
            first, last = 0, len(t)
        else:
            first = int(np.searchsorted(t, self.t_keep_s, side="right"))
            last = int(np.searchsorted(t, self.t_end_s, side="right"))
        if last > first:
            self._kept.append(block.raw[first:last])
            self.n_rows += last - first
        self.done = self.t_last_s >= self.t_end_s - 2 * self._half_period_s
        return self.done

    @property
    def seconds_left(self) -> float:
        """Sample time still to come before the window is complete."""
        if self.done:
            return 0.0
        if self.t_start_s is None or self.t_last_s is None:
            return self.settle_s + self.seconds
        return max(self.t_end_s - self._half_period_s - self.t_last_s, 0.0)

    def raw(self, n_cells: int) -> np.ndarray:
        """The kept rows (n, cells), counts (``MISSING`` where a cell gave no reading)."""
        if not self._kept:
            return np.empty((0, n_cells), dtype=np.int64)
        if len(self._kept) > 1:
            self._kept = [np.concatenate(self._kept)]
        return self._kept[0]

    def stats(self, n_cells: int) -> dict[str, Any] | None:
        """Per cell: level (trimmed mean), spread (half the 5-95 % range), valid count; None under 5 rows."""
        if self.n_rows < 5:
            return None
        return stats_to_dict(window_stats(self.raw(n_cells)))

    def to_dict(self, n_cells: int, with_rows: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"capture_id": self.capture_id, "done": self.done,
                               "seconds": self.seconds, "settle_s": self.settle_s,
                               "seconds_left": round(self.seconds_left, 3), "n_rows": self.n_rows,
                               "t_start_s": self.t_start_s, "stats": self.stats(n_cells)}
        if with_rows:
            out["raw"] = self.raw(n_cells).tolist()
        return out


def stats_to_dict(stats) -> dict[str, Any]:
    """``WindowStats`` as JSON (NaN as None)."""
    def numbers(values):
        return [None if math.isnan(v) else float(v) for v in np.asarray(values, dtype=np.float64).tolist()]
    return {"level_counts": numbers(stats.level_counts), "spread_counts": numbers(stats.spread_counts),
            "n_valid": [int(v) for v in stats.n_valid], "n_rows": int(stats.n_rows)}


def stats_from_dict(data: Any, n_cells: int):
    """``WindowStats`` back from its JSON form; CaptureError when it is not one for ``n_cells`` cells."""
    from calibration.platform_checks import WindowStats
    if not isinstance(data, dict):
        raise CaptureError("capture stats must be an object")
    try:
        level = np.array([math.nan if v is None else float(v) for v in data["level_counts"]])
        spread = np.array([math.nan if v is None else float(v) for v in data["spread_counts"]])
        n_valid = np.array([int(v) for v in data["n_valid"]], dtype=np.int64)
        n_rows = int(data["n_rows"])
    except (KeyError, TypeError, ValueError):
        raise CaptureError("capture stats need level_counts, spread_counts, n_valid and n_rows") from None
    if not len(level) == len(spread) == len(n_valid) == n_cells:
        raise CaptureError(f"capture stats are for {len(level)} cells, not {n_cells}")
    return WindowStats(level, spread, n_valid, n_rows)
