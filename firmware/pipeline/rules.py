"""Warning rules: over the band, resting on the knot, sensor fault.

Each rule is a small streaming class: ``process`` takes a block of filter
output (timestamps in seconds) and returns the edges of its warning as
``Event``s; ``finish(t_s)`` closes whatever is still open at the end of a
recording; ``reset()`` restores the initial state. Pure logic: no clock,
no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from firmware.pipeline.filters.vec import ROW_PATH_ROWS, edges, ffill, latch



@dataclass(frozen=True)
class Event:
    """One edge of a warning at recording time ``t_s``; ``extra`` adds keys (e.g. cell)."""

    t_s: float
    event: str
    edge: str
    extra: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        return {"t_s": round(self.t_s, 4), "event": self.event, "edge": self.edge, **self.extra}


def _edge_events(name: str, t_s: np.ndarray, state: np.ndarray, before: bool, **extra) -> list[Event]:
    if not (state != before).any():  # the usual case: nothing changed in this block
        return []
    up, down = edges(state, before)
    events = [Event(float(t_s[i]), name, "start", dict(extra)) for i in up]
    events += [Event(float(t_s[i]), name, "end", dict(extra)) for i in down]
    return events


class OverBandRule:
    """``over_band``: filtered force above ``hi_n``; ends below ``hi_n * (1 - hysteresis)``.

    Undefined force (a fault) ends the warning and never starts it.
    """

    name = "over_band"

    def __init__(self, hi_n: float, hysteresis: float = 0.05) -> None:
        if not hi_n > 0 or not 0 <= hysteresis < 1:
            raise ValueError("the band's upper edge must be positive and hysteresis in [0, 1)")
        self.hi_n, self.off_n = hi_n, hi_n * (1 - hysteresis)
        self.reset()

    def reset(self) -> None:
        self.active = False

    def process(self, t_s: np.ndarray, force_n: np.ndarray) -> list[Event]:
        if len(t_s) <= ROW_PATH_ROWS:
            return self._rows(t_s.tolist(), force_n.tolist())
        if not self.active and not (force_n > self.hi_n).any():
            return []  # the usual case, checked cheaply
        on = force_n > self.hi_n
        off = ~(force_n > self.off_n)
        state, new = latch(on, off, self.active)
        events = _edge_events(self.name, t_s, state, self.active)
        self.active = bool(new)
        return events

    def _rows(self, times: list[float], forces: list[float]) -> list[Event]:
        """A few live rows in plain Python: the same latch as ``process``."""
        events = []
        for t, f in zip(times, forces):
            on = True if f > self.hi_n else False if not f > self.off_n else self.active
            if on != self.active:
                events.append(Event(t, self.name, "start" if on else "end"))
                self.active = on
        return events

    def finish(self, t_s: float) -> list[Event]:
        return [Event(t_s, self.name, "end")] if self.active else []


class OnKnotRule:
    """``on_knot``: position within ``zone_mm`` of the knot for ``dwell_s`` while loaded.

    The zone is left only beyond ``zone_mm + exit_margin_mm`` so position noise
    at the border does not restart the dwell clock. With no ``knot_y`` the
    distance is along x only (two-cell platforms).
    """

    name = "on_knot"

    def __init__(self, knot_x_mm: float, knot_y_mm: float | None = None, zone_mm: float = 50.8,
                 dwell_s: float = 1.0, exit_margin_mm: float = 3.0) -> None:
        if not zone_mm > 0 or dwell_s < 0:
            raise ValueError("zone_mm must be positive and dwell_s not negative")
        self.knot_x_mm, self.knot_y_mm = knot_x_mm, knot_y_mm
        self.zone_mm, self.dwell_s, self.exit_margin_mm = zone_mm, dwell_s, exit_margin_mm
        self.reset()

    def reset(self) -> None:
        self.in_zone = False
        self.t_enter = np.nan
        self.active = False

    def distance_mm(self, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        # sqrt(dx*dx + dy*dy), not hypot: the plain-Python path below computes the
        # very same rounding with math.sqrt, which hypot would not guarantee.
        dx = x_mm - self.knot_x_mm
        if self.knot_y_mm is None:
            return np.abs(dx)
        dy = y_mm - self.knot_y_mm
        return np.sqrt(dx * dx + dy * dy)

    def _distances(self, xs: list[float], ys: list[float]) -> list[float]:
        kx, ky = self.knot_x_mm, self.knot_y_mm
        if ky is None:
            return [abs(x - kx) for x in xs]
        return [math.sqrt((x - kx) * (x - kx) + (y - ky) * (y - ky)) for x, y in zip(xs, ys)]

    def process(self, t_s: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray) -> list[Event]:
        if len(t_s) <= ROW_PATH_ROWS:
            return self._rows(t_s.tolist(), self._distances(x_mm.tolist(), y_mm.tolist()))
        d = self.distance_mm(x_mm, y_mm)
        if not self.in_zone and not (d <= self.zone_mm).any():
            return []  # nowhere near the knot: nothing can start, nothing is running
        inside, new_in = latch(d <= self.zone_mm, ~(d <= self.zone_mm + self.exit_margin_mm), self.in_zone)
        entered = inside & ~np.concatenate([[self.in_zone], inside[:-1]])
        t_enter, self.t_enter = ffill(t_s, entered, self.t_enter)
        dwelling = inside & (t_s - t_enter >= self.dwell_s - 1e-9)
        events = _edge_events(self.name, t_s, dwelling, self.active)
        self.in_zone = bool(new_in)
        self.active = bool(dwelling[-1]) if len(t_s) else self.active
        return events

    def _rows(self, times: list[float], distances: list[float]) -> list[Event]:
        """A few live rows in plain Python: the same zone latch and dwell clock."""
        events = []
        exit_mm = self.zone_mm + self.exit_margin_mm
        for t, d in zip(times, distances):
            inside = True if d <= self.zone_mm else False if not d <= exit_mm else self.in_zone
            if inside and not self.in_zone:
                self.t_enter = t
            self.in_zone = inside
            dwelling = inside and t - self.t_enter >= self.dwell_s - 1e-9
            if dwelling != self.active:
                events.append(Event(t, self.name, "start" if dwelling else "end"))
                self.active = dwelling
        return events

    def finish(self, t_s: float) -> list[Event]:
        return [Event(t_s, self.name, "end")] if self.active else []


class SensorFaultRule:
    """``sensor_fault`` per cell (extra key ``cell``), from the filter loop's fault flags."""

    name = "sensor_fault"

    def __init__(self, n_cells: int) -> None:
        self.n_cells = n_cells
        self.reset()

    def reset(self) -> None:
        self.active = np.zeros(self.n_cells, dtype=bool)
        self._any_active = False

    def process(self, t_s: np.ndarray, fault: np.ndarray) -> list[Event]:
        events: list[Event] = []
        if not self._any_active and not fault.any():
            return events
        for c in range(self.n_cells):
            events += _edge_events(self.name, t_s, fault[:, c], bool(self.active[c]), cell=c)
            if len(t_s):
                self.active[c] = fault[-1, c]
        self._any_active = bool(self.active.any())
        return events

    def finish(self, t_s: float) -> list[Event]:
        return [Event(t_s, self.name, "end", {"cell": c}) for c in np.flatnonzero(self.active).tolist()]


def sort_events(events: list[Event]) -> list[Event]:
    """Time order; at the same instant ends come before starts."""
    return sorted(events, key=lambda e: (e.t_s, e.edge == "start", e.event))
