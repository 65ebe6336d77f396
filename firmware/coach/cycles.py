"""The reset step's timer: place, then contract / relax cycles, with force checks.

Times are the coach's running seconds (pauses excluded). A contraction is
confirmed when the force moves away from the resting force measured just
before it by at least ``max(contract_change_frac * rest, contract_change_min_n)``;
full relaxation when, over the last ``relax_settle_s`` of the relax phase,
the force stays within ``max(relax_return_frac * rest, contract_change_min_n / 2)``
of that rest. The resting force is re-measured before each contraction unless the
relaxation before it was seen not to be full. Without force samples either
check stays ``None`` (unknown).
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.coach.settings import CoachSettings

PLACE, CONTRACT, RELAX = "place", "contract", "relax"


@dataclass
class CycleRecord:
    """One contract-relax cycle and what the force showed."""

    n: int
    rest_n: float | None = None
    change_n: float | None = None
    contracted: bool | None = None
    relaxed: bool | None = None
    complete: bool = False

    def to_dict(self) -> dict:
        r = lambda v: None if v is None else round(v, 2)
        return {"n": self.n, "rest_n": r(self.rest_n), "change_n": r(self.change_n),
                "contracted": self.contracted, "relaxed": self.relaxed, "complete": self.complete}


class ResetCycles:
    """Which phase is running, how long it has left, and each cycle's record."""

    def __init__(self, settings: CoachSettings, start_s: float) -> None:
        self.settings = settings
        self.plan = [(PLACE, settings.place_s)] + [(CONTRACT, settings.contract_s),
                                                     (RELAX, settings.relax_s)] * settings.cycles
        self.index = 0
        self.phase_start_s = start_s
        self.samples: list[tuple[float, float]] = []
        self.records: list[CycleRecord] = []

    @property
    def finished(self) -> bool:
        return self.index >= len(self.plan)

    @property
    def phase(self) -> str | None:
        return None if self.finished else self.plan[self.index][0]

    @property
    def n(self) -> int:
        """The cycle running (1-based); 0 while placing."""
        return (min(self.index, len(self.plan) - 1) + 1) // 2

    @property
    def of(self) -> int:
        return self.settings.cycles

    @property
    def done(self) -> int:
        return sum(r.complete for r in self.records)

    @property
    def end_s(self) -> float:
        return self.phase_start_s + self.plan[self.index][1]

    def seconds_left(self, now_s: float) -> float:
        return 0.0 if self.finished else max(self.end_s - now_s, 0.0)

    def remaining_s(self, now_s: float) -> float:
        """Seconds until the last relaxation ends."""
        return self.seconds_left(now_s) + sum(d for _, d in self.plan[self.index + 1:])

    def sample(self, now_s: float, force_n: float) -> None:
        self.samples.append((now_s, force_n))

    def advance(self) -> str | None:
        """Close the phase at its end; the phase that starts, or None after the last."""
        end_s, phase = self.end_s, self.phase
        if phase == CONTRACT:
            self._close_contract(end_s)
        elif phase == RELAX:
            self._close_relax(end_s)
        self.index += 1
        self.phase_start_s = end_s
        if self.finished:
            return None
        if self.phase == CONTRACT:
            self.records.append(CycleRecord(self.n, rest_n=self._rest_n(end_s)))
        keep_s = end_s - self.settings.relax_settle_s
        self.samples = [s for s in self.samples if s[0] >= keep_s]
        return self.phase

    def _rest_n(self, t_s: float) -> float | None:
        """The resting force before a contraction: measured now, unless the last relaxation
        was seen not to be full (then the last rest stays the reference)."""
        last = self.records[-1] if self.records else None
        if last is not None and last.relaxed is False:
            return last.rest_n
        return self._mean(t_s - self.settings.relax_settle_s, t_s)

    def _window(self, t0_s: float, t1_s: float) -> list[float]:
        return [f for t, f in self.samples if t0_s <= t < t1_s]

    def _mean(self, t0_s: float, t1_s: float) -> float | None:
        forces = self._window(t0_s, t1_s)
        return sum(forces) / len(forces) if forces else None

    def _close_contract(self, end_s: float) -> None:
        rec, s = self.records[-1], self.settings
        forces = self._window(self.phase_start_s, end_s)
        if rec.rest_n is None or not forces:
            return
        rec.change_n = max(abs(f - rec.rest_n) for f in forces)
        rec.contracted = rec.change_n >= max(s.contract_change_frac * rec.rest_n, s.contract_change_min_n)

    def _close_relax(self, end_s: float) -> None:
        rec, s = self.records[-1], self.settings
        rec.complete = True
        forces = self._window(end_s - s.relax_settle_s, end_s)
        if rec.rest_n is None or not forces:
            return
        tolerance = max(s.relax_return_frac * rec.rest_n, s.contract_change_min_n / 2)
        rec.relaxed = all(abs(f - rec.rest_n) <= tolerance for f in forces)
