"""Scoring detected warnings against a simulated session's ground truth.

These are the issue's "what done means" criteria written as code, shared by
the acceptance tests and the benchmark report:

- over_band starts within 60 ms of each true upward crossing of the edge
  (median <= 30 ms; a start more than 150 ms away is not this crossing's)
  and never while the true force stays below 95 % of it;
- on_knot starts within -0.15/+0.10 s of entry + grace for every true dwell
  longer than grace + 0.25 s, and never for a pass shorter than grace - 0.25 s;
- sensor_fault starts within 1 s of each cell fault and never otherwise;
  no pressure or position warning comes from a fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from firmware.pipeline.rules import Event


@dataclass
class Score:
    problems: list[str] = field(default_factory=list)
    band_latencies_s: list[float] = field(default_factory=list)
    knot_errors_s: list[float] = field(default_factory=list)
    fault_latencies_s: list[float] = field(default_factory=list)

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.problems.append(message)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last+1) index pairs of the True runs in ``mask``."""
    m = np.concatenate([[False], mask, [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def starts(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e.event == name and e.edge == "start"]


def near_fault(t: float, faults, before_s: float = 0.5, after_s: float = 1.0) -> bool:
    return any(s - before_s <= t <= e + after_s for _, _, s, e in faults)


def score_band(truth, events, hi_n: float, score: Score) -> None:
    t, f = truth.t_s, np.nan_to_num(truth.force_n)
    # True episodes with the same 5 % hysteresis the rule uses.
    over = np.zeros(len(f), dtype=bool)
    state = False
    for i, v in enumerate(f):
        state = v > hi_n if not state else v > 0.95 * hi_n
        over[i] = state
    detected = [e.t_s for e in starts(events, "over_band")]
    for a, _ in runs(over):
        t0 = t[a]
        if near_fault(t0, truth.faults):
            continue
        lat = [d - t0 for d in detected if -0.15 <= d - t0 <= 0.15]
        score.check(bool(lat), f"over_band missed the crossing at {t0:.3f} s")
        if lat:
            best = min(lat, key=abs)
            score.band_latencies_s.append(best)
            score.check(best <= 0.060, f"over_band {best * 1000:.0f} ms after the crossing at {t0:.3f} s (> 60 ms)")
    for d in detected:
        window = (t >= d - 0.15) & (t <= d)
        score.check(f[window].max(initial=0) >= 0.95 * hi_n,
                    f"over_band at {d:.3f} s while the true force stayed below 95 % of the edge")
    if score.band_latencies_s:
        med = float(np.median(score.band_latencies_s))
        score.check(med <= 0.030, f"over_band median latency {med * 1000:.0f} ms > 30 ms")


def true_distance(truth, one_d: bool) -> np.ndarray:
    kx, ky = truth.knot_mm
    if one_d:
        return np.abs(truth.x_mm - kx)
    return np.hypot(truth.x_mm - kx, truth.y_mm - ky)


def score_knot(truth, events, zone_mm: float, dwell_s: float, one_d: bool, score: Score) -> None:
    t = truth.t_s
    inside = true_distance(truth, one_d) <= zone_mm  # NaN (unloaded) is outside
    detected = [e.t_s for e in starts(events, "on_knot")]
    used = set()
    for a, b in runs(inside):
        entry, length = t[a], t[b - 1] - t[a]
        if near_fault(entry, truth.faults, after_s=1.0) or near_fault(t[b - 1], truth.faults):
            continue
        mine = [d for d in detected if entry - 0.2 <= d <= t[b - 1] + 0.35]
        used.update(mine)
        if length > dwell_s + 0.25:
            ok = [d - (entry + dwell_s) for d in mine if -0.15 <= d - (entry + dwell_s) <= 0.10]
            score.check(bool(ok), f"on_knot missed the {length:.2f} s dwell entered at {entry:.2f} s")
            score.knot_errors_s += ok[:1]
        elif length < dwell_s - 0.25:
            score.check(not mine, f"on_knot fired for a {length:.2f} s pass at {entry:.2f} s")
    for d in detected:
        score.check(d in used, f"on_knot at {d:.3f} s with no true dwell on the knot")


def score_faults(truth, events, score: Score) -> None:
    detected = starts(events, "sensor_fault")
    for cell, kind, s, e in truth.faults:
        mine = [d.t_s - s for d in detected if d.extra.get("cell") == cell and s <= d.t_s <= s + 1.0]
        score.check(bool(mine), f"sensor_fault missed {kind} on cell {cell} at {s:.2f} s")
        score.fault_latencies_s += mine[:1]
    for d in detected:
        ok = any(c == d.extra.get("cell") and s <= d.t_s <= e + 0.5 for c, _, s, e in truth.faults)
        score.check(ok, f"sensor_fault on cell {d.extra.get('cell')} at {d.t_s:.3f} s with no fault")
    for e in events:
        if e.event in ("over_band", "on_knot") and e.edge == "start":
            inside = any(s < e.t_s < end for _, _, s, end in truth.faults)
            score.check(not inside, f"{e.event} started at {e.t_s:.3f} s during a cell fault")
