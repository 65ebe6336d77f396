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
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from calibration.platform_cal import STANDARD_GRAVITY_MS2

G_MS2 = 9.81
#: The person keeps every stroke at least this far from the knot (the no-go zone is 50.8 mm).
KNOT_CLEARANCE_MM = 55.0
#: Bout-to-bout moves of the rolling centre take this long.
TRANSITION_S = 1.5
#: After a command from outside, the autopilot waits at least this long before its next episode.
AUTOPILOT_QUIET_S = 20.0
#: Mean stroke-to-stroke force dip (fraction of the peak), used to set the peak from the mean share.
_MEAN_DEPTH = 0.18

#: Command name -> channel. A command cancels pending scheduled commands of its channel.
CHANNELS = {
    "press_harder": "force", "ease_off": "force", "set_force": "force",
    "move_onto_knot": "motion", "move_off_knot": "motion", "pass_through_knot": "motion",
    "lift_off": "presence", "lie_down": "presence",
    "set_knot": "config", "set_body_mass": "config", "autopilot": "config",
    "clear_platform": "presence", "place_mass": "load", "remove_mass": "load",
}
COMMANDS = tuple(CHANNELS)

# Random streams, each keyed (seed, stream, index).
_PERSON, _BOUT, _COMMAND, _EPISODE = 1, 2, 3, 4


def _rng(seed: int, stream: int, k: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream, k])


def smoothstep(u):
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


class PersonSample(NamedTuple):
    """The truth at a run of sample times: seconds, newtons, platform millimetres."""

    t_s: np.ndarray
    force_n: np.ndarray
    x_mm: np.ndarray
    y_mm: np.ndarray


class Track:
    """A value over time that ramps (smoothly or linearly) from one setting to the next."""

    def __init__(self, value: float, smooth: bool = True) -> None:
        self._initial = float(value)
        self._smooth = smooth
        self._segs = np.empty((0, 4))  # rows: t0, t1, v0, v1

    def set(self, t_s: float, value: float, ramp_s: float = 0.0) -> None:
        """From ``t_s`` on, ramp from the current value to ``value`` over ``ramp_s``."""
        self._segs = self._segs[self._segs[:, 0] < t_s]
        start = float(self(np.array([t_s]))[0])
        row = [[t_s, t_s + max(float(ramp_s), 0.0), start, float(value)]]
        self._segs = np.vstack([self._segs, row])

    def target_at(self, t_s: float) -> float:
        """The value the last setting at or before ``t_s`` is heading to."""
        i = int(np.searchsorted(self._segs[:, 0], t_s, side="right")) - 1
        return self._initial if i < 0 else float(self._segs[i, 3])

    def forget_before(self, t_s: float) -> None:
        """Drop settings that no longer matter for times at or after ``t_s``."""
        i = int(np.searchsorted(self._segs[:, 0], t_s, side="right")) - 1
        if i > 0:
            self._segs = self._segs[i:]

    def __call__(self, t_s) -> np.ndarray:
        t = np.asarray(t_s, dtype=np.float64)
        out = np.full(t.shape, self._initial)
        if not len(self._segs):
            return out
        i = np.searchsorted(self._segs[:, 0], t, side="right") - 1
        m = i >= 0
        t0, t1, v0, v1 = self._segs[i[m]].T
        dur = t1 - t0
        u = np.where(dur > 0, (t[m] - t0) / np.where(dur > 0, dur, 1.0), 1.0)
        u = smoothstep(u) if self._smooth else np.clip(u, 0.0, 1.0)
        out[m] = v0 + (v1 - v0) * u
        return out


