"""Cue patterns: what the buzzer and the LED say, as plain data.

Every sound is a short timed sequence of steps ``(duration_s, on, tone_hz)``.
An active buzzer has one pitch, so each pattern is told apart by its rhythm
alone: how many beeps, short (S, at most 0.12 s) or long (L, 0.35 s or more),
and how far apart. ``tone_hz`` is only used by a passive piezo driven as a
``TonalBuzzer``; it adds a melody (falling for relax, rising for done) on top
of the same rhythm. Consecutive "on" steps with different tones sound as one
beep on an active buzzer.

Sounds, highest priority first (a higher one interrupts a lower one):

| pattern | priority | meaning | rhythm | repeats |
|---|---|---|---|---|
| ``fault`` | fault | a sensor failed; readings are not shown | three long, close: daah-daah-daah | after a 2.5 s pause, while the fault lasts |
| ``ease_off`` | warning | pressing harder than 5/10: ease off | three rapid short: di-di-di | after a 1.5 s pause, while over |
| ``move_off_knot`` | warning | resting on the marked knot: move beside it | short then long: di-daah | after a 2 s pause, while on the knot |
| ``contract`` | step | step 3: contract the muscle hard now (5 s) | two long: daah-daah | once |
| ``relax`` | step | step 3: let go fully and breathe out (10-15 s) | one long, soft; falling tones on a piezo: daaaah | once |
| ``step_done`` | step | this step is over, go to the next | two short, close: di-di (ding-dong) | once |
| ``session_done`` | step | the session is over; rate the knot again | two short then long, rising: di-di-daah | once |
| ``press_a_bit_more`` | hint | below 4/10: a little more pressure is fine | one tiny tick | once |
| ``slow_down`` | hint | strokes too fast: roll slower | two short, far apart: di ..... di | once |

LED states (a single LED shows the rhythm; an RGB LED adds the colour):

| state | meaning | colour | LED |
|---|---|---|---|
| ``idle`` | on, not coaching (or paused) | blue, dim | a short flash every 2 s (heartbeat) |
| ``in_band`` | pressure in the 4-5/10 band | green | steady on |
| ``over`` | over the band or on the knot | red | blinks 2 per second |
| ``fault`` | a sensor fault | amber | blinks fast, 5 per second |

Pure data and logic: no clock, no GPIO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

#: A beep is short (S) up to this length, in seconds ...
SHORT_MAX_S = 0.12
#: ... and long (L) from this length on; between them is medium (M).
LONG_MIN_S = 0.35
#: A silence inside a pattern is "close" up to this length, else "far".
CLOSE_GAP_MAX_S = 0.3


class Priority(IntEnum):
    """Who interrupts whom: a higher value interrupts a lower one."""

    HINT = 0
    STEP = 1
    WARNING = 2
    FAULT = 3


@dataclass(frozen=True)
class Step:
    """One piece of a pattern: ``duration_s`` of sound (``on``) or silence."""

    duration_s: float
    on: bool
    tone_hz: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"a step lasts a positive time, not {self.duration_s!r}")
        if self.tone_hz is not None and not (self.on and self.tone_hz > 0):
            raise ValueError("only a sounding step has a tone, and it is positive")


@dataclass(frozen=True)
class Pattern:
    """A named sound: its steps, priority and, for warnings, repeat pause."""

    name: str
    priority: Priority
    steps: tuple[Step, ...]
    meaning: str
    rhythm: str
    #: Silence between repeats while the condition is held (None: plays once).
    repeat_after_s: float | None = None

    def __post_init__(self) -> None:
        if not self.steps or not self.steps[0].on or not self.steps[-1].on:
            raise ValueError(f"pattern {self.name!r} must start and end with a sound")

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.steps)

    def step_at(self, offset_s: float) -> Step | None:
        """The step sounding ``offset_s`` after the start; None outside the pattern."""
        if offset_s < 0:
            return None
        end = 0.0
        for step in self.steps:
            end += step.duration_s
            if offset_s < end:
                return step
        return None

    def beeps(self) -> list[tuple[float, float]]:
        """(start_s, length_s) of each audible beep: adjacent "on" steps merge."""
        out: list[tuple[float, float]] = []
        t = 0.0
        prev_on = False
        for step in self.steps:
            if step.on:
                if prev_on:
                    start, length = out[-1]
                    out[-1] = (start, length + step.duration_s)
                else:
                    out.append((t, step.duration_s))
            prev_on = step.on
            t += step.duration_s
        return out

    def signature(self) -> str:
        """The rhythm an active buzzer plays, as letters: S/M/L beeps, ``-`` a
        close gap, ``_`` a far gap. Distinct patterns have distinct signatures."""
        parts: list[str] = []
        beeps = self.beeps()
        for i, (start, length) in enumerate(beeps):
            if i:
                prev_start, prev_len = beeps[i - 1]
                gap = start - (prev_start + prev_len)
                parts.append("-" if gap <= CLOSE_GAP_MAX_S else "_")
            parts.append("S" if length <= SHORT_MAX_S else "L" if length >= LONG_MIN_S else "M")
        return "".join(parts)


def _beeps(*spec: float | tuple[float, float]) -> tuple[Step, ...]:
    """Alternating sound/silence durations; a (duration_s, tone_hz) tuple adds a tone.

    ``_beeps(0.1, 0.1, (0.5, 880))`` is 0.1 s on, 0.1 s off, 0.5 s on at 880 Hz.
    A sound may be a list of (duration_s, tone_hz) tuples: one beep, several tones.
    """
    steps: list[Step] = []
    for i, item in enumerate(spec):
        on = i % 2 == 0
        if isinstance(item, list):
            steps += [Step(d, True, hz) for d, hz in item]
        elif isinstance(item, tuple):
            steps.append(Step(item[0], on, item[1]))
        else:
            steps.append(Step(float(item), on, 880.0 if on else None))
    return tuple(steps)


_PATTERNS = (
    Pattern(
        "fault", Priority.FAULT,
        _beeps((0.4, 587.0), 0.15, (0.4, 587.0), 0.15, (0.4, 587.0)),
        "a sensor failed; readings are not shown", "three long, close: daah-daah-daah",
        repeat_after_s=2.5,
    ),
    Pattern(
        "ease_off", Priority.WARNING,
        _beeps((0.07, 1175.0), 0.07, (0.07, 1175.0), 0.07, (0.07, 1175.0)),
        "pressing harder than 5/10: ease off", "three rapid short: di-di-di",
        repeat_after_s=1.5,
    ),
    Pattern(
        "move_off_knot", Priority.WARNING,
        _beeps((0.08, 988.0), 0.12, (0.45, 740.0)),
        "resting on the marked knot: move beside it", "short then long: di-daah",
        repeat_after_s=2.0,
    ),
    Pattern(
        "contract", Priority.STEP,
        _beeps((0.5, 784.0), 0.25, (0.5, 784.0)),
        "contract the muscle hard now", "two long: daah-daah",
    ),
    Pattern(
        "relax", Priority.STEP,
        _beeps([(0.3, 659.0), (0.3, 554.0), (0.4, 440.0)]),
        "let go fully and breathe out", "one long, soft, falling: daaaah",
    ),
    Pattern(
        "step_done", Priority.STEP,
        _beeps((0.1, 880.0), 0.15, (0.1, 659.0)),
        "this step is over, go to the next", "two short, close: di-di",
    ),
    Pattern(
        "session_done", Priority.STEP,
        _beeps((0.1, 523.0), 0.1, (0.1, 659.0), 0.1, (0.6, 784.0)),
        "the session is over; rate the knot again", "two short then long, rising: di-di-daah",
    ),
    Pattern(
        "press_a_bit_more", Priority.HINT,
        _beeps((0.05, 494.0)),
        "below 4/10: a little more pressure is fine", "one tiny tick",
    ),
    Pattern(
        "slow_down", Priority.HINT,
        _beeps((0.08, 523.0), 0.6, (0.08, 523.0)),
        "strokes too fast: roll slower", "two short, far apart: di ..... di",
    ),
)

#: Every pattern by name.
PATTERNS: dict[str, Pattern] = {p.name: p for p in _PATTERNS}


# --- LED ---------------------------------------------------------------------

@dataclass(frozen=True)
class LedLook:
    """How the LED shows one state: colour name, RGB, blink period and duty."""

    state: str
    colour: str
    rgb: tuple[float, float, float]
    #: Blink period in seconds; None: steady.
    period_s: float | None
    #: Fraction of the period the LED is lit.
    duty: float
    #: Brightness when lit (for a PWM or RGB LED; a plain LED is just on).
    level: float
    meaning: str

    @property
    def blink_hz(self) -> float:
        return 0.0 if self.period_s is None else 1.0 / self.period_s

    def lit_at(self, since_s: float) -> bool:
        """Whether the LED is lit ``since_s`` after entering this state."""
        if self.period_s is None:
            return True
        phase = (max(since_s, 0.0) % self.period_s) / self.period_s
        return phase < self.duty


IDLE, IN_BAND, OVER, FAULT = "idle", "in_band", "over", "fault"

LED_LOOKS: dict[str, LedLook] = {
    IDLE: LedLook(IDLE, "blue", (0.0, 0.0, 0.25), 2.0, 0.05, 0.25, "on, not coaching"),
    IN_BAND: LedLook(IN_BAND, "green", (0.0, 1.0, 0.0), None, 1.0, 1.0, "pressure in the band"),
    OVER: LedLook(OVER, "red", (1.0, 0.0, 0.0), 0.5, 0.5, 1.0, "over the band or on the knot"),
    FAULT: LedLook(FAULT, "amber", (1.0, 0.5, 0.0), 0.2, 0.5, 1.0, "a sensor fault"),
}
