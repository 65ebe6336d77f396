"""Spike rejection: garbage HX711 frames never reach the force.

Real boards emit single wild frames (bit slips, sign errors, a misread
0x7FFFFF / 0x3FFFFF / ...), sometimes two in a row (see
shared/realdata). Per cell, over its last five valid readings, we take the
median and ask for a consensus: at least three of the five within
``tol_counts`` of it. With a consensus the median is the clean value;
without one the last good value is held. A median of five never passes a
lone or paired outlier, however small (a sign slip of a few newtons is as
false as a wild one), at the cost of two samples (25 ms at 80/s) of lag on
a ramp. Random garbage values almost never agree with each other, so even
three garbage frames in five do not get through.

Arrays are per cell (cells, n): one contiguous row of samples per cell.
"""

from __future__ import annotations

import numpy as np

from firmware.pipeline.filters.vec import ROW_PATH_ROWS, ffill

WINDOW = 5
#: Compare-exchange pairs of an optimal 5-input sorting network (9 comparators).
_NETWORK_5 = ((0, 1), (3, 4), (2, 4), (2, 3), (1, 4), (0, 3), (0, 2), (1, 3), (1, 2))


def sort5(columns: list[np.ndarray]) -> list[np.ndarray]:
    """Element-wise sort of five equal-length arrays (ascending), by a sorting network."""
    v = list(columns)
    for i, j in _NETWORK_5:
        lo = np.minimum(v[i], v[j])
        v[j] = np.maximum(v[i], v[j])
        v[i] = lo
    return v


def median5(columns: list[np.ndarray]) -> np.ndarray:
    """Element-wise median of five equal-length arrays."""
    return sort5(columns)[2]


#: Up to this many new readings, windows are gathered and sorted with np.sort.
SMALL_BLOCK = 64
_WINDOW_INDEX: dict[tuple[int, int], np.ndarray] = {}


def _window_index(m: int, first: int) -> np.ndarray:
    """(m, 5) positions of the windows of five ending at each of m readings."""
    key = (m, first)
    idx = _WINDOW_INDEX.get(key)
    if idx is None:
        idx = _WINDOW_INDEX[key] = first + np.arange(m)[:, None] + np.arange(WINDOW)[None, :]
    return idx


def consensus_median(ext: np.ndarray, m: int, tol) -> tuple[np.ndarray, np.ndarray]:
    """Median and consensus of the windows of five ending at each of the last ``m``
    values along the last axis of ``ext`` (which holds at least m + 4 values).

    Three of five agree with the median iff its two nearest neighbours in
    sorted order, on one side or astride it, lie within ``tol``.
    """
    width = ext.shape[-1]
    if m <= SMALL_BLOCK:  # live: few numpy calls matter more than few operations
        srt = np.sort(ext[..., _window_index(m, width - m - (WINDOW - 1))], axis=-1)
        med = srt[..., 2]
        ok = (np.abs(srt - med[..., None]) <= tol[..., None]).sum(axis=-1) >= 3
        return med, ok
    cols = [ext[..., width - m - (WINDOW - 1) + j: width - (WINDOW - 1) + j] for j in range(WINDOW)]
    s0, s1, s2, s3, s4 = sort5(cols)
    ok = (((s2 - s1) <= tol) & ((s3 - s2) <= tol)) | ((s2 - s0) <= tol) | ((s4 - s2) <= tol)
    return s2, ok


