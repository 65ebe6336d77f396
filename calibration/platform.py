"""The platform's calibration: where each load cell sits and how it converts.

A platform stands on 1 to 4 load cells, each read by its own HX711. For each
cell we need where it carries the platform (``x_mm``, ``y_mm``), the raw count
it reads with nothing on it (``offset``) and how many counts one newton adds
(``counts_per_newton``; negative when load lowers the count). This is the
``platform`` object of recording format v1 and of the stored calibration.

Pure data and validation only: no I/O, no clock, no hardware.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

#: Raw HX711 values are 24-bit two's complement.
RAW_MIN = -(1 << 23)
RAW_MAX = (1 << 23) - 1
#: Values a misread HX711 frame takes (bogde/HX711#83: 2^n - 1 and 0; all ones reads -1).
MISREAD_VALUES = (8388607, 4194303, 2097151, 1048575, 0, -1)
MAX_CELLS = 4
#: Plausible sensitivities: an HX711 at gain 128 gives about 1.5 nV a count, so
#: real load cells land between a few and some ten thousand counts per newton.
MIN_COUNTS_PER_NEWTON = 0.5
MAX_COUNTS_PER_NEWTON = 1e6


class CalibrationError(ValueError):
    """A calibration that cannot be used, with a message a person can act on."""


@dataclass(frozen=True)
class Cell:
    """One load cell: position in platform millimetres and its raw-count scale."""

    x_mm: float
    y_mm: float
    offset: float
    counts_per_newton: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class PlatformCalibration:
    """Cells in column order and the nominal sample rate in Hz."""

    cells: tuple[Cell, ...]
    rate_hz: float = 80.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= len(self.cells) <= MAX_CELLS:
            raise CalibrationError(f"a platform has 1 to {MAX_CELLS} cells, not {len(self.cells)}")
        if not (math.isfinite(self.rate_hz) and 1.0 <= self.rate_hz <= 1000.0):
            raise CalibrationError(f"rate_hz must be between 1 and 1000, not {self.rate_hz}")

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def position_dims(self) -> int:
        """0 for one cell (force only), 1 for cells on one line, 2 otherwise."""
        if self.n_cells == 1:
            return 0
        x0, y0 = self.cells[0].x_mm, self.cells[0].y_mm
        far = max(self.cells[1:], key=lambda c: math.hypot(c.x_mm - x0, c.y_mm - y0))
        dx, dy = far.x_mm - x0, far.y_mm - y0
        length = math.hypot(dx, dy)
        if length == 0:
            return 0
        for c in self.cells:
            # Distance of each cell from the line through the two farthest apart.
            if abs((c.x_mm - x0) * dy - (c.y_mm - y0) * dx) / length > 1.0:
                return 2
        return 1

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.extra)
        out["rate_hz"] = self.rate_hz
        out["cells"] = [c.to_dict() for c in self.cells]
        return out

    @classmethod
    def from_dict(cls, data: Any) -> "PlatformCalibration":
        """Build from the JSON form, raising CalibrationError with a clear reason."""
        if not isinstance(data, dict):
            raise CalibrationError("platform must be a JSON object")
        rate = data.get("rate_hz", 80.0)
        if not _is_number(rate):
            raise CalibrationError("platform.rate_hz must be a number")
        cells_data = data.get("cells")
        if not isinstance(cells_data, list) or not cells_data:
            raise CalibrationError("platform.cells must be a non-empty list")
        cells = []
        for i, cd in enumerate(cells_data):
            if not isinstance(cd, dict):
                raise CalibrationError(f"platform.cells[{i}] must be an object")
            values = {}
            for key in ("x_mm", "y_mm", "offset", "counts_per_newton"):
                v = cd.get(key)
                if not _is_number(v) or not math.isfinite(v):
                    raise CalibrationError(f"platform.cells[{i}].{key} must be a finite number")
                values[key] = float(v)
            if not MIN_COUNTS_PER_NEWTON <= abs(values["counts_per_newton"]) <= MAX_COUNTS_PER_NEWTON:
                raise CalibrationError(
                    f"platform.cells[{i}].counts_per_newton must be {MIN_COUNTS_PER_NEWTON:g} to "
                    f"{MAX_COUNTS_PER_NEWTON:g} counts per newton in size (negative when load lowers the count)")
            if not RAW_MIN <= values["offset"] <= RAW_MAX:
                raise CalibrationError(f"platform.cells[{i}].offset is outside the 24-bit range")
            cells.append(Cell(**values))
        extra = {k: v for k, v in data.items() if k not in ("rate_hz", "cells")}
        return cls(cells=tuple(cells), rate_hz=float(rate), extra=extra)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def corner_layout(width_mm: float, depth_mm: float) -> list[tuple[float, float]]:
    """Cell positions for four corner cells of a W x D platform, in column order."""
    return [(0.0, 0.0), (width_mm, 0.0), (0.0, depth_mm), (width_mm, depth_mm)]


def ends_layout(length_mm: float) -> list[tuple[float, float]]:
    """Cell positions for two cells at the ends of a platform of length L."""
    return [(0.0, 0.0), (length_mm, 0.0)]
