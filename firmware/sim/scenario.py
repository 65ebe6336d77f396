"""Scripted sessions with ground truth, for tests and benchmarks.

``make_session`` puts a simulated person on a simulated platform, applies
scripted events at their times and returns what the device would have
recorded (a ``Block``), the calibration it believes, and the ``Truth``.
``press``, ``dwell``, ``pass_through`` and ``lift`` build event lists;
``realistic_session`` and ``hour_session`` are presets.

``Simulation`` couples a ``Person`` and a ``PlatformModel`` sample by
sample; the simulated source uses it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calibration.platform import PlatformCalibration
from firmware.block import Block
from firmware.sim.person import G_MS2, Person, PersonSample
from firmware.sim.platform_model import (CellFault, Measurement, PlatformModel, as_fault, default_knot,
                                         default_platform, stale_calibration)


@dataclass(frozen=True)
class Event:
    """A command given to the person at ``t_s`` (see ``firmware.sim.person.COMMANDS``)."""

    t_s: float
    command: str
    kwargs: dict = field(default_factory=dict)


def as_event(e) -> Event:
    """An ``Event`` from itself or a ``(t_s, command[, kwargs])`` tuple."""
    if isinstance(e, Event):
        return e
    t_s, command, *rest = e
    return Event(float(t_s), command, dict(rest[0]) if rest else {})


@dataclass(frozen=True)
class Truth:
    """What really happened, at every nominal sample time (rows lost from the block included).

    ``force_n`` total force; ``x_mm``, ``y_mm`` where it acts (NaN when
    unloaded); ``faults`` as ``(cell, kind, start_s, end_s)``, start
    inclusive, end exclusive; ``row_kept`` which rows reach the block;
    ``garbage``/``empty``/``faulted`` (rows, cells) masks of corrupted, empty
    by chance, and fault-overridden readings; ``band_n`` the band a preset's
    presses were designed around (None for custom sessions).
    """

    t_s: np.ndarray
    force_n: np.ndarray
    x_mm: np.ndarray
    y_mm: np.ndarray
    faults: list[tuple[int, str, float, float]]
    row_kept: np.ndarray
    garbage: np.ndarray
    empty: np.ndarray
    faulted: np.ndarray
    platform: PlatformCalibration
    knot_mm: tuple[float, float]
    body_mass_kg: float
    events: list[Event]
    band_n: tuple[float, float] | None = None

    @property
    def body_weight_n(self) -> float:
        return self.body_mass_kg * G_MS2


class Simulation:
    """A person on a platform, advanced by whole samples in any chunks."""

    def __init__(self, person: Person, model: PlatformModel) -> None:
        self.person, self.model = person, model
        self.rate_hz = model.platform.rate_hz
        self.next_index = 0

    @property
    def next_t_s(self) -> float:
        """Time of the next sample to be produced."""
        return self.next_index / self.rate_hz

    @property
    def last_t_s(self) -> float:
        """Time of the last sample produced (-inf before the first)."""
        return (self.next_index - 1) / self.rate_hz if self.next_index else -math.inf

    def advance(self, n_samples: int) -> tuple[Measurement, PersonSample]:
        """The next ``n_samples`` nominal rows and the truth behind them."""
        n = max(int(n_samples), 0)
        t = (self.next_index + np.arange(n)) / self.rate_hz
        truth = self.person.advance(t)
        meas = self.model.measure(self.next_index, truth.force_n, truth.x_mm, truth.y_mm)
        self.next_index += n
        return meas, truth

    def advance_to(self, t_s: float) -> tuple[Measurement, PersonSample]:
        """All rows with times before ``t_s``."""
        return self.advance(math.ceil(t_s * self.rate_hz - 1e-9) - self.next_index)

    def steer(self, command: str, t_s: float, **kwargs) -> None:
        self.person.steer(command, t_s, **kwargs)


def build_simulation(seed: int, n_cells: int = 4, *, garbage_fraction: float = 0.0, lost_fraction: float = 0.0,
                     negative_sensitivity: bool = False, stale_offsets_n: float = 0.0, faults=(),
                     body_mass_kg: float = 75.0, knot_mm: tuple[float, float] | None = None,
                     autopilot: bool = False, lie_down_at_s: float | None = 2.0,
                     noise_counts_rms: float = 30.0, rate_hz: float = 80.0,
                     ) -> tuple[Simulation, PlatformCalibration, PlatformCalibration]:
    """(simulation, true platform, believed platform) for the defaults of this module."""
    true_platform = default_platform(n_cells, seed, negative_sensitivity=negative_sensitivity, rate_hz=rate_hz)
    believed = stale_calibration(true_platform, stale_offsets_n, seed)
    kx, ky = knot_mm if knot_mm is not None else default_knot(true_platform)
    person = Person(seed, body_mass_kg, kx, ky, lateral=true_platform.position_dims == 2,
                    autopilot=autopilot, lie_down_at_s=lie_down_at_s)
    model = PlatformModel(true_platform, seed, noise_counts_rms=noise_counts_rms,
                          garbage_fraction=garbage_fraction, lost_row_fraction=lost_fraction,
                          empty_cell_fraction=lost_fraction, faults=faults)
    return Simulation(person, model), true_platform, believed


def make_session(seed: int, n_cells: int = 4, duration_s: float = 120.0, garbage_fraction: float = 0.0,
                 lost_fraction: float = 0.0, negative_sensitivity: bool = False, stale_offsets_n: float = 0.0,
                 faults=(), events=(), *, band_n: tuple[float, float] | None = None,
                 **options: Any) -> tuple[Block, PlatformCalibration, Truth]:
    """Simulate ``duration_s`` seconds and return ``(block, believed_platform, truth)``.

    ``lost_fraction`` is both the share of rows lost (time gaps) and the
    share of single readings left empty. ``faults``: ``CellFault``s or
    ``(cell, kind, start_s, end_s)``. ``events``: ``Event``s or
    ``(t_s, command, kwargs)``, e.g. from ``press``/``dwell``. Further
    ``options`` go to ``build_simulation`` (``body_mass_kg``, ``knot_mm``,
    ``autopilot``, ``lie_down_at_s``, ``noise_counts_rms``, ``rate_hz``).
    """
    faults = [as_fault(f) for f in faults]
    events = sorted((as_event(e) for e in events), key=lambda e: e.t_s)
    sim, true_platform, believed = build_simulation(
        seed, n_cells, garbage_fraction=garbage_fraction, lost_fraction=lost_fraction,
        negative_sensitivity=negative_sensitivity, stale_offsets_n=stale_offsets_n, faults=faults, **options)
    knot = sim.person.knot_at(0.0)
    n_total = int(round(duration_s * sim.rate_hz))
    parts = []
    for e in events:
        if e.t_s * sim.rate_hz >= n_total:
            break
        parts.append(sim.advance_to(e.t_s))
        sim.steer(e.command, e.t_s, **e.kwargs)
    parts.append(sim.advance(n_total - sim.next_index))
    meas = Measurement.concat(p[0] for p in parts)
    truth = Truth(
        t_s=meas.t_s, force_n=np.concatenate([p[1].force_n for p in parts]),
        x_mm=np.concatenate([p[1].x_mm for p in parts]), y_mm=np.concatenate([p[1].y_mm for p in parts]),
        faults=[f.as_tuple() for f in faults], row_kept=meas.kept, garbage=meas.garbage, empty=meas.empty,
        faulted=meas.faulted, platform=true_platform, knot_mm=knot,
        body_mass_kg=float(options.get("body_mass_kg", 75.0)), events=events, band_n=band_n)
    return meas.block(), believed, truth


# -- event builders ---------------------------------------------------------------

def press(t_s: float, force_n: float, ramp_s: float = 1.0, hold_s: float = 2.0,
          release_s: float = 1.0, steady: bool = False) -> list[Event]:
    """Ramp linearly to a stroke-peak force of ``force_n`` over ``ramp_s``, hold, then ease off.

    While rolling, the force dips 12-24 % below that peak once per stroke
    cycle (it never goes above it), so a press over an edge may cross it
    once per stroke; with ``steady`` the force follows the ramp exactly
    (one clean crossing). Use 0.90-0.94 of a band edge for a press that
    comes close without crossing.
    """
    return [Event(t_s, "set_force", {"force_n": force_n, "ramp_s": ramp_s, "steady": steady}),
            Event(t_s + ramp_s + hold_s, "ease_off", {"ramp_s": release_s})]


def dwell(t_s: float, hold_s: float, transit_s: float = 0.4) -> list[Event]:
    """Move onto the knot over ``transit_s``, stay ``hold_s`` (a few mm of sway), move off."""
    return [Event(t_s, "move_onto_knot", {"transit_s": transit_s}),
            Event(t_s + transit_s + hold_s, "move_off_knot", {"transit_s": transit_s})]


def pass_through(t_s: float, transit_s: float = 0.3) -> list[Event]:
    """Roll over the knot and straight back off it (well under a second in the zone)."""
    return [Event(t_s, "pass_through_knot", {"transit_s": transit_s})]


def lift(t_s: float, rest_s: float, ramp_s: float = 0.5, lie_ramp_s: float = 0.8) -> list[Event]:
    """Lift off over ``ramp_s``, rest ``rest_s`` unloaded, lie down again."""
    return [Event(t_s, "lift_off", {"ramp_s": ramp_s}),
            Event(t_s + ramp_s + rest_s, "lie_down", {"ramp_s": lie_ramp_s})]


def band_for(body_mass_kg: float = 75.0) -> tuple[float, float]:
    """A 4-5/10 band a typical person of this mass might have: 25-45 % of body weight."""
    bw = body_mass_kg * G_MS2
    return (round(0.25 * bw, 1), round(0.45 * bw, 1))


# -- presets ---------------------------------------------------------------------

def realistic_session(seed: int, n_cells: int = 4, **overrides: Any) -> tuple[Block, PlatformCalibration, Truth]:
    """About 150 s with everything the rules must handle; ``truth.band_n`` is the band it targets.

    Rolling throughout; slow (steady), fast and medium presses over the
    upper band edge and two steady ones that stop at 92 % and 94 % of it; dwells of 0.3, 2 and 3 s
    and a pass over the knot; two lift-offs; faults of each kind on one cell
    (frozen both unloaded and loaded, missing unloaded, the others loaded).
    Defaults: 0.5 % garbage, 0.2 % lost, offsets stale by 3 N. Keyword ``overrides`` go to ``make_session``.
    """
    mass = overrides.get("body_mass_kg", 75.0)
    lo, hi = band_for(mass)
    bw = mass * G_MS2
    events = (press(12.0, 0.52 * bw, ramp_s=4.0, hold_s=3.0, release_s=2.0, steady=True)
              + dwell(28.0, 2.0)
              + press(38.0, 0.53 * bw, ramp_s=0.4, hold_s=2.0, release_s=0.5)
              + press(50.0, 0.92 * hi, ramp_s=2.0, hold_s=3.0, steady=True)
              + dwell(62.0, 0.3) + pass_through(70.0) + dwell(78.0, 3.0)
              + lift(90.0, 5.0)
              + press(108.0, 0.94 * hi, ramp_s=1.0, hold_s=2.0, steady=True)
              + press(115.0, 0.51 * bw, ramp_s=1.5, hold_s=2.0)
              + lift(124.0, 6.0))
    last = n_cells - 1
    faults = [CellFault(last, "frozen", 91.0, 94.0),
              CellFault(min(1, last), "frozen", 100.0, 104.0),
              CellFault(min(2, last), "missing", 126.0, 128.5),
              CellFault(0, "saturated", 135.0, 137.5),
              CellFault(last, "all_ones", 140.0, 142.5)]
    kwargs = dict(duration_s=150.0, garbage_fraction=0.005, lost_fraction=0.002, stale_offsets_n=3.0,
                  faults=faults, events=events, band_n=(lo, hi))
    kwargs.update(overrides)
    return make_session(seed, n_cells, **kwargs)


def hour_session(seed: int = 0, n_cells: int = 4, **overrides: Any) -> tuple[Block, PlatformCalibration, Truth]:
    """One hour of a person rolling on autopilot (presses, dwells, lift-offs), for benchmarks."""
    kwargs = dict(duration_s=3600.0, garbage_fraction=0.005, lost_fraction=0.002, stale_offsets_n=3.0,
                  autopilot=True, band_n=band_for(overrides.get("body_mass_kg", 75.0)))
    kwargs.update(overrides)
    return make_session(seed, n_cells, **kwargs)
