"""Per-cell validity: when a cell stops telling the truth, say so.

A cell is *bad* on a row when it has produced no accepted reading for
``stale_s`` (empty frames, saturated or all-ones frames, a stream of
garbage), or when its raw value is frozen: at least ``frozen_frac`` of the
last ``frozen_s`` worth of consecutive valid readings were exactly equal (a
live HX711 always has a few counts of noise; an isolated glitch in a stuck
stream must not hide the fault). A bad row starts a fault at once; the fault
ends after ``clear_s`` without a bad row, so it does not chatter. Single lost
or garbage frames never last long enough to count.

Arrays are per cell (cells, n). Bad rows are rare, so they are found
sparsely and the per-row latch runs only where a fault is in play.
"""

from __future__ import annotations

import numpy as np

from firmware.filters.vec import ffill, latch


class FaultDetector:
    """Turns per-reading validity into per-cell fault flags (times in seconds)."""

    def __init__(self, n_cells: int, rate_hz: float, stale_s: float = 0.25, frozen_s: float = 0.5,
                 frozen_frac: float = 0.9, clear_s: float = 0.25) -> None:
        if min(stale_s, frozen_s, clear_s) <= 0 or not 0 < frozen_frac <= 1:
            raise ValueError("fault timings must be positive and frozen_frac in (0, 1]")
        self.n_cells = n_cells
        self.stale_s, self.clear_s = stale_s, clear_s
        self.frozen_pairs = max(2, int(round(frozen_s * rate_hz)))
        self.frozen_needed = int(np.ceil(frozen_frac * self.frozen_pairs))
        self.reset()

    def reset(self) -> None:
        n = self.n_cells
        self._t_good = np.full(n, np.nan)        # time of the last accepted reading
        self._t_bad = np.full(n, -np.inf)        # time of the last bad row
        self._fault = np.zeros(n, dtype=bool)
        self._prev_value = np.full(n, np.nan)    # last valid raw value
        self._eq_history = [np.empty(0, dtype=np.int32) for _ in range(n)]
        self._frozen = np.zeros(n, dtype=bool)

    def process(self, t_s: np.ndarray, raw: np.ndarray, valid: np.ndarray,
                accepted: np.ndarray) -> np.ndarray:
        """Return fault flags (cells, n) for this block."""
        fault = np.zeros(raw.shape, dtype=bool)
        if len(t_s) == 0:
            return fault
        self._t_good = np.where(np.isnan(self._t_good), t_s[0], self._t_good)
        for c in range(self.n_cells):
            bad_rows = np.union1d(self._stale_rows(c, t_s, accepted[c]),
                                  self._frozen_rows(c, raw[c], valid[c]))
            if len(bad_rows) == 0 and not self._fault[c]:
                continue
            bad = np.zeros(len(t_s), dtype=bool)
            bad[bad_rows] = True
            t_bad, self._t_bad[c] = ffill(t_s, bad, self._t_bad[c])
            cleared = ~bad & (t_s - t_bad >= self.clear_s)
            fault[c], self._fault[c] = latch(bad, cleared, self._fault[c])
        return fault

    def _stale_rows(self, c: int, t_s: np.ndarray, acc: np.ndarray) -> np.ndarray:
        """Rows without an accepted reading for ``stale_s`` or more."""
        good = np.flatnonzero(acc)
        missing = np.flatnonzero(~acc)
        before = np.searchsorted(good, missing)            # accepted readings before each
        t_good = np.where(before > 0, t_s[good[np.maximum(before - 1, 0)]], self._t_good[c]) \
            if len(good) else np.full(len(missing), self._t_good[c])
        if len(good):
            self._t_good[c] = t_s[good[-1]]
        return missing[t_s[missing] - t_good >= self.stale_s]

    def _frozen_rows(self, c: int, col: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Rows whose cell has read one exact value for most of the last ``frozen_s``."""
        every = bool(valid.all())
        v = col if every else col[valid]
        eq = np.empty(len(v), dtype=np.int32)
        if len(v):
            eq[0] = v[0] == self._prev_value[c]
            np.equal(v[1:], v[:-1], out=eq[1:], casting="unsafe")
            self._prev_value[c] = v[-1]
        k = self.frozen_pairs
        ext = np.concatenate([self._eq_history[c], eq])
        self._eq_history[c] = ext[-(k - 1):]
        csum = np.concatenate([[0], np.cumsum(ext, dtype=np.int32)])
        hist = len(ext) - len(eq)
        end = np.arange(hist + 1, len(ext) + 1)
        counts = csum[end] - csum[np.maximum(end - k, 0)]
        frozen_k = (end >= k) & (counts >= self.frozen_needed)
        if not frozen_k.any() and not self._frozen[c]:
            return np.empty(0, dtype=np.intp)
        per_row, self._frozen[c] = ffill(np.empty(len(col)), valid, self._frozen[c], picked=frozen_k)
        return np.flatnonzero(per_row)