class SpikeFilter:
    """Per-cell consensus median over the last five valid readings.

    ``tol_counts``: per cell, how far (in raw counts) readings may lie from the
    median and still count as agreeing; set from a plausible force change
    over a few samples.
    """

    def __init__(self, tol_counts) -> None:
        self.tol_counts = np.abs(np.asarray(tol_counts, dtype=np.float64))
        self._tol_int = self.tol_counts.astype(np.int32)
        self._tol_col = self._tol_int[:, None]
        self._tol_list = self._tol_int.tolist()
        self.reset()

    def reset(self) -> None:
        n = len(self.tol_counts)
        # The last four valid readings per cell, oldest first, as plain lists:
        # the live path touches them per reading.
        self._history: list[list[int]] = [[] for _ in range(n)]
        self._last = np.full(n, np.nan)
        self._warm = False  # every cell has four readings of history
        self._all = np.arange(n)
        self._all_set = set(range(n))

    def process(self, raw: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``raw`` (cells, n) counts, ``valid`` (cells, n) bool.

        Returns (clean counts as float64 (cells, n), NaN before the first good
        reading; accepted (cells, n): the reading was valid and agreed).
        """
        cells, n = raw.shape
        clean = np.empty((cells, n))
        accepted = np.zeros((cells, n), dtype=bool)
        if n == 0:
            return clean, accepted
        if n <= ROW_PATH_ROWS:
            return self._rows(raw, valid)
        # Cells whose readings are all valid, with a full history, go together.
        if self._warm and valid.all():
            together = self._all
        else:
            full = np.array([len(h) == WINDOW - 1 for h in self._history])
            self._warm = bool(full.all())
            together = np.flatnonzero(valid.all(axis=1) & full)
        done = self._together(raw, together, clean, accepted) if len(together) else ()
        if len(done) == cells:
            return clean, accepted
        for c in range(cells):
            if c in done:
                continue
            vc = valid[c]
            every = bool(vc.all())
            # Raw values fit 24 bits, so int32 is exact and faster than int64.
            v = (raw[c] if every else raw[c, vc]).astype(np.int32)
            out_k, ok_k = self._cell(c, v)
            if every:
                clean[c] = out_k
                accepted[c] = ok_k
            else:
                # Rows without a valid reading hold the last clean value.
                clean[c], _ = ffill(np.empty(n), vc, self._last[c], picked=out_k)
                accepted[c, vc] = ok_k
            self._last[c] = clean[c, -1]
        return clean, accepted

    def _rows(self, raw: np.ndarray, valid: np.ndarray):
        """Live blocks of a few rows in plain Python, where numpy's cost per call
        would dominate: the same medians, consensus and holds as the array path."""
        history = self._history
        last = self._last.tolist()
        clean, accepted = [], []
        for c, (h, tol, values, ok_in) in enumerate(zip(history, self._tol_list, raw.tolist(), valid.tolist())):
            out, acc, held = [], [], last[c]
            for v, ok in zip(values, ok_in):
                agree = False
                if ok:
                    h.append(v)
                    if len(h) == WINDOW:
                        s0, s1, med, s3, s4 = sorted(h)
                        agree = 1 + (med - s0 <= tol) + (med - s1 <= tol) + (s3 - med <= tol) + (s4 - med <= tol) >= 3
                        if agree:
                            held = float(med)
                        del h[0]
                out.append(held)
                acc.append(agree)
            clean.append(out)
            accepted.append(acc)
            last[c] = held
        self._last = np.array(last)
        return np.array(clean), np.array(accepted, dtype=bool)

    def _together(self, raw, cells, clean, accepted) -> set:
        """Cells ``cells`` at once; those whose readings all agree are finished here
        (returned); a cell that needs a hold is left for the per-cell path."""
        whole = len(cells) == raw.shape[0]
        sub = raw if whole else raw[cells]
        history = np.array([self._history[c] for c in cells.tolist()], dtype=np.int32)
        ext = np.concatenate([history, sub.astype(np.int32)], axis=1)
        med, ok = consensus_median(ext, sub.shape[1], self._tol_col if whole else self._tol_col[cells])
        if whole and ok.all():  # the usual live block: no fancy indexing needed
            self._history = ext[:, -(WINDOW - 1):].tolist()
            clean[:] = med
            accepted[:] = True
            self._last = clean[:, -1].copy()
            return self._all_set
        good = ok.all(axis=1)
        cells, ext, med = cells[good], ext[good], med[good]
        for c, h in zip(cells.tolist(), ext[:, -(WINDOW - 1):].tolist()):
            self._history[c] = h
        clean[cells] = med
        accepted[cells] = True
        self._last[cells] = med[:, -1]
        return set(cells.tolist())

    def _cell(self, c: int, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Clean value (float64, NaN before any) and consensus flag per valid reading."""
        ext = np.concatenate([np.array(self._history[c], dtype=np.int32), v])
        m = len(v)
        keep = min(len(ext), WINDOW - 1)
        self._history[c] = ext[len(ext) - keep:].tolist()
        ok = np.zeros(m, dtype=bool)
        pick = np.zeros(m, dtype=np.int32)
        full = min(m, len(ext) - (WINDOW - 1))  # readings with a full window of five
        if full > 0:
            med, agree = consensus_median(ext, full, self._tol_int[c])
            ok[m - full:] = agree
            pick[m - full:] = med
        # Without a consensus, hold the previous good value.
        out, _ = ffill(pick, ok, self._last[c], dtype=np.float64)
        return out, ok
