"""What the coach shows: the live snapshot for the tablet and the session summary.

The views read the coach through ``CoachState``, the part of its state they show;
``firmware.coach.protocol`` (the ``Coach``) depends on this module, not the other way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from firmware.coach.cycles import ResetCycles
from firmware.coach.settings import CoachSettings
from firmware.coach.trackers import Latch, Stroke


@dataclass(frozen=True)
class Session:
    """Who rolls what with which tool, and the knot's rating before."""

    person: str
    region: str
    tool: str
    pain_before: float


@dataclass(frozen=True)
class CycleView:
    """The reset timer: ``phase`` place/contract/relax, seconds left, cycle n of N."""

    phase: str
    seconds_left: float
    n: int
    of: int


@dataclass(frozen=True)
class Snapshot:
    """Everything the tablet shows, as of ``t_s``.

    ``step_elapsed_s``/``step_remaining_s`` are running seconds (None outside a
    timed step; remaining: to the forced end of around, to the last relaxation
    of reset). ``next_in_s`` counts down to when around may end. ``warnings``
    maps each warning to {count, times_s, seconds, active}.
    """

    t_s: float | None
    step: str
    paused: bool
    aborted: bool
    session: Session | None
    step_elapsed_s: float | None
    step_remaining_s: float | None
    can_next: bool
    next_in_s: float | None
    cycle: CycleView | None
    cycles: tuple[dict, ...]
    cycles_done: int
    time_in_band_s: float
    sides_s: dict[str, float]
    sides_covered: tuple[str, ...]
    warnings: dict[str, dict]
    knot: tuple[float, float | None] | None
    running_s: float
    over_cap: bool
    last_stroke: dict | None
    pain_before: float | None
    pain_after: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Summary:
    """The session's record: before/after, time in band, warnings, cycles, duration."""

    person: str | None
    region: str | None
    tool: str | None
    pain_before: float | None
    pain_after: float | None
    time_in_band_s: float
    warnings: dict[str, int]
    warning_times_s: dict[str, list[float]]
    cycles_done: int
    cycles_planned: int
    cycles: tuple[dict, ...]
    sides_covered: tuple[str, ...]
    knot: tuple[float, float | None] | None
    duration_s: float
    running_s: float
    aborted: bool
    ended_in: str | None
    over_cap: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CoachState(Protocol):
    """What the snapshot and the summary read of a coach (``firmware.coach.protocol.Coach``)."""

    settings: CoachSettings
    step: str
    paused: bool
    aborted: bool
    ended_in: str | None
    session: Session | None
    pain_after: float | None
    knot: tuple[float, float | None] | None
    latches: dict[str, Latch]
    time_in_band_s: float
    sides_s: dict[str, float]
    last_stroke: Stroke | None
    cycles: ResetCycles | None
    start_t_s: float | None
    end_t_s: float | None
    _last_t: float | None

    @property
    def next_offered(self) -> bool: ...

    @property
    def over_cap(self) -> bool: ...

    def running_s(self) -> float: ...

    def step_elapsed_s(self) -> float | None: ...


def _can_next(c: CoachState) -> bool:
    if c.paused:
        return False
    return {"ready": True, "find": c.knot is not None, "around": c.next_offered,
            "reset": c.cycles is not None and c.cycles.done >= 1}.get(c.step, False)


def _timing(c: CoachState) -> tuple[float | None, float | None, float | None]:
    """(elapsed, remaining, next_in) of the current step in running seconds."""
    elapsed, s = c.step_elapsed_s(), c.settings
    if c.step == "around":
        return elapsed, max(s.around_max_s - elapsed, 0.0), max(s.around_min_s - elapsed, 0.0)
    if c.step == "reset":
        return elapsed, c.cycles.remaining_s(c.running_s()), None
    return elapsed, None, None


def _cycle_view(c: CoachState) -> CycleView | None:
    if c.step != "reset" or c.cycles.finished:
        return None
    cy = c.cycles
    return CycleView(cy.phase, round(cy.seconds_left(c.running_s()), 3), cy.n, cy.of)


def sides_covered(c: CoachState) -> tuple[str, ...]:
    return tuple(side for side, secs in c.sides_s.items() if secs >= c.settings.side_min_s - 1e-9)


def make_snapshot(c: CoachState) -> Snapshot:
    elapsed, remaining, next_in = _timing(c)
    return Snapshot(
        t_s=c._last_t, step=c.step, paused=c.paused, aborted=c.aborted, session=c.session,
        step_elapsed_s=elapsed, step_remaining_s=remaining, can_next=_can_next(c), next_in_s=next_in,
        cycle=_cycle_view(c), cycles=tuple(r.to_dict() for r in (c.cycles.records if c.cycles else ())),
        cycles_done=c.cycles.done if c.cycles else 0, time_in_band_s=c.time_in_band_s,
        sides_s=dict(c.sides_s), sides_covered=sides_covered(c),
        warnings={name: latch.view() for name, latch in c.latches.items()}, knot=c.knot,
        running_s=c.running_s(), over_cap=c.over_cap,
        last_stroke=c.last_stroke.to_dict() if c.last_stroke else None,
        pain_before=c.session.pain_before if c.session else None, pain_after=c.pain_after)


def make_summary(c: CoachState) -> Summary:
    sess = c.session
    end_t = c.end_t_s if c.end_t_s is not None else c._last_t
    return Summary(
        person=sess and sess.person, region=sess and sess.region, tool=sess and sess.tool,
        pain_before=sess and sess.pain_before, pain_after=c.pain_after,
        time_in_band_s=c.time_in_band_s,
        warnings={name: len(latch.starts_s) for name, latch in c.latches.items()},
        warning_times_s={name: list(latch.starts_s) for name, latch in c.latches.items()},
        cycles_done=c.cycles.done if c.cycles else 0, cycles_planned=c.settings.cycles,
        cycles=tuple(r.to_dict() for r in (c.cycles.records if c.cycles else ())),
        sides_covered=sides_covered(c), knot=c.knot,
        duration_s=0.0 if c.start_t_s is None else end_t - c.start_t_s,
        running_s=c.running_s(), aborted=c.aborted, ended_in=c.ended_in, over_cap=c.over_cap)
