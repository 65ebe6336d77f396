"""Platform calibration procedures: tare, known-mass scale, cell geometry, zero drift.

The platform stands on 1-4 load cells. Calibrating it means finding, for each
cell, the raw count with nothing on it (tare -> ``offset``) and the counts one
newton adds (scale -> ``counts_per_newton``), with the cells at known
positions in millimetres (geometry).

- Tare: a window of readings with the platform empty and still. Refused when
  it moves (a cell's spread above ``Limits.steady_n``) or, where a previous
  calibration is known, when it is loaded (a cell or the total further than
  ``Limits.loaded_n`` from that calibration's offsets).
- Scale: a known mass at the centre, then over each cell in turn. Statics
  (``cell_shares``) say what force each cell carries for each placement; a
  least-squares fit over the placements gives each cell's counts per newton.
  Refused when a cell does not respond, when sensitivities differ by more than
  ``Limits.max_sensitivity_ratio``, or when the centre of pressure computed
  with the result misses a placement by more than ``Limits.max_cop_error_mm``.
- Drift: how far a cell's zero has moved since calibration, in newtons.

Pure: values and readings in, results out. No clock, no I/O, no hardware.
Refusals raise ``Refused`` (a ``CalibrationError``) with a one-line message and
a ``kind``; nothing is half-done.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from calibration.platform import (MAX_CELLS, RAW_MAX, RAW_MIN, CalibrationError, Cell, PlatformCalibration,
                                  corner_layout, ends_layout)

#: Standard gravity: what a mass in kg weighs in newtons.
STANDARD_GRAVITY_MS2 = 9.80665
KG_PER_LB = 0.45359237
MAX_MASS_KG = 200.0
#: Cell positions are checked against this (a platform is not 5 m wide).
MAX_SPAN_MM = 5000.0
MIN_CELL_GAP_MM = 20.0
#: hardware.md's 600 x 400 mm platform carries its cells 540 x 340 mm apart.
DEFAULT_LAYOUT = "corners:540:340"
REFUSAL_KINDS = ("no_readings", "moving", "loaded", "no_change", "sensitivity_ratio", "cop")


class Refused(CalibrationError):
    """A calibration step that cannot be accepted; ``kind`` is one of ``REFUSAL_KINDS``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Limits:
    """Thresholds of the checks; the defaults suit hardware.md's platform."""

    steady_n: float = 0.5            # a cell's spread (half its 5-95 % range) above this: moving
    loaded_n: float = 15.0           # a cell or the total this far from the stored offsets: loaded
    min_valid_fraction: float = 0.2  # fewer valid readings than this share of the rows: no readings
    min_change_counts: float = 50.0  # a loaded cell must change by at least this ...
    min_change_spreads: float = 10.0  # ... and by this many times its spread
    max_sensitivity_ratio: float = 3.0
    max_cop_error_mm: float = 30.0
    drift_n: float = 5.0             # zero drift above this suggests a re-tare


LIMITS = Limits()


# -- input ------------------------------------------------------------------

_MASS_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(kg|g|lb|lbs)?\s*$", re.IGNORECASE)


def parse_mass(text: str) -> float:
    """'5kg', '11 lb', '2500g' -> kilograms; a unit is required."""
    m = _MASS_RE.match(str(text))
    if not m:
        raise CalibrationError(f"mass must look like 5kg or 11lb, not {text!r}")
    if not m.group(2):
        raise CalibrationError(f"mass {text!r} needs a unit: kg, g or lb (e.g. 5kg or 11lb)")
    value, unit = float(m.group(1)), m.group(2).lower()
    mass_kg = value * {"kg": 1.0, "g": 0.001, "lb": KG_PER_LB, "lbs": KG_PER_LB}[unit]
    return check_mass_kg(mass_kg)


def check_mass_kg(mass_kg: float) -> float:
    mass_kg = float(mass_kg)
    if not (math.isfinite(mass_kg) and mass_kg > 0):
        raise CalibrationError(f"the known mass must be more than 0 kg, not {mass_kg:g} kg")
    if mass_kg > MAX_MASS_KG:
        raise CalibrationError(f"a known mass of {mass_kg:g} kg is not plausible (at most {MAX_MASS_KG:g} kg)")
    return mass_kg


