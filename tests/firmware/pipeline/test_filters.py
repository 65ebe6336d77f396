"""The filter stages one by one, against simple references and real glitch data."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.pipeline.filters.smooth import PairMean
from firmware.pipeline.filters.gate import SpikeGate
from firmware.pipeline.filters.validity import FaultDetector
from firmware.pipeline.filters.vec import ffill, latch
from firmware.pipeline.filters.zero import ZeroTracker

RATE = 80.0


def naive_ffill(values, mask, carry):
    out, last = [], carry
    for v, m in zip(values, mask):
        last = v if m else last
        out.append(last)
    return out


@given(st.lists(st.tuples(st.integers(-5, 5), st.booleans()), max_size=60), st.integers(-9, 9))
def test_ffill_matches_a_loop(pairs, carry):
    values = np.array([p[0] for p in pairs], dtype=np.int64)
    mask = np.array([p[1] for p in pairs], dtype=bool)
    out, new_carry = ffill(values, mask, carry)
    expected = naive_ffill(values.tolist(), mask.tolist(), carry)
    assert out.tolist() == expected
    assert new_carry == (expected[-1] if expected else carry)
    picked_out, _ = ffill(np.empty(len(mask)), mask, carry, picked=values[mask])
    assert picked_out.tolist() == expected


@given(st.lists(st.sampled_from(["set", "reset", "none", "both"]), max_size=40), st.booleans())
def test_latch_matches_a_loop(ops, before):
    s = np.array([o in ("set", "both") for o in ops], dtype=bool)
    r = np.array([o in ("reset", "both") for o in ops], dtype=bool)
    state, after = latch(s, r, before)
    expected, cur = [], before
    for o in ops:
        cur = True if o in ("set", "both") else False if o == "reset" else cur
        expected.append(cur)
    assert state.tolist() == expected and after == (expected[-1] if expected else before)


# --- faults ------------------------------------------------------------------------

def noisy(n, sigma=20.0, seed=0):
    return (np.random.default_rng(seed).normal(0, sigma, n) + 50000).astype(np.int64)


def run_faults(raw, valid=None, **kw):
    raw = np.asarray(raw)[None, :]
    valid = np.ones_like(raw, dtype=bool) if valid is None else np.asarray(valid)[None, :]
    t = np.arange(raw.shape[1]) / RATE
    _, accepted = SpikeGate([10000]).process(t, raw, valid)
    return t, FaultDetector(1, RATE, **kw).process(t, raw, valid, accepted)[0]


def test_isolated_missing_and_healthy_low_noise_never_fault():
    raw = noisy(4000, sigma=1.0)   # only a count of noise: many exact repeats, still not frozen
    valid = np.random.default_rng(1).random(4000) > 0.05
    t, fault = run_faults(raw, valid)
    assert not fault.any()


@pytest.mark.parametrize("kind", ["missing", "frozen", "frozen_with_glitches"])
def test_faults_start_promptly_and_clear(kind):
    raw = noisy(800)
    valid = np.ones(800, dtype=bool)
    if kind == "missing":
        valid[300:500] = False
    else:
        raw[300:500] = raw[300]
        if kind == "frozen_with_glitches":
            raw[320:500:25] = 7777777
    t, fault = run_faults(raw, valid)
    on = np.flatnonzero(fault)
    assert len(on) and t[on[0]] - t[300] <= 0.55
    assert not fault[:300].any()
    assert t[on[-1]] < t[500] + 0.4 and not fault[560:].any()


def test_fault_detector_reset_restores_initial_state():
    raw = noisy(400)
    raw[100:400] = raw[100]
    t = np.arange(400) / RATE
    det = FaultDetector(1, RATE)
    valid = np.ones((1, 400), dtype=bool)
    first = det.process(t, raw[None], valid, valid)
    det.reset()
    assert np.array_equal(det.process(t, raw[None], valid, valid), first)


# --- zero ---------------------------------------------------------------------------

def test_rezero_on_unloaded_start_and_refuse_a_loaded_start():
    t = np.arange(400) / RATE
    clean = np.full((2, 400), 1000.0)
    clean[:, 40:] += 400 * 100  # 100 N after the window
    acc = np.ones((2, 400), dtype=bool)
    z = ZeroTracker([1000 - 400 * 3, 1000 - 400 * 80], [400.0, 400.0], RATE)
    zero = np.broadcast_to(z.process(t, clean, acc), clean.shape)
    assert zero[0, -1] == 1000.0               # 3 N stale: re-zeroed
    assert zero[1, -1] == 1000 - 400 * 80      # 80 N off: not an unloaded start
    assert z.rezero_refused.tolist() == [False, True]
    assert np.allclose(z.start_shift_n, [3.0, 0.0])


def test_zero_follows_slow_drift_near_zero_within_rate_and_limit():
    n = int(120 * RATE)
    t = np.arange(n) / RATE
    drift = np.minimum(t, 60) * 400 * 0.05      # 3 N of drift over a minute, unloaded
    clean = (2000 + drift)[None, :].copy()
    acc = np.ones((1, n), dtype=bool)
    z = ZeroTracker([2000], [400.0], RATE)
    zero = np.broadcast_to(z.process(t, clean, acc), clean.shape)
    assert abs((clean[0, -1] - zero[0, -1]) / 400) < 0.3   # tracked
    # 30 N of drift, far faster than the tracking rate: left behind, never beyond 10 N.
    big = (2000 + np.minimum(t, 60) * 400 * 0.5)[None, :]
    z2 = ZeroTracker([2000], [400.0], RATE)
    zero2 = np.broadcast_to(z2.process(t, big, acc), big.shape)
    assert abs(z2.drift_n[0]) <= 10.0 + 1e-9
    assert (big[0, -1] - zero2[0, -1]) / 400 > 20


def test_zero_tracker_checks_its_settings():
    with pytest.raises(ValueError):
        ZeroTracker([0], [400.0], RATE, track_s=0)
    with pytest.raises(ValueError):
        ZeroTracker([0], [400.0], RATE, band_n=-1)


def test_pair_mean_is_the_mean_of_each_sample_and_the_one_before_and_resets():
    pm = PairMean(1)
    x = np.array([[100.0, 300.0, 300.0, 0.0]])
    assert pm.process(x).tolist() == [[100.0, 200.0, 300.0, 150.0]]  # no overshoot on a step
    assert pm.process(np.array([[50.0]])).tolist() == [[25.0]]        # carried across blocks
    pm.reset()
    assert pm.process(x).tolist() == [[100.0, 200.0, 300.0, 150.0]]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=30))
def test_spike_and_fault_stages_are_block_size_invariant(sizes):
    rng = np.random.default_rng(7)
    n = 3000
    raw = noisy(n)[None, :].repeat(2, axis=0)
    raw[:, 1000:1100] = raw[:, 1000:1001]
    raw[rng.random(raw.shape) < 0.03] = 5555555
    valid = rng.random(raw.shape) > 0.02
    t = np.arange(n) / RATE

    def run(chunks):
        sf, fd = SpikeGate([10000, 10000]), FaultDetector(2, RATE)
        outs = []
        start = 0
        for size in itertools.chain(chunks, itertools.repeat(max(chunks))):
            if start >= n:
                break
            sl = slice(start, start + size)
            c, a = sf.process(t[sl], raw[:, sl], valid[:, sl])
            outs.append((c, a, fd.process(t[sl], raw[:, sl], valid[:, sl], a)))
            start += size
        return [np.concatenate([o[i] for o in outs], axis=1) for i in range(3)]

    whole = run([n])
    parts = run(sizes)
    for w, p in zip(whole, parts):
        assert np.array_equal(w, p, equal_nan=True)


def test_zero_tracker_gives_the_same_zero_row_by_row():
    n = int(20 * RATE)
    t = np.arange(n) / RATE
    rng = np.random.default_rng(2)
    clean = 3000 + rng.normal(0, 30, (2, n)).round()
    clean[:, 400:900] += 400 * 120
    acc = rng.random((2, n)) > 0.05
    whole = np.broadcast_to(ZeroTracker([3100, 2900], [400.0, 400.0], RATE).process(t, clean, acc), clean.shape)
    z = ZeroTracker([3100, 2900], [400.0, 400.0], RATE)
    rows = [np.broadcast_to(z.process(t[i:i + 1], clean[:, i:i + 1], acc[:, i:i + 1]), (2, 1)) for i in range(n)]
    assert np.array_equal(np.concatenate(rows, axis=1), whole)
