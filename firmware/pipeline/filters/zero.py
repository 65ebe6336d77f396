"""Zeroing: what each cell reads with nothing on the platform.

Stored offsets go stale (temperature, creep, a bump) by several newtons'
worth, so like a scale at power-on we re-zero on the unloaded start: the
mean of each cell's clean readings over the first ``window_s``. Until that
window closes the running mean so far stands in (causal, so live and offline
agree). A start that disagrees with the stored offsets by more than
``rezero_limit_n`` (a cell on its own, or all cells together), or whose two
halves differ by more than ``window_steady_n`` (a load being put on), is not
an unloaded platform: the stored offsets are kept.

Afterwards the zero follows drift the way a scale's automatic zero tracking
does (OIML R76): only near zero, only while steady, and slowly. Each time the
total has stayed within ``band_n`` of zero for ``track_s`` without a break,
each cell's zero moves toward that stretch's mean by at most
``rate_n_s * track_s`` and never further than ``limit_n`` from the start zero.
So creep and temperature drift are followed, while a load of a few newtons
lies outside the band and is never taken for zero, however long it stays.

The window sums are sums of whole counts, exact in float64 in any order, so
the array path and the plain-Python path agree to the last bit.
"""

from __future__ import annotations

import math

import numpy as np

from firmware.pipeline.filters.vec import ROW_PATH_ROWS

#: Rows the array path looks ahead with one zero before it looks again.
_CHUNK = 512


