"""``knotcoach analyze``: when the device would have warned on a recording.

The live filter loop and rules run on the whole recording (``firmware.pipeline.analysis``);
the events are a readable report, or JSON Lines (``--json``), with the filtered signal
per row in ``--trace`` (RECORDING.md).
"""

from __future__ import annotations

import json
import os
import sys

from firmware.pipeline.monitor import Knot, WatchSettings
from firmware.recordings.format import RecordingError, read_recording
from server.cli_support import InputError, chosen_band


def watch_settings(args, default_band=None) -> WatchSettings:
    """What to watch for: the band from the options, the knot and its zone, the dwell grace."""
    band = chosen_band(args, default_band)
    if band is None:
        raise InputError("a band is needed: --band-newtons LO:HI or --profile FILE")
    knot = Knot(*args.knot) if args.knot else None
    return WatchSettings(band_lo_n=band[0], band_hi_n=band[1], knot=knot,
                         zone_mm=args.zone_mm, dwell_s=args.dwell_s)


def run(args) -> int:
    from firmware.pipeline.analysis import analyze as run_analysis, format_summary, write_trace

    try:
        recording = read_recording(args.recording)
    except RecordingError as e:
        raise InputError(str(e)) from None
    watch = watch_settings(args)
    if args.trace and os.path.abspath(args.trace) == os.path.abspath(args.recording):
        raise InputError(f"{args.trace}: the trace would overwrite the recording")
    result = run_analysis(recording, watch)
    if args.trace:
        try:
            write_trace(args.trace, result.output)
        except OSError as e:
            raise InputError(f"{args.trace}: cannot write the trace: {e.strerror or e}") from None
    if args.json:
        out = sys.stdout
        for event in result.events:
            out.write(json.dumps(event.to_dict()) + "\n")
        out.flush()
    else:
        print(format_summary(args.recording, result, watch))
    return 0
