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

from firmware.pipeline.filters.vec import ROW_PATH_ROWS, ffill, latch



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
        # Per cell, whether each of the last k-1 valid readings equalled the one
        # before (oldest first), as plain lists: the live path touches them per reading.
        self._eq: list[list[int]] = [[] for _ in range(n)]
        self._frozen = np.zeros(n, dtype=bool)
        self._started = False
        self._history_full = False
        self._all = np.arange(n)
        self._all_set = set(range(n))

    def process(self, t_s: np.ndarray, raw: np.ndarray, valid: np.ndarray,
                accepted: np.ndarray) -> np.ndarray:
        """Return fault flags (cells, n) for this block."""
        fault = np.zeros(raw.shape, dtype=bool)
        if len(t_s) == 0:
            return fault
        if not self._started:
            self._t_good[:] = t_s[0]  # "no good reading yet" counts from the first row
            self._started = True
        if len(t_s) <= ROW_PATH_ROWS:
            return self._rows(t_s, raw, valid, accepted)
        k = self.frozen_pairs
        if not self._history_full:
            self._history_full = all(len(h) == k - 1 for h in self._eq)
        if self._history_full and accepted.all() and not self._fault.any() and not self._frozen.any():
            cells = self._all  # every cell at once
        else:
            full = np.array([len(h) == k - 1 for h in self._eq])
            cells = np.flatnonzero(accepted.all(axis=1) & ~self._fault & ~self._frozen & full)
        quiet = self._quiet(raw, cells, t_s[-1]) if len(cells) else ()
        if len(quiet) == self.n_cells:
            return fault
        for c in range(self.n_cells):
            if c in quiet:
                continue
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

    def _rows(self, t_s, raw, valid, accepted) -> np.ndarray:
        """Live blocks of a few rows in plain Python, where numpy's cost per call
        would dominate: the same stale, frozen and latch logic as the array path."""
        k, needed = self.frozen_pairs, self.frozen_needed
        times = t_s.tolist()
        out = []
        for c, (values, ok_in, acc_in) in enumerate(zip(raw.tolist(), valid.tolist(), accepted.tolist())):
            h = self._eq[c]
            count = sum(h)
            prev, t_good, t_bad = float(self._prev_value[c]), float(self._t_good[c]), float(self._t_bad[c])
            frozen, fault = bool(self._frozen[c]), bool(self._fault[c])
            flags = []
            for t, v, ok, acc in zip(times, values, ok_in, acc_in):
                stale = False
                if acc:
                    t_good = t
                else:
                    stale = t - t_good >= self.stale_s
                if ok:
                    e = 1 if v == prev else 0
                    prev = v
                    frozen = len(h) + 1 >= k and count + e >= needed  # h holds the k-1 before
                    h.append(e)
                    count += e
                    if len(h) > k - 1:
                        count -= h.pop(0)
                if stale or frozen:
                    t_bad, fault = t, True
                elif t - t_bad >= self.clear_s:
                    fault = False
                flags.append(fault)
            out.append(flags)
            self._prev_value[c], self._t_good[c], self._t_bad[c] = prev, t_good, t_bad
            self._frozen[c], self._fault[c] = frozen, fault
        return np.array(out, dtype=bool)

    def _quiet(self, raw: np.ndarray, cells: np.ndarray, t_last: float):
        """Cells ``cells`` (every reading accepted, no fault) at once. Those that cannot
        be frozen are finished here and returned; the rest keep their state."""
        k = self.frozen_pairs
        whole = len(cells) == self.n_cells
        sub = raw if whole else raw[cells]
        prev = np.concatenate([self._prev_value[cells, None], sub[:, :-1]], axis=1)
        history = np.array([self._eq[c] for c in cells.tolist()], dtype=np.int32)
        ext = np.concatenate([history, (sub == prev).astype(np.int32)], axis=1)
        # Cheap bound first: too few repeats in reach to make any window frozen.
        calm = ext.sum(axis=1) < self.frozen_needed
        if not calm.all():
            calm |= ~_frozen_flags(ext, sub.shape[1], k, self.frozen_needed).any(axis=1)
            if not calm.all():
                cells, ext, sub = cells[calm], ext[calm], sub[calm]
        for c, h in zip(cells.tolist(), ext[:, -(k - 1):].tolist()):
            self._eq[c] = h
        self._prev_value[cells] = sub[:, -1]
        self._t_good[cells] = t_last
        return self._all_set if len(cells) == self.n_cells else set(cells.tolist())

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
        ext = np.concatenate([np.array(self._eq[c], dtype=np.int32), eq])
        self._eq[c] = ext[max(0, len(ext) - (k - 1)):].tolist()
        frozen_k = _frozen_flags(ext, len(eq), k, self.frozen_needed)
        if not frozen_k.any() and not self._frozen[c]:
            return np.empty(0, dtype=np.intp)
        per_row, self._frozen[c] = ffill(np.empty(len(col)), valid, self._frozen[c], picked=frozen_k)
        return np.flatnonzero(per_row)


def _frozen_flags(ext: np.ndarray, m: int, k: int, needed: int) -> np.ndarray:
    """For the last ``m`` entries along the last axis of ``ext`` (equal-to-previous
    flags), whether at least ``needed`` of the ``k`` flags ending there are set."""
    width = ext.shape[-1]
    zeros = np.zeros(ext.shape[:-1] + (1,), dtype=np.int32)
    csum = np.concatenate([zeros, np.cumsum(ext, axis=-1, dtype=np.int32)], axis=-1)
    end = np.arange(width - m + 1, width + 1)
    counts = csum[..., end] - csum[..., np.maximum(end - k, 0)]
    return (end >= k) & (counts >= needed)
