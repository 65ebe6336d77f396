"""Real-shaped cases in the acceptance set, beside the simulator's own strokes.

Each case is a true force curve with the shape real presses have — a light
load left lying, a press ramping at 1,000 N/s, a 4 Hz tapping — measured by
the simulated platform (HX711 noise, 2 % garbage frames of every kind seen on
real boards, 1 % lost rows, offsets stale by 6 N), written to a recording and
judged through ``knotcoach analyze --json --trace`` with the same scorer and
the same promises as tests/test_acceptance.py: over_band within 60 ms of
each true crossing (median within 30 ms), never below 95 % of the edge.
"""

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest

from firmware.recordings.format import write_recording
from firmware.sim.platform_model import PlatformModel, default_platform, stale_calibration
from server.cli import main
from tests.acceptance import Score, score_band

RATE = 80.0
HI_N = 300.0


def measured(force_n, seed, x_mm=None, y_mm=None, garbage=0.02, cells=4):
    true = default_platform(cells, seed)
    n = len(force_n)
    x = np.full(n, 300.0) if x_mm is None else x_mm
    y = np.full(n, 200.0) if y_mm is None else y_mm
    model = PlatformModel(true, seed, noise_counts_rms=60.0, garbage_fraction=garbage, lost_row_fraction=0.01)
    meas = model.measure(0, force_n, x, y)
    truth = SimpleNamespace(t_s=meas.t_s, force_n=np.asarray(force_n), faults=[])
    return meas.block(), stale_calibration(true, 6.0, seed), truth


def analyze(tmp_path, capsys, block, platform, band=(150.0, HI_N)):
    path = tmp_path / "case.csv.gz"
    write_recording(path, platform, block)
    trace = tmp_path / "trace.csv"
    capsys.readouterr()
    assert main(["analyze", str(path), "--json", "--band-newtons", f"{band[0]}:{band[1]}",
                 "--trace", str(trace)]) == 0
    events = [SimpleNamespace(extra={}, **json.loads(line)) for line in capsys.readouterr().out.splitlines()]
    with trace.open() as f:
        rows = list(csv.DictReader(f))
    t = np.array([float(r["t_s"]) for r in rows])
    force = np.array([float(r["force_n"]) if r["force_n"] else np.nan for r in rows])
    return events, t, force


def check_band(truth, events, min_crossings):
    score = Score()
    score_band(truth, events, HI_N, score)
    lat = np.array(score.band_latencies_s)
    assert score.problems == []
    assert len(lat) >= min_crossings
    assert np.median(lat) <= 0.030 and lat.max() <= 0.060, lat
    return lat


def test_a_light_load_left_lying_is_read_at_its_weight_and_presses_warn_on_time(tmp_path, capsys):
    # A 1 kg ball left on the platform 3 s after the start for two minutes, then
    # presses on top of it: the ball is never taken for zero.
    t = np.arange(int(150 * RATE)) / RATE
    force = np.where(t >= 3.0, 9.81, 0.0)
    for k, t0 in enumerate(np.arange(125.0, 148.0, 2.5)):
        force = force + np.clip((t - t0) * 1000.0, 0, 330.0 - 9.81) * (t < t0 + 1.2)
    block, platform, truth = measured(force, seed=11)
    events, tt, f = analyze(tmp_path, capsys, block, platform)
    for a, b in ((10.0, 20.0), (60.0, 70.0), (110.0, 120.0)):
        held = f[(tt >= a) & (tt < b)]
        assert abs(np.nanmedian(held) - 9.81) < 0.3, (a, np.nanmedian(held))
    check_band(truth, events, min_crossings=8)


def test_presses_ramping_at_1000_n_per_s_warn_within_the_promise(tmp_path, capsys):
    t = np.arange(int(60 * RATE)) / RATE
    force = np.where(t > 2.0, 120.0, 0.0)
    for t0 in np.arange(4.0, 58.0, 2.0):
        rise = np.clip((t - t0) * 1000.0, 0, 220.0)          # 120 -> 340 N at 1,000 N/s
        fall = np.clip((t - t0 - 0.9) * 1000.0, 0, 220.0)
        force = force + rise - fall
    x = 300.0 + 200.0 * np.sin(t / 3.0)                        # rolling along the platform
    block, platform, truth = measured(force, seed=12, x_mm=x)
    events, _, _ = analyze(tmp_path, capsys, block, platform)
    check_band(truth, events, min_crossings=25)


def test_a_4_hz_tapping_warns_on_every_tap(tmp_path, capsys):
    t = np.arange(int(30 * RATE)) / RATE
    taps = np.maximum(0.0, np.sin(2 * np.pi * 4.0 * t)) ** 2   # 4 taps a second
    force = np.where(t > 2.0, 150.0 + 180.0 * taps * (t > 4.0), 0.0)  # peaks at 330 N
    block, platform, truth = measured(force, seed=13)
    events, _, _ = analyze(tmp_path, capsys, block, platform)
    lat = check_band(truth, events, min_crossings=90)
    starts = [e for e in events if e.event == "over_band" and e.edge == "start"]
    assert len(starts) == len(lat)


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_garbage_of_every_kind_just_under_the_edge_never_warns(tmp_path, capsys, seed):
    # Held at 94 % of the edge (just under the 95 % below which a warning is false)
    # with 5 % garbage frames: spikes, bit slips, top-byte and sign errors, misreads.
    t = np.arange(int(120 * RATE)) / RATE
    force = np.where(t > 2.0, 0.94 * HI_N, 0.0) + 2.0 * np.sin(t)
    x = 300.0 + 150.0 * np.sin(t / 2.0)
    block, platform, truth = measured(force, seed=seed, x_mm=x, garbage=0.05)
    events, _, _ = analyze(tmp_path, capsys, block, platform)
    assert [e for e in events if e.event == "over_band"] == []
