"""Spike gate: a good HX711 reading is used at once; only a suspect one waits.

Real boards emit wild frames (bit slips, sign and top-byte errors, a misread
0x3FFFFF / 0x1FFFFF / 0, see shared/realdata), one at a time or two in a row.
Per cell, each valid reading is compared with where the cell's signal was
heading: the last accepted reading plus its slope over the time since. A
reading within ``tol_counts`` of that prediction is accepted on the spot, so a
press is seen on the very sample it shows up in, ramps of any speed included.
A reading off the prediction is *suspect*: it is held back (the last accepted
value stands) until the next reading decides. Back near the prediction: the
suspect was a spike and is dropped. Within ``tol_counts`` of the suspect, or
of the line from the last accepted reading through it (and not exactly equal
to it: a live HX711 always has a few counts of noise, a repeated misread
value has none): the signal really moved — a step, or a ramp that started
abruptly, like a tap — and is accepted from that reading on. A jump beyond
``big_counts`` (no press moves a cell that far in one sample; a bit slip
does), or a reading of exactly a misread value, needs two confirmations and
is never confirmed by a line through it. Anything else
replaces the suspect. A stream of garbage therefore never gets through and is
left to the fault detector, which sees no accepted readings.

The first readings have nothing to be predicted from: the first is a suspect
that the second must confirm. Times must rise strictly (``FilterLoop`` checks).

Arrays are per cell (cells, n). The plain-Python ``_step`` is the rule; the
array path computes the same predictions for runs of accepted readings in
numpy (the same operations in the same order, so the same numbers) and hands
each suspect, and the few readings after it, to ``_step``.
"""

from __future__ import annotations

import numpy as np

from calibration.platform import MISREAD_VALUES as RAW_MISREADS

from firmware.pipeline.filters.vec import ROW_PATH_ROWS, ffill

NAN = float("nan")
#: A reading of exactly a value a misread frame takes is always a suspect, however
#: near the signal (the saturated and all-ones ones are not readings at all).
MISREAD_VALUES = frozenset(float(v) for v in RAW_MISREADS)
_MISREAD_ARRAY = np.array(sorted(MISREAD_VALUES))
#: Readings a cell needs before the first is accepted (the first waits for the second).
START_READINGS = 2