def parse_layout(text: str) -> list[tuple[float, float]]:
    """Cell positions in mm: 'corners:W:D', 'ends:L', 'single' or 'cells:X,Y;X,Y;...'."""
    kind, _, rest = str(text).strip().partition(":")
    kind = kind.lower()
    try:
        if kind == "corners":
            w, d = _lengths(rest, 2)
            return check_layout(corner_layout(w, d))
        if kind == "ends":
            (length,) = _lengths(rest, 1)
            return check_layout(ends_layout(length))
        if kind == "single" and not rest:
            return [(0.0, 0.0)]
        if kind == "cells":
            return check_layout([tuple(_numbers(p, 2, "a cell position X,Y")) for p in rest.split(";")])
    except CalibrationError as e:
        raise CalibrationError(f"geometry {text!r}: {e}") from None
    raise CalibrationError(f"geometry must be corners:W:D, ends:L, single or cells:X,Y;X,Y..., not {text!r}")


def _lengths(text: str, n: int) -> list[float]:
    values = _numbers(text, n, "length" if n == 1 else "W:D", sep=":")
    for v in values:
        if not MIN_CELL_GAP_MM <= v <= MAX_SPAN_MM:
            raise CalibrationError(f"lengths must be {MIN_CELL_GAP_MM:g}-{MAX_SPAN_MM:g} mm, not {v:g}")
    return values


def _numbers(text: str, n: int, what: str, sep: str = ",") -> list[float]:
    parts = text.split(sep)
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise CalibrationError(f"expected {what} in millimetres, got {text!r}")
    return values


def check_layout(cells_xy) -> list[tuple[float, float]]:
    """1-4 distinct, finite cell positions within ``MAX_SPAN_MM``; returns them as float pairs."""
    xy = [(float(x), float(y)) for x, y in cells_xy]
    if not 1 <= len(xy) <= MAX_CELLS:
        raise CalibrationError(f"a platform has 1 to {MAX_CELLS} cells, not {len(xy)}")
    for x, y in xy:
        if not (math.isfinite(x) and math.isfinite(y) and abs(x) <= MAX_SPAN_MM and abs(y) <= MAX_SPAN_MM):
            raise CalibrationError(f"cell position ({x:g}, {y:g}) mm is outside +/-{MAX_SPAN_MM:g} mm")
    for i in range(len(xy)):
        for j in range(i):
            if math.dist(xy[i], xy[j]) < MIN_CELL_GAP_MM:
                raise CalibrationError(f"cells {j} and {i} are less than {MIN_CELL_GAP_MM:g} mm apart")
    return xy


# -- readings ---------------------------------------------------------------

@dataclass(frozen=True)
class WindowStats:
    """Per cell over a sampling window: level (trimmed mean), spread and valid count, in counts."""

    level_counts: np.ndarray   # (k,), NaN where no valid reading
    spread_counts: np.ndarray  # (k,), half the 5-95 % range; NaN where no valid reading
    n_valid: np.ndarray        # (k,)
    n_rows: int


def window_stats(raw) -> WindowStats:
    """Statistics of raw rows (n, k); values outside the 24-bit range or at its rails are not readings."""
    raw = np.asarray(raw, dtype=np.int64)
    if raw.ndim != 2:
        raise ValueError("raw must be (rows, cells)")
    k = raw.shape[1]
    level, spread, n_valid = np.full(k, np.nan), np.full(k, np.nan), np.zeros(k, dtype=np.int64)
    for i in range(k):
        col = raw[:, i]
        v = col[(col > RAW_MIN) & (col < RAW_MAX)].astype(np.float64)
        n_valid[i] = len(v)
        if len(v):
            lo, hi = np.percentile(v, [5.0, 95.0])
            level[i] = float(np.mean(v[(v >= lo) & (v <= hi)]))
            spread[i] = (hi - lo) / 2.0
    return WindowStats(level, spread, n_valid, int(raw.shape[0]))


def check_readings(stats: WindowStats, what: str, limits: Limits = LIMITS) -> None:
    """Refuse (``no_readings``) when a cell gave too few valid readings."""
    need = max(5, math.ceil(limits.min_valid_fraction * stats.n_rows))
    dead = [i for i, n in enumerate(stats.n_valid) if n < need]
    if dead:
        which = ", ".join(f"cell {i} ({int(stats.n_valid[i])} of {stats.n_rows})" for i in dead)
        raise Refused("no_readings", f"{what}: no valid readings from {which}: check its wiring and HX711 board")


def spread_n(stats: WindowStats, counts_per_newton) -> np.ndarray:
    return stats.spread_counts / np.abs(np.asarray(counts_per_newton, dtype=np.float64))


