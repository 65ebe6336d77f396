"""SimulatedPlatform: the simulator behind the Source seam, driven by a fake clock."""

import numpy as np
import pytest

from calibration.platform import RAW_MAX, RAW_MIN
from firmware.block import MISSING, Block
from firmware.sim.person import G_MS2
from firmware.sources.base import Source, SourceError
from firmware.sources.simulated import SimulatedPlatform

RATE_HZ = 80.0


class FakeClock:
    def __init__(self, t_s=1000.0):
        self.t_s = t_s

    def __call__(self):
        return self.t_s


def collect(source, clock, until_s, step_s):
    """Read every ``step_s`` of fake time until ``until_s`` after start; blocks and truths."""
    start = clock.t_s
    blocks, truths = [source.read()], [source.last_truth]
    while clock.t_s - start < until_s - 1e-9:
        clock.t_s = min(clock.t_s + step_s, start + until_s)
        blocks.append(source.read())
        truths.append(source.last_truth)
    return Block.concat(blocks), truths


def test_is_a_source_with_believed_platform():
    src = SimulatedPlatform(clock=FakeClock(), seed=1)
    assert isinstance(src, Source) and src.kind == "simulated" and src.n_cells == 4
    assert src.platform.position_dims == 2
    for believed, true in zip(src.platform.cells, src.true_platform.cells):
        assert believed.counts_per_newton == true.counts_per_newton
        assert 1.0 < abs(believed.offset - true.offset) / abs(true.counts_per_newton) < 3.01  # stale by ~3 N
        assert 400 <= abs(true.counts_per_newton) <= 450 and 10_000 <= abs(true.offset) <= 90_000
    xs = sorted({c.x_mm for c in src.platform.cells})
    ys = sorted({c.y_mm for c in src.platform.cells})
    assert xs == [0.0, 600.0] and ys == [0.0, 400.0]
    assert src.knot_mm == (300.0, 200.0)


def test_rows_arrive_at_80_per_second_from_the_first_clock_reading():
    clock = FakeClock(500.0)
    src = SimulatedPlatform(clock=clock, seed=2)
    first = src.read()
    assert first.t_s.tolist() == [0.0]
    assert len(src.read()) == 0  # nothing new, and it does not block
    clock.t_s += 0.03
    assert src.read().t_s.tolist() == [0.0125, 0.025]
    clock.t_s = 500.0 + 10.0
    rest = src.read()
    assert rest.t_s[-1] == 10.0 and len(rest) == 800 - 2
    assert rest.n_cells == 4 and rest.raw.dtype == np.int64


def test_reading_in_any_rhythm_gives_the_same_rows_as_generate():
    clock = FakeClock()
    live, _ = collect(SimulatedPlatform(clock=clock, seed=3, garbage_fraction=0.02, lost_fraction=0.01),
                      clock, 60.0, 0.037)
    batch = SimulatedPlatform(clock=FakeClock(), seed=3, garbage_fraction=0.02, lost_fraction=0.01)
    generated = batch.generate(60.0)
    generated = Block.concat([generated, batch.generate(1 / RATE_HZ)])  # the row at exactly 60 s
    np.testing.assert_array_equal(live.t_s, generated.t_s)
    np.testing.assert_array_equal(live.raw, generated.raw)


def test_generate_needs_no_clock_and_rows_are_valid():
    calls = []

    def clock():
        calls.append(1)
        return 0.0

    src = SimulatedPlatform(clock=clock, seed=4, garbage_fraction=0.02, lost_fraction=0.01)
    block = src.generate(120.0)
    assert len(calls) == 1  # the first reading only
    assert len(block) < 120 * RATE_HZ and len(block) > 0.97 * 120 * RATE_HZ
    assert np.all(np.diff(block.t_s) > 0)
    ok = block.raw != MISSING
    assert np.all((block.raw[ok] >= RAW_MIN) & (block.raw[ok] <= RAW_MAX))
    assert (~ok).any()
    assert src.generate(0).n_cells == 4 and len(src.generate(0)) == 0
    with pytest.raises(ValueError):
        src.generate(-1)


def test_steering_takes_effect_at_the_current_clock_time():
    clock_a, clock_b = FakeClock(), FakeClock()
    plain = SimulatedPlatform(clock=clock_a, seed=5, autopilot=False)
    steered = SimulatedPlatform(clock=clock_b, seed=5, autopilot=False)
    _, truths_a = collect(plain, clock_a, 20.0, 0.04)
    _, truths_b = collect(steered, clock_b, 20.0, 0.04)
    steered.steer("lift_off", ramp_s=0.5)
    plain_rest, _ = collect(plain, clock_a, 10.0, 0.04)
    rest, truths_rest = collect(steered, clock_b, 10.0, 0.04)
    f = np.concatenate([t.force_n for t in truths_rest if t is not None])
    t = np.concatenate([t.t_s for t in truths_rest if t is not None])
    assert np.all(f[t >= 20.5] == 0) and f[0] > 100
    np.testing.assert_array_equal(np.concatenate([x.force_n for x in truths_a if x is not None]),
                                  np.concatenate([x.force_n for x in truths_b if x is not None]))
    assert not np.array_equal(plain_rest.raw, rest.raw)


