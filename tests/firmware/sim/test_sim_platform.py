"""The simulated platform: statics, counts, imperfections, faults, and scripted sessions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibration.platform import RAW_MAX, RAW_MIN, Cell, PlatformCalibration
from firmware.block import MISSING
from firmware.sim.platform_model import (FAULT_KINDS, MISREAD_VALUES, CellFault, PlatformModel, corrupt,
                                         default_platform, distribute_force, stale_calibration)
from firmware.sim.scenario import (Event, Simulation, dwell, hour_session, lift, make_session, pass_through,
                                   press, realistic_session)

RATE_HZ = 80.0
LAYOUTS = {
    "corners": [(0, 0), (600, 0), (0, 400), (600, 400)],
    "corners_shuffled": [(600, 400), (0, 0), (600, 0), (0, 400)],
    "triangle": [(0, 0), (600, 0), (300, 400)],
    "kite": [(0, 200), (300, 0), (600, 200), (300, 400)],
}


def cop(forces, cells_xy):
    xy = np.asarray(cells_xy, dtype=float)
    total = forces.sum(axis=1)
    return forces @ xy[:, 0] / total, forces @ xy[:, 1] / total


def cell_arrays(platform):
    off = np.array([c.offset for c in platform.cells])
    cpn = np.array([c.counts_per_newton for c in platform.cells])
    xy = np.array([(c.x_mm, c.y_mm) for c in platform.cells])
    return off, cpn, xy


# -- statics -------------------------------------------------------------------------

@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@settings(max_examples=40, deadline=None)
@given(f=st.floats(1.0, 800.0), x=st.floats(50.0, 550.0), y=st.floats(50.0, 350.0))
def test_statics_sum_and_point_of_application(layout, f, x, y):
    xy = LAYOUTS[layout]
    forces = distribute_force(np.array([f]), np.array([x]), np.array([y]), xy)
    assert forces.sum() == pytest.approx(f, rel=1e-9)
    cx, cy = cop(forces, xy)
    assert abs(cx[0] - x) < 1e-6 and abs(cy[0] - y) < 1e-6


def test_bilinear_lever_rule_on_corners():
    xy = LAYOUTS["corners"]
    f = distribute_force(np.array([100.0, 100.0, 100.0]), np.array([300.0, 0.0, 150.0]),
                         np.array([200.0, 0.0, 100.0]), xy)
    np.testing.assert_allclose(f[0], [25, 25, 25, 25])
    np.testing.assert_allclose(f[1], [100, 0, 0, 0])
    np.testing.assert_allclose(f[2], [100 * 0.75 * 0.75, 100 * 0.25 * 0.75, 100 * 0.75 * 0.25, 100 * 0.25 * 0.25])


def test_two_cells_lever_rule_and_one_cell_takes_all():
    f = distribute_force(np.array([90.0]), np.array([200.0]), np.array([55.0]), [(0, 0), (600, 0)])
    np.testing.assert_allclose(f, [[60.0, 30.0]])
    f1 = distribute_force(np.array([90.0]), np.array([200.0]), np.array([55.0]), [(300, 200)])
    np.testing.assert_allclose(f1, [[90.0]])


def test_unloaded_rows_with_nan_position_give_zero_forces():
    f = distribute_force(np.array([0.0]), np.array([np.nan]), np.array([np.nan]), LAYOUTS["corners"])
    assert np.all(f == 0)


@pytest.mark.parametrize("n_cells", [1, 2, 3, 4])
@pytest.mark.parametrize("negative", [False, True])
def test_noise_free_counts_reproduce_force_and_point_within_1mm(n_cells, negative):
    platform = default_platform(n_cells, seed=3, negative_sensitivity=negative)
    model = PlatformModel(platform, seed=3, noise_counts_rms=0.0)
    rng = np.random.default_rng(0)
    n = 500
    force = rng.uniform(50, 500, n)
    x, y = rng.uniform(100, 500, n), rng.uniform(80, 320, n)
    if n_cells == 2:
        y[:] = 0.0
    m = model.measure(0, force, x, y)
    off, cpn, xy = cell_arrays(platform)
    cell_f = (m.raw - off) / cpn
    np.testing.assert_allclose(cell_f.sum(axis=1), force, atol=0.01)
    if n_cells >= 2:
        cx, cy = cop(cell_f, xy)
        assert np.abs(cx - x).max() < 1.0
        if n_cells >= 3:
            assert np.abs(cy - y).max() < 1.0
    if negative:
        assert any(c.counts_per_newton < 0 for c in platform.cells)


# -- counts and noise ----------------------------------------------------------------------

def test_default_platform_numbers():
    p = default_platform(4, seed=1)
    assert p.n_cells == 4 and p.position_dims == 2 and p.rate_hz == 80.0
    for c in p.cells:
        assert 400 <= c.counts_per_newton <= 450
        assert 10_000 <= abs(c.offset) <= 90_000
    assert default_platform(2, seed=1).position_dims == 1
    assert default_platform(1, seed=1).position_dims == 0
    with pytest.raises(ValueError):
        default_platform(5)


def test_noise_rms_is_as_configured():
    platform = default_platform(4, seed=2)
    model = PlatformModel(platform, seed=2, noise_counts_rms=40.0)
    n = 20000
    m = model.measure(0, np.zeros(n), np.full(n, np.nan), np.full(n, np.nan))
    off, _, _ = cell_arrays(platform)
    err = m.raw - off
    assert err.std(axis=0) == pytest.approx([40.0] * 4, rel=0.05)
    assert np.abs(err.mean(axis=0)).max() < 2.0
    assert m.raw.dtype == np.int64


def test_counts_saturate_at_24_bit_limits():
    platform = PlatformCalibration(cells=(Cell(0, 0, 8_000_000, 420.0), Cell(600, 0, -8_000_000, -420.0)))
    model = PlatformModel(platform, noise_counts_rms=0.0)
    m = model.measure(0, np.array([0.0, 5000.0]), np.array([300.0, 300.0]), np.array([0.0, 0.0]))
    assert m.raw[1].tolist() == [RAW_MAX, RAW_MIN]
    assert m.raw[0].tolist() == [8_000_000, -8_000_000]


# -- imperfections -------------------------------------------------------------------------

def flat_measurement(n=40000, **kwargs):
    platform = default_platform(4, seed=5)
    model = PlatformModel(platform, seed=5, **kwargs)
    force = np.full(n, 250.0)
    return platform, model, model.measure(0, force, np.full(n, 200.0), np.full(n, 150.0))


def test_garbage_frames_at_rate_and_of_every_kind():
    platform, model, m = flat_measurement(garbage_fraction=0.02)
    assert m.garbage.mean() == pytest.approx(0.02, rel=0.1)
    clean = PlatformModel(platform, seed=5).measure(0, np.full(len(m.t_s), 250.0), np.full(len(m.t_s), 200.0),
                                                    np.full(len(m.t_s), 150.0))
    np.testing.assert_array_equal(m.raw[~m.garbage], clean.raw[~m.garbage])
    bad = m.raw[m.garbage]
    assert np.all(bad != clean.raw[m.garbage])
    assert np.all((bad >= RAW_MIN) & (bad <= RAW_MAX))
    for v in MISREAD_VALUES:
        assert np.any(bad == v), v
    jump = np.abs(bad - clean.raw[m.garbage])
    assert np.mean(jump > 100_000) > 0.5  # most are far off: easy to see, hard to miss


def test_each_garbage_kind_matches_real_board_glitches():
    clean = np.array([-30217, -459753, 81234, 5], dtype=np.int64)
    p1, p2 = np.full(4, 0.5), np.full(4, 0.7)
    for kind in range(4):
        out = corrupt(clean, np.full(4, kind), p1, p2)
        assert np.all(out != clean)
        assert np.all((out >= RAW_MIN) & (out <= RAW_MAX))
    slip = corrupt(clean, np.full(4, 1), p1, p2)
    assert np.all(np.isin(np.abs(slip - clean), [1 << b for b in range(14, 23)]))
    sign = corrupt(clean, np.full(4, 2), p1, np.full(4, 0.2))
    assert np.all(np.abs(sign - clean) == 1 << 23)


def test_lost_rows_and_empty_cells_at_rate():
    _, _, m = flat_measurement(lost_row_fraction=0.01, empty_cell_fraction=0.02)
    assert 1 - m.kept.mean() == pytest.approx(0.01, rel=0.2)
    assert m.empty.mean() == pytest.approx(0.02, rel=0.1)
    assert np.all(m.raw[m.empty] == MISSING)
    block = m.block()
    assert len(block) == m.kept.sum()
    gaps = np.diff(block.t_s)
    assert np.all(gaps > 0)
    assert np.isclose(gaps, 2 / RATE_HZ).sum() > 0  # a lost row leaves a gap
    assert np.all(block.raw[(block.raw != MISSING)] >= RAW_MIN)


def test_no_imperfections_by_default():
    _, _, m = flat_measurement()
    assert m.kept.all() and not m.garbage.any() and not m.empty.any() and not m.faulted.any()


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_scheduled_faults_hold_exactly_their_interval(kind):
    faults = [CellFault(2, kind, 10.0, 12.5)]
    platform, model, m = flat_measurement(n=2400, faults=faults, garbage_fraction=0.02)
    inside = (m.t_s >= 10.0) & (m.t_s < 12.5)
    assert np.array_equal(m.faulted[:, 2], inside) and not m.faulted[:, [0, 1, 3]].any()
    vals = m.raw[inside, 2]
    expected = {"saturated": RAW_MAX, "all_ones": -1, "missing": MISSING}.get(kind)
    if kind == "frozen":
        assert np.all(vals == vals[0])
        off, cpn, _ = cell_arrays(platform)
        assert abs(vals[0] - off[2] - cpn[2] * 250.0 * (1 - 200 / 600) * (150 / 400)) < 200  # cell 2 at (0, 400)
    else:
        assert np.all(vals == expected)
    outside = m.raw[~inside, 2][~m.garbage[~inside, 2]]
    assert len(np.unique(outside)) > 50 and not np.any(outside == MISSING)
    assert not m.garbage[inside, 2].any()


def test_saturated_low_and_fault_validation():
    _, _, m = flat_measurement(n=400, faults=[(0, "saturated", 1.0, 2.0, RAW_MIN)])
    assert np.all(m.raw[(m.t_s >= 1) & (m.t_s < 2), 0] == RAW_MIN)
    with pytest.raises(ValueError):
        CellFault(0, "melted", 1.0, 2.0)
    with pytest.raises(ValueError):
        CellFault(0, "frozen", 2.0, 1.0)
    with pytest.raises(ValueError):
        PlatformModel(default_platform(2), faults=[CellFault(3, "missing", 0, 1)])


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(1, 9000), min_size=1, max_size=10))
def test_measurement_does_not_depend_on_chunking(cuts):
    n = 20000  # crosses two random blocks of 8192 samples
    rng = np.random.default_rng(1)
    force, x, y = rng.uniform(0, 400, n), rng.uniform(0, 600, n), rng.uniform(0, 400, n)
    kwargs = dict(garbage_fraction=0.02, lost_row_fraction=0.01, empty_cell_fraction=0.01,
                  faults=[(1, "frozen", 100.0, 150.0), (3, "missing", 200.0, 210.0)])
    platform = default_platform(4, seed=8)
    whole = PlatformModel(platform, seed=8, **kwargs).measure(0, force, x, y)
    model = PlatformModel(platform, seed=8, **kwargs)
    parts, i, k = [], 0, 0
    while i < n:
        j = min(n, i + cuts[k]) if k < len(cuts) else n  # the given cuts, then the rest at once
        parts.append(model.measure(i, force[i:j], x[i:j], y[i:j]))
        i, k = j, k + 1
    for field in ("t_s", "raw", "kept", "garbage", "empty", "faulted"):
        np.testing.assert_array_equal(np.concatenate([getattr(p, field) for p in parts]), getattr(whole, field))


def test_stale_calibration_shifts_offsets_by_newtons_worth():
    platform = default_platform(4, seed=4, negative_sensitivity=True)
    stale = stale_calibration(platform, 5.0, seed=4)
    for true, believed in zip(platform.cells, stale.cells):
        shift_n = abs(believed.offset - true.offset) / abs(true.counts_per_newton)
        assert 2.9 <= shift_n <= 5.01
        assert (believed.x_mm, believed.y_mm, believed.counts_per_newton) == (
            true.x_mm, true.y_mm, true.counts_per_newton)
    assert stale_calibration(platform, 0.0) == platform


# -- scripted sessions -----------------------------------------------------------------------

@pytest.mark.parametrize("n_cells", [1, 2, 4])
def test_session_shapes_and_unloaded_start(n_cells):
    block, believed, truth = make_session(1, n_cells, 30.0, garbage_fraction=0.02, lost_fraction=0.01)
    n = int(30.0 * RATE_HZ)
    for a in (truth.t_s, truth.force_n, truth.x_mm, truth.y_mm, truth.row_kept):
        assert a.shape == (n,)
    np.testing.assert_array_equal(truth.t_s, np.arange(n) / RATE_HZ)
    assert block.n_cells == n_cells and believed.n_cells == n_cells
    np.testing.assert_array_equal(block.t_s, truth.t_s[truth.row_kept])
    assert np.all(truth.force_n[truth.t_s < 2.0] == 0) and np.all(np.isnan(truth.x_mm[truth.t_s < 2.0]))
    assert truth.force_n[truth.t_s > 4].mean() > 150
    assert truth.garbage.shape == (n, n_cells) and truth.garbage.mean() == pytest.approx(0.02, abs=0.006)


def test_session_faults_events_and_stale_offsets():
    faults = [(0, "frozen", 5.0, 6.0), CellFault(3, "missing", 8.0, 9.0)]
    events = press(10.0, 400.0, ramp_s=0.5, hold_s=1.0) + [(14.0, "lift_off")] + [Event(16.0, "lie_down")]
    block, believed, truth = make_session(2, 4, 20.0, faults=faults, events=events, stale_offsets_n=4.0)
    assert truth.faults == [(0, "frozen", 5.0, 6.0), (3, "missing", 8.0, 9.0)]
    assert [e.command for e in truth.events] == ["set_force", "ease_off", "lift_off", "lie_down"]
    assert truth.force_n.max() == pytest.approx(400.0, rel=1e-3)
    assert truth.force_n[(truth.t_s > 15) & (truth.t_s < 16)].max() == 0
    frozen = block.raw[(block.t_s >= 5) & (block.t_s < 6), 0]
    assert np.all(frozen == frozen[0])
    assert np.all(block.raw[(block.t_s >= 8) & (block.t_s < 9), 3] == MISSING)
    for t, b in zip(truth.platform.cells, believed.cells):
        assert 2.0 <= abs(b.offset - t.offset) / abs(t.counts_per_newton) <= 4.01


def test_sessions_are_deterministic_per_seed():
    a = make_session(5, 4, 20.0, garbage_fraction=0.02, lost_fraction=0.01)
    b = make_session(5, 4, 20.0, garbage_fraction=0.02, lost_fraction=0.01)
    c = make_session(6, 4, 20.0, garbage_fraction=0.02, lost_fraction=0.01)
    np.testing.assert_array_equal(a[0].raw, b[0].raw)
    np.testing.assert_array_equal(a[2].force_n, b[2].force_n)
    assert a[1] == b[1]
    assert not np.array_equal(a[2].force_n, c[2].force_n)


def test_event_builders():
    assert press(5.0, 300.0, ramp_s=2.0, hold_s=1.0, release_s=0.5) == [
        Event(5.0, "set_force", {"force_n": 300.0, "ramp_s": 2.0, "steady": False}),
        Event(8.0, "ease_off", {"ramp_s": 0.5})]
    assert [e.t_s for e in dwell(10.0, 2.0, transit_s=0.5)] == [10.0, 12.5]
    assert [e.command for e in lift(3.0, 4.0)] == ["lift_off", "lie_down"]
    assert pass_through(7.0)[0].command == "pass_through_knot"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_realistic_session_has_what_the_rules_need(seed):
    block, believed, truth = realistic_session(seed)
    lo, hi = truth.band_n
    t, f = truth.t_s, truth.force_n
    over = f > hi
    starts = t[1:][over[1:] & ~over[:-1]]
    # slow (12 s), fast (38 s) and medium (115 s) presses cross; the 92 % and 94 % ones do not
    for window in ((12, 24), (38, 44), (115, 122)):
        assert np.any((starts >= window[0]) & (starts < window[1])), window
    for window, level in (((50, 58), 0.92), ((108, 114), 0.94)):
        in_window = (t >= window[0]) & (t < window[1])
        assert f[in_window].max() == pytest.approx(level * hi)
        assert np.sum(np.isclose(f[in_window], level * hi)) / RATE_HZ > 1.9  # held steady
    slow = (t >= 12) & (t < 19)
    assert np.count_nonzero(np.diff(over[slow].astype(int)) == 1) == 1  # one clean crossing
    assert not np.any(over & ((t < 12) | ((t > 59) & (t < 108))))
    d = np.hypot(truth.x_mm - truth.knot_mm[0], truth.y_mm - truth.knot_mm[1])
    on = d < 50.8
    for window, lo_s, hi_s in (((28, 31.5), 2.0, 2.9), ((62, 63.5), 0.25, 1.0), ((70, 71.5), 0.1, 0.7),
                               ((78, 82.5), 3.0, 3.9)):
        in_window = (t >= window[0]) & (t < window[1])
        assert lo_s <= on[in_window].sum() / RATE_HZ <= hi_s, window
        assert d[in_window & (d < 50.8)].size
    assert on[(t > 4) & (t < 28)].sum() == 0
    assert np.all(f[(t > 91) & (t < 95)] == 0) and np.all(f[(t > 125) & (t < 130)] == 0)
    assert {k for _, k, _, _ in truth.faults} == set(FAULT_KINDS)
    assert truth.garbage.any() and not truth.row_kept.all()


def test_realistic_session_on_fewer_cells_and_overrides():
    block, believed, truth = realistic_session(3, n_cells=2, garbage_fraction=0.0, lost_fraction=0.0)
    assert block.n_cells == 2 and not truth.garbage.any() and truth.row_kept.all()
    assert np.all(truth.y_mm[truth.force_n > 0] == 0.0)
    block1, _, truth1 = realistic_session(3, n_cells=1)
    assert block1.n_cells == 1 and all(c == 0 for c, *_ in truth1.faults)


def test_hour_session_shape():
    block, believed, truth = hour_session(0)
    assert truth.t_s.shape == (288000,) and block.n_cells == 4
    assert truth.force_n.max() > 0.49 * truth.body_weight_n


def test_simulation_advances_in_any_chunks():
    from firmware.sim.scenario import build_simulation

    sim_a, _, _ = build_simulation(3, 4, garbage_fraction=0.02, autopilot=True)
    sim_b, _, _ = build_simulation(3, 4, garbage_fraction=0.02, autopilot=True)
    whole, _ = sim_a.advance(4000)
    parts = [sim_b.advance(n)[0] for n in (1, 3, 996, 1000, 2000)]
    np.testing.assert_array_equal(np.concatenate([p.raw for p in parts]), whole.raw)
    assert isinstance(sim_a, Simulation) and sim_a.next_t_s == 50.0
