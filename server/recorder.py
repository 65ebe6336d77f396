"""Keeps each coached session in the database, from what the device reports.

The web process follows the device's channel (``server.device_link``); the
recorder turns that stream into rows: a session row when the coach starts
one, a checkpoint about once a second (so a crash loses at most a second),
each warning with its start and end, the ending — done, aborted, or
crashed when the device restarted mid-session — and the session's raw
recording once the device has finished writing it. Times in the database are
seconds since the session started; dates come from the injected ``now_iso``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from server.store import SessionStore

#: Steps during which a session is under way.
ACTIVE_STEPS = ("find", "around", "reset", "rerate")
CHECKPOINT_S = 1.0


def utc_now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class SessionRecorder:
    """Feed it every channel message (``handle``); it writes through ``store``."""

    def __init__(self, store: SessionStore, now_iso: Callable[[], str] = utc_now_iso) -> None:
        self.store, self.now_iso = store, now_iso
        self.session_id: int | None = None
        self._t0 = 0.0            # the device's sample time when the session started
        self._t_checkpoint = 0.0
        self._last: dict[str, Any] = {}
        self._who: tuple = ()                     # (person, region) of the session being written
        self._ended: tuple[int, tuple] | None = None  # the last session finished, and whose it was
        self.boot_id: str | None = None           # the run of the device process being followed
        self._seen: dict[str, int] = {}           # per coach warning: episodes already stored
        self._open: dict[str, int] = {}           # per coach warning: the stored episode still on

    def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "hello":
            self._hello(message)
        elif kind == "frame":
            self._frame(message)
        elif kind == "event" and message.get("kind") == "recording":
            self._recording(message)

    def _hello(self, message: dict[str, Any]) -> None:
        if message.get("restarted") and self.session_id is not None:
            self._finish("crashed", self._last)  # the device lost the session with its state
        boot = message.get("boot_id")
        self.boot_id = boot if isinstance(boot, str) else None
        if self.boot_id is not None:
            # Sessions another run of the device left running (a power cut, a kill) are over.
            self.store.recover_unfinished(device_boot=self.boot_id)

    def _frame(self, frame: dict[str, Any]) -> None:
        coach, t_s = frame.get("coach") or {}, frame.get("t_s")
        if t_s is None:
            return
        step = coach.get("step")
        if self.session_id is None and step in ACTIVE_STEPS and coach.get("session"):
            self._start(coach, t_s)
        if self.session_id is None:
            return
        self._last = {**coach, "t_s": t_s}
        # The coach's own running seconds (pauses excluded) are the session's clock;
        # warnings in sample time are placed on it through the latest frame.
        self._t0 = t_s - (coach.get("running_s") or 0.0)
        self._coach_warnings(coach, t_s)
        if step == "done" or step not in ACTIVE_STEPS:
            self._finish("aborted" if coach.get("aborted") else "done", self._last)
        elif t_s - self._t_checkpoint >= CHECKPOINT_S:
            self._t_checkpoint = t_s
            knot = coach.get("knot") or [None, None]
            self.store.update_progress(self.session_id, self._elapsed(coach), coach.get("time_in_band_s") or 0.0,
                                       coach.get("cycles_done") or 0, step=step,
                                       knot_x_mm=knot[0], knot_y_mm=knot[1])

    def _elapsed(self, coach: dict[str, Any]) -> float:
        return max(coach.get("running_s") or 0.0, coach.get("time_in_band_s") or 0.0)

    def _start(self, coach: dict[str, Any], t_s: float) -> None:
        """A new session row, or the running one again after the web process restarted."""
        s = coach["session"]
        self.session_id = self.store.running_session(s["person"], s["region"], self.boot_id)
        resumed = self.session_id is not None
        if not resumed:
            self.session_id = self.store.start_session(s["person"], s["region"], s["tool"], self.now_iso(),
                                                       pain_before=s.get("pain_before"), step=coach["step"],
                                                       device_boot=self.boot_id)
        self._t_checkpoint = t_s
        self._who = (s["person"], s["region"])
        stored = self.store.session(self.session_id).warnings if resumed else ()
        self._seen = {name: sum(1 for w in stored if w.name == name) for name in {w.name for w in stored}}
        self._open = {w.name: w.id for w in stored if w.end_t_s is None}

    def _coach_warnings(self, coach: dict[str, Any], t_s: float) -> None:
        """Each warning episode the coach raised (what the person was told, what the summary
        counts), from its latches in the frame: new starts stored, ends when they go off.
        An episode that began and ended between two frames ends at the later frame."""
        now_rel = max(0.0, t_s - self._t0)
        for name, view in (coach.get("warnings") or {}).items():
            starts = [float(x) for x in (view.get("times_s") or [])]
            for i in range(self._seen.get(name, 0), len(starts)):
                if name in self._open:  # a new episode: the one still open has ended
                    self.store.end_warning(self._open.pop(name), now_rel)
                self._open[name] = self.store.add_warning(self.session_id, name,
                                                          min(max(0.0, starts[i] - self._t0), now_rel))
            self._seen[name] = len(starts)
            if not view.get("active") and name in self._open:
                self.store.end_warning(self._open.pop(name), now_rel)

    def _finish(self, outcome: str, coach: dict[str, Any]) -> None:
        end_rel = self._elapsed(coach)
        for warning_id in self._open.values():  # still on when the session ended
            self.store.end_warning(warning_id, end_rel)
        self._open, self._seen = {}, {}
        self.store.finish_session(self.session_id, self.now_iso(), outcome, pain_after=coach.get("pain_after"),
                                  t_s=self._elapsed(coach), time_in_band_s=coach.get("time_in_band_s") or 0.0,
                                  cycles_done=coach.get("cycles_done") or 0)
        self._ended = (self.session_id, self._who)
        self.session_id = None

    def _recording(self, event: dict[str, Any]) -> None:
        """The device finished a session's recording. It does so on the stop or rating that ends
        the session, so the event comes just before the session's last frame or, when frames
        and events cross, just after it: either way it belongs to the session of that person
        and region, running or just ended."""
        who = (event.get("person"), event.get("region"))
        if self.session_id is not None and who == self._who:
            self.store.set_recording(self.session_id, event.get("path"))
        elif self._ended is not None and who == self._ended[1]:
            self.store.set_recording(self._ended[0], event.get("path"))
