"""Feeding a monitor a stream cut into blocks, shared by the block-size tests."""

import numpy as np

from firmware.pipeline.monitor import Monitor

FIELDS = ("t_s", "force_n", "x_mm", "y_mm", "cell_force_n", "fault", "rejected")


def run_in_blocks(block, platform, watch, sizes):
    """Feed ``block`` in pieces of ``sizes`` (cycled); return (arrays by field, events)."""
    mon = Monitor(platform, watch)
    outs, events, start, i = [], [], 0, 0
    while start < len(block):
        size = sizes[i % len(sizes)]
        out, ev = mon.process(block.slice(start, start + size))
        outs.append(out)
        events += ev
        start, i = start + size, i + 1
    events += mon.finish()
    return {f: np.concatenate([getattr(o, f) for o in outs]) for f in FIELDS}, events