class _Strokes:
    """The rolling pattern: bouts of strokes on one side of the knot, then another.

    Strokes run along x (the rolling axis). Each bout (8-20 s) has its own
    cadence, stroke length, force dip and side of the knot: above (+x),
    below (-x) or, on a 2-D platform, to either side (+/-y). The centre moves
    between sides in polar coordinates around the knot, so it never crosses
    the knot on a 2-D platform; on a line it has to roll over it quickly.
    """

    _FIELDS = ("start", "dur", "freq", "phase0", "r", "theta", "dtheta", "amp", "depth")

    def __init__(self, seed: int, cadence_spm: float, lateral: bool) -> None:
        self._seed, self._cadence, self._lateral = seed, cadence_spm, lateral
        self._k = 0
        self._b = {f: np.empty(0) for f in self._FIELDS}

    def _new_bout(self) -> dict:
        rng = _rng(self._seed, _BOUT, self._k)
        b = self._b
        spm = float(np.clip(self._cadence * (1 + 0.08 * rng.standard_normal()), 15.0, 50.0))
        amp = rng.uniform(40.0, 60.0)
        n_sides = 4 if self._lateral else 2
        sides = np.arange(n_sides) * (2 * math.pi / n_sides)
        if self._k == 0:
            theta = sides[rng.integers(n_sides)]
        else:
            stay = rng.random() < (0.35 if self._lateral else 0.75)
            others = sides[~np.isclose(np.cos(sides - b["theta"][-1]), 1.0)]
            theta = b["theta"][-1] if stay else others[rng.integers(len(others))]
        along = abs(math.cos(theta)) > 0.5
        r = KNOT_CLEARANCE_MM + amp + rng.uniform(10, 30) if along else rng.uniform(70, 95)
        prev_theta = b["theta"][-1] if self._k else theta
        dtheta = (theta - prev_theta + math.pi) % (2 * math.pi) - math.pi
        if abs(abs(dtheta) - math.pi) < 1e-9:
            dtheta = math.pi if rng.random() < 0.5 else -math.pi
        if self._k:
            start = b["start"][-1] + b["dur"][-1]
            phase0 = b["phase0"][-1] + 2 * math.pi * b["freq"][-1] * b["dur"][-1]
        else:
            start, phase0 = 0.0, rng.uniform(0, 2 * math.pi)
        return dict(start=start, dur=rng.uniform(8.0, 20.0), freq=spm / 120.0, phase0=phase0,
                    r=r, theta=prev_theta + dtheta, dtheta=dtheta, amp=amp,
                    depth=rng.uniform(0.12, 0.24))

    def _ensure(self, t_end_s: float) -> None:
        while not self._k or self._b["start"][-1] + self._b["dur"][-1] <= t_end_s:
            new = self._new_bout()
            self._b = {f: np.append(self._b[f], new[f]) for f in self._FIELDS}
            self._k += 1

    def forget_before(self, t_s: float) -> None:
        i = int(np.searchsorted(self._b["start"], t_s, side="right")) - 2
        if i > 0:
            self._b = {f: v[i:] for f, v in self._b.items()}

    def __call__(self, t: np.ndarray):
        """Offset of the roller from the knot (mm) and the force factor (<= 1) at ``t``."""
        self._ensure(float(t.max()))
        b = self._b
        k = np.maximum(np.searchsorted(b["start"], t, side="right") - 1, 0)
        p = np.maximum(k - 1, 0)
        s = np.where(k == p, 1.0, smoothstep((t - b["start"][k]) / TRANSITION_S))
        theta = b["theta"][p] + b["dtheta"][k] * s
        r = b["r"][p] + (b["r"][k] - b["r"][p]) * s
        amp = (b["amp"][p] + (b["amp"][k] - b["amp"][p]) * s) * (1 - 0.6 * np.sin(math.pi * s))
        depth = b["depth"][p] + (b["depth"][k] - b["depth"][p]) * s
        phase = b["phase0"][k] + 2 * math.pi * b["freq"][k] * (t - b["start"][k])
        dx = r * np.cos(theta) - amp * np.cos(phase)
        dy = r * np.sin(theta) if self._lateral else np.zeros_like(t)
        return dx, dy, 1.0 - depth * (1.0 - np.cos(phase)) / 2.0


