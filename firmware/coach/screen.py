"""Before a session: the injury screen, the IT band, the right tool, the first rating.

``screen`` takes the answers a person gives on the tablet and returns a
``Decision``: ``go``, ``stop`` (an injury sign: see a professional first) or
``redirect`` (roll other muscles, or use another tool). Answers that are not
answers (an unknown region, a rating of 12) raise ``ValueError`` instead.
Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from calibration.profiles import region_key

LACROSSE_BALL, FOAM_ROLLER = "lacrosse_ball", "foam_roller"
TOOLS = (LACROSSE_BALL, FOAM_ROLLER)
TOOL_NAMES = {LACROSSE_BALL: "a lacrosse ball", FOAM_ROLLER: "a foam roller"}
#: Which tool suits which region; regions not listed take either.
TOOLS_FOR_REGION: dict[str, tuple[str, ...]] = {
    "glutes": (LACROSSE_BALL,), "shoulders": (LACROSSE_BALL,), "upper-back": (LACROSSE_BALL,),
    "quads": (FOAM_ROLLER,), "lats": (FOAM_ROLLER,),
    "calf": TOOLS, "hamstrings": TOOLS,
}
_TOOL_WHY = {
    LACROSSE_BALL: "a small, firm ball gets into a dense, compact muscle",
    FOAM_ROLLER: "a roller spreads the pressure over a big muscle",
}
#: Signs of an injury rather than a knot: any of them stops the session.
INJURY_SIGNS: dict[str, str] = {
    "swelling": "swelling",
    "discoloration": "a change of colour or bruising",
    "sharp_pain": "sharp or shooting pain when you move",
    "movement_worsens": "gentle movement making it worse",
}
IT_BAND_NAMES = ("it-band", "itband", "iliotibial-band", "it band", "it_band")
IT_BAND_TARGETS = ("glutes", "tfl")

KNOT_OR_INJURY = (
    "A knot is a firm, tender spot that usually feels a little easier when you move "
    "gently. An injury is more likely to swell, change colour or hurt sharply when you "
    "move, and gentle movement makes it worse rather than better.")
_STOP = ("Please don't roll this today. You told us about {signs}, which points to an "
         "injury rather than a knot: have a physiotherapist or doctor look at it first.")
_IT_BAND = (
    "The IT band is not a muscle but a band of tough connective tissue, so rolling it "
    "cannot release it. The tightness comes from the muscles that pull on it: roll "
    "your glutes or the TFL at the front of your hip instead.")
_TOOL = "For the {region}, use {tool}: {why}."


@dataclass(frozen=True)
class Decision:
    """What the screen says: ``kind`` is "go", "stop" or "redirect".

    ``regions`` and ``tools`` say what to use instead on a redirect (on go:
    the chosen region and tool). ``hint`` is the knot-or-injury hint, always shown.
    """

    kind: str
    reason: str
    region: str | None = None
    tool: str | None = None
    regions: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    pain_before: float | None = None
    signs: tuple[str, ...] = ()
    hint: str = KNOT_OR_INJURY

    @property
    def go(self) -> bool:
        return self.kind == "go"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "reason": self.reason, "region": self.region, "tool": self.tool,
                "regions": list(self.regions), "tools": list(self.tools),
                "pain_before": self.pain_before, "signs": list(self.signs), "hint": self.hint}


def check_pain(value: Any, what: str = "pain rating") -> float:
    """A 0-10 rating as a float, or ValueError saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"the {what} must be a number from 0 to 10, not {value!r}")
    if not 0 <= value <= 10:
        raise ValueError(f"the {what} goes from 0 (no pain) to 10 (the worst), not {value:g}")
    return float(value)


def check_signs(signs: Iterable[str]) -> tuple[str, ...]:
    """Known injury-sign names, in the order of ``INJURY_SIGNS``."""
    if isinstance(signs, str):
        signs = (signs,)
    given = set(signs)
    unknown = sorted(str(s) for s in given - set(INJURY_SIGNS))
    if unknown:
        raise ValueError(f"unknown injury sign(s) {', '.join(unknown)}: "
                         f"use {', '.join(INJURY_SIGNS)}")
    return tuple(s for s in INJURY_SIGNS if s in given)


def is_it_band(region: str) -> bool:
    return str(region).strip().lower().replace("_", "-").replace(" ", "-") in IT_BAND_NAMES


def tools_for(region: str) -> tuple[str, ...]:
    """The tools that suit a region (either, for a region the protocol names no tool for)."""
    return TOOLS_FOR_REGION.get(region_key(region), TOOLS)


#: Short and everyday names people (and the sessions store) use for the tools.
TOOL_ALIASES = {"ball": "lacrosse_ball", "massage_ball": "lacrosse_ball", "roller": "foam_roller"}


def check_tool(tool: Any) -> str:
    key = str(tool).strip().lower().replace(" ", "_").replace("-", "_")
    key = TOOL_ALIASES.get(key, key)
    if key not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}: use {' or '.join(TOOLS)}")
    return key


def screen(region: str, tool: str, pain_before: Any, signs: Iterable[str] = ()) -> Decision:
    """The decision for one knot: stop on an injury sign, redirect the IT band or a wrong tool."""
    pain = check_pain(pain_before, "pain rating before the session")
    found = check_signs(signs)
    if found:
        listed = " and ".join(INJURY_SIGNS[s] for s in found)
        return Decision("stop", _STOP.format(signs=listed), pain_before=pain, signs=found)
    if is_it_band(region):
        return Decision("redirect", _IT_BAND, regions=IT_BAND_TARGETS, pain_before=pain)
    key, tool_key = region_key(region), check_tool(tool)
    suited = tools_for(key)
    if tool_key not in suited:
        text = _TOOL.format(region=key.replace("-", " "), tool=TOOL_NAMES[suited[0]], why=_TOOL_WHY[suited[0]])
        return Decision("redirect", text, region=key, regions=(key,), tools=suited, pain_before=pain)
    return Decision("go", "Ready to start.", region=key, tool=tool_key, regions=(key,), tools=suited,
                    pain_before=pain)
