"""Platform calibration: pure procedures, the stored calibration, and runs against the simulator."""

import json
import math
import re

import numpy as np
import pytest

from calibration.files import StoreError
from calibration.platform import CalibrationError, Cell, PlatformCalibration
from calibration.platform_cal import (STANDARD_GRAVITY_MS2, Placement, Refused, cell_forces_n, cell_names,
                                      cell_shares, centre_of_pressure, drift_report, fit_scale, parse_layout,
                                      parse_mass, placements, tare, window_stats)
from calibration.platform_store import (FORMAT, MAX_HISTORY, load_all, load_platform, platform_path,
                                        save_platform)
from firmware.block import MISSING, Block
from firmware.device.platform_calibration import PlatformCalibrationRun, run_calibration, sim_placer
from firmware.sim.person import G_MS2
from firmware.sources.simulated import SimulatedPlatform

WHEN = "2026-11-27T11:20:03+00:00"


class FakeClock:
    """Time moves only when the code under test sleeps."""

    def __init__(self, t_s=1000.0):
        self.t_s = t_s

    def __call__(self):
        return self.t_s

    def sleep(self, seconds):
        self.t_s += seconds


def sim(n_cells=4, seed=3, **kw):
    clock = FakeClock()
    kw.setdefault("negative_sensitivity", True)
    src = SimulatedPlatform(clock=clock, seed=seed, n_cells=n_cells, autopilot=False, lie_down_at_s=None, **kw)
    return src, clock


def true_xy(src):
    return [(c.x_mm, c.y_mm) for c in src.true_platform.cells]


def calibrate(src, clock, mass_kg=5.0, place=None, **kw):
    lines = []
    result = run_calibration(src, true_xy(src), mass_kg, place=place or sim_placer(src, mass_kg), clock=clock,
                             sleep=clock.sleep, progress=lines.append, **kw)
    return result, lines


def measure_levels(src, clock, seconds=2.0):
    """Mean raw counts per cell over the next ``seconds`` (after 0.5 s to settle)."""
    clock.t_s += 0.5
    src.read()
    clock.t_s += seconds
    return src.read().raw.mean(axis=0)


# -- input ------------------------------------------------------------------

@pytest.mark.parametrize("text, kg", [("5kg", 5.0), ("11lb", 11 * 0.45359237), (" 2.5 KG ", 2.5),
                                      ("2500g", 2.5), ("10 lbs", 4.5359237), (".5kg", 0.5), ("500g", 0.5),
                                      ("+5kg", 5.0), ("2e1 kg", 20.0), ("1.5E3g", 1.5)])
def test_parse_mass(text, kg):
    assert parse_mass(text) == pytest.approx(kg)


@pytest.mark.parametrize("text, words", [("5", "needs a unit"), ("0kg", "more than 0"), ("-5kg", "more than 0"),
                                         ("-1kg", "more than 0"), ("-0.5 lb", "more than 0"),
                                         ("250kg", "not plausible"), ("five kg", "must look like"),
                                         ("500lb", "not plausible"), ("nan kg", "must look like"),
                                         ("1e9kg", "not plausible"), ("1e999kg", "not plausible"),
                                         ("0.3kg", "too light to calibrate with: use 2\u201320 kg"),
                                         ("400g", "too light"), ("1lb", "too light"), ("1e-3kg", "too light"),
                                         ("5e", "must look like"), ("--5kg", "must look like")])
def test_parse_mass_refuses_bad_input_in_one_line(text, words):
    with pytest.raises(CalibrationError, match=words) as e:
        parse_mass(text)
    assert "\n" not in str(e.value)


def test_parse_layout_presets_and_entered_positions():
    assert parse_layout("corners:540:340") == [(0, 0), (540, 0), (0, 340), (540, 340)]
    assert parse_layout("ends:600") == [(0, 0), (600, 0)]
    assert parse_layout("single") == [(0, 0)]
    assert parse_layout("cells:0,0;500,0;250,300") == [(0, 0), (500, 0), (250, 300)]


@pytest.mark.parametrize("text", ["corners:540", "corners:0:340", "corners:a:b", "ends:-5", "ends:inf",
                                  "single:3", "triangle", "cells:0,0;0,5", "cells:0,0;1,2,3",
                                  "cells:" + ";".join(f"{i * 100},0" for i in range(5)), "corners:9000:300"])
