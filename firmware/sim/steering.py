"""What the simulated person does on each steer command, and the commands' channels.

``PersonCommands`` is the half of ``Person`` that carries out one command:
``_do_<command>(t_s, rng, **kwargs)`` changes the person's tracks from ``t_s``
on. The state machine that schedules and applies them is in
``firmware.sim.person``.
"""

from __future__ import annotations

import math

import numpy as np

#: Gravity of the simulated world: body weight and placed masses, in m/s^2.
G_MS2 = 9.81

#: Command name -> channel. A command cancels pending scheduled commands of its channel.
CHANNELS = {
    "press_harder": "force", "ease_off": "force", "set_force": "force",
    "move_onto_knot": "motion", "move_off_knot": "motion", "pass_through_knot": "motion",
    "lift_off": "presence", "lie_down": "presence",
    "set_knot": "config", "set_body_mass": "config", "autopilot": "config",
    "clear_platform": "presence", "place_mass": "load", "remove_mass": "load",
}
COMMANDS = tuple(CHANNELS)


class PersonCommands:
    """The command handlers of ``Person`` (a mixin: the tracks are the person's)."""

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
        self._mass.set(t_s, check_mass(mass_kg), 0.5)

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
        self._static_n.set(t_s, mass_kg * G_MS2, _ramp(ramp_s, rng, 0, 0))

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


def check_mass(mass_kg) -> float:
    mass_kg = float(mass_kg)
    if not (math.isfinite(mass_kg) and 15.0 <= mass_kg <= 300.0):
        raise ValueError(f"body mass must be between 15 and 300 kg, not {mass_kg}")
    return mass_kg


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    return int(seed)
