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
from numpy.lib.stride_tricks import sliding_window_view

from firmware.filters.vec import ffill

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


class SpikeFilter:
    """Per-cell consensus median over the last five valid readings.

    ``tol_counts``: per cell, how far (in raw counts) readings may lie from the
    median and still count as agreeing; set from a plausible force change
    over a few samples.
    """

    def __init__(self, tol_counts) -> None:
        self.tol_counts = np.abs(np.asarray(tol_counts, dtype=np.float64))
        self.reset()

    def reset(self) -> None:
        n = len(self.tol_counts)
        self._history = [np.empty(0, dtype=np.int32) for _ in range(n)]
        self._last = np.full(n, np.nan)

    def process(self, raw: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``raw`` (cells, n) counts, ``valid`` (cells, n) bool.

        Returns (clean counts as float64 (cells, n), NaN before the first good
        reading; accepted (cells, n): the reading was valid and agreed).
        """
        cells, n = raw.shape
        clean = np.empty((cells, n))
        accepted = np.zeros((cells, n), dtype=bool)
        for c in range(cells):
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
            if n:
                self._last[c] = clean[c, -1]
        return clean, accepted

    def _cell(self, c: int, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Clean value (float64, NaN before any) and consensus flag per valid reading."""
        ext = np.concatenate([self._history[c], v])
        self._history[c] = ext[-(WINDOW - 1):]
        m = len(v)
        ok = np.zeros(m, dtype=bool)
        pick = np.zeros(m, dtype=np.int32)
        if len(ext) >= WINDOW and m:
            win = sliding_window_view(ext, WINDOW)[-m:]  # windows ending at each new reading
            first = m - len(win)  # readings at the very start have no full window yet
            s0, s1, s2, s3, s4 = sort5([win[:, j] for j in range(WINDOW)])
            tol = int(self.tol_counts[c])
            # Three of five agree with the median iff its two nearest neighbours in
            # sorted order, on one side or astride it, lie within tol.
            ok[first:] = (((s2 - s1) <= tol) & ((s3 - s2) <= tol)) | ((s2 - s0) <= tol) | ((s4 - s2) <= tol)
            pick[first:] = s2
        # Without a consensus, hold the previous good value.
        out, _ = ffill(pick, ok, self._last[c], dtype=np.float64)
        return out, ok
