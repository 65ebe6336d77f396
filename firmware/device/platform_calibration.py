"""Run the platform calibration against any Source: sample each step, show progress, check.

``PlatformCalibrationRun`` holds the steps (tare, then the known mass at the
centre and over each cell) and, for each, samples the source for a window
(about 3 s at 80/s, after a short settling time) while reporting progress
("tare: 2.0 s left, steady to +/-0.3 N"), then hands the readings to the pure
checks of ``calibration.platform_procedure``, which accept or refuse them. A
refused step can be repeated. ``finish()`` fits the sensitivities and checks
the centre of pressure; nothing is stored here.

``run_calibration`` runs every step in order, calling ``before(step)`` (to
tell the person what to do and wait) and ``place(step)`` (to steer a
simulator) first. ``sim_placer`` steers a ``SimulatedPlatform`` to what each
step asks for. Time comes from the injected ``clock`` and ``sleep``.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from calibration.platform import CalibrationError, PlatformCalibration
from calibration.platform_cal import LIMITS, Limits, ScaleResult, WindowStats, window_stats
from calibration.platform_procedure import PlatformProcedure, Step, make_steps
from firmware.sources.base import Source
# The same rough sensitivity an uncalibrated platform is opened with: spreads in newtons when nothing
# better is known about the cells.
from firmware.sources.factory import NOMINAL_COUNTS_PER_NEWTON

__all__ = ["PlatformCalibrationRun", "Step", "make_steps", "run_calibration", "sim_placer"]
PROGRESS_EVERY_S = 0.5
#: Sampling has no hurry: rows pile up in the source between polls.
POLL_MIN_S = 0.05


class PlatformCalibrationRun:
    """One calibration sampled from ``source``: the steps (``calibration.platform_procedure``)
    and, for each, a window of readings taken here.

    ``reference``: the calibration believed so far (default: the source's);
    its sensitivities turn spreads into newtons and, unless ``check_loaded``
    is False or it is marked ``uncalibrated``, its offsets reveal a loaded
    platform at tare.
    """

    def __init__(self, source: Source, cells_xy, mass_kg: float, *, reference: PlatformCalibration | None = None,
                 check_loaded: bool = True, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, progress: Callable[[str], None] | None = None,
                 window_s: float = 3.0, settle_s: float = 0.5, limits: Limits = LIMITS) -> None:
        self.procedure = PlatformProcedure(
            cells_xy, mass_kg, source.n_cells, reference=source.platform if reference is None else reference,
            nominal_counts_per_newton=NOMINAL_COUNTS_PER_NEWTON, check_loaded=check_loaded,
            rate_hz=source.platform.rate_hz, limits=limits)
        self.source, self.clock, self.sleep = source, clock, sleep
        self.progress = progress or (lambda text: None)
        self.window_s, self.settle_s, self.limits = float(window_s), float(settle_s), limits

    @property
    def steps(self) -> list[Step]:
        return self.procedure.steps

    @property
    def cpn_guess(self):
        return self.procedure.cpn_guess

    @property
    def stored_offsets(self):
        return self.procedure.stored_offsets

    @property
    def offsets(self):
        return self.procedure.offsets

    def do(self, step: Step) -> WindowStats:
        """Sample for ``step`` and check it; raises ``Refused`` (the step may be repeated)."""
        if step.kind != "tare" and self.procedure.offsets is None:
            raise CalibrationError("tare the platform before placing the mass")
        stats = self.sample(step.label)
        self.procedure.accept(step, stats)
        return stats

    def finish(self) -> ScaleResult:
        """Fit and check the sensitivities once every step is done; raises ``Refused``."""
        return self.procedure.finish()

    def sample(self, label: str) -> WindowStats:
        """Rows over ``settle_s + window_s`` of the clock; only those after the settling count."""
        self.source.read()  # drop what arrived while the person was getting ready
        poll_s = float(getattr(self.source, "poll_interval_s", 0.0))  # 0: read() waits for a row itself
        poll_s = max(poll_s, POLL_MIN_S) if poll_s > 0 else 0.0
        t0 = self.clock()
        total_s = self.settle_s + self.window_s
        kept: list[np.ndarray] = []
        next_report_s = 0.0
        while True:
            elapsed_s = self.clock() - t0
            if elapsed_s >= total_s or self.source.finished:
                break
            block = self.source.read()
            if elapsed_s >= self.settle_s and len(block):
                kept.append(block.raw)
            if elapsed_s >= next_report_s:
                self.progress(self._progress_line(label, total_s - elapsed_s, kept))
                next_report_s += PROGRESS_EVERY_S
            if poll_s > 0:
                self.sleep(poll_s)
        raw = np.concatenate(kept) if kept else np.empty((0, self.source.n_cells), dtype=np.int64)
        stats = window_stats(raw)
        self.progress(self._progress_line(label, 0.0, kept, stats))
        return stats

    def _progress_line(self, label: str, left_s: float, kept, stats: WindowStats | None = None) -> str:
        if stats is None and sum(len(r) for r in kept) >= 5:
            stats = window_stats(np.concatenate(kept))
        return self.procedure.progress_line(label, left_s, stats)


def run_calibration(source: Source, cells_xy, mass_kg: float, *, before: Callable[[Step], None] | None = None,
                    place: Callable[[Step], None] | None = None, **options) -> ScaleResult:
    """Every step in order (``before`` then ``place`` then sampling), then the fit; raises ``Refused``."""
    run = PlatformCalibrationRun(source, cells_xy, mass_kg, **options)
    for step in run.steps:
        if before is not None:
            before(step)
        if place is not None:
            place(step)
        run.do(step)
    return run.finish()


def sim_placer(source, mass_kg: float) -> Callable[[Step], None]:
    """Steer a ``SimulatedPlatform`` as each step asks: clear it, or put the mass there.

    Positions go by role (the centre, over cell i) on the simulator's TRUE
    cells, so the geometry entered may differ from the simulator's.
    """
    true_xy = [(c.x_mm, c.y_mm) for c in source.true_platform.cells]

    def place(step: Step) -> None:
        if step.kind == "tare":
            source.steer("clear_platform")
            return
        p = step.placement
        if p.cell is None:
            x, y = float(np.mean([q[0] for q in true_xy])), float(np.mean([q[1] for q in true_xy]))
        else:
            x, y = true_xy[p.cell]
        source.steer("place_mass", mass_kg=mass_kg, x_mm=x, y_mm=y)

    return place
