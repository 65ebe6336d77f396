"""Building blocks of the simulated person: keyed random draws, smooth ramps, tracks.

Every random draw comes from its own key (seed, stream, index), so what the
person does depends only on the seed and the commands, never on how time is
chunked. A ``Track`` is a value over time that ramps from one setting to the
next.
"""

from __future__ import annotations

import numpy as np

# Random streams, each keyed (seed, stream, index).
PERSON_STREAM, BOUT_STREAM, COMMAND_STREAM, EPISODE_STREAM = 1, 2, 3, 4


def keyed_rng(seed: int, stream: int, k: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream, k])


def smoothstep(u):
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


class Track:
    """A value over time that ramps (smoothly or linearly) from one setting to the next."""

    def __init__(self, value: float, smooth: bool = True) -> None:
        self._initial = float(value)
        self._smooth = smooth
        self._segs = np.empty((0, 4))  # rows: t0, t1, v0, v1

    def set(self, t_s: float, value: float, ramp_s: float = 0.0) -> None:
        """From ``t_s`` on, ramp from the current value to ``value`` over ``ramp_s``."""
        self._segs = self._segs[self._segs[:, 0] < t_s]
        start = float(self(np.array([t_s]))[0])
        row = [[t_s, t_s + max(float(ramp_s), 0.0), start, float(value)]]
        self._segs = np.vstack([self._segs, row])

    def target_at(self, t_s: float) -> float:
        """The value the last setting at or before ``t_s`` is heading to."""
        i = int(np.searchsorted(self._segs[:, 0], t_s, side="right")) - 1
        return self._initial if i < 0 else float(self._segs[i, 3])

    def forget_before(self, t_s: float) -> None:
        """Drop settings that no longer matter for times at or after ``t_s``."""
        i = int(np.searchsorted(self._segs[:, 0], t_s, side="right")) - 1
        if i > 0:
            self._segs = self._segs[i:]

    def __call__(self, t_s) -> np.ndarray:
        t = np.asarray(t_s, dtype=np.float64)
        out = np.full(t.shape, self._initial)
        if not len(self._segs):
            return out
        i = np.searchsorted(self._segs[:, 0], t, side="right") - 1
        m = i >= 0
        t0, t1, v0, v1 = self._segs[i[m]].T
        dur = t1 - t0
        u = np.where(dur > 0, (t[m] - t0) / np.where(dur > 0, dur, 1.0), 1.0)
        u = smoothstep(u) if self._smooth else np.clip(u, 0.0, 1.0)
        out[m] = v0 + (v1 - v0) * u
        return out
