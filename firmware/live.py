"""The live loop for the terminal: samples in, warnings and a status line out.

Until the coach and the tablet arrive this is what ``knotcoach run`` shows:
force, position and each warning as it starts and ends. Clock and sleep are
injected so tests run it in simulated time.
"""

from __future__ import annotations

import math
import time
from typing import Callable, TextIO

from firmware.monitor import Monitor, WatchSettings
from firmware.rules import Event
from firmware.sources.base import Source

_START_TEXT = {
    "over_band": "too hard: ease off",
    "on_knot": "on the knot: move off it",
    "sensor_fault": "sensor fault",
}


#: Seconds of samples after which the measured sample rate is reported.
RATE_CHECK_S = 2.0


def rate_report(rows: int, span_s: float, nominal_hz: float) -> str:
    """Say how many samples per second arrive, and what a slow rate usually means."""
    rate = (rows - 1) / span_s if span_s > 0 else 0.0
    text = f"measured {rate:.0f} samples/s (expected {nominal_hz:g})"
    if rate < 0.8 * nominal_hz:
        text += ": too slow for live feedback - is an HX711's RATE pin tied low (10 samples/s)?"
    return text


def describe(event: Event) -> str:
    """One short line a person on the floor understands."""
    what = _START_TEXT.get(event.event, event.event)
    if "cell" in event.extra:
        what += f" on cell {event.extra['cell']}"
    return f"{event.t_s:8.2f} s  {what}" + ("" if event.edge == "start" else " - over")


def run_live(source: Source, watch: WatchSettings, seconds: float | None = None, out: TextIO | None = None,
             announce: Callable[[str], None] = print, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep, status_every_s: float = 0.5) -> int:
    """Run until ``seconds`` pass (source time), the source ends, or Ctrl-C."""
    monitor = Monitor(source.platform, watch)
    tty = bool(out and out.isatty())
    announce(f"watching {source.n_cells} cell(s) from the {source.kind} source; band "
             f"{watch.band_lo_n:g}-{watch.band_hi_n:g} N" + (f", knot at {watch.knot.x_mm:g} mm" if watch.knot else "")
             + "; Ctrl-C stops")
    last_status = -math.inf
    t_first = None
    rows = 0
    rate_checked = False
    try:
        while not source.finished:
            block = source.read()
            if len(block):
                result, events = monitor.process(block)
                t_first = block.t_s[0] if t_first is None else t_first
                rows += len(block)
                if not rate_checked and block.t_s[-1] - t_first >= RATE_CHECK_S:
                    rate_checked = True
                    announce(rate_report(rows, float(block.t_s[-1] - t_first), source.platform.rate_hz))
                for e in events:
                    _write(out, ("\r" if tty else "") + describe(e) + "\n")
                t_now = float(block.t_s[-1])
                if out and t_now - last_status >= status_every_s:
                    last_status = t_now
                    _write(out, _status(result, monitor, tty))
                if seconds is not None and t_now - t_first >= seconds:
                    break
            sleep(getattr(source, "poll_interval_s", 0.0))
    except KeyboardInterrupt:
        announce("stopped")
    for e in monitor.finish():
        _write(out, describe(e) + "\n")
    return 0


def _status(result, monitor: Monitor, tty: bool) -> str:
    f = float(result.force_n[-1])
    x, y = float(result.x_mm[-1]), float(result.y_mm[-1])
    force = "fault" if math.isnan(f) else f"{f:7.1f} N"
    pos = "" if math.isnan(x) else f"  at {x:6.1f},{y:6.1f} mm"
    flags = [r.name for r in monitor.rules if getattr(r, "active", False) is True or
             (hasattr(r.active, "any") and r.active.any())]
    line = f"{result.t_s[-1]:8.2f} s  {force}{pos}  {' '.join(flags)}"
    return f"\r{line:<70}" if tty else line + "\n"


def _write(out: TextIO | None, text: str) -> None:
    if out is not None:
        out.write(text)
        out.flush()
