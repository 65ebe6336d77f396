"""Platform calibration: known-mass placements, the scale fit and the zero-drift report.

``placements`` says where the known mass goes, ``placement_change`` checks
each placement's window against the tare, ``fit_scale`` finds each cell's
counts per newton by least squares and checks the result, and
``drift_report`` compares current zeros with a stored calibration. Pure: no
clock, no I/O, no hardware.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.platform import CalibrationError, Cell, PlatformCalibration
from calibration.platform_checks import LIMITS, Limits, Refused, WindowStats, check_readings, check_steady
from calibration.platform_geometry import (STANDARD_GRAVITY_MS2, cell_names, cell_shares, centre_of_pressure,
                                           check_layout, check_mass_kg)

# -- scale ------------------------------------------------------------------

@dataclass(frozen=True)
class Placement:
    """Where the known mass goes: the centre (``cell`` None) or over ``cell``."""

    cell: int | None
    x_mm: float
    y_mm: float
    label: str


def placements(cells_xy) -> list[Placement]:
    """The centre of the cells, then over each cell in turn (only the cell for one cell)."""
    xy = check_layout(cells_xy)
    names = cell_names(xy)
    if len(xy) == 1:
        return [Placement(0, xy[0][0], xy[0][1], f"on the platform over the cell ({_at(xy[0])})")]
    cx, cy = float(np.mean([p[0] for p in xy])), float(np.mean([p[1] for p in xy]))
    out = [Placement(None, cx, cy, f"at the centre ({_at((cx, cy))})")]
    out += [Placement(i, x, y, f"over cell {i}, {names[i]} ({_at((x, y))})") for i, (x, y) in enumerate(xy)]
    return out


def _at(p) -> str:
    return f"x {p[0]:.0f} mm, y {p[1]:.0f} mm"


def placement_change(placement: Placement, stats: WindowStats, tare_stats: WindowStats, cells_xy,
                     counts_per_newton, limits: Limits = LIMITS) -> np.ndarray:
    """Checked change of each cell (counts) for a placement: readings, steadiness, response to load."""
    what = f"mass {placement.label}"
    check_readings(stats, what, limits)
    check_steady(stats, counts_per_newton, what, limits)
    delta = stats.level_counts - tare_stats.level_counts
    noise = np.fmax(stats.spread_counts, tare_stats.spread_counts)
    need = np.maximum(limits.min_change_counts, limits.min_change_spreads * noise)
    shares = cell_shares(cells_xy, placement.x_mm, placement.y_mm)
    loaded = shares >= 0.2
    dead = [i for i in np.flatnonzero(loaded) if abs(delta[i]) < need[i]]
    if len(dead) == int(loaded.sum()):
        raise Refused("no_change", f"{what}: the readings did not change (by {np.max(np.abs(delta)):.0f} counts "
                      f"at most): is the mass on the platform?")
    if dead:
        i = dead[0]
        raise Refused("no_change", f"{what}: cell {i} did not respond to the load (changed by {delta[i]:.0f} "
                      f"counts, noise +/-{noise[i]:.0f}): check its mounting and wiring")
    return delta


@dataclass(frozen=True)
class ScaleResult:
    """The calibration found and how well it explains the placements."""

    platform: PlatformCalibration
    mass_kg: float
    cop_errors_mm: tuple[float, ...] | None  # per placement; None for one cell
    force_errors_n: tuple[float, ...]         # measured minus true total force, per placement

    @property
    def cop_error_mm(self) -> float | None:
        return None if self.cop_errors_mm is None else max(self.cop_errors_mm)

    def report(self) -> dict:
        """A JSON-ready summary (for the stored calibration)."""
        return {"mass_kg": round(self.mass_kg, 6),
                "cop_error_mm": None if self.cop_errors_mm is None else round(self.cop_error_mm, 2),
                "cop_errors_mm": None if self.cop_errors_mm is None else [round(e, 2) for e in self.cop_errors_mm],
                "force_errors_n": [round(e, 3) for e in self.force_errors_n]}


def fit_scale(cells_xy, offsets, changes, mass_kg: float, rate_hz: float = 80.0,
              limits: Limits = LIMITS) -> ScaleResult:
    """Counts per newton per cell by least squares over the placements, then the checks.

    ``changes``: (Placement, change in counts per cell from ``placement_change``) pairs.
    """
    xy = check_layout(cells_xy)
    weight_n = check_mass_kg(mass_kg) * STANDARD_GRAVITY_MS2
    loads = np.array([cell_shares(xy, p.x_mm, p.y_mm) * weight_n for p, _ in changes])  # (m, k)
    deltas = np.array([np.asarray(d, dtype=np.float64) for _, d in changes])          # (m, k)
    if loads.shape != deltas.shape or not len(loads):
        raise CalibrationError("one change per cell is needed for every placement")
    norm = np.sum(loads * loads, axis=0)
    if np.any(norm <= 0):
        raise CalibrationError("every cell must carry load in at least one placement")
    cpn = np.sum(loads * deltas, axis=0) / norm
    _check_ratio(cpn, limits)
    cells = tuple(Cell(x, y, float(o), float(c)) for (x, y), o, c in zip(xy, offsets, cpn))
    # Through the stored form: what cannot be loaded again is not a calibration.
    platform = PlatformCalibration.from_dict(PlatformCalibration(cells, rate_hz).to_dict())
    forces = deltas / cpn
    force_errors = tuple(float(f.sum() - weight_n) for f in forces)
    cop_errors = None
    if len(xy) > 1:
        cop_errors = tuple(_cop_error(xy, f, p) for (p, _), f in zip(changes, forces))
        worst = int(np.argmax(cop_errors))
        if cop_errors[worst] > limits.max_cop_error_mm:
            raise Refused("cop", f"centre of pressure check: with the mass {changes[worst][0].label} it comes out "
                          f"{cop_errors[worst]:.0f} mm away (limit {limits.max_cop_error_mm:g} mm): check the "
                          "cell positions and where the mass was put, then calibrate again")
    return ScaleResult(platform, float(mass_kg), cop_errors, force_errors)


def _check_ratio(cpn: np.ndarray, limits: Limits) -> None:
    size = np.abs(cpn)
    lo, hi = int(np.argmin(size)), int(np.argmax(size))
    if size[lo] == 0 or size[hi] / size[lo] > limits.max_sensitivity_ratio:
        ratio = math.inf if size[lo] == 0 else size[hi] / size[lo]
        raise Refused("sensitivity_ratio", f"cell sensitivities differ by a factor of {ratio:.1f} (cell {hi}: "
                      f"{cpn[hi]:.1f}, cell {lo}: {cpn[lo]:.1f} counts/N; limit {limits.max_sensitivity_ratio:g}): "
                      "a cell is damaged, loose or of another type")


def _cop_error(xy, force_n: np.ndarray, p: Placement) -> float:
    _, x, y = centre_of_pressure(xy, force_n)
    if not math.isfinite(x):
        return math.inf
    return math.hypot(x - p.x_mm, y - p.y_mm)


# -- drift ------------------------------------------------------------------

@dataclass(frozen=True)
class DriftReport:
    """How far each cell's zero has moved since calibration (N; None where unknown)."""

    drift_n: tuple[float | None, ...]
    limit_n: float

    @property
    def over_limit(self) -> tuple[int, ...]:
        return tuple(i for i, d in enumerate(self.drift_n) if d is not None and abs(d) > self.limit_n)

    @property
    def worst_n(self) -> float | None:
        known = [d for d in self.drift_n if d is not None]
        return max(known, key=abs) if known else None

    @property
    def retare_suggested(self) -> bool:
        return bool(self.over_limit)

    def message(self) -> str:
        parts = ", ".join(f"cell {i} {'?' if d is None else f'{d:+.1f}'} N" for i, d in enumerate(self.drift_n))
        if self.retare_suggested:
            cells = ", ".join(str(i) for i in self.over_limit)
            return (f"zero drift since calibration: {parts}; cell(s) {cells} beyond {self.limit_n:g} N: "
                    "re-tare the platform (knotcoach calibrate platform)")
        return f"zero drift since calibration: {parts} (within {self.limit_n:g} N)"


def drift_report(platform: PlatformCalibration, zero_counts, limit_n: float = LIMITS.drift_n) -> DriftReport:
    """Compare the current zero per cell (raw counts; None/NaN = unknown) with the calibration's offsets."""
    zeros = list(zero_counts)
    if len(zeros) != platform.n_cells:
        raise CalibrationError(f"{len(zeros)} zeros given for a platform of {platform.n_cells} cells")
    if not (math.isfinite(limit_n) and limit_n > 0):
        raise CalibrationError(f"drift limit must be a positive number of newtons, not {limit_n}")
    drift: list[float | None] = []
    for z, c in zip(zeros, platform.cells):
        ok = z is not None and math.isfinite(float(z))
        drift.append((float(z) - c.offset) / c.counts_per_newton if ok else None)
    return DriftReport(tuple(drift), float(limit_n))
