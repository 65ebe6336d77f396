"""The platform calibration's steps and what each step's readings must show, without sampling.

Tare, then the known mass at the centre and over each cell: ``make_steps``
lists them with what to tell the person, and ``PlatformProcedure`` takes one
window of readings per step (``WindowStats``, however they were sampled: by
the terminal command from a source it opens, or by the device process for the
tablet's wizard), accepts or refuses it, and fits the result once every step
is in. A refused step can be repeated; a repeated tare starts the placements
afterwards again. Nothing here samples, stores or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.platform import CalibrationError, PlatformCalibration
from calibration.platform_checks import LIMITS, Limits, Refused, WindowStats, spread_n, tare
from calibration.platform_fit import Placement, ScaleResult, fit_scale, placement_change, placements
from calibration.platform_geometry import check_layout, check_mass_kg

@dataclass(frozen=True)
class Step:
    """One step: ``kind`` "tare" or "place"; ``placement`` for "place"; ``label`` for progress lines."""

    kind: str
    placement: Placement | None
    label: str
    instruction: str


def make_steps(cells_xy, mass_kg: float) -> list[Step]:
    """Tare, then the mass at the centre (or over the only cell), then over each cell."""
    steps = [Step("tare", None, "tare", "Clear the platform and keep it still")]
    for p in placements(cells_xy):
        label = "centre" if p.cell is None else f"cell {p.cell}"
        what = "Put" if not steps[1:] else "Move"
        steps.append(Step("place", p, label, f"{what} the {mass_kg:.3g} kg mass {p.label} and let go"))
    return steps


class PlatformProcedure:
    """The steps of one calibration and the readings accepted so far.

    ``reference``: the calibration believed so far (None: nothing known, and
    ``nominal_counts_per_newton``, the sources' rough sensitivity, stands in); its
    sensitivities turn spreads into newtons and, unless ``check_loaded`` is
    False or it is marked ``uncalibrated``, its offsets reveal a loaded
    platform at tare.
    """

    def __init__(self, cells_xy, mass_kg: float, n_cells: int, *, reference: PlatformCalibration | None,
                 nominal_counts_per_newton: float, check_loaded: bool = True, rate_hz: float = 80.0,
                 limits: Limits = LIMITS) -> None:
        self.cells_xy = check_layout(cells_xy)
        if len(self.cells_xy) != n_cells:
            raise CalibrationError(f"the geometry has {len(self.cells_xy)} cells but the platform reads "
                                   f"{n_cells}: choose a matching preset")
        self.mass_kg = check_mass_kg(mass_kg)
        self.rate_hz, self.limits = float(rate_hz), limits
        if reference is not None and reference.n_cells != n_cells:
            reference = None
        self.cpn_guess = np.array([c.counts_per_newton for c in reference.cells] if reference else
                                  [float(nominal_counts_per_newton)] * n_cells, dtype=np.float64)
        usable = reference is not None and check_loaded and not reference.extra.get("uncalibrated")
        self.stored_offsets = [c.offset for c in reference.cells] if usable else None
        self.steps = make_steps(self.cells_xy, self.mass_kg)
        self.offsets: tuple[float, ...] | None = None
        self._tare_stats: WindowStats | None = None
        self._changes: dict[int, tuple[Placement, np.ndarray]] = {}

    def accept(self, step: Step, stats: WindowStats) -> None:
        """Check ``step``'s readings and keep them; raises ``Refused`` (the step may be repeated)."""
        if step.kind == "tare":
            self.offsets = tare(stats, self.cpn_guess, self.stored_offsets, self.limits)
            self._tare_stats = stats
            self._changes.clear()
            return
        if self._tare_stats is None:
            raise CalibrationError("tare the platform before placing the mass")
        delta = placement_change(step.placement, stats, self._tare_stats, self.cells_xy, self.cpn_guess,
                                 self.limits)
        self._changes[self.steps.index(step)] = (step.placement, delta)

    def done(self, step: Step) -> bool:
        """Whether ``step``'s readings are in (since the last tare)."""
        if step.kind == "tare":
            return self.offsets is not None
        return self.steps.index(step) in self._changes

    @property
    def missing(self) -> list[str]:
        """Labels of the steps still to do, in order."""
        return [s.label for s in self.steps if not self.done(s)]

    def finish(self) -> ScaleResult:
        """Fit and check the sensitivities once every step is done; raises ``Refused``."""
        missing = self.missing
        if missing:
            raise CalibrationError(f"calibration not finished: {', '.join(missing)} still to do")
        changes = [self._changes[i] for i in sorted(self._changes)]
        return fit_scale(self.cells_xy, self.offsets, changes, self.mass_kg, self.rate_hz, self.limits)

    def steadiness_n(self, stats: WindowStats | None) -> float | None:
        """The largest cell's spread in newtons (with the best known sensitivities), None if unknown."""
        if stats is None:
            return None
        s = spread_n(stats, self.cpn_guess)
        return float(np.nanmax(s)) if np.any(np.isfinite(s)) else None

    def progress_line(self, label: str, left_s: float, stats: WindowStats | None) -> str:
        """'tare: 2.0 s left, steady to +/-0.3 N' (or 'settling' before the spread is known)."""
        spread = self.steadiness_n(stats)
        steady = "settling" if spread is None else f"steady to \u00b1{spread:.1f} N"
        return f"{label}: {max(left_s, 0.0):.1f} s left, {steady}"


__all__ = ["PlatformProcedure", "Refused", "Step", "make_steps"]
