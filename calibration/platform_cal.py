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

This module gathers the public names of ``calibration.platform_geometry``
(masses, layouts, statics), ``calibration.platform_checks`` (window
statistics, limits, refusals, tare) and ``calibration.platform_fit``
(placements, scale fit, drift report); import them from here.
"""

from __future__ import annotations

from calibration.platform_checks import (LIMITS, REFUSAL_KINDS, Limits, Refused, WindowStats, check_readings,
                                         check_steady, spread_n, tare, window_stats)
from calibration.platform_fit import (DriftReport, Placement, ScaleResult, drift_report, fit_scale,
                                      placement_change, placements)
from calibration.platform_geometry import (DEFAULT_LAYOUT, KG_PER_LB, MAX_MASS_KG, MAX_SPAN_MM, MIN_CELL_GAP_MM,
                                           STANDARD_GRAVITY_MS2, cell_forces_n, cell_names, cell_shares,
                                           centre_of_pressure, check_layout, check_mass_kg, parse_layout,
                                           parse_mass)

__all__ = [
    "DEFAULT_LAYOUT", "KG_PER_LB", "LIMITS", "MAX_MASS_KG", "MAX_SPAN_MM", "MIN_CELL_GAP_MM", "REFUSAL_KINDS",
    "STANDARD_GRAVITY_MS2", "DriftReport", "Limits", "Placement", "Refused", "ScaleResult", "WindowStats",
    "cell_forces_n", "cell_names", "cell_shares", "centre_of_pressure", "check_layout", "check_mass_kg",
    "check_readings", "check_steady", "drift_report", "fit_scale", "parse_layout", "parse_mass",
    "placement_change", "placements", "spread_n", "tare", "window_stats",
]
