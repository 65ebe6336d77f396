"""The filter loop and the warning rules together: what the device watches.

The live device and ``knotcoach analyze`` both use this class, so a recording
analysed offline warns exactly where the device warned live.
"""

from __future__ import annotations

from dataclasses import dataclass

from calibration.platform import PlatformCalibration
from firmware.block import Block
from firmware.pipeline.filterloop import FilterLoop, FilterOutput, FilterSettings
from firmware.pipeline.rules import Event, OnKnotRule, OverBandRule, SensorFaultRule, sort_events


@dataclass(frozen=True)
class Knot:
    """A marked knot in platform millimetres; ``y_mm`` None means along x only."""

    x_mm: float
    y_mm: float | None = None


@dataclass(frozen=True)
class WatchSettings:
    """What to warn about: the band in newtons, the knot and its no-go zone."""

    band_lo_n: float
    band_hi_n: float
    knot: Knot | None = None
    zone_mm: float = 50.8
    dwell_s: float = 1.0
    hysteresis: float = 0.05

    def __post_init__(self) -> None:
        if not 0 <= self.band_lo_n < self.band_hi_n:
            raise ValueError(f"the band needs 0 <= LO < HI newtons, not {self.band_lo_n}:{self.band_hi_n}")


class Monitor:
    """Feed it blocks; get the filtered signal and the warning edges."""

    def __init__(self, platform: PlatformCalibration, watch: WatchSettings,
                 filter_settings: FilterSettings | None = None) -> None:
        self.platform, self.watch = platform, watch
        self.loop = FilterLoop(platform, filter_settings)
        self.band = OverBandRule(watch.band_hi_n, watch.hysteresis)
        self.fault = SensorFaultRule(platform.n_cells)
        self.knot = None
        if watch.knot is not None and platform.position_dims > 0:
            self.knot = OnKnotRule(watch.knot.x_mm, watch.knot.y_mm, watch.zone_mm, watch.dwell_s)
        self.last_t_s: float | None = None

    def set_band(self, lo_n: float, hi_n: float) -> list[Event]:
        """Watch a new band from now on (a person's own scale chosen at session start);
        an over-band warning still on is ended at the last sample seen."""
        watch = WatchSettings(lo_n, hi_n, self.watch.knot, self.watch.zone_mm, self.watch.dwell_s,
                              self.watch.hysteresis)
        events = self.band.finish(self.last_t_s) if self.last_t_s is not None else []
        self.watch, self.band = watch, OverBandRule(hi_n, watch.hysteresis)
        return events

    def active_warnings(self) -> list[str]:
        """The warnings on now, by name (a fault on any cell counts once)."""
        names = []
        for rule in self.rules:
            active = rule.active
            if active.any() if hasattr(active, "any") else active:
                names.append(rule.name)
        return sorted(names)

    @property
    def rules(self):
        return [r for r in (self.band, self.knot, self.fault) if r is not None]

    def reset(self) -> None:
        self.loop.reset()
        for rule in self.rules:
            rule.reset()
        self.last_t_s = None

    def process(self, block: Block) -> tuple[FilterOutput, list[Event]]:
        out = self.loop.process(block)
        events = self.fault.process(out.t_s, out.fault)
        events += self.band.process(out.t_s, out.force_n)
        if self.knot is not None:
            events += self.knot.process(out.t_s, out.x_mm, out.y_mm)
        if len(block):
            self.last_t_s = float(block.t_s[-1])
        return out, sort_events(events)

    def finish(self) -> list[Event]:
        """Close every open warning at the last sample seen."""
        if self.last_t_s is None:
            return []
        events = []
        for rule in self.rules:
            events += rule.finish(self.last_t_s)
        return sort_events(events)
