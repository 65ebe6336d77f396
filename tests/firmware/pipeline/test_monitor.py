"""The whole filter loop and rules: the same answer whatever the block size."""

import numpy as np
import pytest

from firmware.device.live import rate_report, run_live
from firmware.pipeline.monitor import Knot, Monitor, WatchSettings
from firmware.sim.scenario import realistic_session
from firmware.sources.simulated import SimulatedPlatform
from tests.blocks import FIELDS, run_in_blocks



@pytest.fixture(scope="module")
def session():
    block, platform, truth = realistic_session(11, 4, garbage_fraction=0.02, lost_fraction=0.01,
                                               negative_sensitivity=True, stale_offsets_n=6.0)
    watch = WatchSettings(*truth.band_n, knot=Knot(*truth.knot_mm))
    return block, platform, watch


@pytest.mark.parametrize("sizes", [[1], [1, 2, 3, 4], [7, 1, 250], [4096], [100000]])
def test_values_and_events_identical_whatever_the_block_size(session, sizes):
    block, platform, watch = session
    whole, whole_events = run_in_blocks(block, platform, watch, [len(block)])
    got, events = run_in_blocks(block, platform, watch, sizes)
    for f in FIELDS:
        assert np.array_equal(got[f], whole[f], equal_nan=True), f
    assert events == whole_events
    assert {e.event for e in events} == {"over_band", "on_knot", "sensor_fault"}


def test_reset_truly_restores_the_initial_state(session):
    block, platform, watch = session
    mon = Monitor(platform, watch)
    first = mon.process(block)
    mon.finish()
    mon.reset()
    again = mon.process(block)
    assert again[1] == first[1]
    assert np.array_equal(again[0].force_n, first[0].force_n, equal_nan=True)


def test_out_of_order_samples_are_refused(session):
    block, platform, watch = session
    mon = Monitor(platform, watch)
    mon.process(block.slice(0, 10))
    with pytest.raises(ValueError, match="increase strictly"):
        mon.process(block.slice(5, 12))


def test_live_loop_in_simulated_time(capsys):
    clock = {"t": 100.0}
    source = SimulatedPlatform(clock=lambda: clock["t"], seed=5)

    def sleep(s):
        clock["t"] += max(s, 1e-3)

    announced = []
    watch = WatchSettings(150, 200, Knot(*source.knot_mm))
    calls = []
    monitor_process = Monitor.process

    def counting(self, block):
        calls.append(len(block))
        return monitor_process(self, block)

    Monitor.process = counting
    try:
        assert run_live(source, watch, seconds=12, out=None, announce=announced.append, sleep=sleep) == 0
    finally:
        Monitor.process = monitor_process
    assert 11.9 <= clock["t"] - 100.0 <= 12.2  # ran on the injected clock, no real waiting
    assert any("measured 80 samples/s" in a for a in announced)
    # Each row reaches the filter loop as soon as it is due: one at a time, not once a frame.
    assert max(calls) == 1 and sum(calls) >= 12 * 80


def test_rate_report_explains_a_slow_board():
    assert "RATE pin" in rate_report(21, 2.0, 80.0)
    assert rate_report(161, 2.0, 80.0) == "measured 80 samples/s (expected 80)"


def test_zero_drift_since_calibration_is_reported_once_the_start_is_measured():
    from calibration.platform import Cell, PlatformCalibration
    from firmware.block import Block
    from firmware.device.live import zero_drift_report
    cells = (Cell(0, 0, 1000.0, 400.0), Cell(500, 0, 5000.0, 400.0))
    platform = PlatformCalibration(cells, extra={"calibrated_at": "2026-11-01T09:00:00+00:00"})
    mon = Monitor(platform, WatchSettings(100, 200))
    t = np.arange(80) / 80.0
    raw = np.stack([np.full(80, 1000 + 400 * 2), np.full(80, 5000 - 400 * 8)], axis=1) + np.arange(80)[:, None] % 2
    mon.process(Block(t[:20], raw[:20]))
    assert zero_drift_report(platform, mon) is None  # the unloaded start is still being measured
    mon.process(Block(t[20:], raw[20:]))
    text = zero_drift_report(platform, mon)
    assert "cell 0 +2.0 N" in text and "cell 1 -8.0 N" in text and "re-tare" in text and "2026-11-01" in text
    uncalibrated = PlatformCalibration(cells)
    assert zero_drift_report(uncalibrated, Monitor(uncalibrated, WatchSettings(100, 200))) is None


def test_active_warnings_name_what_is_on_now(session):
    block, platform, watch = session
    mon = Monitor(platform, watch)
    seen = set()
    for part in block.split(80):
        mon.process(part)
        seen.update(mon.active_warnings())
    assert seen == {"over_band", "on_knot", "sensor_fault"}
    mon.reset()
    assert mon.active_warnings() == []
