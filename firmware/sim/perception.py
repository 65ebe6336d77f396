"""A simulated person's own feeling of pressure, and how they mark it.

Each simulated person has a hidden curve: a power law from force to a 0-10
rating, ``rating = 10 * (force / f10)^exponent``, where ``f10`` (the load they
would call 10/10) is drawn per person between 40 and 80 % of body weight and
the exponent between 1.3 and 1.6 (DESIGN.md: 50/70/90 % of the 10/10 load
felt like 3.9/6.2/8.2). With body mass varying too, thresholds differ several
fold between people.

During the slow press they follow the pacer with their own bias (a few percent
over or under the target), and for each rating they are asked about they
notice it when the felt rating crosses it (give or take a little: each
threshold has a small random offset), then tap after a reaction delay of
0.2-0.4 s. Seeded and deterministic; no clock, no sleeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

G_MS2 = 9.81
_PERSON, _MARK = 11, 12


@dataclass(frozen=True)
class HiddenCurve:
    """The truth the calibration tries to recover."""

    f10_n: float
    exponent: float

    def rating(self, force_n: float) -> float:
        if not force_n > 0:
            return 0.0
        return min(10.0 * (force_n / self.f10_n) ** self.exponent, 10.0)

    def force_at(self, rating: float) -> float:
        return self.f10_n * (rating / 10.0) ** (1.0 / self.exponent)


class Perceiver:
    """A person who feels pressure along a hidden curve and taps when asked ratings are reached."""

    def __init__(self, seed: int = 0, body_mass_kg: float = 75.0, *, rating_noise: float = 0.12) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
        if not (math.isfinite(body_mass_kg) and 15.0 <= body_mass_kg <= 300.0):
            raise ValueError(f"body mass must be between 15 and 300 kg, not {body_mass_kg}")
        self.seed, self.body_mass_kg = int(seed), float(body_mass_kg)
        rng = np.random.default_rng([self.seed, _PERSON])
        share, exponent = rng.uniform(0.40, 0.80), rng.uniform(1.3, 1.6)
        self.curve = HiddenCurve(float(share * body_mass_kg * G_MS2), float(exponent))
        #: Seconds from feeling a rating to the tap.
        self.reaction_s = float(rng.uniform(0.2, 0.4))
        #: How closely they follow the pacer: pressing = follow * target.
        self.follow = float(rng.uniform(0.93, 1.07))
        self.rating_noise = float(rating_noise)
        self._felt_s: float | None = None  # when the current rating was felt
        self._asked: float | None = None
        self._n_taps = 0
        self._drawn_for, self._drawn = -1, (0.0, self.reaction_s)

    @property
    def body_weight_n(self) -> float:
        return self.body_mass_kg * G_MS2

    def pressing_n(self, target_n: float) -> float:
        """The force they press when the pacer asks for ``target_n``."""
        return self.follow * float(target_n)

    def _draw(self) -> tuple[float, float]:
        """This tap's threshold offset (rating units) and reaction delay (s)."""
        if self._drawn_for != self._n_taps:
            rng = np.random.default_rng([self.seed, _MARK, self._n_taps])
            noise = self.rating_noise
            offset = float(np.clip(rng.normal(0.0, noise), -3 * noise, 3 * noise))
            delay = max(self.reaction_s + 0.03 * float(rng.standard_normal()), 0.1)
            self._drawn_for, self._drawn = self._n_taps, (offset, delay)
        return self._drawn

    def step(self, t_s: float, force_n: float, rating: float | None) -> bool:
        """They feel ``force_n`` at ``t_s`` while asked for ``rating``; True: they tap now."""
        if rating != self._asked:  # a new question: forget a feeling about the old one
            self._asked, self._felt_s = rating, None
        if rating is None:
            return False
        offset, delay_s = self._draw()
        if self._felt_s is None and self.curve.rating(force_n) >= rating + offset:
            self._felt_s = float(t_s)
        if self._felt_s is not None and t_s >= self._felt_s + delay_s:
            self._felt_s, self._asked = None, None
            self._n_taps += 1
            return True
        return False
