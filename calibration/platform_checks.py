"""Platform calibration: window statistics, limits, refusals and the tare.

A sampling window of raw rows becomes per-cell ``WindowStats``; the checks
refuse (``Refused`` with a ``kind`` from ``REFUSAL_KINDS``) a window with too
few valid readings or a moving platform, and ``tare`` also refuses a loaded
one. Pure: no clock, no I/O, no hardware.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.platform import RAW_MAX, RAW_MIN, CalibrationError

REFUSAL_KINDS = ("no_readings", "moving", "loaded", "no_change", "sensitivity_ratio", "cop")


class Refused(CalibrationError):
    """A calibration step that cannot be accepted; ``kind`` is one of ``REFUSAL_KINDS``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Limits:
    """Thresholds of the checks; the defaults suit hardware.md's platform."""

    steady_n: float = 0.5            # a cell's spread (half its 5-95 % range) above this: moving
    loaded_n: float = 15.0           # a cell or the total this far from the stored offsets: loaded
    min_valid_fraction: float = 0.2  # fewer valid readings than this share of the rows: no readings
    min_change_counts: float = 50.0  # a loaded cell must change by at least this ...
    min_change_spreads: float = 10.0  # ... and by this many times its spread
    max_sensitivity_ratio: float = 3.0
    max_cop_error_mm: float = 30.0
    drift_n: float = 5.0             # zero drift above this suggests a re-tare


LIMITS = Limits()


# -- readings ---------------------------------------------------------------

@dataclass(frozen=True)
class WindowStats:
    """Per cell over a sampling window: level (trimmed mean), spread and valid count, in counts."""

    level_counts: np.ndarray   # (k,), NaN where no valid reading
    spread_counts: np.ndarray  # (k,), half the 5-95 % range; NaN where no valid reading
    n_valid: np.ndarray        # (k,)
    n_rows: int


def window_stats(raw) -> WindowStats:
    """Statistics of raw rows (n, k); values outside the 24-bit range or at its rails are not readings."""
    raw = np.asarray(raw, dtype=np.int64)
    if raw.ndim != 2:
        raise ValueError("raw must be (rows, cells)")
    k = raw.shape[1]
    level, spread, n_valid = np.full(k, np.nan), np.full(k, np.nan), np.zeros(k, dtype=np.int64)
    for i in range(k):
        col = raw[:, i]
        v = col[(col > RAW_MIN) & (col < RAW_MAX)].astype(np.float64)
        n_valid[i] = len(v)
        if len(v):
            lo, hi = np.percentile(v, [5.0, 95.0])
            level[i] = float(np.mean(v[(v >= lo) & (v <= hi)]))
            spread[i] = (hi - lo) / 2.0
    return WindowStats(level, spread, n_valid, int(raw.shape[0]))


def check_readings(stats: WindowStats, what: str, limits: Limits = LIMITS) -> None:
    """Refuse (``no_readings``) when a cell gave too few valid readings."""
    need = max(5, math.ceil(limits.min_valid_fraction * stats.n_rows))
    dead = [i for i, n in enumerate(stats.n_valid) if n < need]
    if dead:
        which = ", ".join(f"cell {i} ({int(stats.n_valid[i])} of {stats.n_rows})" for i in dead)
        raise Refused("no_readings", f"{what}: no valid readings from {which}: check its wiring and HX711 board")


def spread_n(stats: WindowStats, counts_per_newton) -> np.ndarray:
    return stats.spread_counts / np.abs(np.asarray(counts_per_newton, dtype=np.float64))


def check_steady(stats: WindowStats, counts_per_newton, what: str, limits: Limits = LIMITS) -> None:
    """Refuse (``moving``) when a cell's spread exceeds ``limits.steady_n``."""
    s = spread_n(stats, counts_per_newton)
    i = int(np.nanargmax(s))
    if s[i] > limits.steady_n:
        raise Refused("moving", f"{what}: the platform is moving (cell {i} varies by +/-{s[i]:.1f} N, "
                      f"more than {limits.steady_n:g} N): keep it still and try again")


def tare(stats: WindowStats, counts_per_newton, stored_offsets=None, limits: Limits = LIMITS) -> tuple[float, ...]:
    """Offsets (counts) from a window of the empty platform, after the checks.

    ``counts_per_newton``: the best known sensitivities (to express spreads
    and shifts in newtons); ``stored_offsets``: those of a previous
    calibration, for the loaded check, or None to skip it.
    """
    check_readings(stats, "tare", limits)
    check_steady(stats, counts_per_newton, "tare", limits)
    if stored_offsets is not None:
        shift_n = (stats.level_counts - np.asarray(stored_offsets, dtype=np.float64)) / np.asarray(
            counts_per_newton, dtype=np.float64)
        i = int(np.argmax(np.abs(shift_n)))
        total = float(np.sum(shift_n))
        if abs(shift_n[i]) > limits.loaded_n or abs(total) > limits.loaded_n:
            raise Refused("loaded", f"tare: the platform seems loaded: cell {i} reads {shift_n[i]:+.1f} N and "
                          f"all cells {total:+.1f} N against the stored calibration (limit {limits.loaded_n:g} N): "
                          "take everything off it")
    return tuple(float(v) for v in stats.level_counts)
