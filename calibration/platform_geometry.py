"""Platform calibration inputs and statics: masses, cell layouts, who carries what load.

``parse_mass`` and ``parse_layout`` read what a person types; ``check_layout``
checks cell positions (1-4 distinct cells within ``MAX_SPAN_MM``);
``cell_shares``, ``centre_of_pressure`` and ``cell_forces_n`` are the statics
the scale fit and its checks rest on. Pure: no clock, no I/O, no hardware.
"""

from __future__ import annotations

import math
import re

import numpy as np

from calibration.platform import MAX_CELLS, CalibrationError, PlatformCalibration, corner_layout, ends_layout

#: Standard gravity: what a mass in kg weighs in newtons.
STANDARD_GRAVITY_MS2 = 9.80665
KG_PER_LB = 0.45359237
MAX_MASS_KG = 200.0
#: Lighter known masses move the cells too little to fit them well (hardware.md section 7: use 2-20 kg).
MIN_MASS_KG = 0.5
#: Cell positions are checked against this (a platform is not 5 m wide).
MAX_SPAN_MM = 5000.0
MIN_CELL_GAP_MM = 20.0
#: hardware.md's 600 x 400 mm platform carries its cells 540 x 340 mm apart.
DEFAULT_LAYOUT = "corners:540:340"


# -- input ------------------------------------------------------------------

# A sign and an exponent are read too, so that -1kg or 1e9kg get the range check's words.
_MASS_RE = re.compile(r"^\s*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?)\s*(kg|g|lb|lbs)?\s*$",
                      re.IGNORECASE)


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
    """A known mass in kg from ``MIN_MASS_KG`` to ``MAX_MASS_KG``; CalibrationError (one line) if not."""
    mass_kg = float(mass_kg)
    if math.isnan(mass_kg) or mass_kg <= 0:
        raise CalibrationError(f"the known mass must be more than 0 kg, not {mass_kg:g} kg")
    if mass_kg < MIN_MASS_KG:
        raise CalibrationError(f"a known mass of {mass_kg:g} kg is too light to calibrate with: "
                               f"use 2\u201320 kg (at least {MIN_MASS_KG:g} kg)")
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


# -- names ------------------------------------------------------------------

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
