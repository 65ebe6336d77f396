"""The live loop for the terminal: samples in, warnings and a status line out.

Until the coach and the tablet arrive this is what ``knotcoach run`` shows:
force, position and each warning as it starts and ends. Clock and sleep are
injected so tests run it in simulated time.
"""

from __future__ import annotations

import math
import time
from typing import Callable, TextIO

from firmware.block import Block
from firmware.pipeline.monitor import Monitor, WatchSettings
from firmware.pipeline.rules import Event
from firmware.sources.base import POLL_MARGIN_S, Source

_START_TEXT = {
    "over_band": "too hard: ease off",
    "on_knot": "on the knot: move off it",
    "sensor_fault": "sensor fault",
}


#: Seconds of samples after which the measured sample rate is reported.
RATE_CHECK_S = 2.0
#: How often a frame of the latest values goes to the tablet, in seconds of samples
#: (25 frames/s); the filter loop and rules run on every sample.
FRAME_S = 0.04


def rate_report(rows: int, span_s: float, nominal_hz: float) -> str:
    """Say how many samples per second arrive, and what a slow rate usually means."""
    rate = (rows - 1) / span_s if span_s > 0 else 0.0
    text = f"measured {rate:.0f} samples/s (expected {nominal_hz:g})"
    if rate < 0.8 * nominal_hz:
        text += ": too slow for live feedback - is an HX711's RATE pin tied low (10 samples/s)?"
    return text


def zero_drift_report(platform, monitor: Monitor) -> str | None:
    """How far each cell's empty reading has moved since the platform was calibrated
    (known once the unloaded start has been measured); None if it is not calibrated."""
    from calibration.platform_cal import drift_report

    zero0 = monitor.loop.zero.zero0
    if zero0 is None or "calibrated_at" not in platform.extra:
        return None
    return f"{drift_report(platform, zero0).message()} (calibrated {platform.extra['calibrated_at'][:10]})"


def describe(event: Event) -> str:
    """One short line a person on the floor understands."""
    return describe_warning(event.t_s, event.event, event.edge, event.extra.get("cell"))


def describe_warning(t_s: float, name: str, edge: str, cell: int | None = None) -> str:
    """``describe`` from plain values (as a warning travels on the device channel)."""
    what = _START_TEXT.get(name, name)
    if cell is not None:
        what += f" on cell {cell}"
    return f"{t_s:8.2f} s  {what}" + ("" if edge == "start" else " - over")


def run_live(source: Source, watch: WatchSettings, seconds: float | None = None, out: TextIO | None = None,
             announce: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep,
             status_every_s: float = 0.5, scale=None) -> int:
    """Run until ``seconds`` of samples have passed, the source ends, or Ctrl-C."""
    monitor = Monitor(source.platform, watch)
    tty = bool(out and out.isatty())
    knot = ""
    if watch.knot:
        y = "" if watch.knot.y_mm is None else f",{watch.knot.y_mm:g}"
        knot = f", knot at {watch.knot.x_mm:g}{y} mm"
    announce(f"watching {source.n_cells} cell(s) from the {source.kind} source; band "
             f"{watch.band_lo_n:g}-{watch.band_hi_n:g} N{knot}; Ctrl-C stops")
    # Sources that do not wait for the hardware are polled when their next row is due;
    # every row goes through the filter loop and rules as soon as it is read.
    polled = getattr(source, "poll_interval_s", 0.0) > 0
    last_status, t_first, rows, rate_checked = -math.inf, None, 0, False
    try:
        while not source.finished:
            block = source.read()
            if len(block):
                result, events = monitor.process(block)
                t_first = block.t_s[0] if t_first is None else t_first
                t_now = float(block.t_s[-1])
                rows += len(block)
                if not rate_checked and t_now - t_first >= RATE_CHECK_S:
                    rate_checked = True
                    announce(rate_report(rows, t_now - float(t_first), source.platform.rate_hz))
                    drift = zero_drift_report(source.platform, monitor)
                    if drift:
                        announce(drift)
                for e in events:
                    _write(out, ("\r" if tty else "") + describe(e) + "\n")
                if out and t_now - last_status >= status_every_s:
                    last_status = t_now
                    _write(out, _status(result, monitor, tty, scale))
                if seconds is not None and t_now - t_first >= seconds:
                    break
            if polled:
                sleep(min(FRAME_S, source.next_due_in_s()) + POLL_MARGIN_S)
    except KeyboardInterrupt:
        announce("stopped")
    for e in monitor.finish():
        _write(out, describe(e) + "\n")
    return 0


def _status(result, monitor: Monitor, tty: bool, scale=None) -> str:
    f = float(result.force_n[-1])
    x, y = float(result.x_mm[-1]), float(result.y_mm[-1])
    force = "fault" if math.isnan(f) else f"{f:7.1f} N"
    if scale is not None and not math.isnan(f):
        force += f" {float(scale.rating(f)):4.1f}/10"  # the person's own scale
    pos = "" if math.isnan(x) else f"  at {x:6.1f},{y:6.1f} mm"
    line = f"{result.t_s[-1]:8.2f} s  {force}{pos}  {' '.join(monitor.active_warnings())}"
    return f"\r{line:<70}" if tty else line + "\n"


def _write(out: TextIO | None, text: str) -> None:
    if out is not None:
        out.write(text)
        out.flush()
