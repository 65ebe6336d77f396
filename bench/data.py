"""The benchmarks' data: the configuration, the session written once, and ways to cut it up."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from firmware.block import Block
from firmware.pipeline.monitor import Knot, WatchSettings
from firmware.recordings.format import write_recording
from firmware.sim.scenario import hour_session


@dataclass
class Config:
    duration_s: float = 3600.0     # the recording (hour_session)
    repeat: int = 5                # best of N
    long_rows: int = 1_000_000     # the synthetic long block for the core loop
    live_rows: int = 4_800         # rows fed live, from the start (1 minute at 80/s)
    seed: int = 0
    n_cells: int = 4
    garbage_fraction: float = 0.02
    lost_fraction: float = 0.01


FULL = Config()
QUICK = Config(duration_s=600.0, repeat=3, long_rows=200_000, live_rows=1_600)


@dataclass
class Data:
    block: Block
    platform: Any
    watch: WatchSettings
    band: tuple[float, float]
    knot: tuple[float, float]
    csv_path: str
    gz_path: str
    make_s: float
    write_s: float

    def live_block(self, cfg: Config) -> Block:
        """The rows fed live: the first ``cfg.live_rows`` of the recording."""
        return self.block.slice(0, min(cfg.live_rows, len(self.block)))


def make_data(directory: str, cfg: Config) -> Data:
    """The session once, written as .csv and .csv.gz into ``directory``."""
    t0 = time.perf_counter()
    block, plat, truth = hour_session(seed=cfg.seed, n_cells=cfg.n_cells, garbage_fraction=cfg.garbage_fraction,
                                      lost_fraction=cfg.lost_fraction, duration_s=cfg.duration_s)
    make_s = time.perf_counter() - t0
    csv_path, gz_path = os.path.join(directory, "session.csv"), os.path.join(directory, "session.csv.gz")
    t0 = time.perf_counter()
    write_recording(csv_path, plat, block)
    write_recording(gz_path, plat, block)
    write_s = time.perf_counter() - t0
    band = tuple(float(v) for v in truth.band_n)
    knot = tuple(float(v) for v in truth.knot_mm)
    watch = WatchSettings(band_lo_n=band[0], band_hi_n=band[1], knot=Knot(*knot))
    return Data(block, plat, watch, band, knot, csv_path, gz_path, make_s, write_s)


def describe_data(data: Data) -> dict:
    """The data's part of the result: its size, band, knot and how long making it took."""
    return {"rows": len(data.block), "cells": data.block.n_cells, "band_n": list(data.band),
            "knot_mm": list(data.knot), "csv_bytes": os.path.getsize(data.csv_path),
            "gz_bytes": os.path.getsize(data.gz_path), "simulate_s": data.make_s,
            "write_both_s": data.write_s}


def tile_block(block: Block, n_rows: int, rate_hz: float) -> Block:
    """``block`` repeated end to end (times shifted so they keep rising) and cut to ``n_rows``."""
    reps = max(1, math.ceil(n_rows / len(block)))
    period = float(block.t_s[-1] - block.t_s[0]) + 1.0 / rate_hz
    t_s = np.concatenate([block.t_s + k * period for k in range(reps)])[:n_rows]
    raw = np.tile(block.raw, (reps, 1))[:n_rows]
    return Block(np.ascontiguousarray(t_s), np.ascontiguousarray(raw))


def live_blocks(block: Block, pattern) -> list[Block]:
    """Cut ``block`` into consecutive blocks whose sizes cycle through ``pattern``."""
    out, start, i = [], 0, 0
    n = len(block)
    while start < n:
        size = pattern[i % len(pattern)]
        out.append(block.slice(start, start + size))
        start += size
        i += 1
    return out
