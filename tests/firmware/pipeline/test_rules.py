"""Warning rules on hand-made filter output: edges, hysteresis, dwell timing."""

import numpy as np
import pytest

from firmware.pipeline.rules import OnKnotRule, OverBandRule, SensorFaultRule, sort_events

RATE = 80.0


def edges(events):
    return [(round(e.t_s, 4), e.event, e.edge) for e in events]


def test_over_band_starts_above_hi_and_ends_below_hysteresis():
    t = np.arange(8) / RATE
    f = np.array([100, 201, 199, 191, 189, 250, np.nan, 250.0])
    rule = OverBandRule(200, hysteresis=0.05)
    ev = rule.process(t, f)
    # 199 and 191 stay inside the hysteresis (190..200); 189 ends it; NaN (fault) ends it.
    r = [round(v, 4) for v in t]
    assert edges(sort_events(ev)) == [
        (r[1], "over_band", "start"), (r[4], "over_band", "end"), (r[5], "over_band", "start"),
        (r[6], "over_band", "end"), (r[7], "over_band", "start")]
    assert edges(rule.finish(1.0)) == [(1.0, "over_band", "end")]
    rule.reset()
    assert rule.finish(1.0) == []


def test_noise_around_the_edge_does_not_chatter():
    rng = np.random.default_rng(0)
    t = np.arange(800) / RATE
    f = 200 + rng.normal(0, 2.0, 800)  # straddles HI with 2 N of noise
    ev = OverBandRule(200, hysteresis=0.05).process(t, f)
    assert len(ev) == 1 and ev[0].edge == "start"


def test_on_knot_fires_after_the_dwell_and_not_for_a_short_pass():
    t = np.arange(int(6 * RATE)) / RATE
    x = np.full(len(t), 400.0)
    x[(t >= 1.0) & (t < 1.7)] = 300.0   # 0.7 s pass: shorter than the 1 s grace
    x[(t >= 3.0) & (t < 4.5)] = 310.0   # 1.5 s dwell
    y = np.full(len(t), 200.0)
    rule = OnKnotRule(300, 200, zone_mm=50.8, dwell_s=1.0)
    ev = rule.process(t, x, y)
    assert edges(ev) == [(4.0, "on_knot", "start"), (4.5, "on_knot", "end")]


def test_on_knot_border_jitter_keeps_the_dwell_clock_running():
    t = np.arange(int(3 * RATE)) / RATE
    x = 300 + 50.0 + np.where(np.arange(len(t)) % 2, 1.5, -1.5)  # 48.5..51.5 mm from the knot
    rule = OnKnotRule(300, None, zone_mm=50.8, dwell_s=1.0)
    ev = rule.process(t, x, np.full(len(t), np.nan))
    assert [e.edge for e in ev] == ["start"] and ev[0].t_s == pytest.approx(1.0, abs=0.02)


def test_undefined_position_ends_on_knot():
    t = np.arange(240) / RATE
    x = np.full(240, 300.0)
    x[150:] = np.nan
    ev = OnKnotRule(300, 0.0).process(t, x, np.zeros(240))
    assert edges(ev) == [(1.0, "on_knot", "start"), (round(t[150], 4), "on_knot", "end")]


def test_rules_carry_state_across_blocks():
    t = np.arange(int(4 * RATE)) / RATE
    x = np.where((t > 0.5) & (t < 3.0), 300.0, 500.0)
    f = np.where((t > 1.0) & (t < 2.0), 300.0, 100.0)
    whole_k, whole_b = OnKnotRule(300, None), OverBandRule(200)
    expected = whole_k.process(t, x, x) + whole_b.process(t, f)
    k, b = OnKnotRule(300, None), OverBandRule(200)
    got = []
    for i in range(len(t)):
        sl = slice(i, i + 1)
        got += k.process(t[sl], x[sl], x[sl]) + b.process(t[sl], f[sl])
    assert sort_events(got) == sort_events(expected)


def test_sensor_fault_reports_each_cell():
    t = np.arange(5) / RATE
    fault = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0, 1]], dtype=bool)
    rule = SensorFaultRule(2)
    ev = rule.process(t, fault)
    assert [(e.t_s, e.edge, e.extra["cell"]) for e in sort_events(ev)] == [
        (t[1], "start", 0), (t[2], "start", 1), (t[3], "end", 0)]
    assert [e.extra for e in rule.finish(1.0)] == [{"cell": 1}]


def test_rules_reject_nonsense_settings():
    with pytest.raises(ValueError):
        OverBandRule(0)
    with pytest.raises(ValueError):
        OnKnotRule(0, 0, zone_mm=0)