class Person:
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
        self.seed = _check_seed(seed)
        _check_mass(body_mass_kg)
        rng = _rng(self.seed, _PERSON)
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
        self._strokes = _Strokes(self.seed, self.cadence_spm, lateral)
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
            first = (lie_down_at_s or 0.0) + _rng(self.seed, _EPISODE, 10**6).uniform(8.0, 15.0)
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

    # -- commands ------------------------------------------------------------

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
        rng = _rng(self.seed, _COMMAND, self._n_commands)
        self._n_commands += 1
        getattr(self, "_do_" + command)(t_s, rng, **kwargs)

    def _start_episode(self, t_s: float) -> None:
        """One spontaneous episode of the autopilot, expanded into scheduled commands."""
        rng = _rng(self.seed, _EPISODE, self._episode_k)
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

    def _mass_at(self, t_s: float) -> float:
        return float(self._mass(np.array([t_s]))[0])

    def _do_press_harder(self, t_s, rng, force_n=None, ramp_s=None, steady=False):
        """Stroke-peak force to ``force_n`` (default 50-55 % of body weight); ``steady``: no stroke dip."""
        share = rng.uniform(0.50, 0.55) if force_n is None else _force(force_n) / (self._mass_at(t_s) * G_MS2)
        ramp = _ramp(ramp_s, rng, 0.6, 1.5)
        self._share.set(t_s, share, ramp)
        if steady:
            self._steady.set(t_s, 1.0, min(ramp, 0.3))

    def _do_set_force(self, t_s, rng, force_n, ramp_s=1.0, steady=False):
        """Peak force of each stroke (the force itself while still or ``steady``) becomes ``force_n``."""
        self._do_press_harder(t_s, rng, force_n=force_n, ramp_s=ramp_s, steady=steady)

    def _do_ease_off(self, t_s, rng, ramp_s=None):
        ramp = _ramp(ramp_s, rng, 0.5, 1.2)
        self._share.set(t_s, self.normal_peak_share, ramp)
        self._steady.set(t_s, 0.0, ramp)

    def _do_move_onto_knot(self, t_s, rng, transit_s=None):
        self._on_knot.set(t_s, 1.0, _ramp(transit_s, rng, 0.4, 0.8))

    def _do_move_off_knot(self, t_s, rng, transit_s=None):
        self._on_knot.set(t_s, 0.0, _ramp(transit_s, rng, 0.4, 0.8))

    def _do_pass_through_knot(self, t_s, rng, transit_s=None, hold_s=0.0):
        transit = _ramp(transit_s, rng, 0.25, 0.4)
        self._on_knot.set(t_s, 1.0, transit)
        self._on_knot.set(t_s + transit + _ramp(hold_s, rng, 0, 0), 0.0, transit)

    def _do_lift_off(self, t_s, rng, ramp_s=None):
        self._presence.set(t_s, 0.0, _ramp(ramp_s, rng, 0.3, 0.6))

    def _do_lie_down(self, t_s, rng, ramp_s=None):
        self._presence.set(t_s, 1.0, _ramp(ramp_s, rng, 0.5, 1.0))

    def _do_set_knot(self, t_s, rng, x_mm, y_mm=None, transit_s=1.0):
        for track, v in ((self._knot_x, x_mm), (self._knot_y, y_mm)):
            if v is not None:
                if not math.isfinite(float(v)):
                    raise ValueError("knot position must be finite")
                track.set(t_s, float(v), _ramp(transit_s, rng, 0, 0))

    def _do_set_body_mass(self, t_s, rng, mass_kg):
        self._mass.set(t_s, _check_mass(mass_kg), 0.5)

    def _do_clear_platform(self, t_s, rng, ramp_s=0.2):
        """Nobody and nothing on the platform, and it stays that way (autopilot off)."""
        ramp = _ramp(ramp_s, rng, 0, 0)
        self._presence.set(t_s, 0.0, ramp)
        self._static_n.set(t_s, 0.0, ramp)
        self._next_episode_s = math.inf

    def _do_place_mass(self, t_s, rng, mass_kg, x_mm, y_mm, ramp_s=0.3):
        """A static mass at (x, y) mm from ``t_s`` on (a mass already there is moved, not added)."""
        mass_kg = float(mass_kg)
        if not (math.isfinite(mass_kg) and 0.0 < mass_kg <= 500.0):
            raise ValueError(f"a placed mass must be more than 0 and at most 500 kg, not {mass_kg}")
        x_mm, y_mm = float(x_mm), float(y_mm)
        if not (math.isfinite(x_mm) and math.isfinite(y_mm)):
            raise ValueError("a placed mass needs a finite position")
        self._static_x.set(t_s, x_mm)
        self._static_y.set(t_s, y_mm)
        self._static_n.set(t_s, mass_kg * STANDARD_GRAVITY_MS2, _ramp(ramp_s, rng, 0, 0))

    def _do_remove_mass(self, t_s, rng, ramp_s=0.3):
        self._static_n.set(t_s, 0.0, _ramp(ramp_s, rng, 0, 0))

    def _do_autopilot(self, t_s, rng, on=True):
        self._next_episode_s = t_s + rng.uniform(5.0, 15.0) if on else math.inf


def _ramp(value, rng: np.random.Generator, lo: float, hi: float) -> float:
    """A given duration (checked) or a random one in [lo, hi]."""
    if value is None:
        return float(rng.uniform(lo, hi)) if hi > lo else lo
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"durations must be finite and >= 0, not {value}")
    return value


def _force(force_n) -> float:
    force_n = float(force_n)
    if not (math.isfinite(force_n) and force_n >= 0):
        raise ValueError(f"force_n must be finite and >= 0, not {force_n}")
    return force_n


def _check_mass(mass_kg) -> float:
    mass_kg = float(mass_kg)
    if not (math.isfinite(mass_kg) and 15.0 <= mass_kg <= 300.0):
        raise ValueError(f"body mass must be between 15 and 300 kg, not {mass_kg}")
    return mass_kg


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    return int(seed)
