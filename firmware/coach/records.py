"""What goes in and out of the coach: frames, cues, and the coach's error."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: Tolerance on time comparisons, far below one frame.
EPS_S = 1e-9


class CoachError(ValueError):
    """A command that does not fit the coach's state; ``str()`` says what to do instead.

    Nothing in the coach changed except that its clock moved to the command's time.
    """


class Frame(NamedTuple):
    """One filtered frame: force, its 0-10 rating (None without a scale), position, warnings."""

    force_n: float | None
    rating: float | None
    x_mm: float | None
    y_mm: float | None
    warnings: frozenset[str] = frozenset()

    @classmethod
    def coerce(cls, frame: Any) -> Frame:
        """A Frame from a Frame or a 4-/5-tuple; NaN numbers become None."""
        if not isinstance(frame, (tuple, list)) or len(frame) not in (4, 5):
            raise CoachError("a frame is (force_n, rating, x_mm, y_mm[, warnings])")
        values = [_number(v, name) for v, name in zip(frame[:4], cls._fields)]
        warnings = frame[4] if len(frame) == 5 else frozenset()
        if isinstance(warnings, str) or not all(isinstance(w, str) for w in warnings):
            raise CoachError("a frame's warnings are a set of warning names")
        return cls(*values, frozenset(warnings))


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # numpy scalars
        except (TypeError, ValueError):
            raise CoachError(f"a frame's {name} must be a number or None, not {value!r}") from None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class Cue:
    """Something to tell the person at ``t_s``: a sound, a light, a line on the tablet."""

    t_s: float
    name: str
    step: str
    detail: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"t_s": round(self.t_s, 4), "cue": self.name, "step": self.step, **self.detail}


def check_time(t_s: Any, last_t_s: float | None) -> float:
    """``t_s`` as a float, never earlier than the last time the coach saw."""
    if isinstance(t_s, bool) or not isinstance(t_s, (int, float)) or not math.isfinite(t_s):
        raise CoachError(f"t_s must be a finite number of seconds, not {t_s!r}")
    if last_t_s is not None and t_s < last_t_s:
        raise CoachError(f"time went backwards: t_s {t_s:g} is before the last {last_t_s:g}")
    return float(t_s)


def check_person(person: Any) -> str:
    if not isinstance(person, str) or not person.strip():
        raise ValueError(f"the person must be a name, not {person!r}")
    return person.strip()


class as_coach_error:
    """Re-raise a ValueError from checking answers as a CoachError with the same text."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is not None and isinstance(exc, ValueError) and not isinstance(exc, CoachError):
            raise CoachError(str(exc)) from None
        return False
