"""``knotcoach record``: what the platform measures, written to a recording (.csv or .csv.gz).

The simulator writes simulated time at once, a minute at a time; a live source (or
the simulator with ``--realtime``) is read until ``--seconds`` pass or Ctrl-C.
"""

from __future__ import annotations

import os
import time

import numpy as np

from firmware.recordings.format import RecordingWriter
from firmware.sources.base import POLL_MARGIN_S
from server.cli_support import InputError, say, stored_platform


def run(args) -> int:
    from firmware.sources.factory import SourceSpecError, open_source

    out = os.path.abspath(args.out)
    if os.path.isdir(out):
        raise InputError(f"{args.out}: is a folder; give a file name such as {args.out}/session.csv")
    if not os.path.isdir(os.path.dirname(out)):
        raise InputError(f"{args.out}: folder {os.path.dirname(out)} does not exist")
    if os.path.exists(out) and not args.force:
        raise InputError(f"{args.out}: already exists; choose another name or add --force to replace it")
    try:
        source = open_source(args.source, pins=args.pins, seed=args.seed, fast=args.fast, announce=say,
                             platform=stored_platform(args))
    except SourceSpecError as e:
        raise InputError(str(e)) from None
    meta = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "source": source.kind}
    with source:
        try:
            with RecordingWriter(args.out, source.platform, meta) as writer:
                if source.kind == "simulated" and not args.realtime:
                    _record_simulated(source, writer, args.seconds)
                else:
                    _record_live(source, writer, args.seconds)
        except OSError as e:
            raise InputError(f"{args.out}: cannot write: {e.strerror or e}") from None
    say(f"wrote {writer.rows} samples from {source.n_cells} cell(s) to {args.out}")
    return 0


def _record_simulated(source, writer, seconds: float) -> None:
    """Simulated time, a minute at a time so long recordings need little memory."""
    left = seconds
    while left > 0:
        writer.write(source.generate(min(left, 60.0)))
        left -= 60.0


def _record_live(source, writer, seconds: float) -> None:
    """``seconds`` of samples (by their own times, so a fast replay stops as soon as a slow one)."""
    polled = getattr(source, "poll_interval_s", 0.0) > 0
    t_first = None
    try:
        while not source.finished:
            block = source.read()
            if len(block):
                t_first = float(block.t_s[0]) if t_first is None else t_first
                keep = int(np.searchsorted(block.t_s, t_first + seconds, side="left"))
                writer.write(block.slice(0, keep))
                if keep < len(block):
                    break
            if polled:  # until the next sample is due
                time.sleep(min(0.04, source.next_due_in_s()) + POLL_MARGIN_S)
    except KeyboardInterrupt:
        say("stopped early; keeping what was recorded")
