"""Zeroing: what each cell reads with nothing on the platform.

Stored offsets go stale (temperature, creep, a bump) by several newtons'
worth, so like a scale at power-on we re-zero on the unloaded start: the
mean of each cell's clean readings over the first ``window_s``. Until that
window closes the running mean so far stands in (causal, so live and offline
agree). A start that disagrees with the stored offset by more than
``rezero_limit_n`` is not an unloaded platform: the stored offset is kept.

Afterwards the zero follows slow drift while the platform is unloaded and
has been for ``settle_s``: an exponential average with time constant
``tau_s``, never further than ``limit_n`` per cell from the start zero.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from firmware.pipeline.filters.vec import ROW_PATH_ROWS, ffill



class ZeroTracker:
    """Per-cell zero in raw counts, from clean counts (NaN = nothing yet)."""

    def __init__(self, offsets, counts_per_newton, rate_hz: float, window_s: float = 0.5,
                 rezero_limit_n: float = 50.0, unloaded_n: float = 20.0, settle_s: float = 1.0,
                 tau_s: float = 10.0, limit_n: float = 5.0) -> None:
        self.offsets = np.asarray(offsets, dtype=np.float64)
        self.cpn = np.asarray(counts_per_newton, dtype=np.float64)
        self.window_s, self.rezero_limit_n = window_s, rezero_limit_n
        self.unloaded_n, self.settle_s, self.limit_n = unloaded_n, settle_s, limit_n
        self.alpha = min(1.0, 1.0 / (tau_s * rate_hz))
        self.reset()

    def reset(self) -> None:
        n = len(self.offsets)
        self._t0 = None
        self._sum = np.zeros(n)
        self._count = np.zeros(n)
        self.zero0 = None                      # start zero once the window closed
        self.rezero_refused = np.zeros(n, dtype=bool)
        self._t_loaded = -np.inf
        self._zi = np.zeros((n, 1))
        self._drift = np.zeros(n)              # tracked counts relative to zero0

    @property
    def drift_n(self) -> np.ndarray:
        """How far each cell's zero has moved since the start zero, in newtons."""
        return self._drift / self.cpn

    @property
    def start_shift_n(self) -> np.ndarray:
        """How far the start zero lies from the stored offset, in newtons."""
        z = self.offsets if self.zero0 is None else self.zero0
        return (z - self.offsets) / self.cpn

    def process(self, t_s: np.ndarray, clean: np.ndarray, accepted: np.ndarray) -> np.ndarray:
        """Return the zero in counts, (cells, n) or broadcastable (cells, 1)."""
        n = len(t_s)
        if n == 0:
            return np.empty(clean.shape)
        if self._t0 is None:
            self._t0 = t_s[0]
        k = 0
        if self.zero0 is None:  # the start window is a prefix of the stream
            k = int(np.searchsorted(t_s, self._t0 + self.window_s, side="left"))
        if k == 0:
            if self.zero0 is None:
                self._close_window()
            return self._track(t_s, clean)
        zero = np.empty(clean.shape)
        zero[:, :k] = self._window(clean[:, :k], accepted[:, :k])
        if k < n:
            self._close_window()
            zero[:, k:] = self._track(t_s[k:], clean[:, k:])
        return zero

    def _window(self, clean: np.ndarray, accepted: np.ndarray) -> np.ndarray:
        x = np.where(accepted, clean, 0.0)
        csum = self._sum[:, None] + np.cumsum(x, axis=1)
        ccount = self._count[:, None] + np.cumsum(accepted, axis=1)
        self._sum, self._count = csum[:, -1], ccount[:, -1]
        mean = csum / np.maximum(ccount, 1)
        return np.where(ccount > 0, mean, self.offsets[:, None])

    def _close_window(self) -> None:
        mean = np.where(self._count > 0, self._sum / np.maximum(self._count, 1), self.offsets)
        shift_n = np.abs((mean - self.offsets) / self.cpn)
        self.rezero_refused = shift_n > self.rezero_limit_n
        self.zero0 = np.where(self.rezero_refused, self.offsets, mean)
        self._zero0_list = self.zero0.tolist()
        self._cpn_list = self.cpn.tolist()
        self._zero_col = (self.zero0 + self._drift)[:, None]

    def _quiet_rows(self, t_s: np.ndarray, clean: np.ndarray) -> bool:
        """A few live rows in plain Python: True (state updated) when no row is a
        steady unloaded one, so the zero stays put; False changes nothing and the
        array path does the tracking. Same sums, in the same order, as ``_track``."""
        zero0, cpn, limit = self._zero0_list, self._cpn_list, self.unloaded_n
        t_loaded = self._t_loaded
        for t, row in zip(t_s.tolist(), zip(*clean.tolist())):
            total = 0.0
            for c, (v, z, k) in enumerate(zip(row, zero0, cpn)):
                total = (v - z) / k if c == 0 else total + (v - z) / k
            if not abs(total) < limit:  # loaded (or unknown)
                t_loaded = t
            elif t - t_loaded >= self.settle_s:
                return False
        self._t_loaded = t_loaded
        return True

    def _track(self, t_s: np.ndarray, clean: np.ndarray) -> np.ndarray:
        if clean.shape[1] <= ROW_PATH_ROWS and self._quiet_rows(t_s, clean):
            return self._zero_col
        # Newtons above the start zero, summed over cells (row by row, so the
        # rounding does not depend on the block length).
        total_n = np.add.reduce((clean - self.zero0[:, None]) / self.cpn[:, None], axis=0)
        unloaded = np.abs(total_n) < self.unloaded_n   # NaN compares False: not unloaded
        if not unloaded.any():  # someone is on the platform: nothing to track
            self._t_loaded = t_s[-1]
            return self._zero_col
        t_loaded, _ = ffill(t_s, ~unloaded, self._t_loaded)
        steady = unloaded & (t_s - t_loaded >= self.settle_s)
        if not unloaded.all():
            self._t_loaded = t_s[np.flatnonzero(~unloaded)[-1]]
        rows = np.flatnonzero(steady)
        if len(rows) == 0:
            return self._zero_col
        a = self.alpha
        rel = clean[:, rows] - self.zero0[:, None]
        y, self._zi = lfilter([a], [1.0, a - 1.0], rel, axis=1, zi=self._zi)
        limit = (self.limit_n * np.abs(self.cpn))[:, None]
        y = np.clip(y, -limit, limit)
        drift = np.empty(clean.shape)
        for c in range(len(self.cpn)):
            drift[c], self._drift[c] = ffill(drift[c], steady, self._drift[c], picked=y[c])
        self._zero_col = (self.zero0 + self._drift)[:, None]
        return self.zero0[:, None] + drift
