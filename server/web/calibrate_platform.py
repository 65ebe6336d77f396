"""The platform wizard on the tablet: tare, a known mass at the centre and over each cell, saved.

The device process owns the boards, so each step asks it for a raw capture
(``capture``: about 3 s after half a second of settling) and the checks of
``calibration.platform_procedure`` run here on the window statistics it
sends back. After the last placement the sensitivities are fitted and shown
(counts per newton per cell, the centre-of-pressure error in mm); a last step
checks the mass has been taken off, so the device's fresh start zero is an
empty platform. ``finish`` stores the calibration atomically and asks the
device to use it (``reload_platform``). A refused step can be repeated;
a refused fit ends the wizard; either way nothing stored changes.

On the simulator each step first puts the mass where the step asks (or clears
the platform), by role on the simulator's own cells, as ``knotcoach
calibrate platform --source sim`` does.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import numpy as np

from calibration.files import StoreError
from calibration.platform import CalibrationError, Cell, PlatformCalibration
from calibration.platform_cal import LIMITS, STANDARD_GRAVITY_MS2, Refused, cell_names, tare
from calibration.platform_procedure import PlatformProcedure, Step
from calibration.platform_store import save_platform
from firmware.device.capture import CaptureError, stats_from_dict
from firmware.sources.factory import NOMINAL_COUNTS_PER_NEWTON
from server.web.calibrate_person import WizardRefused

#: Seconds of readings kept per step, after this much settling, and for the last (empty) check.
WINDOW_S, SETTLE_S, UNLOAD_WINDOW_S = 3.0, 0.5, 1.5
#: A capture not finished this long (wall clock) after it should have: the device is not sampling.
CAPTURE_GRACE_S = 10.0
#: Refusals a person can fix and then repeat the step (as the terminal command).
RETRYABLE = ("moving", "loaded", "no_change", "no_readings")

Command = Callable[..., dict[str, Any]]


def reference_platform(info: Any) -> PlatformCalibration | None:
    """The calibration the device uses now, from its ``platform`` state (None if not told)."""
    try:
        cells = tuple(Cell(float(x), float(y), float(o), float(c)) for (x, y), o, c in
                      zip(info["cells_xy"], info["offsets"], info["counts_per_newton"], strict=True))
        extra = {"uncalibrated": True} if info.get("uncalibrated") else {}
        return PlatformCalibration(cells, float(info["rate_hz"]), extra=extra)
    except (KeyError, TypeError, ValueError):
        return None


class PlatformWizard:
    """One platform calibration: the steps, the step being sampled, the results so far."""

    def __init__(self, device: Command, procedure: PlatformProcedure, *, simulated: bool, seed: Any,
                 save: bool, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.device, self.procedure = device, procedure
        self.simulated, self.seed, self.save = simulated, seed, save
        self.monotonic = monotonic
        self.lock = threading.Lock()
        self.steps: list[Step] = procedure.steps + [
            Step("unload", None, "empty", "Take the mass off the platform and keep it still")]
        self.index = 0
        self.results: list[dict[str, Any] | None] = [None] * len(self.steps)
        self.capture: dict[str, Any] | None = None   # {"id", "deadline", "left_s", "line"}
        self.refusal: str | None = None
        self.failed: str | None = None
        self.fit = None

    # -- the plan ----------------------------------------------------------------------
    def plan(self) -> list[dict[str, Any]]:
        names = cell_names(self.procedure.cells_xy)
        out = []
        for i, step in enumerate(self.steps):
            where = None
            if step.placement is not None:
                p = step.placement
                where = {"cell": p.cell, "x_mm": p.x_mm, "y_mm": p.y_mm,
                         "name": "centre" if p.cell is None else names[p.cell]}
            out.append({"index": i, "kind": step.kind, "label": step.label, "instruction": step.instruction,
                        "where": where, "result": self.results[i]})
        return out

    # -- steps ---------------------------------------------------------------------------
    def start_step(self) -> dict[str, Any]:
        """Start sampling the current step (on the simulator: the mass goes where it asks first)."""
        with self.lock:
            self._check_open()
            if self.capture is not None:
                raise WizardRefused("this step is still sampling: wait for it")
            if self.index >= len(self.steps):
                raise WizardRefused("every step is done: save the calibration")
            step = self.steps[self.index]
            if self.simulated:
                self.device("sim_place_mass", **_sim_place(step, self.procedure.mass_kg))
            window_s = UNLOAD_WINDOW_S if step.kind == "unload" else WINDOW_S
            reply = self.device("capture", seconds=window_s, settle_s=SETTLE_S)
            self.refusal = None
            self.capture = {"id": reply["capture_id"], "left_s": window_s + SETTLE_S, "line": "",
                            "deadline": self.monotonic() + window_s + SETTLE_S + CAPTURE_GRACE_S}
            return {"step": self.index, "seconds_left": window_s + SETTLE_S}

    def poll(self) -> None:
        """Follow the capture in progress; once done, check its readings (accept or refuse)."""
        with self.lock:
            if self.capture is None:
                return
            step = self.steps[self.index]
            try:
                reply = self.device("capture_result", capture_id=self.capture["id"])
            except WizardRefused as e:  # the device lost it (restarted): sample this step again
                self.capture, self.refusal = None, f"{e}: try this step again"
                return
            try:
                stats = None if reply.get("stats") is None else stats_from_dict(reply["stats"],
                                                                                 len(self.procedure.cells_xy))
            except CaptureError as e:
                self.capture, self.refusal = None, f"the device sent readings that cannot be used ({e})"
                return
            if not reply.get("done"):
                self.capture["left_s"] = float(reply.get("seconds_left") or 0.0)
                self.capture["line"] = self.procedure.progress_line(step.label, self.capture["left_s"], stats)
                if self.monotonic() > self.capture["deadline"]:
                    self._quietly("capture_cancel")
                    self.capture, self.refusal = None, "no readings arrived from the platform: check it is " \
                                                       "connected and try again"
                return
            self.capture = None
            self._judge(step, stats)

    def _judge(self, step: Step, stats) -> None:
        if stats is None:
            self.refusal = f"{step.label}: no valid readings arrived: check the wiring and try again"
            return
        try:
            if step.kind == "unload":
                fitted = self.fit.platform
                tare(stats, [c.counts_per_newton for c in fitted.cells], [c.offset for c in fitted.cells],
                     LIMITS)
            else:
                self.procedure.accept(step, stats)
        except Refused as e:
            self.refusal = str(e)
            if e.kind not in RETRYABLE:
                self.failed = f"{e}; nothing was saved"
            return
        self.results[self.index] = {"steady_n": _round(self.procedure.steadiness_n(stats), 2),
                                    "level_counts": [_round(v, 1) for v in stats.level_counts.tolist()]}
        self.index += 1
        if self.index == len(self.steps) - 1 and self.fit is None:
            try:
                self.fit = self.procedure.finish()
            except (Refused, CalibrationError) as e:
                self.failed = f"{e}; nothing was saved"

    # -- status, saving, stopping --------------------------------------------------------
    def status(self) -> dict[str, Any]:
        self.poll()
        with self.lock:
            step = self.steps[self.index] if self.index < len(self.steps) else None
            return {"active": True, "mass_kg": self.procedure.mass_kg,
                    "weight_n": round(self.procedure.mass_kg * STANDARD_GRAVITY_MS2, 2),
                    "cells_xy": [list(p) for p in self.procedure.cells_xy], "step": self.index,
                    "current": None if step is None else {"kind": step.kind, "label": step.label,
                                                          "instruction": step.instruction},
                    "sampling": self.capture is not None,
                    "seconds_left": None if self.capture is None else round(self.capture["left_s"], 1),
                    "progress_text": None if self.capture is None else self.capture["line"],
                    "refusal": self.refusal, "failed": self.failed, "steps": self.plan(),
                    "result": None if self.fit is None else fit_summary(self.fit),
                    "can_finish": self.ready, "simulated": self.simulated, "saves": self.save}

    @property
    def ready(self) -> bool:
        return self.failed is None and self.fit is not None and self.index == len(self.steps)

    def finish(self, data_dir, now_iso: str, source_kind: str) -> dict[str, Any]:
        """Store the checked calibration and have the device use it."""
        with self.lock:
            self._check_open()
            if not self.ready:
                missing = [s.label for s, r in zip(self.steps, self.results) if r is None]
                raise WizardRefused(f"calibration not finished: {', '.join(missing)} still to do")
            summary = fit_summary(self.fit)
            if not self.save:
                return {"saved": False, "result": summary,
                        "note": "simulated: not saved (start the coach with --data-dir to keep it)"}
            report = {**self.fit.report(), "source": source_kind, "from": "tablet"}
            if self.simulated:
                report["seed"] = self.seed
            try:
                save_platform(data_dir, self.fit.platform, now_iso, report)
            except (StoreError, CalibrationError) as e:
                raise WizardRefused(f"{e}; nothing was saved", 503 if isinstance(e, StoreError) else 422) from None
        try:
            reload = self.device("reload_platform")
        except WizardRefused as e:
            reload = {"applied": False, "reason": str(e)}
        return {"saved": True, "result": summary, "calibrated_at": now_iso,
                "applied": bool(reload.get("applied")), "reason": reload.get("reason")}

    def cancel(self) -> None:
        """Stop sampling; on the simulator the platform is cleared. Nothing stored changes."""
        with self.lock:
            self.failed = self.failed or "cancelled"
            if self.capture is not None:
                self.capture = None
                self._quietly("capture_cancel")
            if self.simulated:
                self._quietly("sim_place_mass", cell="clear")

    def _quietly(self, name: str, **args) -> None:
        try:
            self.device(name, **args)
        except WizardRefused:
            pass  # the device is gone or refused: nothing is left running there either way

    def _check_open(self) -> None:
        if self.failed is not None:
            raise WizardRefused(f"this calibration has ended ({self.failed}): start again")


def fit_summary(fit) -> dict[str, Any]:
    """Per cell the sensitivity and zero; the centre-of-pressure and weight errors."""
    names = cell_names([(c.x_mm, c.y_mm) for c in fit.platform.cells])
    return {"cells": [{"index": i, "name": names[i], "x_mm": c.x_mm, "y_mm": c.y_mm,
                       "counts_per_newton": round(c.counts_per_newton, 3), "offset": round(c.offset, 1)}
                      for i, c in enumerate(fit.platform.cells)],
            "cop_error_mm": _round(fit.cop_error_mm, 1),
            "cop_errors_mm": None if fit.cop_errors_mm is None else [round(e, 1) for e in fit.cop_errors_mm],
            "cop_limit_mm": LIMITS.max_cop_error_mm,
            "force_error_n": round(max(fit.force_errors_n, key=abs), 2)}


def make_procedure(cells_xy, mass_kg: float, reference: PlatformCalibration | None, n_cells: int,
                   fresh: bool) -> PlatformProcedure:
    rate_hz = reference.rate_hz if reference is not None else 80.0
    return PlatformProcedure(cells_xy, mass_kg, n_cells, reference=reference,
                             nominal_counts_per_newton=NOMINAL_COUNTS_PER_NEWTON, check_loaded=not fresh,
                             rate_hz=rate_hz)


def _sim_place(step: Step, mass_kg: float) -> dict[str, Any]:
    if step.kind != "place":
        return {"cell": "clear"}
    return {"cell": "centre" if step.placement.cell is None else step.placement.cell, "mass_kg": mass_kg}


def _round(value, digits: int):
    return None if value is None or not np.isfinite(value) else round(float(value), digits)