class SpikeGate:
    """Per-cell prediction gate with confirmation of suspects; see the module docstring.

    ``tol_counts``: per cell, how far (raw counts) a reading may lie from the
    prediction, or from a suspect it confirms. ``big_counts``: per cell, a
    jump this far off the prediction needs two confirmations (default 2.5 x tol).
    """

    def __init__(self, tol_counts, big_counts=None) -> None:
        tol = np.atleast_1d(np.asarray(tol_counts, dtype=np.float64))
        big = 2.5 * tol if big_counts is None else np.asarray(big_counts, dtype=np.float64)
        if big.shape not in ((), tol.shape):
            raise ValueError(f"big_counts needs one value or one per cell ({len(tol)}), not {big.shape}")
        big = np.broadcast_to(big, tol.shape)
        if not (np.isfinite(tol).all() and (tol > 0).all() and np.isfinite(big).all() and (big >= tol).all()):
            raise ValueError("the gate's tolerances must be finite, positive and big_counts >= tol_counts")
        self._tol, self._big = tol.tolist(), big.tolist()
        self.reset()

    def reset(self) -> None:
        n = len(self._tol)
        self._ref = [NAN] * n        # last accepted reading (counts); also the held clean value
        self._t_ref = [NAN] * n
        self._slope = [0.0] * n      # counts per second at the last accepted reading
        self._pend = [None] * n      # the suspect reading, if any
        self._t_pend = [NAN] * n
        self._need = [1] * n         # confirmations the suspect needs
        self._got = [0] * n
        # True when (ref, slope) are the last two valid readings' value and slope:
        # then the array path's prediction for the next reading is exact.
        self._sync = [False] * n
        self._prev_ok = [False] * n  # the previous valid reading was accepted
        # (ref, t_ref, slope) before the last accepted reading: the line to return to
        # if that reading turns out to have been a small glitch.
        self._before = [(NAN, NAN, 0.0)] * n

    def _step(self, c: int, t: float, v: float) -> bool:
        """One valid reading ``v`` (counts) of cell ``c`` at ``t`` s; True if accepted."""
        ref = self._ref[c]
        need = 1
        if v in MISREAD_VALUES:  # however near the signal: confirmed twice, or not at all
            need = 2
        elif ref == ref:  # predict from the accepted readings
            t_ref, slope = self._t_ref[c], self._slope[c]
            err = abs(v - (ref + slope * (t - t_ref)))
            if err <= self._tol[c]:
                self._before[c] = (ref, t_ref, slope)
                self._slope[c] = (v - ref) / (t - t_ref)
                self._sync[c] = self._prev_ok[c]
                return self._accept(c, t, v)
            # Off the line, but on the one before the last accepted reading: that
            # reading was a small glitch (within tol): go on from the one before it.
            r0, t0, s0 = self._before[c]
            if self._prev_ok[c] and abs(v - (r0 + s0 * (t - t0))) <= self._tol[c]:
                self._before[c] = (ref, t_ref, slope)
                self._slope[c] = (v - r0) / (t - t0)
                self._sync[c] = False
                return self._accept(c, t, v)
            if err > self._big[c]:
                need = 2
        p = self._pend[c]
        if p is not None and v != p and self._confirms(c, t, v, p):
            got = self._got[c] + 1
            if got >= self._need[c]:
                self._before[c] = (p, self._t_pend[c], self._slope[c])
                self._slope[c] = (v - p) / (t - self._t_pend[c])
                self._sync[c] = True  # the suspect was the reading just before
                return self._accept(c, t, v)
            self._got[c] = got
        else:
            self._need[c], self._got[c] = need, 0
        self._pend[c], self._t_pend[c] = v, t
        self._sync[c] = self._prev_ok[c] = False
        return False

    def _confirms(self, c: int, t: float, v: float, p: float) -> bool:
        """Whether ``v`` confirms the suspect ``p``: it stays at its level (a step), or
        goes on from the last accepted reading through ``p`` (a sudden start of a
        ramp, like a tap). A spike is followed by neither."""
        tol = self._tol[c]
        if abs(v - p) <= tol:
            return True
        ref = self._ref[c]
        if ref != ref or self._need[c] > 1:  # no line through a jump no press makes
            return False
        t_p = self._t_pend[c]
        return abs(v - (p + (p - ref) / (t_p - self._t_ref[c]) * (t - t_p))) <= tol

    def _accept(self, c: int, t: float, v: float) -> bool:
        self._ref[c], self._t_ref[c] = v, t
        self._pend[c] = None
        self._prev_ok[c] = True
        return True

    def process(self, t_s: np.ndarray, raw: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``t_s`` (n,) seconds, ``raw`` (cells, n) counts, ``valid`` (cells, n) bool.

        Returns (clean counts as float64 (cells, n): the last accepted reading,
        NaN before the first; accepted (cells, n): the reading was used).
        """
        cells, n = raw.shape
        if n == 0:
            return np.empty((cells, 0)), np.zeros((cells, 0), dtype=bool)
        if n <= ROW_PATH_ROWS:
            return self._rows(t_s.tolist(), raw.tolist(), valid.tolist())
        clean = np.empty((cells, n))
        accepted = np.zeros((cells, n), dtype=bool)
        every = valid.all(axis=1).tolist()
        for c in range(cells):
            held = self._ref[c]
            if every[c]:
                acc = self._cell(c, t_s, raw[c].astype(np.float64))
                accepted[c] = acc
            else:
                vc = valid[c]
                accepted[c, vc] = self._cell(c, t_s[vc], raw[c, vc].astype(np.float64))
            clean[c], _ = ffill(raw[c].astype(np.float64), accepted[c], held)
        return clean, accepted

    def _rows(self, times: list, raw: list, valid: list):
        """A few live rows in plain Python: ``_step`` for each valid reading."""
        clean, accepted = [], []
        for c, (values, oks) in enumerate(zip(raw, valid)):
            out, acc = [], []
            for t, v, ok in zip(times, values, oks):
                a = ok and self._step(c, t, float(v))
                out.append(self._ref[c])
                acc.append(a)
            clean.append(out)
            accepted.append(acc)
        return np.array(clean, dtype=np.float64), np.array(accepted, dtype=bool)

    def _cell(self, c: int, t: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Accepted flags for one cell's valid readings ``v`` at ``t``."""
        m = len(v)
        acc = np.ones(m, dtype=bool)
        if m == 0:
            return acc
        ok, slopes = self._predicted_ok(c, t, v)
        times, values = t.tolist(), v.tolist()
        bad = np.flatnonzero(~ok).tolist()  # where a prediction fails, found once
        b = 0
        k = 0
        while k < m:
            if self._sync[c] and self._pend[c] is None:
                while b < len(bad) and bad[b] < k:
                    b += 1
                if b == len(bad):
                    self._commit(c, times, values, slopes, m - 1, k)
                    break
                j = bad[b]
                if j > k:
                    self._commit(c, times, values, slopes, j - 1, k)
                k = j
            # A suspect, or a state the array predictions do not describe: step
            # until the state is back in sync, then return to the array path.
            while k < m:
                acc[k] = self._step(c, times[k], values[k])
                k += 1
                if self._sync[c]:
                    break
        return acc

    def _predicted_ok(self, c: int, t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whether each reading lies within tol of its prediction, computed as
        ``_step`` computes it when the reading before was accepted: from that
        reading and its slope from the valid reading before it."""
        m = len(v)
        ref = self._ref[c]
        if self._prev_ok[c]:
            pv0, pt0 = ref, self._t_ref[c]
        elif self._pend[c] is not None:
            pv0, pt0 = self._pend[c], self._t_pend[c]
        else:  # nothing read yet: the first reading is stepped, this slope is never used
            pv0, pt0 = float(v[0]), float(t[0]) - 1.0
        prev_v = np.empty(m)
        prev_t = np.empty(m)
        prev_v[0], prev_t[0] = pv0, pt0
        prev_v[1:], prev_t[1:] = v[:-1], t[:-1]
        slopes = (v - prev_v) / (t - prev_t)
        pred = np.empty(m)
        pred[0] = ref + self._slope[c] * (float(t[0]) - self._t_ref[c])  # NaN before any reading
        pred[1:] = v[:-1] + slopes[:-1] * (t[1:] - t[:-1])
        ok = np.abs(v - pred) <= self._tol[c]
        misread = np.isin(v, _MISREAD_ARRAY)
        if misread.any():
            ok &= ~misread
        return ok, slopes

    def _commit(self, c: int, times: list, values: list, slopes: np.ndarray, last: int, first: int) -> None:
        """Readings ``first``..``last`` were accepted as predicted: the state after ``last``."""
        if last > first:
            self._before[c] = (values[last - 1], times[last - 1], float(slopes[last - 1]))
        else:
            self._before[c] = (self._ref[c], self._t_ref[c], self._slope[c])
        self._ref[c], self._t_ref[c] = values[last], times[last]
        self._slope[c] = float(slopes[last])
        self._prev_ok[c] = self._sync[c] = True
        self._pend[c] = None
