"""The filter loop: raw HX711 counts in, force and centre of pressure out.

One sample's path: validity (missing, saturated, all-ones frames) →
spike rejection → per-cell fault detection → zero (re-zeroed on the unloaded
start, tracked while unloaded) → newtons per cell → mean of the last two samples → total force
and centre of pressure. Live it takes the rows that just arrived; offline it
takes thousands at once; the output is identical whatever the block size.

While any cell is faulted the total force and the position are undefined
(NaN): a fault is never reported as pressure or position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from calibration.platform import RAW_MAX, RAW_MIN, PlatformCalibration
from firmware.block import MISSING, Block
from firmware.pipeline.filters.smooth import PairMean
from firmware.pipeline.filters.gate import START_READINGS, SpikeGate
from firmware.pipeline.filters.validity import FaultDetector
from firmware.pipeline.filters.vec import ROW_PATH_ROWS
from firmware.pipeline.filters.zero import ZeroTracker


@dataclass(frozen=True)
class FilterSettings:
    """Tunables of the filter loop; units in the names."""

    gate_tol_n: float = 20.0
    gate_big_n: float = 50.0
    min_load_n: float = 30.0
    zero_window_s: float = 0.5
    rezero_limit_n: float = 50.0
    zero_window_steady_n: float = 3.0
    zero_band_n: float = 2.0
    zero_track_s: float = 1.0
    zero_rate_n_s: float = 0.25
    zero_limit_n: float = 10.0
    stale_s: float = 0.25
    frozen_s: float = 0.5
    fault_clear_s: float = 0.25

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"filter setting {f.name} must be a finite number >= 0, not {v!r}")
        if not 0 < self.gate_tol_n <= self.gate_big_n:
            raise ValueError("filter settings need 0 < gate_tol_n <= gate_big_n")
        if min(self.zero_window_s, self.zero_track_s, self.stale_s, self.frozen_s, self.fault_clear_s) <= 0:
            raise ValueError("filter settings' durations must be positive")


@dataclass
class FilterOutput:
    """Per-row results. NaN where undefined (position below ``min_load_n``, faults)."""

    t_s: np.ndarray
    force_n: np.ndarray
    x_mm: np.ndarray
    y_mm: np.ndarray
    cell_force_n: np.ndarray
    fault: np.ndarray          # (n, cells) bool
    rejected: np.ndarray       # (n, cells) bool: the row's frame did not reach the force

    def __len__(self) -> int:
        return len(self.t_s)

    @classmethod
    def concat(cls, outputs: list["FilterOutput"]) -> "FilterOutput":
        """Consecutive blocks' outputs as one."""
        if len(outputs) == 1:
            return outputs[0]
        return cls(*(np.concatenate([getattr(o, f.name) for o in outputs]) for f in fields(cls)))

    @property
    def any_fault(self) -> np.ndarray:
        return self.fault.any(axis=1)


