"""The slow press that calibrates a person's 0-10 scale, as a pure state machine.

The person lies on the roller. Once they rest on it (``waiting`` ends when the
force reaches half the starting target), the target holds at a light force for
a few seconds (``settling``), then rises at a steady rate (``ramping``) to
about 60 % of body weight and holds there for a moment (``holding``). The
person follows the target and taps (a key, a button) each time the pressure
feels like the next rating asked for: by default 2/10, 5/10 and 7/10. After
the last rating, or at the end of the hold, the procedure is ``done``;
``stop`` abandons it at once (``stopped``) and nothing may be saved.

A tap records the force averaged over ``window_s`` (0.3 s) ending
``reaction_s`` (0.1 s) before the tap: the tap comes a moment after the
feeling (people react in about 0.2-0.4 s), so the window is centred a typical
reaction time back.

Pure: the caller passes the sample times and forces (``feed``) and the tap
times (``mark``); nothing here reads a clock or sleeps.
"""

from __future__ import annotations

import math
from collections import deque

from calibration.intensity import Mark, check_ratings, words_for

#: The ratings asked for by default, lowest first.
DEFAULT_RATINGS = (2.0, 5.0, 7.0)
#: A tap with less than this on the roller is not a mark.
MIN_MARK_N = 2.0

WAITING, SETTLING, RAMPING, HOLDING, DONE, STOPPED = "waiting", "settling", "ramping", "holding", "done", "stopped"


class ProcedureError(ValueError):
    """A tap or a result that cannot be used now; ``str()`` is one line."""


class ScaleProcedure:
    """Feed it samples, tell it about taps; it says what to show and collects the marks."""

    def __init__(self, start_n: float, top_n: float, ratings=DEFAULT_RATINGS, *, ramp_s: float = 25.0,
                 settle_s: float = 3.0, hold_s: float = 5.0, window_s: float = 0.3,
                 reaction_s: float = 0.1) -> None:
        self.ratings = check_ratings(ratings)
        for name, v in (("start_n", start_n), ("ramp_s", ramp_s), ("window_s", window_s)):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, not {v}")
        for name, v in (("settle_s", settle_s), ("hold_s", hold_s), ("reaction_s", reaction_s)):
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a number >= 0, not {v}")
        if not (math.isfinite(top_n) and top_n > start_n):
            raise ValueError(f"top_n must be above start_n ({start_n} N), not {top_n}")
        self.start_n, self.top_n = float(start_n), float(top_n)
        self.ramp_s, self.settle_s, self.hold_s = float(ramp_s), float(settle_s), float(hold_s)
        self.window_s, self.reaction_s = float(window_s), float(reaction_s)
        self.phase = WAITING
        self.marks: list[Mark] = []
        self.force_n = math.nan
        self.t_s = -math.inf
        self._t_on_s: float | None = None  # when the person was first resting on the roller
        self._recent: deque[tuple[float, float]] = deque()

    # -- what to show ---------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.phase in (DONE, STOPPED)

    @property
    def ramp_rate_n_per_s(self) -> float:
        return (self.top_n - self.start_n) / self.ramp_s

    @property
    def target_n(self) -> float:
        """The force to follow now (the pacer)."""
        if self._t_on_s is None:
            return self.start_n
        into_ramp_s = self.t_s - self._t_on_s - self.settle_s
        return self.start_n + self.ramp_rate_n_per_s * min(max(into_ramp_s, 0.0), self.ramp_s)

    @property
    def progress(self) -> float:
        """0 at the start of the rise, 1 at the end of the hold (or when all marks are in)."""
        if self.phase == DONE:
            return 1.0
        if self._t_on_s is None:
            return 0.0
        into_ramp_s = self.t_s - self._t_on_s - self.settle_s
        return min(max(into_ramp_s / (self.ramp_s + self.hold_s), 0.0), 1.0)

    def tick_due(self, last_tick_s: float | None) -> bool:
        """Whether the pacing tick should sound now, so the ramp can be followed by ear,
        eyes closed: ticks come quicker as the pacer rises, from one a second at the
        start of the rise to four a second at the top, and stop outside the rise."""
        if self.phase != RAMPING:
            return False
        fraction = (self.target_n - self.start_n) / (self.top_n - self.start_n)
        return last_tick_s is None or self.t_s - last_tick_s >= 1.0 - 0.75 * fraction

    @property
    def next_rating(self) -> float | None:
        """The rating the next tap will mark, or None when none is left."""
        if self.finished or len(self.marks) >= len(self.ratings):
            return None
        return self.ratings[len(self.marks)]

    @property
    def next_words(self) -> str:
        r = self.next_rating
        return "" if r is None else words_for(r)

    # -- input ----------------------------------------------------------------

    def feed(self, t_s: float, force_n: float) -> None:
        """One measured sample (NaN force: no measurement). Times must rise."""
        t_s, force_n = float(t_s), float(force_n)
        if not math.isfinite(t_s) or t_s <= self.t_s:
            raise ValueError(f"sample times must rise, not {t_s} after {self.t_s}")
        if self.finished:
            return
        self.t_s, self.force_n = t_s, force_n
        if not math.isnan(force_n):
            self._recent.append((t_s, force_n))
        keep_s = self.window_s + self.reaction_s + 1.0
        while self._recent and self._recent[0][0] < t_s - keep_s:
            self._recent.popleft()
        self._advance_phase(force_n)

    def _advance_phase(self, force_n: float) -> None:
        if self.phase == WAITING:
            if force_n >= 0.5 * self.start_n:
                self._t_on_s = self.t_s
                self.phase = SETTLING
            return
        into_ramp_s = self.t_s - self._t_on_s - self.settle_s
        if into_ramp_s >= self.ramp_s + self.hold_s:
            self.phase = DONE
        elif into_ramp_s >= self.ramp_s:
            self.phase = HOLDING
        elif into_ramp_s >= 0:
            self.phase = RAMPING

    def mark(self, t_s: float) -> Mark:
        """A tap at ``t_s``: the next rating at the force felt just before it."""
        t_s = float(t_s)
        if not math.isfinite(t_s):
            raise ValueError(f"a tap time must be a finite number, not {t_s}")
        if self.finished:
            raise ProcedureError("the calibration is over: no more marks")
        if self.phase == WAITING:
            raise ProcedureError("lie on the roller first, then tap when you feel it")
        end = t_s - self.reaction_s
        window = [f for t, f in self._recent if end - self.window_s <= t <= end]
        if not window:
            raise ProcedureError("no pressure was measured just before that tap: tap again")
        force_n = sum(window) / len(window)
        if force_n < MIN_MARK_N:
            raise ProcedureError("nothing was resting on the roller at that tap: tap again")
        mark = Mark(force_n, self.ratings[len(self.marks)])
        self.marks.append(mark)
        if len(self.marks) == len(self.ratings):
            self.phase = DONE
        return mark

    def stop(self, t_s: float) -> None:
        """Abandon at once: nothing is to be saved."""
        self.t_s = max(self.t_s, float(t_s))
        self.phase = STOPPED

    def result(self) -> tuple[Mark, ...]:
        """The marks, once the procedure is done (fit them with ``IntensityScale``)."""
        if self.phase == STOPPED:
            raise ProcedureError("the calibration was stopped: nothing to save")
        if self.phase != DONE:
            raise ProcedureError("the calibration is not finished yet")
        return tuple(self.marks)
