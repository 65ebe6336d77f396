"""The personal-scale wizard on the tablet: the slow press, fed from the device's frames.

``PersonWizard`` runs ``calibration.scale_procedure.ScaleProcedure`` in the web
process. The device link's listener feeds it each frame's sample time and
force (``on_message``, on the link's thread); the tablet asks for the status
(the pacer's target, the force, the rating to tap for next), posts a tap
(``mark``: at the latest sample time), then ``finish`` fits the marks and
stores them in the person's profile, or ``cancel`` drops everything.

On the simulator the simulated person follows the pacer (as ``knotcoach
calibrate person --source sim`` does), unless asked not to: they lie still at
the starting force and, when the rise begins, press along with it. Taps
always come from the tablet. Steering goes through short-lived threads:
the link's own thread must never wait for a reply from the device.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable

from calibration.intensity import IntensityScale, ScaleError, words_for
from calibration.profiles import ProfileError, ProfileStore
from calibration.scale_procedure import (DONE, HOLDING, RAMPING, SETTLING, STOPPED, WAITING, ProcedureError,
                                         ScaleProcedure)

G_MS2 = 9.81
#: The pacer starts at this share of body weight and rises to the top share (as the terminal command).
START_SHARE, TOP_SHARE = 0.08, 0.65
#: Nobody on the roller for this long (sample time) ends the press.
WAIT_LIMIT_S = 120.0
#: Gaps between frames remembered to size the tap's averaging window.
GAPS_KEPT = 25
#: Points of the fitted curve sent for the plot.
CURVE_POINTS = 61

PHASE_TEXT = {
    WAITING: "Lie on the roller and rest on it lightly.",
    SETTLING: "Good, you are on the roller. Stay light for a moment.",
    RAMPING: "Press slowly harder, keeping up with the pacer.",
    HOLDING: "Hold this pressure. Tap if you feel the rating; it ends in a moment.",
    DONE: "Done: see your scale.",
    STOPPED: "Stopped. Nothing was saved.",
}


class WizardRefused(ValueError):
    """A request the wizard cannot carry out now; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 409, **extra) -> None:
        super().__init__(message)
        self.status, self.extra = status, extra


