"""A person's own 0-10 pressure scale: force in newtons to how it feels.

A person marks, while pressing slowly harder, the forces they would call for
example 2/10, 5/10 and 7/10. Through those marks this module fits a monotone
map from force to rating:

* between two marks, a power law (a straight line in log-log), so the map is
  exact at every mark;
* below the lowest and above the highest mark, a power law with the exponent
  of a least-squares fit through all marks (published data: loads of 50/70/90 %
  of a person's 10/10 load felt like about 3.9/6.2/8.2, a power law with an
  exponent of about 1.4), held to 0.5..3 so a few marks cannot send the scale
  off to absurd forces; 0 N feels like 0/10 and the scale tops out at 10.

Marks must be plausible presses (2..3000 N) and, between two marks, the rating
may rise at most with the 6th power of the force: more means the marks came
too close together for the ratings given (a tap too late, or pressing too fast).

Ratings are clamped to 0..10 and never NaN for a number (NaN force, i.e. no
measurement, gives NaN). ``force_for`` is the inverse, used for the band edges
the filter loop warns on. Marks that contradict each other, or whose band
(4/10 to 5/10) would lie outside 2..3000 N, are refused with a ``ScaleError``
whose message says what to do again. Pure: no clock, no files.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

MAX_RATING = 10.0
#: Two marks closer than this in rating cannot be told apart by feel.
MIN_RATING_STEP = 0.5
#: Two marks whose forces differ by less than this fraction are too close to fit.
MIN_FORCE_STEP = 0.05
#: A mark below this force (N) is not a press on the roller; above the maximum, not a person's press.
MIN_FORCE_N, MAX_FORCE_N = 2.0, 3000.0
#: Between two marks the rating may rise at most as force to this power.
MAX_EXPONENT_BETWEEN_MARKS = 6.0
#: The exponent used below the lowest and above the highest mark is held to this range.
EXPONENT_RANGE = (0.5, 3.0)
#: The band the protocol asks for, in ratings.
BAND_RATINGS = (4.0, 5.0)

_WORDS = {
    0: "nothing at all", 1: "barely there", 2: "just noticeable", 3: "clear, but easy",
    4: "firm and comfortable", 5: "top of noticeable, not painful", 6: "starting to hurt",
    7: "painful", 8: "very painful", 9: "close to your limit", 10: "the most you could bear",
}


class ScaleError(ValueError):
    """Marks that cannot make a scale; ``str()`` is one line saying what to redo."""


def words_for(rating: float) -> str:
    """Plain words for a rating (the nearest whole one)."""
    return _WORDS[int(min(max(round(float(rating)), 0), 10))]


@dataclass(frozen=True)
class Mark:
    """The force (N) at which a person felt ``rating`` out of 10."""

    force_n: float
    rating: float

    def to_dict(self) -> dict[str, float]:
        return {"force_n": round(float(self.force_n), 3), "rating": float(self.rating)}

    @classmethod
    def from_dict(cls, data: Any) -> "Mark":
        if not isinstance(data, dict) or set(data) != {"force_n", "rating"}:
            raise ScaleError("a mark must be an object with force_n and rating")
        for key in ("force_n", "rating"):
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ScaleError(f"a mark's {key} must be a number, not {v!r}")
        return cls(float(data["force_n"]), float(data["rating"]))


def _fmt(rating: float) -> str:
    return f"{rating:g}/10"


def check_ratings(ratings: Iterable[float]) -> tuple[float, ...]:
    """Ratings to ask for: at least two, each in (0, 10], rising by at least 0.5."""
    values = tuple(float(r) for r in ratings)
    if len(values) < 2:
        raise ScaleError("at least two ratings are needed, e.g. 2,5,7")
    for r in values:
        if not (math.isfinite(r) and 0 < r <= MAX_RATING):
            raise ScaleError(f"ratings go above 0 and up to 10, not {r:g}")
    for a, b in zip(values, values[1:]):
        if b - a < MIN_RATING_STEP:
            raise ScaleError(f"ratings must rise by at least {MIN_RATING_STEP:g} each, not {a:g} then {b:g}")
    return values


def check_marks(marks: Iterable[Mark]) -> tuple[Mark, ...]:
    """The marks sorted by rating, or ScaleError saying what to mark again."""
    marks = tuple(marks)
    if len(marks) < 2:
        raise ScaleError(f"at least two marks are needed and there {'is' if len(marks) == 1 else 'are'} "
                         f"{len(marks)}: go through the slow press again and tap at each feeling")
    for m in marks:
        if not (math.isfinite(m.rating) and 0 < m.rating <= MAX_RATING):
            raise ScaleError(f"a rating of {m.rating:g} is outside the scale: use ratings above 0 and up to 10")
        if math.isnan(m.force_n) or m.force_n <= 0:
            raise ScaleError(f"the {_fmt(m.rating)} mark has no pressure ({m.force_n:g} N): "
                             "mark it again while resting on the roller")
        if m.force_n < MIN_FORCE_N:
            raise ScaleError(f"the {_fmt(m.rating)} mark came at almost no pressure ({m.force_n:.3g} N, under "
                             f"{MIN_FORCE_N:g} N): rest on the roller and mark it again as you press")
        if m.force_n > MAX_FORCE_N:
            raise ScaleError(f"the {_fmt(m.rating)} mark came at {m.force_n:.3g} N, more than anyone presses "
                             f"(over {MAX_FORCE_N:g} N): check the platform is zeroed and calibrated "
                             "('knotcoach calibrate'), then mark again")
    ordered = tuple(sorted(marks, key=lambda m: (m.rating, m.force_n)))
    for lo, hi in zip(ordered, ordered[1:]):
        if hi.rating - lo.rating < MIN_RATING_STEP:
            raise ScaleError(f"two marks at {_fmt(lo.rating)} and {_fmt(hi.rating)} are too close to tell "
                             f"apart: keep marks at least {MIN_RATING_STEP:g} apart")
        if hi.force_n < lo.force_n:
            raise ScaleError(f"{_fmt(hi.rating)} came at less pressure ({hi.force_n:.0f} N) than "
                             f"{_fmt(lo.rating)} ({lo.force_n:.0f} N): please do the slow press again")
        if hi.force_n < lo.force_n * (1 + MIN_FORCE_STEP):
            raise ScaleError(f"{_fmt(lo.rating)} and {_fmt(hi.rating)} came at almost the same pressure "
                             f"({lo.force_n:.0f} and {hi.force_n:.0f} N): please do the slow press again, "
                             "more slowly")
        steepness = math.log(hi.rating / lo.rating) / math.log(hi.force_n / lo.force_n)
        if steepness > MAX_EXPONENT_BETWEEN_MARKS:
            raise ScaleError(f"{_fmt(lo.rating)} at {lo.force_n:.0f} N and {_fmt(hi.rating)} at {hi.force_n:.0f} N: "
                             "marks too close for the ratings you gave: press more slowly and mark again")
    return ordered


class IntensityScale:
    """Force (N) to a 0-10 rating for one person and body region, fitted through marks."""

    def __init__(self, marks: Iterable[Mark]) -> None:
        self.marks = check_marks(marks)
        self._log_f = np.log([m.force_n for m in self.marks])
        self._log_r = np.log([m.rating for m in self.marks])
        self._log_f_list, self._log_r_list = self._log_f.tolist(), self._log_r.tolist()
        #: Exponent of the power law fitted through all marks, held to EXPONENT_RANGE (used beyond them).
        x, y = self._log_f - self._log_f.mean(), self._log_r - self._log_r.mean()
        fitted = float((x * y).sum() / (x * x).sum())  # > 0: both rise together
        self.exponent = min(max(fitted, EXPONENT_RANGE[0]), EXPONENT_RANGE[1])
        self.band_n()  # marks whose 4/10-5/10 band lies beyond what can be pressed make no scale

    @classmethod
    def fit(cls, marks: Iterable[Mark]) -> "IntensityScale":
        return cls(marks)

    def __repr__(self) -> str:
        pts = ", ".join(f"{m.rating:g}@{m.force_n:.1f}N" for m in self.marks)
        return f"IntensityScale({pts}; exponent {self.exponent:.2f})"

    def rating(self, force_n):
        """The 0-10 rating for a force in newtons (a float, or an array of the same shape)."""
        if type(force_n) is float:  # the device rates every sample: plain Python is ~10x cheaper
            return self._rating_one(force_n)
        f = np.asarray(force_n, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_f = np.log(np.where(f > 0, f, 1.0))
            log_r = np.interp(log_f, self._log_f, self._log_r)
            k = self.exponent
            log_r = np.where(log_f < self._log_f[0], self._log_r[0] + k * (log_f - self._log_f[0]), log_r)
            log_r = np.where(log_f > self._log_f[-1], self._log_r[-1] + k * (log_f - self._log_f[-1]), log_r)
            out = np.minimum(np.exp(np.minimum(log_r, math.log(MAX_RATING))), MAX_RATING)
        out = np.where(f > 0, out, 0.0)
        out = np.where(np.isnan(f), np.nan, out)
        return float(out) if out.ndim == 0 else out

    def _rating_one(self, f: float) -> float:
        """``rating`` for one float: the same curve, interpolated in plain Python."""
        if f != f:
            return math.nan
        if not f > 0:
            return 0.0
        xs, ys = self._log_f_list, self._log_r_list
        x = math.log(f)
        if x < xs[0]:
            y = ys[0] + self.exponent * (x - xs[0])
        elif x > xs[-1]:
            y = ys[-1] + self.exponent * (x - xs[-1])
        else:
            j = min(bisect.bisect_right(xs, x), len(xs) - 1)
            x0, x1, y0, y1 = xs[j - 1], xs[j], ys[j - 1], ys[j]
            y = y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        return min(math.exp(min(y, math.log(MAX_RATING))), MAX_RATING)

    def force_for(self, rating):
        """The force (N) that feels like ``rating`` (0-10; a float or an array)."""
        r = np.asarray(rating, dtype=np.float64)
        if not np.all((r >= 0) & (r <= MAX_RATING)):
            raise ScaleError("ratings go from 0 to 10")
        with np.errstate(divide="ignore", over="ignore"):
            log_r = np.log(np.where(r > 0, r, 1.0))
            log_f = np.interp(log_r, self._log_r, self._log_f)
            k = self.exponent
            log_f = np.where(log_r < self._log_r[0], self._log_f[0] + (log_r - self._log_r[0]) / k, log_f)
            log_f = np.where(log_r > self._log_r[-1], self._log_f[-1] + (log_r - self._log_r[-1]) / k, log_f)
            out = np.where(r > 0, np.exp(log_f), 0.0)
        return float(out) if out.ndim == 0 else out

    def band_n(self, lo_rating: float = BAND_RATINGS[0], hi_rating: float = BAND_RATINGS[1]) -> tuple[float, float]:
        """The band edges in newtons for two ratings (4/10 and 5/10 by default).

        Edges outside MIN_FORCE_N..MAX_FORCE_N (far beyond the marks) are refused, not used."""
        if not lo_rating < hi_rating:
            raise ScaleError(f"the band's low rating must be below its high one, not {lo_rating:g}-{hi_rating:g}")
        lo_n, hi_n = float(self.force_for(lo_rating)), float(self.force_for(hi_rating))
        for rating, force in ((lo_rating, lo_n), (hi_rating, hi_n)):
            if not MIN_FORCE_N <= force <= MAX_FORCE_N:
                raise ScaleError(f"these marks put {_fmt(rating)} at {force:.3g} N, outside what can be pressed "
                                 f"({MIN_FORCE_N:g}-{MAX_FORCE_N:g} N): do the slow press again and mark "
                                 f"ratings around {lo_rating:g}/10 and {hi_rating:g}/10")
        return lo_n, hi_n

    def to_dict(self) -> dict[str, Any]:
        return {"marks": [m.to_dict() for m in self.marks]}

    @classmethod
    def from_dict(cls, data: Any) -> "IntensityScale":
        if not isinstance(data, dict) or not isinstance(data.get("marks"), list):
            raise ScaleError("a scale must be an object with a list of marks")
        return cls(Mark.from_dict(m) for m in data["marks"])
