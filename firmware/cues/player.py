"""The cue player: which pattern sounds when, and what the LED shows.

Pure scheduler: every call takes the time ``t_s`` (seconds, as everywhere in
Knot Coach); nothing reads a clock or starts a thread. ``update(t_s)``
answers what the buzzer and LED should be at ``t_s`` as a ``CueState``,
which is also the mirror the tablet shows, so nothing is lost on a machine
without GPIO.

Rules:

- **One sound at a time.** A pattern plays to its end unless a pattern of a
  higher priority (fault > ease_off / move_off_knot > step cues > hints)
  interrupts it. Between two patterns the buzzer is silent for at least
  ``min_gap_s``, also after an interruption, so two patterns never run into
  each other.
- **Warnings are held, not re-triggered.** ``hold(name)`` starts a warning
  that repeats (with its pattern's ``repeat_after_s``) until ``release``.
  Holding a warning that is already held changes nothing: it is never
  restarted. Repeats wait for a free buzzer; only a new warning interrupts.
  A fault may be held per key (one per cell): it lasts while any key holds it.
- **One-shot cues** (``play``): a cue that cannot start at once waits, but
  not for ever: a step cue older than ``stale_step_s`` and a hint older than
  ``stale_hint_s`` are dropped (a late "contract" misleads). A cue already
  playing or waiting is not queued twice. Hints are dropped while a warning
  or fault is held. A step cue cut by a warning is played again afterwards
  (from its start) if it is still fresh.
- **Time.** A pattern starts at an exact scheduled time, not at the tick that
  notices it, so the sound at ``t_s`` does not depend on how often
  ``update`` is called. A request with a time earlier than one already seen
  is taken as happening at the latest time seen (events from a block of
  samples arrive after their own timestamps).
- **LED.** ``set_led`` chooses idle / in_band / over / fault; a held fault
  shows ``fault`` and a held warning ``over`` whatever was set. Blinking is
  timed from the moment the shown state last changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from firmware.cues.patterns import (
    FAULT,
    IDLE,
    LED_LOOKS,
    OVER,
    PATTERNS,
    Pattern,
    Priority,
)

#: Rule events (firmware.pipeline.rules) and the warning each one holds.
EVENT_CUES: dict[str, str] = {
    "over_band": "ease_off",
    "on_knot": "move_off_knot",
    "sensor_fault": "fault",
}


@dataclass(frozen=True)
class CueState:
    """What the buzzer and LED do at ``t_s``; also the tablet's mirror."""

    t_s: float
    #: The pattern playing (also during its own short silences), or None.
    cue: str | None
    buzzer_on: bool
    #: Tone for a passive piezo while ``buzzer_on`` (None when silent).
    tone_hz: float | None
    led_state: str
    led_colour: str
    led_blink_hz: float
    led_on: bool
    #: Brightness 0..1 now (0 while the blink is dark).
    led_level: float
    led_rgb: tuple[float, float, float]
    #: Warnings currently held, highest priority first.
    held: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mirror for the tablet."""
        return {
            "t_s": round(self.t_s, 4),
            "cue": self.cue,
            "buzzer_on": self.buzzer_on,
            "tone_hz": self.tone_hz,
            "led": {
                "state": self.led_state,
                "colour": self.led_colour,
                "blink_hz": self.led_blink_hz,
                "on": self.led_on,
                "level": round(self.led_level, 3),
            },
            "held": list(self.held),
        }


@dataclass
class _Playing:
    pattern: Pattern
    start_s: float
    #: Time the request was made (one-shots keep it across an interruption).
    requested_s: float
    held: bool

    @property
    def end_s(self) -> float:
        return self.start_s + self.pattern.duration_s


@dataclass
class _Waiting:
    pattern: Pattern
    requested_s: float


@dataclass
class _Held:
    pattern: Pattern
    keys: set = field(default_factory=set)
    #: When the next repeat may start (a free buzzer permitting).
    due_s: float = 0.0
    since_s: float = 0.0


class CuePlayer:
    """Schedules cue patterns and LED states over time passed in by the caller."""

    def __init__(
        self,
        patterns: Mapping[str, Pattern] = PATTERNS,
        *,
        min_gap_s: float = 0.25,
        stale_step_s: float = 2.0,
        stale_hint_s: float = 0.5,
    ) -> None:
        for name, value in (("min_gap_s", min_gap_s), ("stale_step_s", stale_step_s),
                            ("stale_hint_s", stale_hint_s)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
        self.patterns = dict(patterns)
        self.min_gap_s = min_gap_s
        self.stale_step_s = stale_step_s
        self.stale_hint_s = stale_hint_s
        self.reset()

    def reset(self) -> None:
        """Silence, nothing held or waiting, LED idle, time forgotten."""
        self._now: float | None = None
        self._current: _Playing | None = None
        self._free_s = -math.inf
        self._waiting: list[_Waiting] = []
        self._held: dict[str, _Held] = {}
        self._led_set = IDLE
        self._led_shown = IDLE
        self._led_since_s = 0.0

    # --- requests -------------------------------------------------------------

    def play(self, name: str, t_s: float) -> bool:
        """Play ``name`` once. False when dropped (a duplicate, held, or a hint
        while a warning is held); True when it started or waits its turn."""
        pattern = self._pattern(name)
        t_s = self._advance(t_s)
        if name in self._held or any(w.pattern.name == name for w in self._waiting):
            return False
        if self._current is not None and self._current.pattern.name == name:
            return False
        if pattern.priority == Priority.HINT and self._top_held_priority() > Priority.HINT:
            return False
        self._waiting.append(_Waiting(pattern, t_s))
        self._maybe_interrupt(pattern, t_s)
        self._advance(t_s)
        return any(w.pattern.name == name for w in self._waiting) or (
            self._current is not None and self._current.pattern.name == name)

    def hold(self, name: str, t_s: float, key: Any = None) -> None:
        """Start a repeating warning (no-op if ``name`` is held already)."""
        pattern = self._pattern(name)
        t_s = self._advance(t_s)
        held = self._held.get(name)
        if held is not None:
            held.keys.add(key)
            return
        held = _Held(pattern, {key}, due_s=t_s, since_s=t_s)
        self._held[name] = held
        self._waiting = [w for w in self._waiting if w.pattern.name != name]
        self._waiting = [w for w in self._waiting if w.pattern.priority > Priority.HINT]
        cur = self._current
        if cur is not None and cur.pattern.name == name:
            # already sounding as a one-shot: it becomes the first repeat
            cur.held = True
            held.due_s = cur.end_s + self._repeat_s(pattern)
        else:
            self._maybe_interrupt(pattern, t_s)
        self._update_led(t_s)
        self._advance(t_s)

    def release(self, name: str, t_s: float, key: Any = None) -> None:
        """End a held warning (for ``key``); a sounding pattern plays to its end."""
        self._pattern(name)
        t_s = self._advance(t_s)
        held = self._held.get(name)
        if held is None:
            return
        held.keys.discard(key)
        if not held.keys:
            del self._held[name]
            self._update_led(t_s)

    def apply_event(self, event: Any) -> None:
        """Hold or release the warning for a rule event (``firmware.pipeline.rules.Event``
        or its ``to_dict()``): over_band, on_knot, sensor_fault start/end.
        Other events are ignored."""
        if isinstance(event, Mapping):
            name, edge, t_s = event["event"], event["edge"], event["t_s"]
            extra = {k: v for k, v in event.items() if k not in ("event", "edge", "t_s")}
        else:
            name, edge, t_s, extra = event.event, event.edge, event.t_s, event.extra
        cue = EVENT_CUES.get(name)
        if cue is None:
            return
        key = tuple(sorted(extra.items())) or None
        if edge == "start":
            self.hold(cue, t_s, key)
        elif edge == "end":
            self.release(cue, t_s, key)
        else:
            raise ValueError(f"an event edge is 'start' or 'end', not {edge!r}")

    def set_led(self, state: str, t_s: float) -> None:
        """Choose the LED state: idle, in_band, over or fault."""
        if state not in LED_LOOKS:
            raise ValueError(f"unknown LED state {state!r}; one of {sorted(LED_LOOKS)}")
        t_s = self._advance(t_s)
        self._led_set = state
        self._update_led(t_s)

    def stop_all(self, t_s: float) -> None:
        """Silence now: nothing playing, waiting or held (pause, end of session).
        The LED keeps its set state (a held fault or warning no longer shows)."""
        t_s = self._advance(t_s)
        self._cut(t_s)
        self._waiting.clear()
        self._held.clear()
        self._update_led(t_s)

    # --- the answer -------------------------------------------------------------

    def update(self, t_s: float) -> CueState:
        """What the buzzer and LED should be at ``t_s``."""
        t_s = self._advance(t_s)
        cur = self._current
        step = cur.pattern.step_at(t_s - cur.start_s) if cur is not None else None
        on = step is not None and step.on
        look = LED_LOOKS[self._led_shown]
        lit = look.lit_at(t_s - self._led_since_s)
        held = sorted(self._held.values(), key=lambda h: (-h.pattern.priority, h.since_s))
        return CueState(
            t_s=t_s,
            cue=cur.pattern.name if cur is not None else None,
            buzzer_on=on,
            tone_hz=step.tone_hz if on else None,
            led_state=look.state,
            led_colour=look.colour,
            led_blink_hz=look.blink_hz,
            led_on=lit,
            led_level=look.level if lit else 0.0,
            led_rgb=look.rgb,
            held=tuple(h.pattern.name for h in held),
        )

    @property
    def held(self) -> tuple[str, ...]:
        return tuple(self._held)

    # --- inside -------------------------------------------------------------------

    def _pattern(self, name: str) -> Pattern:
        try:
            return self.patterns[name]
        except KeyError:
            raise ValueError(f"unknown cue {name!r}; one of {sorted(self.patterns)}") from None

    def _repeat_s(self, pattern: Pattern) -> float:
        return pattern.repeat_after_s if pattern.repeat_after_s is not None else 2.0

    def _top_held_priority(self) -> int:
        return max((h.pattern.priority for h in self._held.values()), default=-1)

    def _clock(self, t_s: float) -> float:
        t_s = float(t_s)
        if not math.isfinite(t_s):
            raise ValueError(f"time must be finite, not {t_s!r}")
        if self._now is None or t_s > self._now:
            self._now = t_s
        return self._now

    def _update_led(self, t_s: float) -> None:
        priority = self._top_held_priority()
        shown = FAULT if priority >= Priority.FAULT else OVER if priority >= Priority.WARNING else self._led_set
        if shown != self._led_shown:
            self._led_shown, self._led_since_s = shown, t_s

    def _maybe_interrupt(self, pattern: Pattern, t_s: float) -> None:
        cur = self._current
        if cur is None or pattern.priority <= cur.pattern.priority:
            return
        if not cur.held and cur.pattern.priority == Priority.STEP:
            # a step cue cut short is played again afterwards, while fresh
            self._waiting.insert(0, _Waiting(cur.pattern, cur.requested_s))
        elif cur.held and cur.pattern.name in self._held:
            self._held[cur.pattern.name].due_s = t_s  # replay once the buzzer is free
        self._cut(t_s)

    def _cut(self, t_s: float) -> None:
        """Stop the current pattern at ``t_s``; the gap counts from its last sound."""
        cur = self._current
        if cur is None:
            return
        last_sound_end = acc = cur.start_s
        for step in cur.pattern.steps:
            if acc >= t_s:
                break
            acc += step.duration_s
            if step.on:
                last_sound_end = min(acc, t_s)
        self._free_s = max(self._free_s, last_sound_end + self.min_gap_s)
        self._current = None

    def _stale(self, w: _Waiting, start_s: float) -> bool:
        limit = self.stale_hint_s if w.pattern.priority == Priority.HINT else self.stale_step_s
        return start_s - w.requested_s > limit + 1e-9

    def _advance(self, t_s: float) -> float:
        """Run the schedule up to ``t_s``: finish patterns, start the next ones
        at their exact start times. Returns the (clamped) time."""
        t_s = self._clock(t_s)
        while True:
            cur = self._current
            if cur is not None:
                if cur.end_s > t_s:
                    return t_s
                self._current = None
                self._free_s = cur.end_s + self.min_gap_s
                if cur.held and cur.pattern.name in self._held:
                    held = self._held[cur.pattern.name]
                    held.due_s = cur.end_s + self._repeat_s(cur.pattern)
                continue
            nxt = self._next_start(t_s)
            if nxt is None:
                return t_s
            start_s, item = nxt
            if isinstance(item, _Held):
                item.due_s = math.inf  # set again when this repeat ends
                self._current = _Playing(item.pattern, start_s, start_s, held=True)
            else:
                self._waiting.remove(item)
                self._current = _Playing(item.pattern, start_s, item.requested_s, held=False)

    def _next_start(self, t_s: float) -> tuple[float, _Held | _Waiting] | None:
        """The pattern to start next and when (at or before ``t_s``), if any.

        Of the candidates that can start earliest, the highest priority wins
        (held warnings before one-shots of the same priority, then the oldest)."""
        best: tuple[float, int, int, float, _Held | _Waiting] | None = None
        for h in self._held.values():
            start = max(self._free_s, h.due_s)
            cand = (start, -h.pattern.priority, 0, h.since_s, h)
            if best is None or cand[:4] < best[:4]:
                best = cand
        for w in list(self._waiting):
            start = max(self._free_s, w.requested_s)
            if self._stale(w, start):
                if start <= t_s:
                    self._waiting.remove(w)  # it would start too late: drop it
                continue
            cand = (start, -w.pattern.priority, 1, w.requested_s, w)
            if best is None or cand[:4] < best[:4]:
                best = cand
        if best is None or best[0] > t_s:
            return None
        return best[0], best[4]