def test_steer_commands_and_errors():
    clock = FakeClock()
    src = SimulatedPlatform(clock=clock, seed=6, autopilot=False)
    clock.t_s += 10.0
    src.read()
    src.steer("set_knot", x_mm=250.0, y_mm=180.0)
    src.steer("press_harder", force_n=380.0, ramp_s=1.0)
    src.steer("move_onto_knot", transit_s=0.5)
    clock.t_s += 3.0
    src.read()
    truth = src.last_truth
    assert truth.force_n[-1] == pytest.approx(380.0)
    assert np.hypot(truth.x_mm[-1] - 250.0, truth.y_mm[-1] - 180.0) < 6.0
    assert src.knot_mm == (250.0, 180.0)
    with pytest.raises(ValueError):
        src.steer("fly")


def test_steer_after_generate_applies_after_the_rows_handed_out():
    src = SimulatedPlatform(clock=FakeClock(), seed=7, autopilot=False)
    src.generate(30.0)
    src.steer("lift_off", ramp_s=0.2)  # clock has not moved: takes effect at the last row handed out
    src.generate(5.0)
    assert np.all(src.last_truth.force_n[src.last_truth.t_s >= 30.2] == 0)


def test_default_demo_rolls_presses_dwells_and_lifts_off():
    src = SimulatedPlatform(clock=FakeClock(), seed=8)
    truths = []
    for _ in range(60):
        src.generate(10.0)
        truths.append(src.last_truth)
    t = np.concatenate([x.t_s for x in truths])
    f = np.concatenate([x.force_n for x in truths])
    x = np.concatenate([x.x_mm for x in truths])
    y = np.concatenate([x.y_mm for x in truths])
    bw = 75.0 * G_MS2
    assert np.all(f[t < 2.0] == 0)
    assert f.max() > 0.49 * bw
    assert np.any(f[t > 5] == 0)
    assert (np.hypot(x - 300.0, y - 200.0) < 10.0).sum() / RATE_HZ > 1.5
    assert 0.28 < f[f > 0.2 * bw].mean() / bw < 0.40


def test_fewer_cells_faults_and_options():
    src = SimulatedPlatform(clock=FakeClock(), seed=9, n_cells=2, stale_offsets_n=0.0,
                            faults=[(1, "all_ones", 5.0, 6.0)], negative_sensitivity=True)
    assert src.platform == src.true_platform and src.n_cells == 2
    assert src.platform.cells[1].counts_per_newton < 0
    block = src.generate(10.0)
    assert np.all(block.raw[(block.t_s >= 5) & (block.t_s < 6), 1] == -1)


def test_seed_none_gives_a_working_random_source():
    a = SimulatedPlatform(clock=FakeClock(), seed=None)
    b = SimulatedPlatform(clock=FakeClock(), seed=None)
    assert a.seed != b.seed
    assert len(a.generate(1.0)) == 80


def test_close_and_context_manager():
    clock = FakeClock()
    with SimulatedPlatform(clock=clock, seed=10) as src:
        src.read()
    src.close()  # twice is fine
    assert not src.finished
    with pytest.raises(SourceError):
        src.read()
    with pytest.raises(SourceError):
        src.generate(1.0)


def test_a_polled_source_says_when_its_next_sample_is_due():
    clock = {"t": 50.0}
    src = SimulatedPlatform(clock=lambda: clock["t"], seed=1)
    assert src.next_due_in_s() == 0.0                      # row 0 is due at once
    assert len(src.read()) == 1
    assert src.next_due_in_s() == pytest.approx(1 / 80)    # row 1 in one period
    clock["t"] += 0.005
    assert src.next_due_in_s() == pytest.approx(1 / 80 - 0.005)
    clock["t"] += 1.0                                       # fallen behind: read at once
    assert src.next_due_in_s() == 0.0 and len(src.read()) == 80


def test_a_real_time_replay_says_when_its_next_row_is_due(tmp_path):
    from firmware.recordings.format import read_recording, write_recording
    from firmware.sources.replay import ReplaySource
    src = SimulatedPlatform(seed=2)
    path = tmp_path / "r.csv"
    write_recording(path, src.platform, src.generate(1.0))
    clock = {"t": 10.0}
    replay = ReplaySource(read_recording(path), clock=lambda: clock["t"])
    assert replay.next_due_in_s() == 0.0                    # not started: read now
    assert len(replay.read()) == 1
    assert replay.next_due_in_s() == pytest.approx(1 / 80)
    clock["t"] += 1 / 80 + 1e-6                              # just past its time (the loop's margin)
    assert replay.next_due_in_s() == 0.0 and len(replay.read()) == 1
    fast = ReplaySource(read_recording(path), fast=True)
    assert fast.next_due_in_s() == 0.0
