"""Small per-frame watchers the coach combines: warnings, strokes, lingering, sides.

Each takes times in seconds and positions in platform millimetres (``None``
when nobody is on the platform). Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from firmware.coach.records import EPS_S

Point = tuple[float, float | None]
SIDES = ("above", "below", "left", "right")


class Latch:
    """One warning: episodes (start times), seconds active, and when it may sound again."""

    def __init__(self, name: str, cue: str, gap_s: float) -> None:
        self.name, self.cue, self.gap_s = name, cue, gap_s
        self.active = False
        self.starts_s: list[float] = []
        self.active_s = 0.0
        self._last_cue_t_s = -math.inf

    def set(self, t_s: float, on: bool) -> bool:
        """Update the state; True when a new episode starts and its cue may sound."""
        if not on:
            self.active = False
            return False
        if self.active:
            return False
        self.active = True
        self.starts_s.append(t_s)
        if t_s - self._last_cue_t_s >= self.gap_s - EPS_S:
            self._last_cue_t_s = t_s
            return True
        return False

    def pulse(self, t_s: float) -> bool:
        """A one-off episode (a fast stroke): counted, cued if the gap allows, not left active."""
        due = self.set(t_s, True)
        self.active = False
        return due

    def view(self) -> dict:
        return {"count": len(self.starts_s), "times_s": [round(t, 3) for t in self.starts_s],
                "seconds": round(self.active_s, 3), "active": self.active}


def distance_mm(a: Point, b: Point) -> float:
    """Distance between two points; along x only when either has no y."""
    if a[1] is None or b[1] is None:
        return abs(a[0] - b[0])
    return math.hypot(a[0] - b[0], a[1] - b[1])


def side_of(pos: Point | None, knot: Point | None, zone_mm: float) -> str | None:
    """Which side of the knot a position is on, outside the zone (x runs along the body).

    ``above``/``below`` are +x/-x from the knot, ``right``/``left`` are +y/-y.
    None inside the zone, without a position, or without a knot.
    """
    if pos is None or knot is None or distance_mm(pos, knot) <= zone_mm:
        return None
    dx = pos[0] - knot[0]
    dy = 0.0 if pos[1] is None or knot[1] is None else pos[1] - knot[1]
    if abs(dx) >= abs(dy):
        return "above" if dx > 0 else "below"
    return "right" if dy > 0 else "left"


@dataclass(frozen=True)
class Stroke:
    """One roll in one direction: from its start to where it turned."""

    t_s: float
    length_mm: float
    duration_s: float

    @property
    def speed_mm_s(self) -> float:
        return self.length_mm / self.duration_s

    def to_dict(self) -> dict:
        return {"t_s": round(self.t_s, 3), "length_mm": round(self.length_mm, 1),
                "speed_mm_s": round(self.speed_mm_s, 1)}


class StrokeTracker:
    """Splits the path into strokes: a stroke ends when the roller comes back ``turn_mm``,
    or once it has gone a whole stroke's length (``length_mm``) without turning.

    A stroke's speed is its length over the time from its start to its far
    end, so a pause at the far end does not make a fast stroke look slow.
    """

    def __init__(self, min_mm: float, turn_mm: float, length_mm: float = math.inf) -> None:
        self.min_mm, self.turn_mm, self.length_mm = min_mm, turn_mm, length_mm
        self.reset()

    def reset(self) -> None:
        self._start: tuple[float, Point] | None = None
        self._far: tuple[float, Point, float] | None = None  # (t_s, point, distance from start)

    def feed(self, t_s: float, pos: Point | None) -> Stroke | None:
        """The stroke that just ended, if one did."""
        if pos is None:
            done = self._finish()
            self.reset()
            return done
        if self._start is None:
            self._start, self._far = (t_s, pos), (t_s, pos, 0.0)
            return None
        d = distance_mm(self._start[1], pos)
        if d > self._far[2]:
            self._far = (t_s, pos, d)
            if d < self.length_mm:
                return None
            done = self._finish()
            self._start, self._far = (t_s, pos), (t_s, pos, 0.0)
            return done
        if self._far[2] - d < self.turn_mm:
            return None
        done = self._finish()
        t_far, p_far, _ = self._far
        self._start, self._far = (t_far, p_far), (t_s, pos, distance_mm(p_far, pos))
        return done

    def _finish(self) -> Stroke | None:
        if self._start is None or self._far is None:
            return None
        t_far, _, length = self._far
        duration = t_far - self._start[0]
        if length < self.min_mm or duration <= 0:
            return None
        return Stroke(t_far, length, duration)


class Linger:
    """True once the position has stayed within ``radius_mm`` of one spot for ``hold_s``."""

    def __init__(self, radius_mm: float, hold_s: float) -> None:
        self.radius_mm, self.hold_s = radius_mm, hold_s
        self.reset()

    def reset(self) -> None:
        self._anchor: tuple[float, Point] | None = None

    def feed(self, t_s: float, pos: Point | None) -> bool:
        if pos is None:
            self._anchor = None
            return False
        if self._anchor is None or distance_mm(self._anchor[1], pos) > self.radius_mm:
            self._anchor = (t_s, pos)
            return False
        return t_s - self._anchor[0] >= self.hold_s - EPS_S


class Since:
    """True once a condition has held for ``hold_s`` without a break."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.t0_s: float | None = None

    def reset(self) -> None:
        self.t0_s = None

    def feed(self, t_s: float, on: bool) -> bool:
        if not on:
            self.t0_s = None
            return False
        if self.t0_s is None:
            self.t0_s = t_s
        return t_s - self.t0_s >= self.hold_s - EPS_S
