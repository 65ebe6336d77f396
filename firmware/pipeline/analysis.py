"""Offline analysis of a recording with the live device's filter loop and rules."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from calibration.files import write_text_atomic
from firmware.block import MISSING
from firmware.pipeline.filterloop import FilterOutput, FilterSettings
from firmware.pipeline.monitor import Monitor, WatchSettings
from firmware.pipeline.rules import Event
from firmware.recordings.format import Recording, format_column, join_rows


@dataclass
class Analysis:
    """Events in time order, the filtered signal and a summary for a person."""

    events: list[Event]
    output: FilterOutput
    summary: dict = field(default_factory=dict)


def analyze(recording: Recording, watch: WatchSettings, filter_settings: FilterSettings | None = None,
            block_rows: int | None = None) -> Analysis:
    """Run the monitor over ``recording`` in blocks of ``block_rows`` (all at once if None)."""
    monitor = Monitor(recording.platform, watch, filter_settings)
    block = recording.block
    size = block_rows or max(1, len(block))
    outputs, events = [], []
    for part in block.split(size):
        out, ev = monitor.process(part)
        outputs.append(out)
        events += ev
    events += monitor.finish()
    output = FilterOutput.concat(outputs) if outputs else monitor.loop.process(block)
    return Analysis(events, output, _summary(recording, watch, monitor, output, events))


def _summary(recording: Recording, watch: WatchSettings, monitor: Monitor, out: FilterOutput,
             events: list[Event]) -> dict:
    t = out.t_s
    rate = recording.platform.rate_hz
    # Each row stands for the time until the next one, but a gap counts one period at most.
    dt = np.minimum(np.diff(t, append=t[-1] + 1 / rate), 1.5 / rate) if len(t) else t
    loaded = out.force_n >= monitor.loop.settings.min_load_n
    in_band = loaded & (out.force_n >= watch.band_lo_n) & (out.force_n <= watch.band_hi_n)
    counts: dict[str, int] = {}
    for e in events:
        if e.edge == "start":
            counts[e.event] = counts.get(e.event, 0) + 1
    zero = monitor.loop.zero
    return {
        "duration_s": float(t[-1] - t[0]) if len(t) else 0.0,
        "rows": int(len(t)),
        "cells": recording.platform.n_cells,
        "loaded_s": float(dt[loaded].sum()),
        "in_band_s": float(dt[in_band].sum()),
        "over_band_s": float(dt[loaded & (out.force_n > watch.band_hi_n)].sum()),
        "frames_rejected": int(out.rejected.sum()),
        "frames_missing": int((recording.block.raw == MISSING).sum()),
        "warnings": counts,
        "zero_shift_n": [round(float(v), 2) for v in zero.start_shift_n],
        "rezero_refused": [bool(v) for v in zero.rezero_refused],
        "knot_watched": monitor.knot is not None,
    }


def format_summary(path: str, analysis: Analysis, watch: WatchSettings) -> str:
    """A readable report: duration, time in band, each warning with its time."""
    s = analysis.summary
    lines = [f"Recording {path}: {s['duration_s']:.1f} s, {s['rows']} samples from {s['cells']} cell(s)"]
    lines.append(f"Band {watch.band_lo_n:g}-{watch.band_hi_n:g} N: in band {s['in_band_s']:.1f} s, "
                 f"over {s['over_band_s']:.1f} s, loaded {s['loaded_s']:.1f} s")
    lines.append(f"Frames rejected as glitches or invalid: {s['frames_rejected']}; empty: {s['frames_missing']}")
    for i, (shift, refused) in enumerate(zip(s["zero_shift_n"], s["rezero_refused"])):
        if refused:
            lines.append(f"Cell {i}: the start did not look unloaded; kept the stored zero")
        elif abs(shift) >= 1.0:
            lines.append(f"Cell {i}: stored zero was {shift:+.1f} N off; re-zeroed at the start")
    if not s["knot_watched"] and watch.knot is not None:
        lines.append("Knot not watched: this platform has one cell, so it measures force but no position")
    if not analysis.events:
        lines.append("No warnings.")
    for e in analysis.events:
        if e.edge == "start":
            end = next((x for x in analysis.events if x.event == e.event and x.edge == "end"
                        and x.t_s >= e.t_s and x.extra == e.extra), None)
            until = f" until {end.t_s:.2f} s ({end.t_s - e.t_s:.2f} s)" if end else ""
            cell = f" (cell {e.extra['cell']})" if "cell" in e.extra else ""
            lines.append(f"  {e.t_s:8.2f} s  {_LABELS.get(e.event, e.event)}{cell}{until}")
    return "\n".join(lines)


_LABELS = {
    "over_band": "pressing harder than the band",
    "on_knot": "resting on the knot",
    "sensor_fault": "sensor fault",
}


def write_trace(path: str, out: FilterOutput) -> None:
    """Write ``t_s,force_n,x_mm,y_mm,fault`` per row; empty where undefined. Atomic."""
    cols = [format_column(out.t_s, "%.4f"), format_column(out.force_n, "%.3f"),
            format_column(out.x_mm, "%.2f"), format_column(out.y_mm, "%.2f"),
            np.where(out.any_fault, "1", "0")]
    body = "t_s,force_n,x_mm,y_mm,fault\n" + join_rows(cols)
    write_text_atomic(path, body)