def test_parse_layout_refuses_bad_geometry(text):
    with pytest.raises(CalibrationError):
        parse_layout(text)


# -- statics and readings ------------------------------------------------------

def test_cell_shares_follow_statics():
    corners = parse_layout("corners:540:340")
    assert cell_shares(corners, 270, 170) == pytest.approx([0.25] * 4)
    assert cell_shares(corners, 540, 0) == pytest.approx([0, 1, 0, 0])
    assert cell_shares(corners, 135, 85) == pytest.approx([0.75 * 0.75, 0.25 * 0.75, 0.75 * 0.25, 0.25 * 0.25])
    assert cell_shares([(0, 0), (600, 0)], 150, 40) == pytest.approx([0.75, 0.25])
    assert cell_shares([(5, 5)], 100, 100) == pytest.approx([1.0])
    tri = [(0, 0), (600, 0), (300, 400)]
    s = cell_shares(tri, 250, 120)
    assert s.sum() == pytest.approx(1) and s @ [0, 600, 300] == pytest.approx(250) and s @ [0, 0, 400] == pytest.approx(120)


def test_centre_of_pressure_and_names():
    corners = parse_layout("corners:540:340")
    assert centre_of_pressure(corners, [10, 10, 10, 10]) == pytest.approx((40, 270, 170))
    assert math.isnan(centre_of_pressure(corners, [0, 0, 0, 0])[1])
    assert cell_names(corners) == ["near left", "near right", "far left", "far right"]
    assert cell_names([(0, 0), (600, 0)]) == ["left end", "right end"]
    assert [p.cell for p in placements(corners)] == [None, 0, 1, 2, 3]
    assert [p.cell for p in placements([(0, 0)])] == [0]


def test_window_stats_ignore_non_readings_and_a_few_spikes():
    rng = np.random.default_rng(1)
    col = np.rint(1000 + 10 * rng.standard_normal(240)).astype(np.int64)
    col[[5, 50]] = 3_000_000  # spikes: beyond the 95th percentile
    raw = np.stack([col, np.full(240, MISSING), np.full(240, 8388607)], axis=1)
    stats = window_stats(raw)
    assert stats.level_counts[0] == pytest.approx(1000, abs=2)
    assert 10 < stats.spread_counts[0] < 25  # half the 5-95 % range, about 1.6 sigma
    assert stats.n_valid.tolist() == [240, 0, 0] and math.isnan(stats.level_counts[1])


def test_tare_says_which_check_failed():
    quiet = window_stats(np.tile([[1000, -500]], (100, 1)) + np.arange(100)[:, None] % 3)
    assert tare(quiet, [400, -400]) == pytest.approx((1000.99, -499.01), abs=0.02)
    assert tare(quiet, [400, -400], stored_offsets=[1000, -4500]) == pytest.approx((1001, -499), abs=0.02)  # 10 N
    with pytest.raises(Refused, match="seems loaded: cell 1 reads -23.8 N") as e:
        tare(quiet, [400, -400], stored_offsets=[1000, -10000])
    assert e.value.kind == "loaded"
    moving = window_stats(np.stack([np.linspace(0, 4000, 100), np.zeros(100)], axis=1).astype(np.int64))
    with pytest.raises(Refused, match="moving \\(cell 0") as e:
        tare(moving, [400, 400])
    assert e.value.kind == "moving"
    with pytest.raises(Refused, match="no valid readings from cell 1 \\(0 of 100\\)") as e:
        tare(window_stats(np.stack([np.zeros(100), np.full(100, MISSING)], axis=1).astype(np.int64)), [1, 1])
    assert e.value.kind == "no_readings"


def test_fit_refuses_wildly_different_sensitivities():
    xy = parse_layout("corners:540:340")
    w = 5 * STANDARD_GRAVITY_MS2
    cpn = np.array([420.0, -410.0, 100.0, 430.0])
    changes = [(p, cpn * cell_shares(xy, p.x_mm, p.y_mm) * w) for p in placements(xy)]
    assert fit_scale(xy, [0, 0, 0, 0], changes, 5.0, limits=_limits(max_sensitivity_ratio=5)).cop_error_mm < 1e-6
    with pytest.raises(Refused, match="differ by a factor of 4.3 \\(cell 3: 430.0, cell 2: 100.0") as e:
        fit_scale(xy, [0, 0, 0, 0], changes, 5.0)
    assert e.value.kind == "sensitivity_ratio"


