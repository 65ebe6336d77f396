"""The filter stages one by one, against simple references and real glitch data."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.pipeline.filters.lowpass import LowPass
from firmware.pipeline.filters.spike import SpikeFilter, sort5
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


def test_sorting_network_sorts_every_input():
    # 0-1 principle: a comparator network that sorts all 0/1 inputs sorts everything.
    for bits in itertools.product([0, 1], repeat=5):
        out = [int(a[0]) for a in sort5([np.array([b]) for b in bits])]
        assert out == sorted(bits)


# --- spike rejection on glitches people posted from real HX711 boards ----------------

def spike_clean(values, tol_counts=2000):
    raw = np.asarray(values, dtype=np.int64)[None, :]
    clean, accepted = SpikeFilter([tol_counts]).process(raw, np.ones_like(raw, dtype=bool))
    return clean[0], accepted[0]


# https://github.com/tatobari/hx711py/issues/1 - Raspberry Pi bit slips, raw counts; two
# consecutive wrong frames (2742472, 2742470) and lone ones.
BIT_SLIPS = [-30217, -30187, 2742472, 2742470, -30228, -30231, 645318, -30186, 2742424,
             -20956, -29201, -30305, -30259]
# https://github.com/dangrie158/opencushion/issues/11 - top-byte/sign glitches, raw counts.
TOP_BYTE = [-459753, -459702, -459744, 5307, -459832, -459705, -459789, -459790, 5421, -459839,
            -459685, -459687, -459728, -459731, -459694, -459751, -459752, -459734, -459759, -459747]
# https://github.com/bogde/HX711/issues/216 - one sign-flipped reading among ~171 g, grams
# scaled here to counts at 4.1 counts/g (a 420 counts/N cell): a 3 N slip, small but false.
SIGN_FLIP_G = [170.75, 170.83, 171.22, 170.8, 170.95, 171.04, -143.37, 171.36, 170.72, 170.86,
               171.1, 170.81, 170.9, 171.05, 170.81]


@pytest.mark.parametrize("values, truth_lo, truth_hi", [
    (BIT_SLIPS, -30305, -20956),
    (TOP_BYTE, -459839, -459685),
    ([round(g * 4.1) for g in SIGN_FLIP_G], round(170.72 * 4.1), round(171.36 * 4.1)),
])
def test_real_glitches_never_reach_the_clean_signal(values, truth_lo, truth_hi):
    clean, _ = spike_clean(values)
    got = clean[~np.isnan(clean)]
    assert len(got) == len(values) - 4  # a full window of five is needed first
    assert got.min() >= truth_lo and got.max() <= truth_hi


def test_misread_frame_values_are_rejected():
    # https://github.com/bogde/HX711/issues/83 - values that recur when a frame is misread.
    steady = [120000 + (i % 3) for i in range(30)]
    for i, bad in zip((5, 12, 13, 20, 27), (8388607, 4194303, 2097151, 1048575, 0)):
        steady[i] = bad
    clean, _ = spike_clean(steady)
    got = clean[~np.isnan(clean)]
    assert got.min() >= 120000 and got.max() <= 120002


def test_a_real_load_step_passes_after_two_samples():
    # https://github.com/esphome/issues/issues/1252 - weight removed then replaced (real steps).
    values = [-383799] * 8 + [-547968] * 8
    clean, accepted = spike_clean(values, tol_counts=20000)
    assert accepted[4:].all()
    assert clean[10] == -547968 and clean[9] == -383799  # median of five: two samples late


def test_corrupted_stream_gives_no_consensus_and_a_fault():
    # https://github.com/tatobari/hx711py/issues/23 - a completely corrupted stream.
    corrupted = [-3939697, -4791665, 123791, -1186929, -859249, -4595057, -1252465, -3546225,
                 -7150961, -3808625, -7019889, -4529521, -7478641, -8854897, -4005233, -7609713,
                 -7347569, -9706865 % (1 << 23), -6888817, -6692209, 3859087, -73073, 3138191, 320143]
    values = [-1000 + (i % 5) for i in range(40)] + corrupted * 2
    raw = np.asarray(values, dtype=np.int64)[None, :]
    valid = np.ones_like(raw, dtype=bool)
    clean, accepted = SpikeFilter([2000]).process(raw, valid)
    assert not accepted[0, 40 + 4:].any()
    assert np.all(clean[0, 40:] == clean[0, 39])  # the last good value is held
    t = np.arange(raw.shape[1]) / RATE
    fault = FaultDetector(1, RATE).process(t, raw, valid, accepted)
    first = np.flatnonzero(fault[0])[0]
    assert 40 < first and t[first] - t[40] <= 0.3


# --- faults ------------------------------------------------------------------------

def noisy(n, sigma=20.0, seed=0):
    return (np.random.default_rng(seed).normal(0, sigma, n) + 50000).astype(np.int64)


def run_faults(raw, valid=None, **kw):
    raw = np.asarray(raw)[None, :]
    valid = np.ones_like(raw, dtype=bool) if valid is None else np.asarray(valid)[None, :]
    _, accepted = SpikeFilter([10000]).process(raw, valid)
    t = np.arange(raw.shape[1]) / RATE
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


def test_zero_follows_slow_drift_only_while_unloaded_and_within_limit():
    n = int(120 * RATE)
    t = np.arange(n) / RATE
    drift = np.minimum(t, 60) * 400 * 0.05      # 3 N of drift over a minute, unloaded
    clean = (2000 + drift)[None, :].copy()
    acc = np.ones((1, n), dtype=bool)
    z = ZeroTracker([2000], [400.0], RATE)
    zero = np.broadcast_to(z.process(t, clean, acc), clean.shape)
    assert abs((clean[0, -1] - zero[0, -1]) / 400) < 0.3   # tracked
    big = (2000 + np.minimum(t, 60) * 400 * 0.5)[None, :]  # 30 N: beyond the 5 N limit
    z2 = ZeroTracker([2000], [400.0], RATE)
    zero2 = np.broadcast_to(z2.process(t, big, acc), big.shape)
    assert abs(z2.drift_n[0]) <= 5.0 + 1e-9
    assert (big[0, -1] - zero2[0, -1]) / 400 > 20


def test_lowpass_reset_and_unity_dc_gain():
    lp = LowPass(1, RATE)
    x = np.ones((1, 400)) * 100
    y1 = lp.process(x)
    assert abs(y1[0, -1] - 100) < 1e-6
    lp.reset()
    assert np.array_equal(lp.process(x), y1)


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
        sf, fd = SpikeFilter([10000, 10000]), FaultDetector(2, RATE)
        outs = []
        start = 0
        for size in itertools.chain(chunks, itertools.repeat(max(chunks))):
            if start >= n:
                break
            sl = slice(start, start + size)
            c, a = sf.process(raw[:, sl], valid[:, sl])
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


def test_fast_lowpass_entry_gives_lfilters_numbers():
    from scipy.signal import lfilter

    from firmware.pipeline.filters.lowpass import _filter_rows
    lp = LowPass(4, RATE)
    x = np.random.default_rng(4).normal(0, 50, (4, 7))
    zi = np.random.default_rng(5).normal(0, 1, (4, 2))
    y1, z1 = _filter_rows(lp.b, lp.a, x, zi)
    y2, z2 = lfilter(lp.b, lp.a, x, axis=1, zi=zi)
    assert np.array_equal(y1, y2) and np.array_equal(z1, z2)
