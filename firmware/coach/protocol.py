"""The coach: the knot-release protocol as a pure state machine.

Steps: ``screen`` -> (``ready``, hands-free) -> ``find`` -> ``around`` ->
``reset`` -> ``rerate`` -> ``done``. Commands (``start``, ``mark_knot``,
``next``, ``pause``, ``resume``, ``stop``, ``rate``) and ``update`` (one
filtered sample: the device loop calls it for every sample, 80 a second on
the HX711 boards) all take the time ``t_s``; nothing here reads a clock.
Timers run on *running seconds*: wall time minus pauses, counted from the
start of ``find``. A timer edge (60 s offer, 90 s end, each
contract/relax) happens at its exact time even between two samples, and the
time after it counts for the next step. Cues collect in ``cues``; every call
returns the ones it added. A command that does not fit raises ``CoachError``
and changes nothing but the clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from firmware.coach.cycles import CONTRACT, RELAX, ResetCycles
from firmware.coach.records import (
    EPS_S,
    CoachError,
    Cue,
    Frame,
    as_coach_error,
    check_person,
    check_time,
)
from firmware.coach.screen import Decision, check_pain, screen
from firmware.coach.settings import CoachSettings
from firmware.coach.steps import FrameSteps
from firmware.coach.trackers import (
    SIDES,
    Latch,
    Linger,
    Point,
    Since,
    Stroke,
    StrokeTracker,
)
from firmware.coach.views import Session, Snapshot, Summary, make_snapshot, make_summary
from firmware.pipeline.rules import OnKnotRule

STEPS = ("screen", "ready", "find", "around", "reset", "rerate", "done")
RUNNING = ("find", "around", "reset")
#: What a sample showed counts for at most this long when the next sample is late.
HOLD_S = 0.5
#: warning name -> the cue it sounds
CUE_FOR = {"over_band": "ease_off", "below_band": "press_a_bit_more", "on_knot": "move_off_knot",
           "fast_stroke": "slow_down", "lingering": "keep_moving", "sensor_fault": "fault",
           "time_cap": "time_cap"}
_HOW = {
    "start": "a session is already under way: stop it first",
    "mark the knot": "the knot is marked while finding it",
    "go on": "there is no next step now",
    "pause": "only finding, rolling around and the reset can be paused",
    "stop": "there is no session to stop",
    "rate": "the knot is rated again after the reset",
}


class Coach(FrameSteps):
    """One person's session on one knot; see the module text for the rules."""

    def __init__(self, settings: CoachSettings | None = None) -> None:
        if settings is not None and not isinstance(settings, CoachSettings):
            raise TypeError("settings must be a CoachSettings")
        self.settings = s = settings or CoachSettings()
        self.step, self.paused, self.aborted, self.ended_in = "screen", False, False, None
        self.decision: Decision | None = None
        self.session: Session | None = None
        self.pain_after: float | None = None
        self.knot: Point | None = None
        self.cues: list[Cue] = []
        self.latches = {name: Latch(name, cue, s.cue_gap_s) for name, cue in CUE_FOR.items()}
        self.time_in_band_s, self.sides_s = 0.0, dict.fromkeys(SIDES, 0.0)
        self.last_stroke: Stroke | None = None
        self.cycles: ResetCycles | None = None
        self.start_t_s: float | None = None
        self.end_t_s: float | None = None
        self._taken, self._last_t = 0, None
        self._ticking, self._wall0, self._active0, self._accounted = False, 0.0, 0.0, 0.0
        self._step_start_s, self._offered, self._capped = 0.0, False, False
        self._in_band, self._side, self._frame_s = False, None, 0.0
        self._positions: deque[tuple[float, float, float | None]] = deque()
        self._linger = Linger(s.linger_radius_mm, s.find_linger_s)
        self._stroke = StrokeTracker(s.stroke_min_mm, s.turn_mm, s.stroke_length_mm)
        self._light, self._load = Since(s.light_hint_s), Since(s.start_hold_s)
        self._knot_rule: OnKnotRule | None = None

    # ----------------------------------------------------------- commands
    def start(self, t_s: float, person: str, region: str, tool: str, pain_before: float,
              signs: Iterable[str] = ()) -> Decision:
        """Screen the answers; on ``go`` the session starts (or waits for load, hands-free)."""
        t_s = check_time(t_s, self._last_t)
        self._require("start", ("screen",))
        with as_coach_error():
            person = check_person(person)
            decision = screen(region, tool, pain_before, signs)
        self._last_t, self.decision = t_s, decision
        if decision.go:
            self.session = Session(person, decision.region, decision.tool, decision.pain_before)
            if self.settings.hands_free_start:
                self.step = "ready"
                self._cue(t_s, "step_start")
            else:
                self._begin(t_s)
        return decision

    def mark_knot(self, t_s: float) -> Point:
        """Store the knot: the mean position over the last ``mark_window_s``."""
        t_s = self._advance(t_s)
        self._require("mark the knot", ("find",))
        since = t_s - self.settings.mark_window_s - EPS_S
        recent = [(x, y) for t, x, y in self._positions if t >= since]
        if not recent:
            raise CoachError("no position in the last moment: rest the roller on the most tender "
                             "spot, then mark it again")
        x = sum(p[0] for p in recent) / len(recent)
        ys = [p[1] for p in recent if p[1] is not None]
        y = sum(ys) / len(ys) if len(ys) == len(recent) else None
        self.knot = (x, y)
        s = self.settings
        self._knot_rule = OnKnotRule(x, y, s.zone_mm, s.dwell_grace_s)
        self._cue(t_s, "step_done", knot_x_mm=round(x, 1), knot_y_mm=None if y is None else round(y, 1))
        return self.knot

    def next(self, t_s: float) -> list[Cue]:
        """Go on: start (hands-free), leave find (knot marked), around (after the minimum), reset (a cycle done)."""
        t_s = self._advance(t_s)
        self._require("go on", ("ready", "find", "around", "reset"))
        if self.step == "ready":
            self._begin(t_s)
        elif self.step == "find":
            if self.knot is None:
                raise CoachError("mark the knot first, so rolling around it knows where it is")
            self._enter("around", t_s, self._active_at(t_s))
        elif self.step == "around":
            self._next_from_around(t_s)
        else:
            if self.cycles.done < 1:
                raise CoachError("finish at least one contract-relax cycle first, or stop the session")
            self._enter("rerate", t_s, self._active_at(t_s))
        return self.take_cues()

    def pause(self, t_s: float) -> list[Cue]:
        """Freeze every timer."""
        t_s = self._advance(t_s)
        if self.paused:
            raise CoachError("already paused")
        self._require("pause", RUNNING)
        self._stop_ticking(t_s)
        self.paused = True
        return self.take_cues()

    def resume(self, t_s: float) -> list[Cue]:
        """Carry on where the pause left every timer."""
        t_s = self._advance(t_s)
        if not self.paused:
            raise CoachError("not paused, nothing to resume")
        self.paused = False
        self._start_ticking(t_s)
        self._clear_transient()
        return self.take_cues()

    def stop(self, t_s: float) -> Summary:
        """Abort: the session ends with what was done so far."""
        t_s = self._advance(t_s)
        self._require("stop", ("ready", "find", "around", "reset", "rerate"))
        self._stop_ticking(t_s)
        self.paused, self.aborted = False, True
        self._finish(t_s)
        return self.summary()

    def rate(self, t_s: float, pain_after: float) -> Summary:
        """The knot's rating after the session; ends it."""
        t_s = check_time(t_s, self._last_t)
        with as_coach_error():
            pain = check_pain(pain_after, "pain rating after the session")
        t_s = self._advance(t_s)
        self._require("rate", ("rerate",))
        self.pain_after = pain
        self._finish(t_s)
        return self.summary()

    def update(self, t_s: float, frame: Any) -> list[Cue]:
        """One filtered sample ``(force_n, rating, x_mm, y_mm, warnings)`` (a ``Frame``); the cues it caused."""
        frame = Frame.coerce(frame)
        t_s = self._advance(t_s)
        if self.paused or self.step in ("screen", "rerate", "done"):
            return self.take_cues()
        fault = "sensor_fault" in frame.warnings
        self._set("sensor_fault", t_s, fault)
        force, rating = (None, None) if fault else (frame.force_n, frame.rating)
        loaded = force is not None and force >= self.settings.min_load_n
        pos = (frame.x_mm, frame.y_mm) if loaded and frame.x_mm is not None else None
        getattr(self, "_observe_" + self.step)(t_s, force, rating, pos, frame.warnings)
        self._frame_s = self._active_at(t_s)
        return self.take_cues()

    # -------------------------------------------------------------- views
    def take_cues(self) -> list[Cue]:
        """The cues added since the last call."""
        new, self._taken = self.cues[self._taken:], len(self.cues)
        return new

    def snapshot(self) -> Snapshot:
        """Everything the tablet shows, as of the last call's time."""
        return make_snapshot(self)

    def summary(self) -> Summary:
        """Before/after, time in band, warnings, cycles, duration (partial while running)."""
        return make_summary(self)

    def running_s(self) -> float:
        """Running seconds since find began (pauses excluded), as of the last call."""
        return 0.0 if self._last_t is None else self._active_at(self._last_t)

    def step_elapsed_s(self) -> float | None:
        return self.running_s() - self._step_start_s if self.step in RUNNING else None

    @property
    def next_offered(self) -> bool:
        return self._offered

    @property
    def over_cap(self) -> bool:
        return self._capped

    # -------------------------------------------------------------- clock
    def _advance(self, t_s: float) -> float:
        t_s = check_time(t_s, self._last_t)
        self._clock(t_s)
        return t_s

    def _active_at(self, t_s: float) -> float:
        return self._active0 + (t_s - self._wall0 if self._ticking else 0.0)

    def _start_ticking(self, t_s: float) -> None:
        self._wall0, self._ticking = t_s, True

    def _stop_ticking(self, t_s: float) -> None:
        if self._ticking:
            self._accrue_to(t_s)
            self._active0, self._ticking = self._active_at(t_s), False

    def _clock(self, t_s: float) -> None:
        """Move time to ``t_s``, firing every timer edge on the way at its own time."""
        while self._ticking:
            due = self._next_due()
            if due is None:
                break
            at_s, handler = due
            t_edge = self._wall0 + (at_s - self._active0)
            if t_edge > t_s + EPS_S:
                break
            t_edge = min(max(t_edge, self._last_t), t_s)
            self._accrue_to(t_edge)
            handler(at_s, t_edge)
        self._accrue_to(t_s)
        self._last_t = t_s

    def _next_due(self) -> tuple[float, Callable[[float, float], None]] | None:
        s, due = self.settings, []
        if not self._capped:
            due.append((s.dose_max_s, self._on_cap))
        if self.step == "around" and not self._offered:
            due.append((self._step_start_s + s.around_min_s, self._on_offer))
        elif self.step == "around":
            due.append((self._step_start_s + s.around_max_s, self._on_around_end))
        elif self.step == "reset":
            due.append((self.cycles.end_s, self._on_phase_end))
        return min(due, key=lambda d: d[0]) if due else None

    def _accrue_to(self, t_s: float) -> None:
        """Credit the time since the last credit to what the last sample showed (for up to ``HOLD_S``)."""
        now_s = self._active_at(t_s)
        dt = min(now_s, self._frame_s + HOLD_S) - self._accounted
        self._accounted = now_s
        if dt <= 0 or self.step not in RUNNING:
            return
        for latch in self.latches.values():
            latch.active_s += dt if latch.active else 0.0
        if self.step == "around":
            self.time_in_band_s += dt if self._in_band else 0.0
            if self._side is not None:
                self.sides_s[self._side] += dt

    # ------------------------------------------------------ timer edges
    def _on_cap(self, at_s: float, t_s: float) -> None:
        self._capped = True
        self._pulse("time_cap", t_s, cap_s=self.settings.dose_max_s)

    def _on_offer(self, at_s: float, t_s: float) -> None:
        self._offered = True
        self._cue(t_s, "step_done", optional=True)

    def _on_around_end(self, at_s: float, t_s: float) -> None:
        self._enter("reset", t_s, at_s)

    def _on_phase_end(self, at_s: float, t_s: float) -> None:
        phase = self.cycles.advance()
        if phase is None:
            self._cue(t_s, "step_done", cycles=self.cycles.done)
            self._enter("rerate", t_s, at_s)
        elif phase in (CONTRACT, RELAX):
            self._cue(t_s, phase, cycle=self.cycles.n, of=self.cycles.of,
                      seconds=self.cycles.plan[self.cycles.index][1])

    # -------------------------------------------------------------- steps
    def _begin(self, t_s: float) -> None:
        self.start_t_s = t_s
        self._active0 = self._accounted = 0.0
        self._start_ticking(t_s)
        self._enter("find", t_s, 0.0)

    def _enter(self, step: str, t_s: float, at_s: float) -> None:
        self.step, self._step_start_s = step, at_s
        self._clear_transient()
        if step == "reset":
            self.cycles = ResetCycles(self.settings, at_s)
        if step == "rerate":
            self._stop_ticking(t_s)
        self._cue(t_s, "step_start")

    def _next_from_around(self, t_s: float) -> None:
        if not self._offered:
            left = self._step_start_s + self.settings.around_min_s - self._active_at(t_s)
            raise CoachError(f"keep rolling around the knot: the reset opens in {left:.0f} s "
                             f"(at {self.settings.around_min_s:g} s)")
        self._enter("reset", t_s, self._active_at(t_s))

    def _finish(self, t_s: float) -> None:
        self.ended_in, self.end_t_s = self.step, t_s
        self._cue(t_s, "session_done", aborted=self.aborted)
        self.step = "done"

    def _clear_transient(self) -> None:
        """Forget what the last samples showed (new step, or back from a pause)."""
        for name, latch in self.latches.items():
            latch.active = latch.active and name == "sensor_fault"
        self._in_band, self._side, self._frame_s = False, None, 0.0
        self._positions.clear()
        for tracker in (self._linger, self._stroke, self._light, self._load):
            tracker.reset()
        if self._knot_rule is not None:
            self._knot_rule.reset()

    def _require(self, command: str, steps: tuple[str, ...]) -> None:
        if self.paused and command not in ("stop",):
            raise CoachError(f"paused: resume first, then {command}")
        if self.step not in steps:
            raise CoachError(f"cannot {command} during '{self.step}': {_HOW[command]}")

    # --------------------------------------------------------------- cues
    def _set(self, name: str, t_s: float, on: bool) -> None:
        if self.latches[name].set(t_s, on):
            self._cue(t_s, CUE_FOR[name], warning=name)

    def _pulse(self, name: str, t_s: float, **detail: Any) -> None:
        if self.latches[name].pulse(t_s):
            self._cue(t_s, CUE_FOR[name], warning=name, **detail)

    def _cue(self, t_s: float, name: str, **detail: Any) -> None:
        self.cues.append(Cue(t_s, name, self.step, detail))