def _limits(**kw):
    from calibration.platform_cal import Limits
    return Limits(**kw)


def test_drift_report_flags_cells_beyond_the_limit():
    cal = PlatformCalibration((Cell(0, 0, 1000, 400), Cell(540, 0, -2000, -400), Cell(0, 340, 0, 400)))
    report = drift_report(cal, [1000 + 400 * 6.5, -2000 + 400, float("nan")], limit_n=5.0)
    assert report.drift_n[0] == pytest.approx(6.5) and report.drift_n[1] == pytest.approx(-1.0)
    assert report.drift_n[2] is None and report.over_limit == (0,) and report.retare_suggested
    assert report.worst_n == pytest.approx(6.5)
    assert "re-tare" in report.message() and "cell 2 ? N" in report.message()
    assert not drift_report(cal, [1000, -2000, 0]).retare_suggested
    with pytest.raises(CalibrationError, match="2 zeros given for a platform of 3 cells"):
        drift_report(cal, [1, 2])


def test_drift_report_from_the_filter_loops_zero_tracker():
    from firmware.pipeline.filterloop import FilterLoop
    src, clock = sim(seed=5)
    src.steer("clear_platform")
    block = src.generate(2.0)
    loop = FilterLoop(src.platform)  # the believed offsets are ~3 N stale
    loop.process(block)
    report = drift_report(src.platform, loop.zero.zero0, limit_n=1.0)
    assert report.retare_suggested
    for d in report.drift_n:
        assert 1.7 <= abs(d) <= 3.1


# -- stored calibration ----------------------------------------------------------

def _cal(offset=1000.0):
    return PlatformCalibration((Cell(0, 0, offset, 420.0), Cell(600, 0, -3000.0, -415.5)))