class ZeroTracker:
    """Per-cell zero in raw counts, from clean counts (NaN = nothing yet)."""

    def __init__(self, offsets, counts_per_newton, rate_hz: float, window_s: float = 0.5,
                 rezero_limit_n: float = 50.0, window_steady_n: float = 3.0, band_n: float = 2.0,
                 track_s: float = 1.0,
                 rate_n_s: float = 0.25, limit_n: float = 10.0) -> None:
        numbers = (window_s, rezero_limit_n, window_steady_n, band_n, track_s, rate_n_s, limit_n)
        if not all(math.isfinite(v) and v >= 0 for v in numbers) or not (window_s > 0 and track_s > 0):
            raise ValueError("zero settings must be finite and >= 0, and window_s and track_s > 0")
        self.offsets = np.asarray(offsets, dtype=np.float64)
        self.cpn = np.asarray(counts_per_newton, dtype=np.float64)
        self.window_s, self.rezero_limit_n, self.window_steady_n = window_s, rezero_limit_n, window_steady_n
        self.band_n = band_n
        self.track_rows = max(1, int(round(track_s * rate_hz)))
        self._step_counts = (rate_n_s * track_s * np.abs(self.cpn)).tolist()
        self._limit_counts = (limit_n * np.abs(self.cpn)).tolist()
        self._cpn_list = self.cpn.tolist()
        self.reset()

    def reset(self) -> None:
        n = len(self.offsets)
        self._t0 = None
        self._sum = np.zeros(n)
        self._count = np.zeros(n)
        self._sum1, self._count1 = np.zeros(n), np.zeros(n)   # the window's first half alone
        self.zero0 = None                      # start zero once the window closed
        self.rezero_refused = np.zeros(n, dtype=bool)
        self._zero = []                        # the zero now, per cell (counts)
        self._run = 0                          # rows in band since the last update or break
        self._acc = [0.0] * n                  # their clean counts summed, per cell

    @property
    def drift_n(self) -> np.ndarray:
        """How far each cell's zero has moved since the start zero, in newtons."""
        if self.zero0 is None:
            return np.zeros(len(self.offsets))
        return (np.array(self._zero) - self.zero0) / self.cpn

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
            return self._track(clean)
        zero = np.empty(clean.shape)
        zero[:, :k] = self._window(t_s[:k], clean[:, :k], accepted[:, :k])
        if k < n:
            self._close_window()
            zero[:, k:] = self._track(clean[:, k:])
        return zero

    def _window(self, t_s: np.ndarray, clean: np.ndarray, accepted: np.ndarray) -> np.ndarray:
        x = np.where(accepted, clean, 0.0)
        first = t_s < self._t0 + self.window_s / 2
        if first.any():
            self._sum1 = self._sum1 + x[:, first].sum(axis=1)  # whole counts: exact in any order
            self._count1 = self._count1 + accepted[:, first].sum(axis=1)
        csum = self._sum[:, None] + np.cumsum(x, axis=1)
        ccount = self._count[:, None] + np.cumsum(accepted, axis=1)
        self._sum, self._count = csum[:, -1], ccount[:, -1]
        mean = csum / np.maximum(ccount, 1)
        return np.where(ccount > 0, mean, self.offsets[:, None])

    def _close_window(self) -> None:
        count2 = self._count - self._count1
        mean = np.where(self._count > 0, self._sum / np.maximum(self._count, 1), self.offsets)
        shift_n = (mean - self.offsets) / self.cpn
        # Moving: the two halves' means differ (a load being put on); one odd reading
        # among the forty moves its half's mean by a fortieth of itself only.
        both = (self._count1 > 0) & (count2 > 0)
        mean1 = self._sum1 / np.maximum(self._count1, 1)
        mean2 = (self._sum - self._sum1) / np.maximum(count2, 1)
        moving = both & (np.abs((mean2 - mean1) / self.cpn) > self.window_steady_n)
        # Far from the stored offset, on one cell or all of them together (a load lying
        # on the platform spreads over the cells), or moving: not an empty platform.
        far = np.abs(shift_n) > self.rezero_limit_n
        if abs(float(shift_n[~far].sum())) > self.rezero_limit_n or moving.any():
            far[:] = True
        self.rezero_refused = far
        self.zero0 = np.where(self.rezero_refused, self.offsets, mean)
        self._zero0_list = self.zero0.tolist()
        self._zero = list(self._zero0_list)

    def _update(self) -> None:
        """A steady stretch near zero has been seen: move each zero toward its mean."""
        m = self.track_rows
        new = []
        for z, z0, a, step, lim in zip(self._zero, self._zero0_list, self._acc,
                                       self._step_counts, self._limit_counts):
            d = min(step, max(-step, a / m - z))
            new.append(min(z0 + lim, max(z0 - lim, z + d)))
        self._zero = new  # a new list: rows already given out keep the zero they had
        self._run = 0
        self._acc = [0.0] * len(self._acc)

    def _track(self, clean: np.ndarray) -> np.ndarray:
        if clean.shape[1] <= ROW_PATH_ROWS:
            return self._rows(clean)
        return self._array(clean)

    def _rows(self, clean: np.ndarray) -> np.ndarray:
        """A few live rows in plain Python: the same totals, runs and updates as ``_array``."""
        band, m, cpn = self.band_n, self.track_rows, self._cpn_list
        out = []
        changed = False
        for row in zip(*clean.tolist()):
            zero = self._zero
            total = 0.0
            for c, (v, z, k) in enumerate(zip(row, zero, cpn)):
                total = (v - z) / k if c == 0 else total + (v - z) / k
            out.append(zero)
            if abs(total) <= band:  # NaN (nothing read yet) compares False
                self._run += 1
                self._acc = [a + v for a, v in zip(self._acc, row)]
                if self._run == m:
                    self._update()
                    changed = True
            elif self._run:
                self._run, self._acc = 0, [0.0] * len(row)
        if not changed:
            return np.array(self._zero)[:, None]
        return np.array(out).T

    def _array(self, clean: np.ndarray) -> np.ndarray:
        """Many rows: the zero is constant between updates, so look ahead with it,
        find the row where the next steady stretch completes, update, go on."""
        cells, n = clean.shape
        zero = np.empty(clean.shape)
        cpn = self.cpn[:, None]
        i = 0
        while i < n:
            j = min(n, i + _CHUNK)
            z = np.array(self._zero)
            seg = clean[:, i:j]
            inb = np.abs(np.add.reduce((seg - z[:, None]) / cpn, axis=0)) <= self.band_n
            runs = _run_lengths(inb, self._run)
            hit = np.flatnonzero(runs == self.track_rows)
            end = i + int(hit[0]) + 1 if len(hit) else j
            zero[:, i:end] = z[:, None]
            r = int(runs[end - i - 1])
            if r:
                tail = clean[:, end - min(r, end - i):end]
                carry = self._acc if r > end - i else [0.0] * cells
                self._acc = [a + float(s) for a, s in zip(carry, tail.sum(axis=1).tolist())]
            else:
                self._acc = [0.0] * cells
            self._run = r
            if len(hit):
                self._update()
            i = end
        return zero


def _run_lengths(inb: np.ndarray, carry: int) -> np.ndarray:
    """Rows in band so far in the current stretch, at each row (0 where out of band);
    ``carry`` rows of the stretch came before."""
    idx = np.arange(1, len(inb) + 1)
    last_out = np.maximum.accumulate(np.where(inb, 0, idx))
    return np.where(inb, idx - last_out + np.where(last_out == 0, carry, 0), 0)
