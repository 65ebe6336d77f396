"""What the coach watches in each step's frames (mixed into ``Coach``).

Each ``_observe_<step>`` gets one frame already checked by ``Coach.update``:
the force (None on a sensor fault), the 0-10 rating (None without a personal
scale or on a fault), the position (None when nobody is on the platform) and
the rules' active warnings. They set the coach's warning latches through
``_set``/``_pulse`` and the state the next interval of time is credited to.
"""

from __future__ import annotations

import numpy as np

from firmware.coach.records import EPS_S
from firmware.coach.trackers import Point, side_of


class FrameSteps:
    """Per-step frame watchers; every attribute used here belongs to ``Coach``."""

    def _observe_ready(self, t_s: float, force: float | None, rating, pos, warnings) -> None:
        if self._load.feed(t_s, force is not None and force >= self.settings.start_load_n):
            self._begin(t_s)

    def _observe_find(self, t_s: float, force: float | None, rating, pos, warnings) -> None:
        self._watch_over(t_s, rating, warnings)
        if pos is not None:
            self._positions.append((t_s, pos[0], pos[1]))
        while self._positions and self._positions[0][0] < t_s - self.settings.mark_window_s - EPS_S:
            self._positions.popleft()
        self._set("lingering", t_s, self._linger.feed(t_s, pos))

    def _observe_around(self, t_s: float, force: float | None, rating, pos, warnings) -> None:
        s = self.settings
        self._watch_over(t_s, rating, warnings)
        loaded = force is not None and force >= s.min_load_n
        loaded_rating = rating if loaded else None  # off the roller is not "too light"
        light = loaded_rating is not None and loaded_rating < s.band_lo
        self._set("below_band", t_s, self._light.feed(t_s, light))
        self._watch_knot(t_s, pos, warnings)
        stroke = self._stroke.feed(t_s, pos)
        if stroke is not None:
            self.last_stroke = stroke
            if stroke.speed_mm_s > s.fast_stroke_mm_s:
                self._pulse("fast_stroke", t_s, speed_mm_s=round(stroke.speed_mm_s, 1))
        self._in_band = loaded_rating is not None and s.band_lo <= loaded_rating <= s.band_hi
        self._side = side_of(pos, self.knot, s.zone_mm)

    def _observe_reset(self, t_s: float, force: float | None, rating, pos, warnings) -> None:
        self._watch_knot(t_s, pos, warnings)
        if force is not None:
            self.cycles.sample(self._active_at(t_s), force)

    def _watch_over(self, t_s: float, rating: float | None, warnings: frozenset[str]) -> None:
        s = self.settings
        edge = s.band_hi - s.band_hysteresis if self.latches["over_band"].active else s.band_hi
        self._set("over_band", t_s, "over_band" in warnings or (rating is not None and rating > edge))

    def _watch_knot(self, t_s: float, pos: Point | None, warnings: frozenset[str]) -> None:
        x, y = pos if pos is not None else (np.nan, np.nan)
        rule = self._knot_rule
        rule.process(np.array([t_s]), np.array([x]), np.array([np.nan if y is None else y]))
        self._set("on_knot", t_s, rule.active or "on_knot" in warnings)