def test_store_round_trip_with_history(tmp_path):
    assert load_platform(tmp_path) is None and load_all(tmp_path) == (None, [])
    save_platform(tmp_path, _cal(1.0), "2026-01-01T10:00:00+01:00", {"cop_error_mm": 1.5})
    save_platform(tmp_path, _cal(2.0), "2026-02-01T10:00:00+01:00")
    path = save_platform(tmp_path, _cal(3.0), WHEN)
    loaded = load_platform(tmp_path)
    assert loaded == _cal(3.0) and loaded.extra["calibrated_at"] == WHEN
    current, history = load_all(tmp_path)
    assert [h.platform.cells[0].offset for h in history] == [2.0, 1.0]
    assert history[1].report == {"cop_error_mm": 1.5}
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT and data["version"] == 1 and path == platform_path(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["platform.json"]


def test_store_keeps_a_bounded_history(tmp_path):
    for i in range(MAX_HISTORY + 3):
        save_platform(tmp_path, _cal(float(i)), WHEN)
    current, history = load_all(tmp_path)
    assert len(history) == MAX_HISTORY and history[0].platform.cells[0].offset == MAX_HISTORY + 1


@pytest.mark.parametrize("when", ["yesterday", "", None, "2026-13-01T00:00:00"])
def test_store_refuses_a_bad_date_and_keeps_the_old_file(tmp_path, when):
    path = save_platform(tmp_path, _cal(), WHEN)
    before = path.read_bytes()
    with pytest.raises(CalibrationError, match="ISO 8601"):
        save_platform(tmp_path, _cal(5.0), when)
    assert path.read_bytes() == before


@pytest.mark.parametrize("text, words", [("{not json", "not valid JSON"), ('{"format": "other"}', "not a Knot Coach"),
                                         (json.dumps({"format": FORMAT, "version": 9}), "version 9"),
                                         (json.dumps({"format": FORMAT, "version": 1, "current": {
                                             "calibrated_at": WHEN, "platform": {"cells": []}}}), "non-empty")])
def test_a_damaged_store_is_reported_and_never_replaced(tmp_path, text, words):
    path = platform_path(tmp_path)
    path.write_text(text)
    with pytest.raises(StoreError, match=words):
        load_platform(tmp_path)
    with pytest.raises(StoreError, match="move it aside"):
        save_platform(tmp_path, _cal(), WHEN)
    assert path.read_text() == text


# -- runs against the simulator ------------------------------------------------------

@pytest.mark.parametrize("n_cells", [4, 2, 1])
def test_tare_and_scale_recover_the_true_platform(n_cells):
    src, clock = sim(n_cells)
    assert any(c.counts_per_newton < 0 for c in src.true_platform.cells)
    result, lines = calibrate(src, clock)
    for got, true in zip(result.platform.cells, src.true_platform.cells):
        assert got.counts_per_newton == pytest.approx(true.counts_per_newton, rel=0.005)
        assert got.offset == pytest.approx(true.offset, rel=0.005)
        assert abs(got.offset - true.offset) / abs(true.counts_per_newton) < 0.05  # newtons
    # A known load somewhere else: the calibration finds its force and where it stands.
    x, y = (180.0, 120.0) if n_cells == 4 else (180.0, 0.0)
    src.steer("place_mass", mass_kg=12.0, x_mm=x, y_mm=y)
    force_n, cx, cy = centre_of_pressure(true_xy(src), cell_forces_n(result.platform, measure_levels(src, clock)))
    assert force_n == pytest.approx(12.0 * STANDARD_GRAVITY_MS2, rel=0.005)
    if n_cells > 1:
        assert math.hypot(cx - x, cy - y) < 5.0
        assert result.cop_error_mm < 5.0
    else:
        assert result.cop_error_mm is None


def test_progress_shows_seconds_left_and_steadiness():
    src, clock = sim()
    _, lines = calibrate(src, clock)
    assert lines[0] == "tare: 3.5 s left, settling"
    assert re.fullmatch(r"tare: 2\.0 s left, steady to \u00b10\.\d N", lines[3])
    assert lines[-1].startswith("cell 3: 0.0 s left, steady to")
    assert sum(1 for line in lines if line.startswith("centre:")) >= 6


def test_a_geometry_that_does_not_match_the_platform_is_refused():
    src, clock = sim(2)
    with pytest.raises(CalibrationError, match="geometry has 4 cells but the platform reads 2"):
        PlatformCalibrationRun(src, parse_layout("corners:540:340"), 5.0, clock=clock, sleep=clock.sleep)
    with pytest.raises(CalibrationError, match="not plausible"):
        PlatformCalibrationRun(src, true_xy(src), 250.0, clock=clock, sleep=clock.sleep)
    with pytest.raises(CalibrationError, match="too light"):
        PlatformCalibrationRun(src, true_xy(src), 0.2, clock=clock, sleep=clock.sleep)


def test_an_unknown_platform_is_guessed_at_the_same_nominal_sensitivity_it_is_opened_with():
    from firmware.sources.factory import NOMINAL_COUNTS_PER_NEWTON, uncalibrated_platform
    src, clock = sim(4)
    # a reference for another number of cells is no reference: the nominal sensitivity stands in
    no_reference = PlatformCalibrationRun(src, true_xy(src), 5.0, reference=uncalibrated_platform(2), clock=clock,
                                          sleep=clock.sleep)
    assert no_reference.cpn_guess.tolist() == [NOMINAL_COUNTS_PER_NEWTON] * 4
    uncalibrated = PlatformCalibrationRun(src, true_xy(src), 5.0, reference=uncalibrated_platform(4), clock=clock,
                                          sleep=clock.sleep)
    assert uncalibrated.cpn_guess.tolist() == no_reference.cpn_guess.tolist()
    assert uncalibrated.stored_offsets is None  # an uncalibrated platform's zero says nothing


def _steer_at(src, step_kind_or_label, command, **kw):
    """A placer that does what the step asks, except at one step where it does ``command``."""
    normal = sim_placer(src, 5.0)

    def place(step):
        if step.kind == step_kind_or_label or step.label == step_kind_or_label:
            if command:
                src.steer(command, **kw)
            return
        normal(step)
    return place


@pytest.mark.parametrize("setup, kind, words", [
    (dict(place=("tare", "lie_down")), "moving", "tare: the platform is moving"),
    (dict(place=("tare", "place_mass", dict(mass_kg=5.0, x_mm=300.0, y_mm=200.0))), "loaded", "seems loaded"),
    (dict(faults=[(2, "missing", 0.0, 1e9)]), "no_readings", "no valid readings from cell 2"),
    (dict(faults=[(1, "frozen", 0.0, 1e9)]), "no_change", "centre.*: cell 1 did not respond"),
    (dict(place=("centre", "remove_mass")), "no_change", "did not change.*is the mass on the platform"),
    (dict(place=("centre", "place_mass", dict(mass_kg=5.0, x_mm=380.0, y_mm=200.0))), "cop", " 7\\d mm away"),
])
def test_refusals(setup, kind, words):
    src, clock = sim(faults=setup.get("faults", ()))
    place = None
    if "place" in setup:
        label, command, *kw = setup["place"]
        place = _steer_at(src, label, command, **(kw[0] if kw else {}))
    with pytest.raises(Refused, match=words) as e:
        calibrate(src, clock, place=place)
    assert e.value.kind == kind and "\n" not in str(e.value)


def test_a_loaded_platform_passes_tare_only_without_a_reference():
    src, clock = sim()
    src.steer("place_mass", mass_kg=5.0, x_mm=300.0, y_mm=200.0)
    run = PlatformCalibrationRun(src, true_xy(src), 5.0, check_loaded=False, clock=clock, sleep=clock.sleep)
    run.do(run.steps[0])
    assert run.offsets is not None
    with pytest.raises(CalibrationError, match="still to do"):
        run.finish()


class WeakCell(SimulatedPlatform):
    """Cell 2 gives a quarter of the signal it should: a damaged or different cell."""

    def read(self):
        block = super().read()
        raw = block.raw.copy()
        offset = self.true_platform.cells[2].offset
        raw[:, 2] = np.rint(offset + (raw[:, 2] - offset) / 4).astype(np.int64)
        return Block(block.t_s, raw)


def test_wildly_different_sensitivities_are_refused_at_the_end():
    clock = FakeClock()
    src = WeakCell(clock=clock, seed=3, autopilot=False, lie_down_at_s=None)
    with pytest.raises(Refused, match="differ by a factor of 4") as e:
        calibrate(src, clock)
    assert e.value.kind == "sensitivity_ratio"


def test_a_refused_step_can_be_repeated():
    src, clock = sim()
    run = PlatformCalibrationRun(src, true_xy(src), 5.0, clock=clock, sleep=clock.sleep)
    src.steer("lie_down")
    with pytest.raises(Refused):
        run.do(run.steps[0])
    place = sim_placer(src, 5.0)
    for step in run.steps:
        place(step)
        run.do(step)
    assert run.finish().cop_error_mm < 5.0
    assert isinstance(run.steps[1].placement, Placement)


# -- simulator support ------------------------------------------------------------

def test_simulator_clear_platform_stays_clear_and_place_mass_is_a_static_load():
    clock = FakeClock()
    src = SimulatedPlatform(clock=clock, seed=4)  # autopilot on, lies down at 2 s
    src.steer("clear_platform")
    src.generate(120.0)
    assert np.all(src.last_truth.force_n == 0)
    src.steer("place_mass", mass_kg=5.0, x_mm=150.0, y_mm=100.0)
    src.generate(1.0)
    truth = src.last_truth
    assert truth.force_n[-1] == pytest.approx(5.0 * G_MS2)  # the simulated world's gravity
    assert (truth.x_mm[-1], truth.y_mm[-1]) == pytest.approx((150.0, 100.0))
    src.steer("lie_down")  # the person joins the mass: forces add, the point moves between them
    src.generate(3.0)
    truth = src.last_truth
    assert truth.force_n[-1] > 100.0 and 150.0 < truth.x_mm[-1] < 350.0
    src.steer("clear_platform")
    src.generate(1.0)
    assert src.last_truth.force_n[-1] == 0 and math.isnan(src.last_truth.x_mm[-1])
    with pytest.raises(ValueError, match="more than 0"):
        src.steer("place_mass", mass_kg=0.0, x_mm=0.0, y_mm=0.0)
