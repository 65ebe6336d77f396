"""The simulated person: realistic numbers, steering, determinism, chunking."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.sim.person import COMMANDS, G_MS2, Person

RATE_HZ = 80.0
KNOT = (300.0, 200.0)
ZONE_MM = 50.8


def times(t_from_s, t_to_s):
    return np.arange(round(t_from_s * RATE_HZ), round(t_to_s * RATE_HZ)) / RATE_HZ


def run(person, t_to_s, steps=()):
    """Advance to ``t_to_s``, applying ``(t_s, command, kwargs)`` steps at their times."""
    out, t_from = [], 0.0
    for t_s, command, kwargs in sorted(steps, key=lambda s: s[0]):
        out.append(person.advance(times(t_from, t_s)))
        person.steer(command, t_s, **kwargs)
        t_from = t_s
    out.append(person.advance(times(t_from, t_to_s)))
    return tuple(np.concatenate([getattr(o, f) for o in out]) for f in ("t_s", "force_n", "x_mm", "y_mm"))


def dist_to_knot(x, y, knot=KNOT):
    return np.hypot(x - knot[0], y - knot[1])


def reversals_per_min(x):
    dx = np.diff(x)
    dx = dx[dx != 0]
    return np.count_nonzero(np.diff(np.sign(dx)) != 0) / (len(x) / RATE_HZ / 60.0)


# -- realistic numbers ---------------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_rolling_force_is_30_to_35_percent_of_body_weight(seed):
    t, f, _, _ = run(Person(seed), 180.0)
    rolling = t >= 4.0  # lay down at 2 s, ramp under 1 s
    share = f[rolling] / (75.0 * G_MS2)
    assert 0.29 <= share.mean() <= 0.36
    assert share.max() < 0.42  # no pressing too hard unless asked
    assert share.min() > 0.2


@pytest.mark.parametrize("seed", range(5))
def test_pressing_too_hard_peaks_at_50_to_55_percent(seed):
    t, f, _, _ = run(Person(seed), 30.0, [(10.0, "press_harder", {}), (20.0, "ease_off", {})])
    share = f / (75.0 * G_MS2)
    assert 0.49 <= share[(t > 12) & (t < 20)].max() <= 0.551
    assert share[t > 24].max() < 0.42


def test_body_mass_scales_force():
    _, f_light, _, _ = run(Person(3, body_mass_kg=60.0), 60.0)
    _, f_heavy, _, _ = run(Person(3, body_mass_kg=90.0), 60.0)
    assert f_heavy.mean() / f_light.mean() == pytest.approx(1.5, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_stroke_cadence_and_length(seed):
    person = Person(seed)
    t, _, x, _ = run(person, 240.0)
    x = x[t >= 4.0]
    assert 18.0 <= person.cadence_spm <= 48.0
    assert reversals_per_min(x) == pytest.approx(person.cadence_spm, rel=0.2)
    # stroke lengths between reversals: short strokes of about 10 cm
    turns = np.flatnonzero(np.diff(np.sign(np.diff(x))) != 0)
    lengths = np.abs(np.diff(x[turns]))
    assert 70.0 <= np.median(lengths) <= 125.0


def test_cadence_across_people_is_about_33_plus_minus_10():
    cadences = np.array([Person(seed).cadence_spm for seed in range(300)])
    assert 30.0 <= cadences.mean() <= 36.0
    assert 7.0 <= cadences.std() <= 11.0


def test_platform_starts_unloaded_then_load_ramps_on_within_a_second():
    t, f, x, y = run(Person(0, lie_down_at_s=2.0), 6.0)
    before = t < 2.0
    assert np.all(f[before] == 0) and np.all(np.isnan(x[before])) and np.all(np.isnan(y[before]))
    assert np.all(np.isfinite(x[f > 0]))
    full = f >= 0.99 * f[t > 3.5].min()
    ramp_s = t[np.argmax(full)] - 2.0
    assert 0.3 <= ramp_s <= 1.0


def test_nobody_lies_down_without_being_told():
    t, f, x, _ = run(Person(0, lie_down_at_s=None), 10.0)
    assert np.all(f == 0) and np.all(np.isnan(x))


@pytest.mark.parametrize("seed", range(6))
def test_rolling_stays_outside_the_zone_on_a_2d_platform(seed):
    t, f, x, y = run(Person(seed), 300.0)
    loaded = f > 0
    assert dist_to_knot(x[loaded], y[loaded]).min() > ZONE_MM


@pytest.mark.parametrize("seed", range(6))
def test_on_a_line_the_roller_only_crosses_the_knot_briefly(seed):
    person = Person(seed, knot_y_mm=0.0, lateral=False)
    t, f, x, y = run(person, 300.0)
    assert np.all(y[f > 0] == 0.0)
    inside = np.abs(x - KNOT[0]) < ZONE_MM
    # longest run inside the zone
    edges = np.diff(np.concatenate([[0], inside.astype(int), [0]]))
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    assert (runs.max(initial=0)) / RATE_HZ < 0.8


# -- steering ---------------------------------------------------------------------

def steered_vs_plain(command, t_s, kwargs=None, seed=5, t_to_s=40.0, before=()):
    plain = run(Person(seed), t_to_s, list(before))
    steered = run(Person(seed), t_to_s, list(before) + [(t_s, command, kwargs or {})])
    return plain, steered


@pytest.mark.parametrize("command", ["press_harder", "ease_off", "move_onto_knot", "lift_off", "set_body_mass",
                                     "set_knot", "pass_through_knot", "set_force"])
def test_commands_take_effect_exactly_at_their_time(command):
    kwargs = {"set_body_mass": {"mass_kg": 90.0}, "set_knot": {"x_mm": 250.0, "y_mm": 180.0},
              "set_force": {"force_n": 100.0}}.get(command, {})
    before = [(10.0, "press_harder", {})] if command == "ease_off" else []
    t_cmd = 20.5
    plain, steered = steered_vs_plain(command, t_cmd, kwargs, before=before)
    early = plain[0] < t_cmd
    for a, b in zip(plain, steered):
        np.testing.assert_array_equal(a[early], b[early])
    changed = np.flatnonzero((plain[1] != steered[1]) | ~np.isclose(plain[2], steered[2], equal_nan=True))
    assert changed.size and plain[0][changed[0]] == pytest.approx(t_cmd + 1 / RATE_HZ, abs=1e-9)


def test_press_harder_to_a_given_force_and_ramp():
    t, f, _, _ = run(Person(2), 30.0, [(10.0, "move_onto_knot", {"transit_s": 0.5}),
                                       (15.0, "press_harder", {"force_n": 400.0, "ramp_s": 2.0})])
    assert f[(t >= 17.0) & (t < 25)] == pytest.approx(400.0, abs=1e-6)  # still on the knot: steady
    ramp = (t > 15.0) & (t < 17.0)
    assert np.all(np.diff(f[ramp]) > 0)
    slope = np.diff(f[ramp]) * RATE_HZ
    assert slope == pytest.approx(slope.mean(), rel=1e-6)  # linear ramp


def test_steady_press_follows_the_ramp_while_rolling():
    t, f, x, _ = run(Person(2), 30.0, [(10.0, "set_force", {"force_n": 380.0, "ramp_s": 4.0, "steady": True}),
                                       (17.0, "ease_off", {"ramp_s": 1.0})])
    held = (t >= 14.0) & (t < 17.0)
    assert f[held] == pytest.approx(380.0)
    assert np.ptp(x[held]) > 60  # still rolling
    ramp = (t > 10.3) & (t < 14.0)
    assert np.all(np.diff(f[ramp]) > 0)
    assert f[t > 20].max() < 0.42 * 75 * G_MS2 and np.ptp(f[t > 20]) > 20  # stroke dips are back


def test_dwell_and_move_off_knot():
    t, f, x, y = run(Person(7), 40.0, [(20.0, "move_onto_knot", {"transit_s": 0.5}),
                                       (24.0, "move_off_knot", {"transit_s": 0.5})])
    d = dist_to_knot(x, y)
    assert d[(t >= 20.5) & (t < 24.0)].max() < 6.0
    assert d[(t >= 24.5) & (t < 40)].min() > ZONE_MM
    assert d[(t > 5) & (t < 20.0)].min() > ZONE_MM


def test_pass_through_knot_is_brief():
    t, f, x, y = run(Person(7), 40.0, [(20.0, "pass_through_knot", {"transit_s": 0.3})])
    inside = dist_to_knot(x, y) < ZONE_MM
    assert 0.1 < inside.sum() / RATE_HZ < 0.6
    assert np.all(t[inside] >= 20.0) and np.all(t[inside] < 20.6)


def test_lift_off_and_lie_down():
    t, f, x, _ = run(Person(1), 40.0, [(15.0, "lift_off", {"ramp_s": 0.5}), (25.0, "lie_down", {"ramp_s": 0.8})])
    off = (t >= 15.5) & (t < 25.0)
    assert np.all(f[off] == 0) and np.all(np.isnan(x[off]))
    assert f[(t > 14) & (t < 15)].min() > 100
    assert f[(t > 26) & (t < 40)].min() > 100


def test_set_knot_moves_the_rolling_around_the_new_knot():
    t, f, x, y = run(Person(4), 60.0, [(20.0, "set_knot", {"x_mm": 200.0, "y_mm": 150.0})])
    later = t > 22.0
    d_new = dist_to_knot(x[later], y[later], (200.0, 150.0))
    assert d_new.min() > ZONE_MM and d_new.max() < 250.0


def test_steering_rejects_bad_input():
    p = Person(0)
    p.advance(times(0, 10))
    with pytest.raises(ValueError, match="unknown command"):
        p.steer("jump", 10.0)
    with pytest.raises(ValueError, match="already advanced"):
        p.steer("lift_off", 5.0)
    with pytest.raises(ValueError):
        p.steer("press_harder", 11.0, force_n=-3.0)
    with pytest.raises(ValueError):
        p.steer("set_body_mass", 11.0, mass_kg=2.0)
    with pytest.raises(TypeError):
        p.steer("lift_off", 11.0, speed=3)
    with pytest.raises(ValueError):
        p.advance(times(5, 6))
    with pytest.raises(ValueError):
        Person(-1)


def test_a_steered_lift_off_cancels_the_planned_lie_down():
    t, f, _, _ = run(Person(0, lie_down_at_s=2.0), 10.0, [(1.0, "lift_off", {})])
    assert np.all(f == 0)


# -- autopilot ----------------------------------------------------------------------

def test_autopilot_presses_dwells_and_lifts_off_by_itself():
    t, f, x, y = run(Person(11, autopilot=True), 900.0)
    share = f / (75.0 * G_MS2)
    loaded = t > 4
    assert share[loaded].max() > 0.49  # pressed too hard
    assert np.any(f[t > 10] == 0)      # lifted off
    inside = dist_to_knot(x, y) < 10.0
    assert inside.sum() / RATE_HZ > 3.0  # dwelt on the knot
    assert 0.28 <= share[loaded & (f > 0)].mean() <= 0.40


def test_autopilot_goes_quiet_after_steering_and_can_be_switched_off():
    person = Person(11, autopilot=True)
    t, f, x, y = run(person, 600.0, [(5.0, "autopilot", {"on": False})])
    share = f / (75.0 * G_MS2)
    assert share[t > 4].max() < 0.42 and np.all(f[t > 4] > 0)


# -- determinism and chunking -----------------------------------------------------------

STEPS = [(12.0, "press_harder", {}), (17.3, "ease_off", {}), (25.0, "move_onto_knot", {}),
         (27.0, "move_off_knot", {}), (33.0, "lift_off", {}), (36.1, "lie_down", {}),
         (40.0, "set_knot", {"x_mm": 320.0}), (44.0, "set_body_mass", {"mass_kg": 80.0})]


def test_same_seed_same_output_and_different_seeds_differ():
    a = run(Person(9, autopilot=True), 120.0, STEPS)
    b = run(Person(9, autopilot=True), 120.0, STEPS)
    c = run(Person(10, autopilot=True), 120.0, STEPS)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), cuts=st.lists(st.integers(1, 1500), min_size=1, max_size=40),
       autopilot=st.booleans())
def test_output_does_not_depend_on_chunking(seed, cuts, autopilot):
    whole = run(Person(seed, autopilot=autopilot), 90.0, STEPS)
    person = Person(seed, autopilot=autopilot)
    t_all = times(0, 90.0)
    pending = sorted(STEPS)
    parts, i, k = [], 0, 0
    while i < len(t_all):
        n = cuts[k] if k < len(cuts) else len(t_all)  # the given cuts, then the rest at once
        k += 1
        chunk = t_all[i:i + n]
        # split the chunk at the next step, as a live driver would
        if pending and chunk[-1] >= pending[0][0]:
            chunk = chunk[chunk < pending[0][0]]
            parts.append(person.advance(chunk))
            t_s, command, kwargs = pending.pop(0)
            person.steer(command, t_s, **kwargs)
        else:
            parts.append(person.advance(chunk))
        i += len(chunk)
    for field_index, field in enumerate(("t_s", "force_n", "x_mm", "y_mm")):
        np.testing.assert_array_equal(np.concatenate([getattr(p, field) for p in parts]), whole[field_index])


def test_commands_list_is_complete():
    for name in ("press_harder", "ease_off", "move_onto_knot", "move_off_knot", "lift_off", "lie_down",
                 "set_knot", "set_body_mass"):
        assert name in COMMANDS
    assert math.isfinite(Person(0).normal_peak_share)