class PersonWizard:
    """One slow press for one person and region."""

    def __init__(self, person: str, region: str, proc: ScaleProcedure, *, store: ProfileStore, save: bool,
                 source_kind: str, steer: Callable[..., Any] | None = None) -> None:
        self.person, self.region, self.proc = person, region, proc
        self.store, self.save, self.source_kind = store, save, source_kind
        self.steer = steer            # simulator only: the person follows the pacer
        self.lock = threading.Lock()
        self.stopped_why: str | None = None
        self._ramp_steered = self._eased = False
        self._t0_s: float | None = None   # sample time of the first frame seen
        self._base_window_s = proc.window_s
        self._gaps_s: list[float] = []     # sample time between recent frames

    # -- from the device link's thread ------------------------------------------------
    def on_message(self, message: dict[str, Any]) -> None:
        """A device message: frames feed the procedure; a restarted device ends it."""
        if message.get("type") == "hello" and message.get("restarted"):
            self._stop("The device restarted during the slow press. Nothing was saved: start again.")
            return
        if message.get("type") != "frame" or not isinstance(message.get("t_s"), (int, float)):
            return
        force = message.get("force_n")
        force_n = float(force) if isinstance(force, (int, float)) and not isinstance(force, bool) else math.nan
        steer: dict[str, Any] | None = None
        with self.lock:
            proc = self.proc
            if proc.finished or not message["t_s"] > proc.t_s:
                return  # a frame from before a restart, or one seen twice
            self._widen_window(message["t_s"] - proc.t_s)
            proc.feed(message["t_s"], force_n)
            self._t0_s = message["t_s"] if self._t0_s is None else self._t0_s
            if proc.phase == WAITING and message["t_s"] - self._t0_s > WAIT_LIMIT_S:
                proc.stop(proc.t_s)
                self.stopped_why = "Nobody rested on the roller for two minutes. Nothing was saved."
            if self.steer is not None:
                steer = self._follow_pacer()
        if steer is not None:
            self._steer_later("set_force", steady=True, **steer)

    def _widen_window(self, gap_s: float) -> None:
        """A tap averages the force over a short window (0.3 s) before it. Frames come 25 times a
        second of sample time, but sparser from a simulator run faster than real time (--speed):
        then the window covers at least the last two frames, so a tap always finds a force."""
        if not math.isfinite(gap_s):
            return
        self._gaps_s.append(gap_s)
        del self._gaps_s[:-GAPS_KEPT]
        typical_s = sorted(self._gaps_s)[len(self._gaps_s) // 2]
        self.proc.window_s = max(self._base_window_s, 2.2 * typical_s)

    def _follow_pacer(self) -> dict[str, float] | None:
        """The simulated person's next move: press along with the rise once it starts, ease
        back once the press is over (each once)."""
        proc = self.proc
        if proc.phase in (RAMPING, HOLDING) and not self._ramp_steered:
            self._ramp_steered = True
            left_s = proc.ramp_s * (1.0 - (proc.target_n - proc.start_n) / (proc.top_n - proc.start_n))
            return {"force_n": proc.top_n, "ramp_s": max(left_s, 0.0)}
        if proc.finished and not self._eased:
            self._eased = True
            return {"force_n": proc.start_n, "ramp_s": 2.0}
        return None

    def _steer_later(self, command: str, **kwargs) -> None:
        def run():
            try:
                self.steer(command, **kwargs)
            except Exception:  # the simulated person not following is no reason to fail the press
                pass
        threading.Thread(target=run, name="calibrate-steer", daemon=True).start()

    def _stop(self, why: str) -> None:
        with self.lock:
            if not self.proc.finished:
                self.proc.stop(self.proc.t_s if math.isfinite(self.proc.t_s) else 0.0)
                self.stopped_why = why

    # -- from requests ----------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What the tablet shows: phase, pacer, force, the next rating to tap, marks so far."""
        with self.lock:
            proc = self.proc
            force = None if math.isnan(proc.force_n) else round(proc.force_n, 1)
            next_rating = proc.next_rating
            return {
                "active": True, "person": self.person, "region": self.region, "phase": proc.phase,
                "text": self.stopped_why or PHASE_TEXT[proc.phase],
                "t_s": proc.t_s if math.isfinite(proc.t_s) else None,
                "force_n": force, "target_n": round(proc.target_n, 1), "start_n": round(proc.start_n, 1),
                "top_n": round(proc.top_n, 1), "ramp_s": proc.ramp_s, "progress": round(proc.progress, 4),
                "next_rating": next_rating, "next_words": proc.next_words,
                "ask": None if next_rating is None else f"Tap when it feels {next_rating:g}/10",
                "ratings": list(proc.ratings), "marks": [_mark(m) for m in proc.marks],
                "can_finish": proc.phase == DONE, "simulated": self.source_kind == "simulated",
                "saves": self.save,
            }

    def mark(self) -> dict[str, Any]:
        """A tap now: the next rating at the force felt just before the latest sample."""
        with self.lock:
            rating = self.proc.next_rating
            try:
                mark = self.proc.mark(self.proc.t_s)
            except ProcedureError as e:
                raise WizardRefused(str(e)) from None
            except ValueError:
                raise WizardRefused("no pressure has been measured yet: lie on the roller first") from None
            steer = self._follow_pacer() if self.steer is not None else None
        if steer is not None:  # all marks in: the simulated person eases back
            self._steer_later("set_force", steady=True, **steer)
        return {"mark": _mark(mark), "rating": rating, "phase": self.proc.phase}

    def finish(self, now_iso: str) -> dict[str, Any]:
        """Fit the marks, check them, store them (unless a simulator on the real data); the plot's points."""
        with self.lock:
            proc = self.proc
            if proc.phase == STOPPED:
                raise WizardRefused(self.stopped_why or "the slow press was stopped: nothing to save")
            if proc.phase != DONE:
                raise WizardRefused("the slow press is still going: tap the ratings asked for, or wait "
                                    "for the end of the hold")
            marks = proc.result()
        skipped = list(proc.ratings[len(marks):])
        try:
            scale = IntensityScale(marks)
            lo_n, hi_n = scale.band_n()
        except ScaleError as e:
            raise WizardRefused(f"{e} (nothing was saved)", 422, redo=True) from None
        saved = False
        if self.save:
            try:
                self.store.add_calibration(self.person, self.region, marks, now_iso,
                                           {"source": self.source_kind, "from": "tablet"})
            except ProfileError as e:
                raise WizardRefused(f"{e} (nothing was saved)", 422, redo=True) from None
            saved = True
        return {"person": self.person, "region": self.region, "saved": saved,
                "marks": [_mark(m) for m in scale.marks], "band_n": [round(lo_n, 1), round(hi_n, 1)],
                "band_ratings": [4.0, 5.0], "skipped": [{"rating": r, "words": words_for(r)} for r in skipped],
                "curve": curve_points(scale, max(proc.top_n, 1.25 * scale.marks[-1].force_n)),
                "note": None if saved else "simulated: not saved (start the coach with --data-dir to keep it)"}

    def cancel(self) -> None:
        """Stop at once; nothing is stored. The simulated person goes back to resting lightly."""
        self._stop("Stopped. Nothing was saved.")
        with self.lock:
            steer = self._follow_pacer() if self.steer is not None else None
        if steer is not None:
            self._steer_later("set_force", steady=True, **steer)


def make_procedure(body_kg: float, ratings, ramp_s: float) -> ScaleProcedure:
    """The slow press for a person of ``body_kg``: from 8 % to 65 % of body weight over ``ramp_s``."""
    body_n = body_kg * G_MS2
    return ScaleProcedure(START_SHARE * body_n, TOP_SHARE * body_n, ratings, ramp_s=ramp_s)


def curve_points(scale: IntensityScale, top_n: float, n: int = CURVE_POINTS) -> dict[str, list[float]]:
    """The fitted scale from 0 N to ``top_n``: forces and ratings for the plot."""
    forces = {round(top_n * i / (n - 1), 1) for i in range(n)}
    forces = sorted(forces | {_mark(m)["force_n"] for m in scale.marks})  # the marks' own points, as sent
    return {"force_n": forces, "rating": [round(float(scale.rating(f)), 3) for f in forces]}


def _mark(m) -> dict[str, float]:
    return {"force_n": round(m.force_n, 1), "rating": m.rating}
