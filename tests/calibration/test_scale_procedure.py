"""The slow-press procedure as a state machine, and against simulated people with hidden curves."""

import math

import numpy as np
import pytest

from calibration.intensity import IntensityScale
from calibration.scale_procedure import ProcedureError, ScaleProcedure
from firmware.sim.perception import HiddenCurve, Perceiver

RATE_HZ = 80.0


def run_with(perceiver: Perceiver, ratings=(2, 5, 7), noise_seed=0, stop_at_s=None):
    """Drive the procedure with a simulated person at 80 samples/s; returns it finished."""
    bw = perceiver.body_weight_n
    proc = ScaleProcedure(0.08 * bw, 0.65 * bw, ratings)
    rng = np.random.default_rng(noise_seed)
    t_s = 0.0
    while not proc.finished:
        t_s += 1 / RATE_HZ
        force = perceiver.pressing_n(proc.target_n) * (1 + 0.01 * rng.standard_normal()) if t_s > 1 else 0.0
        proc.feed(t_s, force)
        if stop_at_s is not None and t_s >= stop_at_s:
            proc.stop(t_s)
        elif perceiver.step(t_s, force, proc.next_rating):
            proc.mark(t_s)
        assert t_s < 60
    return proc


@pytest.mark.parametrize("seed", range(12))
def test_recovers_the_hidden_4_and_5_within_5_percent(seed):
    person = Perceiver(seed, body_mass_kg=50 + 7 * seed)
    proc = run_with(person, noise_seed=seed)
    assert len(proc.result()) == 3
    lo_n, hi_n = IntensityScale(proc.result()).band_n()
    assert lo_n == pytest.approx(person.curve.force_at(4), rel=0.05)
    assert hi_n == pytest.approx(person.curve.force_at(5), rel=0.05)


def test_people_differ_and_each_is_deterministic():
    people = [Perceiver(s) for s in range(30)]
    f4 = [p.curve.force_at(4) for p in people]
    assert max(f4) / min(f4) > 1.6
    assert all(1.3 <= p.curve.exponent <= 1.6 and 0.2 <= p.reaction_s <= 0.4 for p in people)
    a, b = run_with(Perceiver(3)), run_with(Perceiver(3))
    assert a.result() == b.result()


def test_hidden_curve_round_trips():
    curve = HiddenCurve(400.0, 1.45)
    assert curve.rating(curve.force_at(4.0)) == pytest.approx(4.0)
    assert curve.rating(0.0) == 0.0 and curve.rating(1e6) == 10.0


def test_phases_target_and_what_to_show():
    proc = ScaleProcedure(50.0, 550.0, (2, 5), ramp_s=20.0, settle_s=2.0, hold_s=4.0)
    assert (proc.phase, proc.target_n, proc.progress, proc.next_rating) == ("waiting", 50.0, 0.0, 2.0)
    assert proc.next_words == "just noticeable"
    proc.feed(0.0, 3.0)
    assert proc.phase == "waiting"
    with pytest.raises(ProcedureError, match="lie on the roller"):
        proc.mark(0.1)
    proc.feed(1.0, 30.0)  # resting on it: settle for 2 s
    assert proc.phase == "settling" and proc.target_n == 50.0
    proc.feed(3.0, 50.0)
    assert proc.phase == "ramping"
    proc.feed(13.0, 300.0)
    assert proc.target_n == pytest.approx(300.0) and proc.progress == pytest.approx(10 / 24)
    proc.feed(23.5, 550.0)
    assert proc.phase == "holding" and proc.target_n == 550.0
    proc.feed(27.0, 550.0)
    assert proc.phase == "done" and proc.progress == 1.0 and proc.result() == ()


def test_a_mark_averages_the_force_just_before_the_tap():
    proc = ScaleProcedure(20.0, 500.0, (2, 5), window_s=0.3, reaction_s=0.1)
    for i in range(1, 400):
        proc.feed(i / 80, 10.0 * i / 80 + 20)  # 10 N/s
    mark = proc.mark(399 / 80)
    # the window is [t - 0.4, t - 0.1]: centred 0.25 s before the tap
    assert mark.rating == 2.0 and mark.force_n == pytest.approx(10.0 * (399 / 80 - 0.25) + 20, abs=0.2)
    assert proc.next_rating == 5.0 and proc.next_words == "top of noticeable, not painful"
    proc.feed(5.0, math.nan)  # a fault: ignored for marks
    proc.feed(6.0, 100.0)
    second = proc.mark(6.1)
    assert second.force_n == 100.0 and proc.phase == "done" and proc.next_rating is None
    assert proc.result() == (mark, second)
    with pytest.raises(ProcedureError, match="over"):
        proc.mark(6.2)
    proc.feed(7.0, 1.0)  # after the end samples are ignored
    assert proc.force_n == 100.0


def test_a_tap_without_pressure_is_refused_and_not_counted():
    proc = ScaleProcedure(20.0, 500.0)
    proc.feed(0.0, 20.0)
    proc.feed(5.0, 1.0)
    with pytest.raises(ProcedureError, match="no pressure was measured"):
        proc.mark(5.0)  # the window before the tap has no sample
    for i in range(1, 40):
        proc.feed(5.0 + i / 80, 0.5)
    with pytest.raises(ProcedureError, match="nothing was resting"):
        proc.mark(5.5)
    assert proc.marks == [] and proc.next_rating == 2.0


def test_stop_abandons_at_once():
    proc = run_with(Perceiver(1), stop_at_s=8.0)
    assert proc.phase == "stopped" and proc.finished and proc.next_rating is None
    with pytest.raises(ProcedureError, match="stopped"):
        proc.result()
    with pytest.raises(ProcedureError, match="over"):
        proc.mark(9.0)


def test_not_finished_has_no_result_and_times_must_rise():
    proc = ScaleProcedure(20.0, 500.0)
    proc.feed(1.0, 10.0)
    with pytest.raises(ProcedureError, match="not finished"):
        proc.result()
    for t in (1.0, 0.5, math.nan):
        with pytest.raises(ValueError):
            proc.feed(t, 10.0)


@pytest.mark.parametrize("kwargs", [dict(start_n=0, top_n=10), dict(start_n=10, top_n=5),
                                    dict(start_n=10, top_n=math.inf), dict(start_n=10, top_n=50, ramp_s=0),
                                    dict(start_n=10, top_n=50, hold_s=-1), dict(start_n=10, top_n=50, ratings=(5,))])
def test_settings_are_checked(kwargs):
    with pytest.raises(ValueError):
        ScaleProcedure(**kwargs)


def test_perceiver_checks_its_inputs():
    for bad in (dict(seed=-1), dict(seed=True), dict(seed=1, body_mass_kg=5)):
        with pytest.raises(ValueError):
            Perceiver(**bad)


def test_pacing_ticks_quicken_with_the_rise_and_stop_outside_it():
    from calibration.scale_procedure import RAMPING, ScaleProcedure
    proc = ScaleProcedure(50.0, 400.0, ramp_s=20.0, settle_s=1.0, hold_s=2.0)
    ticks, last, t = [], None, 0.0
    while not proc.finished and t < 40.0:
        proc.feed(t, proc.target_n)
        if proc.tick_due(last):
            assert proc.phase == RAMPING
            ticks.append(t)
            last = t
        t = round(t + 0.0125, 6)
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert gaps[0] >= 0.95 and gaps[-1] <= 0.3  # one a second at first, about four at the top
    assert all(b <= a + 0.02 for a, b in zip(gaps, gaps[1:]))  # never slower than before
    assert 20 < len(ticks) < 45
