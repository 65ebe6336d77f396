"""The simulated person's rolling pattern: bouts of strokes around the knot."""

from __future__ import annotations

import math

import numpy as np

from firmware.sim.tracks import BOUT_STREAM, keyed_rng, smoothstep

#: The person keeps every stroke at least this far from the knot (the no-go zone is 50.8 mm).
KNOT_CLEARANCE_MM = 55.0
#: Bout-to-bout moves of the rolling centre take this long.
TRANSITION_S = 1.5


class Strokes:
    """The rolling pattern: bouts of strokes on one side of the knot, then another.

    Strokes run along x (the rolling axis). Each bout (8-20 s) has its own
    cadence, stroke length, force dip and side of the knot: above (+x),
    below (-x) or, on a 2-D platform, to either side (+/-y). The centre moves
    between sides in polar coordinates around the knot, so it never crosses
    the knot on a 2-D platform; on a line it has to roll over it quickly.
    """

    _FIELDS = ("start", "dur", "freq", "phase0", "r", "theta", "dtheta", "amp", "depth")

    def __init__(self, seed: int, cadence_spm: float, lateral: bool) -> None:
        self._seed, self._cadence, self._lateral = seed, cadence_spm, lateral
        self._k = 0
        self._b = {f: np.empty(0) for f in self._FIELDS}

    def _new_bout(self) -> dict:
        rng = keyed_rng(self._seed, BOUT_STREAM, self._k)
        b = self._b
        spm = float(np.clip(self._cadence * (1 + 0.08 * rng.standard_normal()), 15.0, 50.0))
        amp = rng.uniform(40.0, 60.0)
        n_sides = 4 if self._lateral else 2
        sides = np.arange(n_sides) * (2 * math.pi / n_sides)
        if self._k == 0:
            theta = sides[rng.integers(n_sides)]
        else:
            stay = rng.random() < (0.35 if self._lateral else 0.75)
            others = sides[~np.isclose(np.cos(sides - b["theta"][-1]), 1.0)]
            theta = b["theta"][-1] if stay else others[rng.integers(len(others))]
        along = abs(math.cos(theta)) > 0.5
        r = KNOT_CLEARANCE_MM + amp + rng.uniform(10, 30) if along else rng.uniform(70, 95)
        prev_theta = b["theta"][-1] if self._k else theta
        dtheta = (theta - prev_theta + math.pi) % (2 * math.pi) - math.pi
        if abs(abs(dtheta) - math.pi) < 1e-9:
            dtheta = math.pi if rng.random() < 0.5 else -math.pi
        if self._k:
            start = b["start"][-1] + b["dur"][-1]
            phase0 = b["phase0"][-1] + 2 * math.pi * b["freq"][-1] * b["dur"][-1]
        else:
            start, phase0 = 0.0, rng.uniform(0, 2 * math.pi)
        return dict(start=start, dur=rng.uniform(8.0, 20.0), freq=spm / 120.0, phase0=phase0,
                    r=r, theta=prev_theta + dtheta, dtheta=dtheta, amp=amp,
                    depth=rng.uniform(0.12, 0.24))

    def _ensure(self, t_end_s: float) -> None:
        while not self._k or self._b["start"][-1] + self._b["dur"][-1] <= t_end_s:
            new = self._new_bout()
            self._b = {f: np.append(self._b[f], new[f]) for f in self._FIELDS}
            self._k += 1

    def forget_before(self, t_s: float) -> None:
        i = int(np.searchsorted(self._b["start"], t_s, side="right")) - 2
        if i > 0:
            self._b = {f: v[i:] for f, v in self._b.items()}

    def __call__(self, t: np.ndarray):
        """Offset of the roller from the knot (mm) and the force factor (<= 1) at ``t``."""
        self._ensure(float(t.max()))
        b = self._b
        k = np.maximum(np.searchsorted(b["start"], t, side="right") - 1, 0)
        p = np.maximum(k - 1, 0)
        s = np.where(k == p, 1.0, smoothstep((t - b["start"][k]) / TRANSITION_S))
        theta = b["theta"][p] + b["dtheta"][k] * s
        r = b["r"][p] + (b["r"][k] - b["r"][p]) * s
        amp = (b["amp"][p] + (b["amp"][k] - b["amp"][p]) * s) * (1 - 0.6 * np.sin(math.pi * s))
        depth = b["depth"][p] + (b["depth"][k] - b["depth"][p]) * s
        phase = b["phase0"][k] + 2 * math.pi * b["freq"][k] * (t - b["start"][k])
        dx = r * np.cos(theta) - amp * np.cos(phase)
        dy = r * np.sin(theta) if self._lateral else np.zeros_like(t)
        return dx, dy, 1.0 - depth * (1.0 - np.cos(phase)) / 2.0
