"""A simulated person rolling on the platform: the ground truth.

A person of a given body mass lies on a roller (or ball) on the platform and
rolls short strokes on the tissue around a knot. ``Person.advance(t_s)``
returns, for a run of sample times, the TRUE total force on the platform and
the TRUE point where it acts, in platform millimetres (NaN while nothing is on
the platform). ``Person.steer(command, t_s, ...)`` changes what the person does
from ``t_s`` on. For calibrating the platform, ``clear_platform`` takes
everyone and everything off it (and stops the autopilot) and ``place_mass``
/ ``remove_mass`` put a static known mass at a point, alone or with the person.

Numbers follow DESIGN.md: about 30-35 % of body weight on the roller while
rolling, peaks 50-55 % when pressing too hard, a self-chosen cadence of about
33 +/- 10 strokes/min (a stroke is one pass in one direction, about 100 mm),
load ramping on over 0.5-1 s when lying down.

The person is a set of piecewise "tracks" over time (presence, force level,
body mass, how far onto the knot, knot position) plus a rolling pattern made
of bouts. Every random draw comes from its own key (seed, stream, index), so
the output depends only on the seed and on the commands and their times,
never on how time is chunked into ``advance`` calls. No clock, no sleeps.

Layout: ``firmware.sim.tracks`` (keyed random draws, ``Track``),
``firmware.sim.strokes`` (the rolling pattern), ``firmware.sim.steering``
(what each command does, ``CHANNELS``/``COMMANDS``, ``G_MS2``) and, here,
the ``Person`` state machine that schedules and applies them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from firmware.sim.steering import CHANNELS, COMMANDS, G_MS2, PersonCommands, check_mass, check_seed
from firmware.sim.strokes import KNOT_CLEARANCE_MM, TRANSITION_S, Strokes
from firmware.sim.tracks import COMMAND_STREAM, EPISODE_STREAM, PERSON_STREAM, Track, keyed_rng, smoothstep

__all__ = ["AUTOPILOT_QUIET_S", "CHANNELS", "COMMANDS", "G_MS2", "KNOT_CLEARANCE_MM", "TRANSITION_S", "Person",
           "PersonSample", "Track", "smoothstep"]

#: After a command from outside, the autopilot waits at least this long before its next episode.
AUTOPILOT_QUIET_S = 20.0
#: Mean stroke-to-stroke force dip (fraction of the peak), used to set the peak from the mean share.
_MEAN_DEPTH = 0.18


class PersonSample(NamedTuple):
    """The truth at a run of sample times: seconds, newtons, platform millimetres."""

    t_s: np.ndarray
    force_n: np.ndarray
    x_mm: np.ndarray
    y_mm: np.ndarray


class Person(PersonCommands):
    """A person rolling on the platform, as a state machine over time.

    ``advance(t_s)`` returns the truth for increasing sample times;
    ``steer(command, t_s, **kwargs)`` applies a command from ``t_s`` on
    (``t_s`` must not be before the last time already advanced). With
    ``autopilot`` the person also, now and then, presses too hard, dwells on
    the knot, rolls over it, or lifts off and lies down again.
    """

    def __init__(self, seed: int = 0, body_mass_kg: float = 75.0, knot_x_mm: float = 300.0,
                 knot_y_mm: float = 200.0, *, lateral: bool = True, autopilot: bool = False,
                 lie_down_at_s: float | None = 2.0, cadence_spm: float | None = None,
                 rolling_share: float | None = None) -> None:
        self.seed = check_seed(seed)
        check_mass(body_mass_kg)
        rng = keyed_rng(self.seed, PERSON_STREAM)
        drawn_cadence, drawn_share = float(np.clip(rng.normal(33.0, 10.0), 18.0, 48.0)), rng.uniform(0.30, 0.35)
        self.cadence_spm = float(cadence_spm) if cadence_spm is not None else drawn_cadence
        #: Mean force while rolling as a share of body weight.
        self.rolling_share = float(rolling_share) if rolling_share is not None else float(drawn_share)
        self.normal_peak_share = self.rolling_share / (1.0 - _MEAN_DEPTH / 2.0)
        self.lateral = lateral
        self._sway = rng.uniform(0, 2 * math.pi, 4)
        self._presence = Track(0.0)
        self._share = Track(self.normal_peak_share, smooth=False)
        self._mass = Track(body_mass_kg)
        self._on_knot = Track(0.0)
        self._steady = Track(0.0)  # 1: force held at the level even while rolling
        self._knot_x, self._knot_y = Track(knot_x_mm), Track(knot_y_mm)
        # A static load (a calibration mass) and where it stands.
        self._static_n, self._static_x, self._static_y = Track(0.0), Track(0.0), Track(0.0)
        self._strokes = Strokes(self.seed, self.cadence_spm, lateral)
        self._t_done = -math.inf
        self._n_advances = 0
        self._n_commands = 0
        self._pending: list[tuple[float, int, str, dict]] = []  # scheduled by the person itself
        self._seq = 0
        self._episode_k = 0
        self._next_episode_s = math.inf
        if lie_down_at_s is not None:
            self._schedule(float(lie_down_at_s), "lie_down", {})
        if autopilot:
            first = (lie_down_at_s or 0.0) + keyed_rng(self.seed, EPISODE_STREAM, 10**6).uniform(8.0, 15.0)
            self._next_episode_s = first

    # -- running -----------------------------------------------------------

    def advance(self, t_s) -> PersonSample:
        """The truth at the sample times ``t_s`` (increasing, not before earlier calls)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        if t.ndim != 1:
            raise ValueError("t_s must be one-dimensional")
        if not len(t):
            return PersonSample(t, t.copy(), t.copy(), t.copy())
        if t[0] < self._t_done or np.any(np.diff(t) < 0):
            raise ValueError("sample times must increase and not go back before earlier calls")
        self._apply_until(float(t[-1]))
        out = self._evaluate(t)
        self._t_done = float(t[-1])
        self._n_advances += 1
        if self._n_advances % 256 == 0:  # keep a days-long demo from accumulating history
            for track in self._tracks():
                track.forget_before(float(t[-1]))
            self._strokes.forget_before(float(t[-1]))
        return out

    def steer(self, command: str, t_s: float, **kwargs) -> None:
        """Apply ``command`` from ``t_s`` on; see ``COMMANDS``."""
        if command not in CHANNELS:
            raise ValueError(f"unknown command {command!r}; known: {', '.join(COMMANDS)}")
        t_s = float(t_s)
        if not math.isfinite(t_s) or t_s < self._t_done:
            raise ValueError(f"cannot steer at {t_s} s: already advanced to {self._t_done} s")
        self._apply_until(t_s)
        channel = CHANNELS[command]
        if channel != "config":
            self._pending = [p for p in self._pending if CHANNELS[p[2]] != channel]
        if math.isfinite(self._next_episode_s):
            self._next_episode_s = max(self._next_episode_s, t_s + AUTOPILOT_QUIET_S)
        self._apply(command, t_s, kwargs)

    @property
    def body_weight_n(self) -> float:
        return self._mass.target_at(self._t_done) * G_MS2

    def knot_at(self, t_s: float) -> tuple[float, float]:
        return self._knot_x.target_at(t_s), self._knot_y.target_at(t_s)

    def _tracks(self):
        return (self._presence, self._share, self._mass, self._on_knot, self._steady, self._knot_x, self._knot_y,
                self._static_n, self._static_x, self._static_y)

    def _evaluate(self, t: np.ndarray) -> PersonSample:
        dx, dy, stroke_factor = self._strokes(t)
        on = self._on_knot(t)
        sway_x = 2.5 * np.sin(2 * math.pi * 0.23 * t + self._sway[0]) + 1.5 * np.sin(2 * math.pi * 0.61 * t + self._sway[1])
        sway_y = 2.0 * np.sin(2 * math.pi * 0.17 * t + self._sway[2]) + 1.0 * np.sin(2 * math.pi * 0.53 * t + self._sway[3])
        factor = 1.0 - (1.0 - on) * (1.0 - self._steady(t)) * (1.0 - stroke_factor)
        force = self._presence(t) * self._share(t) * self._mass(t) * G_MS2 * factor
        force = np.maximum(force, 0.0)
        x = self._knot_x(t) + (1.0 - on) * dx + on * sway_x
        y = self._knot_y(t) + ((1.0 - on) * dy + on * sway_y if self.lateral else 0.0)
        force, x, y = self._add_static_load(t, force, x, y)
        unloaded = force <= 1e-9
        force[unloaded] = 0.0
        x = np.where(unloaded, np.nan, x)
        y = np.where(unloaded, np.nan, y)
        return PersonSample(t, force, x, y)

    def _add_static_load(self, t: np.ndarray, force, x, y):
        """The person's force and point combined with a placed mass (unchanged when there is none)."""
        static = self._static_n(t)
        if not np.any(static > 0):
            return force, x, y
        sx, sy = self._static_x(t), self._static_y(t)
        total = force + static
        safe = np.where(total > 0, total, 1.0)
        person_x = np.where(force > 0, x, 0.0)
        person_y = np.where(force > 0, y, 0.0)
        cx = np.where(static > 0, (force * person_x + static * sx) / safe, x)
        cy = np.where(static > 0, (force * person_y + static * sy) / safe, y)
        return total, cx, cy

    # -- scheduling ----------------------------------------------------------

    def _schedule(self, t_s: float, command: str, kwargs: dict) -> None:
        self._pending.append((t_s, self._seq, command, kwargs))
        self._seq += 1
        self._pending.sort(key=lambda p: (p[0], p[1]))

    def _apply_until(self, t_s: float) -> None:
        """Carry out the person's own scheduled commands and episodes up to ``t_s``."""
        while True:
            t_p = self._pending[0][0] if self._pending else math.inf
            t_e = self._next_episode_s
            if min(t_p, t_e) > t_s:
                return
            if t_e < t_p:
                self._start_episode(t_e)
            else:
                t, _, command, kwargs = self._pending.pop(0)
                self._apply(command, t, kwargs)

    def _apply(self, command: str, t_s: float, kwargs: dict) -> None:
        rng = keyed_rng(self.seed, COMMAND_STREAM, self._n_commands)
        self._n_commands += 1
        getattr(self, "_do_" + command)(t_s, rng, **kwargs)

    def _start_episode(self, t_s: float) -> None:
        """One spontaneous episode of the autopilot, expanded into scheduled commands."""
        rng = keyed_rng(self.seed, EPISODE_STREAM, self._episode_k)
        self._episode_k += 1
        end = t_s
        if self._presence.target_at(t_s) > 0.5:
            kind = str(rng.choice(["press", "dwell", "pass", "lift"], p=[0.35, 0.3, 0.15, 0.2]))
            first, second, lead, hold = {
                "press": ("press_harder", "ease_off", 2.5, rng.uniform(2.0, 6.0)),
                "dwell": ("move_onto_knot", "move_off_knot", 0.8, rng.uniform(1.5, 4.0)),
                "pass": ("pass_through_knot", None, 1.0, 0.0),
                "lift": ("lift_off", "lie_down", 0.6, rng.uniform(3.0, 8.0)),
            }[kind]
            ramp = {"ramp_s": rng.uniform(0.4, lead)} if kind == "press" else {}
            self._schedule(t_s, first, ramp)
            end = t_s + lead + hold
            if second:
                self._schedule(end, second, {})
            end += 1.5
        self._next_episode_s = end + rng.uniform(10.0, 30.0)