class FilterLoop:
    """Streaming pipeline for one platform; see the module docstring."""

    def __init__(self, platform: PlatformCalibration, settings: FilterSettings | None = None) -> None:
        self.platform = platform
        self.settings = s = settings or FilterSettings()
        cells = platform.cells
        cpn = np.array([c.counts_per_newton for c in cells])
        self._cpn = cpn
        self._pos = np.array([[c.x_mm, c.y_mm] for c in cells])
        self._pos_col = self._pos[:, :, None]
        self._cpn_col = cpn[:, None]
        self._primed = False
        self._has_position = platform.position_dims > 0
        n, rate = platform.n_cells, platform.rate_hz
        self.spike = SpikeGate(s.gate_tol_n * np.abs(cpn), s.gate_big_n * np.abs(cpn))
        # The gate accepts a cell's first reading when the second confirms it: at
        # 10 samples/s that is most of stale_s, and a healthy start must not look stale.
        stale_s = max(s.stale_s, (START_READINGS + 0.5) / rate)
        self.faults = FaultDetector(n, rate, stale_s=stale_s, frozen_s=s.frozen_s, clear_s=s.fault_clear_s)
        # With no stored zero to compare against, the start is always taken as unloaded.
        rezero_limit_n = float("inf") if platform.extra.get("uncalibrated") else s.rezero_limit_n
        self.zero = ZeroTracker([c.offset for c in cells], cpn, rate, window_s=s.zero_window_s,
                                rezero_limit_n=rezero_limit_n, window_steady_n=s.zero_window_steady_n,
                                band_n=s.zero_band_n,
                                track_s=s.zero_track_s, rate_n_s=s.zero_rate_n_s, limit_n=s.zero_limit_n)
        self.smooth = PairMean(n)
        self._last_t_s = -np.inf

    def reset(self) -> None:
        for stage in (self.spike, self.faults, self.zero, self.smooth):
            stage.reset()
        self._last_t_s = -np.inf
        self._primed = False

    def process(self, block: Block) -> FilterOutput:
        """Filter one block; its timestamps must rise strictly, also across blocks."""
        t_s = block.t_s
        n = len(t_s)
        if n:
            self._check_times(t_s)
        if block.n_cells != len(self._cpn):
            raise ValueError(f"block has {block.n_cells} cells, the platform {len(self._cpn)}")
        raw = np.ascontiguousarray(block.raw.T)  # stages work per cell: (cells, n)
        # Empty (MISSING lies below RAW_MIN), saturated and all-ones frames are not readings.
        valid = (raw > RAW_MIN) & (raw < RAW_MAX) & (raw != -1)
        primed = self._primed  # every cell has had a clean reading: no NaN can come
        clean, accepted = self.spike.process(t_s, raw, valid)
        fault = self.faults.process(t_s, raw, valid, accepted)
        zero = self.zero.process(t_s, clean, accepted)
        cell_n = (clean - zero) / self._cpn_col
        unread = None
        if not primed:
            unread = np.isnan(cell_n)
            cell_n[unread] = 0.0  # the low-pass must not see NaN; those rows are blanked below
            self._primed = n > 0 and not unread[:, -1].any()
        cell_n = self.smooth.process(cell_n)
        force_n = _sum_rows(cell_n)
        if unread is not None:
            force_n[np.logical_or.reduce(unread, axis=0)] = np.nan  # no reading yet: unknown, not 0 N
        if fault.any():
            force_n[np.logical_or.reduce(fault, axis=0)] = np.nan
        x_mm, y_mm = self._position(cell_n, force_n)
        if accepted.all():
            rejected = np.zeros(raw.shape, dtype=bool)
        else:
            # A reading counts as rejected once the spike filter is warm and turned it away.
            rejected = (raw != MISSING) & ~accepted & ~np.isnan(clean)
        return FilterOutput(t_s, force_n, x_mm, y_mm, cell_n.T, fault.T, rejected.T)

    def _check_times(self, t_s: np.ndarray) -> None:
        if len(t_s) <= 8:  # live blocks: plain Python is cheaper than numpy here
            times = t_s.tolist()
            ok = times[0] > self._last_t_s and all(a < b for a, b in zip(times, times[1:]))
        else:
            ok = t_s[0] > self._last_t_s and bool((t_s[1:] > t_s[:-1]).all())
        if not ok:
            raise ValueError("sample times must increase strictly (dt <= 0 seen)")
        self._last_t_s = float(t_s[-1])

    def _position(self, cell_n: np.ndarray, force_n: np.ndarray):
        n = len(force_n)
        if n <= ROW_PATH_ROWS:
            return self._position_rows(cell_n, force_n)
        loaded = force_n >= self.settings.min_load_n  # NaN (fault) compares False
        if not self._has_position or not loaded.any():
            return np.full(n, np.nan), np.full(n, np.nan)
        moments = _sum_rows(cell_n[:, None, :] * self._pos_col)  # (2, n): sum of F_i * (x_i, y_i)
        if loaded.all():
            xy = moments / force_n
        else:
            xy = np.full(moments.shape, np.nan)
            np.divide(moments, force_n, out=xy, where=loaded)
        return xy[0], xy[1]


    def _position_rows(self, cell_n: np.ndarray, force_n: np.ndarray):
        """A few live rows in plain Python: the same sums, in the same order, as ``_position``."""
        nan = float("nan")
        xs, ys = [nan] * len(force_n), [nan] * len(force_n)
        if self._has_position:
            px, py = self._pos[:, 0].tolist(), self._pos[:, 1].tolist()
            for i, (f, forces) in enumerate(zip(force_n.tolist(), cell_n.T.tolist())):
                if f >= self.settings.min_load_n:  # NaN (fault) compares False
                    mx, my = forces[0] * px[0], forces[0] * py[0]
                    for c in range(1, len(forces)):
                        mx, my = mx + forces[c] * px[c], my + forces[c] * py[c]
                    xs[i], ys[i] = mx / f, my / f
        return np.array(xs), np.array(ys)


def _sum_rows(a: np.ndarray) -> np.ndarray:
    """Per-sample totals over cells (axis 0), added cell after cell: a reduction over
    the outer axis runs in that order for any block length, unlike BLAS or the
    pairwise sums numpy uses along a contiguous axis."""
    return np.add.reduce(a, axis=0)
