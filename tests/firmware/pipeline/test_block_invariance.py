"""Property: the filter loop and rules give bit-identical output for any way of
cutting the stream into blocks. Small blocks take the stages' plain-Python
paths and large ones the numpy paths, so this holds the two to the same numbers
on random streams with everything the sensors do wrong."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from calibration.platform import Cell, PlatformCalibration
from firmware.block import MISSING, Block
from firmware.pipeline.monitor import Knot, WatchSettings
from tests.blocks import FIELDS, run_in_blocks

LAYOUT = [(0.0, 0.0), (540.0, 0.0), (0.0, 340.0), (540.0, 340.0)]


def random_stream(seed: int, cells: int, rate_hz: float = 80.0):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(600, 2500))
    t = np.cumsum(rng.choice([1.0, 1.0, 1.0, 2.0], n)) / rate_hz  # occasional lost rows
    cpn = rng.choice([-1, 1], cells) * rng.uniform(300, 2500, cells)
    offsets = rng.uniform(-1e5, 1e5, cells)
    # Load comes and goes (unloaded stretches let the zero tracker work), position wanders.
    load_n = np.where(np.sin(t / rng.uniform(1, 6)) > rng.uniform(-0.5, 0.5), rng.uniform(50, 400), 0.0)
    load_n = load_n + rng.normal(0, 0.2, n)
    x = 270 + 200 * np.sin(t * rng.uniform(0.5, 3))
    share = np.stack([np.clip(1 - abs(x - cx) / 540, 0, 1) for cx, _ in LAYOUT[:cells]], axis=1)
    share /= share.sum(axis=1, keepdims=True)
    raw = np.round(offsets + cpn * share * load_n[:, None] + rng.normal(0, 20, (n, cells))).astype(np.int64)
    glitch = rng.random((n, cells)) < rng.uniform(0, 0.05)
    raw[glitch] = rng.choice([8388607, -8388608, -1, 0, 4194303, 1234567], glitch.sum())
    raw[rng.random((n, cells)) < rng.uniform(0, 0.03)] = MISSING
    c, a = int(rng.integers(cells)), int(rng.integers(n))
    raw[a:a + int(rng.integers(0, 120)), c] = raw[a, c]  # a frozen stretch
    platform = PlatformCalibration(tuple(Cell(px, py, o + rng.normal(0, 3) * k, k)
                                         for (px, py), o, k in zip(LAYOUT[:cells], offsets, cpn)), rate_hz)
    return Block(t, raw), platform


def run(block, platform, sizes):
    knot = Knot(270.0, 0.0 if len(platform.cells) > 2 else None)
    return run_in_blocks(block, platform, WatchSettings(100.0, 200.0, knot), sizes)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cells=st.sampled_from([1, 2, 4]),
       sizes=st.lists(st.one_of(st.integers(1, 9), st.integers(10, 700)), min_size=1, max_size=12))
def test_any_cut_gives_identical_values_and_events(seed, cells, sizes):
    block, platform = random_stream(seed, cells)
    whole, whole_events = run(block, platform, [len(block)])
    got, events = run(block, platform, sizes)
    for f in FIELDS:
        assert np.array_equal(got[f], whole[f], equal_nan=True), f
    assert events == whole_events