def check_steady(stats: WindowStats, counts_per_newton, what: str, limits: Limits = LIMITS) -> None:
    """Refuse (``moving``) when a cell's spread exceeds ``limits.steady_n``."""
    s = spread_n(stats, counts_per_newton)
    i = int(np.nanargmax(s))
    if s[i] > limits.steady_n:
        raise Refused("moving", f"{what}: the platform is moving (cell {i} varies by +/-{s[i]:.1f} N, "
                      f"more than {limits.steady_n:g} N): keep it still and try again")


def tare(stats: WindowStats, counts_per_newton, stored_offsets=None, limits: Limits = LIMITS) -> tuple[float, ...]:
    """Offsets (counts) from a window of the empty platform, after the checks.

    ``counts_per_newton``: the best known sensitivities (to express spreads
    and shifts in newtons); ``stored_offsets``: those of a previous
    calibration, for the loaded check, or None to skip it.
    """
    check_readings(stats, "tare", limits)
    check_steady(stats, counts_per_newton, "tare", limits)
    if stored_offsets is not None:
        shift_n = (stats.level_counts - np.asarray(stored_offsets, dtype=np.float64)) / np.asarray(
            counts_per_newton, dtype=np.float64)
        i = int(np.argmax(np.abs(shift_n)))
        total = float(np.sum(shift_n))
        if abs(shift_n[i]) > limits.loaded_n or abs(total) > limits.loaded_n:
            raise Refused("loaded", f"tare: the platform seems loaded: cell {i} reads {shift_n[i]:+.1f} N and "
                          f"all cells {total:+.1f} N against the stored calibration (limit {limits.loaded_n:g} N): "
                          "take everything off it")
    return tuple(float(v) for v in stats.level_counts)


# -- statics ----------------------------------------------------------------

def cell_shares(cells_xy, x_mm: float, y_mm: float) -> np.ndarray:
    """The share of a load at (x, y) each cell carries (sums to 1), by statics.

    One cell carries all; two share by the lever rule along their line; four
    at the corners of an axis-aligned rectangle by the bilinear lever rule;
    other layouts get the least-norm shares that balance force and moments.
    """
    xy = np.asarray(cells_xy, dtype=np.float64).reshape(-1, 2)
    k = len(xy)
    if k == 1:
        return np.ones(1)
    if k == 2:
        d = xy[1] - xy[0]
        s = float(((x_mm - xy[0, 0]) * d[0] + (y_mm - xy[0, 1]) * d[1]) / (d @ d))
        return np.array([1.0 - s, s])
    xs, ys = np.unique(xy[:, 0]), np.unique(xy[:, 1])
    if k == 4 and len(xs) == 2 and len(ys) == 2 and len({tuple(p) for p in xy}) == 4:
        u, v = (x_mm - xs[0]) / (xs[1] - xs[0]), (y_mm - ys[0]) / (ys[1] - ys[0])
        wx = np.where(xy[:, 0] == xs[0], 1.0 - u, u)
        wy = np.where(xy[:, 1] == ys[0], 1.0 - v, v)
        return wx * wy
    a = np.vstack([np.ones(k), xy[:, 0], xy[:, 1]])
    return np.linalg.pinv(a) @ np.array([1.0, x_mm, y_mm])


def centre_of_pressure(cells_xy, force_n) -> tuple[float, float, float]:
    """(total force N, x mm, y mm) from per-cell forces; x, y NaN when the total is not positive."""
    f = np.asarray(force_n, dtype=np.float64)
    xy = np.asarray(cells_xy, dtype=np.float64).reshape(-1, 2)
    total = float(f.sum())
    if not total > 0:
        return total, math.nan, math.nan
    return total, float(f @ xy[:, 0] / total), float(f @ xy[:, 1] / total)


def cell_forces_n(platform: PlatformCalibration, level_counts) -> np.ndarray:
    """Per-cell force in newtons from raw levels, with the platform's offsets and sensitivities."""
    offsets = np.array([c.offset for c in platform.cells])
    cpn = np.array([c.counts_per_newton for c in platform.cells])
    return (np.asarray(level_counts, dtype=np.float64) - offsets) / cpn


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


def cell_names(cells_xy) -> list[str]:
    """Where each cell sits, seen from above: 'near left', 'far right', 'left end', ..."""
    xy = np.asarray(cells_xy, dtype=np.float64).reshape(-1, 2)
    cx, cy = xy.mean(axis=0)
    if len(xy) == 1:
        return ["the only cell"]
    if len(xy) == 2:
        d = xy[1] - xy[0]
        along = (xy - xy.mean(axis=0)) @ d
        return ["left end" if a < 0 else "right end" for a in along]
    return [("near" if y < cy else "far" if y > cy else "middle") + " " +
            ("left" if x < cx else "right" if x > cx else "middle") for x, y in xy]


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
