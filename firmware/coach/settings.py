"""Every number of the knot-release protocol (PROTOCOL.md) as a checked setting.

Each field's default is the protocol's number; ``LIMITS`` gives the sane
range a person may set it to. ``CoachSettings`` refuses anything outside with
a ``ValueError`` naming the setting, its range and its meaning. Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

#: name -> (lowest, highest, what it is). Units are in the names.
LIMITS: dict[str, tuple[float, float, str]] = {
    # 1. Find
    "find_linger_s": (1.0, 10.0, "the longest stay at one spot while finding the knot"),
    "linger_radius_mm": (5.0, 50.0, "how far counts as the same spot while finding"),
    "mark_window_s": (0.2, 2.0, "how much recent position a knot mark averages"),
    # 2. Around
    "around_min_s": (30.0, 120.0, "when rolling around the knot may end"),
    "around_max_s": (45.0, 180.0, "when rolling around the knot ends by itself"),
    "zone_mm": (20.0, 100.0, "the no-go radius around the knot"),
    "dwell_grace_s": (0.3, 3.0, "how long inside the no-go zone before a warning"),
    "band_lo": (1.0, 9.0, "the lower edge of the pressure band out of 10"),
    "band_hi": (2.0, 10.0, "the upper edge of the pressure band out of 10"),
    "band_hysteresis": (0.0, 1.0, "how far below the upper edge a too-hard warning ends"),
    "light_hint_s": (1.0, 10.0, "how long below the band before a gentle hint"),
    "fast_stroke_mm_s": (20.0, 300.0, "the stroke speed that is too fast"),
    "stroke_length_mm": (30.0, 300.0, "the length of a short stroke"),
    "stroke_min_mm": (5.0, 100.0, "the shortest movement judged as a stroke"),
    "turn_mm": (2.0, 50.0, "how far back a roller must come to end a stroke"),
    "side_min_s": (0.5, 10.0, "time on one side of the knot to count it covered"),
    # 3. Reset
    "place_s": (0.0, 15.0, "time to move next to the knot before the first contraction"),
    "contract_s": (3.0, 10.0, "one contraction"),
    "relax_s": (5.0, 30.0, "one relaxation"),
    "cycles": (1, 6, "contract-relax cycles"),
    "contract_change_frac": (0.02, 0.5, "the force change that confirms a contraction, as a fraction"),
    "contract_change_min_n": (0.5, 50.0, "the smallest force change that confirms a contraction"),
    "relax_settle_s": (0.5, 5.0, "the steady stretch that confirms full relaxation"),
    "relax_return_frac": (0.01, 0.3, "how close to the resting force counts as relaxed, as a fraction"),
    # Across the session and days
    "dose_min_s": (60.0, 900.0, "the shortest daily dose for an active knot"),
    "dose_max_s": (120.0, 1800.0, "the daily cap for an active knot"),
    "sessions_per_day": (1, 3, "sessions per day on the same knot"),
    # Hardware and pacing
    "min_load_n": (1.0, 100.0, "the load below which nobody is on the roller"),
    "start_load_n": (5.0, 300.0, "the load that starts a hands-free session"),
    "start_hold_s": (0.2, 5.0, "how long that load must stay to start hands-free"),
    "cue_gap_s": (0.0, 10.0, "the shortest gap between two same sounds"),
}
_INTS = ("cycles", "sessions_per_day")


@dataclass(frozen=True)
class CoachSettings:
    """The protocol's numbers; change any with ``dataclasses.replace`` (checked again)."""

    find_linger_s: float = 3.0
    linger_radius_mm: float = 20.0
    mark_window_s: float = 0.5
    around_min_s: float = 60.0
    around_max_s: float = 90.0
    zone_mm: float = 50.8  # 2 inches
    dwell_grace_s: float = 1.0
    band_lo: float = 4.0
    band_hi: float = 5.0
    band_hysteresis: float = 0.25
    light_hint_s: float = 3.0
    fast_stroke_mm_s: float = 80.0
    stroke_length_mm: float = 100.0
    stroke_min_mm: float = 20.0
    turn_mm: float = 10.0
    side_min_s: float = 2.0
    place_s: float = 5.0
    contract_s: float = 5.0
    relax_s: float = 12.0
    cycles: int = 3
    contract_change_frac: float = 0.10
    contract_change_min_n: float = 5.0
    relax_settle_s: float = 2.0
    relax_return_frac: float = 0.05
    dose_min_s: float = 300.0
    dose_max_s: float = 600.0
    sessions_per_day: int = 1
    min_load_n: float = 10.0
    start_load_n: float = 30.0
    start_hold_s: float = 1.0
    cue_gap_s: float = 2.0
    hands_free_start: bool = False

    def __post_init__(self) -> None:
        for name, (lo, hi, what) in LIMITS.items():
            _check_range(name, getattr(self, name), lo, hi, what)
        if not isinstance(self.hands_free_start, bool):
            raise ValueError(f"hands_free_start must be true or false, not {self.hands_free_start!r}")
        _check_order(self, "around_min_s", "around_max_s", strict=False)
        _check_order(self, "band_lo", "band_hi", strict=True)
        _check_order(self, "dose_min_s", "dose_max_s", strict=False)
        _check_order(self, "stroke_min_mm", "stroke_length_mm", strict=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> CoachSettings:
        """Settings from a mapping of some fields (the rest keep their defaults)."""
        if not isinstance(data, dict):
            raise ValueError(f"settings must be an object of name: value, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(map(str, unknown))}")
        return cls(**data)


def _check_range(name: str, value: Any, lo: float, hi: float, what: str) -> None:
    unit = _unit(name)
    if name in _INTS:
        ok = isinstance(value, int) and not isinstance(value, bool)
        kind = "a whole number"
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        kind = "a number"
    if not ok:
        raise ValueError(f"{name} ({what}) must be {kind}, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} ({what}) must be between {lo:g} and {hi:g}{unit}, not {value:g}")


def _check_order(s: CoachSettings, low: str, high: str, *, strict: bool) -> None:
    a, b = getattr(s, low), getattr(s, high)
    if a > b or (strict and a == b):
        rel = "below" if strict else "at most"
        raise ValueError(f"{low} ({a:g}) must be {rel} {high} ({b:g})")


def _unit(name: str) -> str:
    for suffix, unit in (("_mm_s", " mm/s"), ("_s", " s"), ("_mm", " mm"), ("_n", " N")):
        if name.endswith(suffix):
            return unit
    return "/10" if name.startswith("band_") and name != "band_hysteresis" else ""
