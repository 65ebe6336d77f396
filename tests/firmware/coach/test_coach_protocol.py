"""The coach's state machine on simulated time: steps, timer edges, rules, commands.

Frames come every ``DT`` (25 per second) unless a test says otherwise; times
are ``t0 + k * DT`` so a boundary frame falls on the boundary itself.
"""

import json
import math
import pathlib

import pytest

from firmware.coach import Coach, CoachError, CoachSettings, Frame

DT = 0.04
EPS = 1e-6


def F(force=80.0, rating=4.5, x=None, y=0.0, warnings=()):
    return Frame(force, rating, x, y, frozenset(warnings))


def tri(t_s, speed_mm_s, length_mm):
    """Back and forth over ``length_mm`` at a steady ``speed_mm_s``, starting at 0."""
    phase = (t_s * speed_mm_s) % (2 * length_mm)
    return phase if phase <= length_mm else 2 * length_mm - phase


def roll(x0=70.0, speed=40.0, length=80.0, rating=4.5, force=80.0, y=0.0):
    """Slow strokes above the knot (x0 .. x0 + length) in the band."""
    return lambda t: F(force, rating, x0 + tri(t, speed, length), y)


def still(x=0.0, y=0.0, rating=3.0, force=60.0, warnings=()):
    return lambda t: F(force, rating, x, y, warnings)


class Run:
    """A coach and the cues it has given; ``feed`` sends frames on the DT grid."""

    def __init__(self, **settings):
        self.c = Coach(CoachSettings(**settings))
        self.t = 0.0

    def feed(self, seconds, frame_fn=None, dt=DT):
        frame_fn = frame_fn or roll()
        t0, cues = self.t, []
        for k in range(1, round(seconds / dt) + 1):
            self.t = t0 + k * dt
            cues += self.c.update(self.t, frame_fn(self.t))
        return cues

    def until(self, t_s, frame_fn=None):
        return self.feed(t_s - self.t, frame_fn)

    def start(self, **kw):
        args = dict(person="alex", region="calf", tool="foam_roller", pain_before=7.5) | kw
        return self.c.start(self.t, **args)

    def to_around(self):
        """Start, rest on the knot at (0, 0) for a second, mark it, go on; the time around began."""
        assert self.start().go
        self.feed(1.0, still())
        assert self.c.mark_knot(self.t) == (0.0, 0.0)
        self.c.next(self.t)
        assert self.c.step == "around"
        return self.t

    def to_reset(self):
        t0 = self.to_around()
        self.until(t0 + 90.0)
        assert self.c.step == "reset"
        return t0 + 90.0

    @property
    def snap(self):
        return self.c.snapshot()


def names(cues):
    return [q.name for q in cues]


def cue_times(coach, name):
    return [q.t_s for q in coach.cues if q.name == name]


# ------------------------------------------------------------ a whole session
def test_a_whole_session_walks_every_step_in_order():
    r = Run()
    assert r.c.step == "screen"
    t0 = r.to_around()
    r.until(t0 + 90.0)
    r.until(t0 + 90.0 + 5.0 + 3 * 17.0 + 1.0, still(x=70.0))
    assert r.c.step == "rerate"
    summary = r.c.rate(r.t, 3.5)
    assert r.c.step == "done"
    got = [(q.name, q.step) for q in r.c.cues if q.name not in ("keep_moving", "ease_off")]
    assert got == [
        ("step_start", "find"), ("step_done", "find"), ("step_start", "around"),
        ("step_done", "around"), ("step_start", "reset"),
        ("contract", "reset"), ("relax", "reset"), ("contract", "reset"), ("relax", "reset"),
        ("contract", "reset"), ("relax", "reset"), ("step_done", "reset"), ("step_start", "rerate"),
        ("session_done", "rerate")]  # a cue names the step it happened in
    assert (summary.pain_before, summary.pain_after) == (7.5, 3.5)
    assert summary.cycles_done == summary.cycles_planned == 3
    assert summary.time_in_band_s == pytest.approx(90.0 - DT, abs=EPS)
    assert summary.duration_s == pytest.approx(r.t) and not summary.aborted
    assert summary.ended_in == "rerate" and summary.knot == (0.0, 0.0)
    assert summary.warnings["on_knot"] == summary.warnings["over_band"] == 0
    json.dumps(summary.to_dict())
    json.dumps(r.c.snapshot().to_dict())


def test_cues_carry_time_step_and_detail_and_each_call_returns_its_own():
    r = Run()
    r.to_around()
    r.until(r.t + 96.0)
    contract = next(q for q in r.c.cues if q.name == "contract")
    assert contract.to_dict() == {"t_s": round(contract.t_s, 4), "cue": "contract", "step": "reset",
                                  "cycle": 1, "of": 3, "seconds": 5.0}
    assert r.c.take_cues() == []  # update already handed them out


# ------------------------------------------------------------- around: 60/90 s
def test_next_is_offered_exactly_at_60_s():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 60.0 - DT)
    s = r.snap
    assert not s.can_next and s.next_in_s == pytest.approx(DT) and s.step_remaining_s == pytest.approx(30 + DT)
    with pytest.raises(CoachError, match="keep rolling around the knot: the reset opens in 0 s"):
        r.c.next(r.t)
    assert r.c.step == "around"
    r.feed(DT)
    assert r.snap.can_next and r.snap.next_in_s == 0.0
    assert cue_times(r.c, "step_done")[-1] == pytest.approx(t0 + 60.0)
    r.c.next(r.t)
    assert r.c.step == "reset" and cue_times(r.c, "step_start")[-1] == pytest.approx(t0 + 60.0)


def test_around_ends_by_itself_exactly_at_90_s():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 90.0 - DT)
    assert r.c.step == "around" and r.snap.step_remaining_s == pytest.approx(DT)
    r.feed(DT)
    assert r.c.step == "reset"
    assert cue_times(r.c, "step_start")[-1] == pytest.approx(t0 + 90.0)
    assert r.snap.step_elapsed_s == pytest.approx(0.0, abs=EPS)


def test_timer_edges_between_frames_happen_at_their_own_time():
    r = Run()
    t0 = r.to_around()
    r.c.update(t0 + 200.0, F(80, 4.5, 100.0, 0.0))  # one frame long after around and the reset ended
    edges = [(q.name, round(q.t_s - t0, 6)) for q in r.c.cues if q.t_s > t0]
    assert edges == [("step_done", 60.0), ("step_start", 90.0), ("contract", 95.0), ("relax", 100.0),
                     ("contract", 112.0), ("relax", 117.0), ("contract", 129.0), ("relax", 134.0),
                     ("step_done", 146.0), ("step_start", 146.0)]
    assert r.c.step == "rerate"
    assert r.c.running_s() == pytest.approx(t0 + 146.0)


@pytest.mark.parametrize("lo, hi", [(60.0, 90.0), (45.0, 45.0), (90.0, 180.0)])
def test_around_times_follow_the_settings(lo, hi):
    r = Run(around_min_s=lo, around_max_s=hi)
    t0 = r.to_around()
    r.until(t0 + hi - DT)
    assert r.c.step == "around" and r.c.next_offered == (lo <= hi - DT)
    r.feed(DT)
    assert r.c.step == "reset"
    assert cue_times(r.c, "step_done")[-1] == pytest.approx(t0 + lo)


# ------------------------------------------------------------------ reset timer
@pytest.mark.parametrize("relax_s", [10.0, 12.0, 15.0])
@pytest.mark.parametrize("cycles", [3, 4])
def test_reset_phase_edges_plus_minus_one_frame(relax_s, cycles):
    r = Run(relax_s=relax_s, cycles=cycles)
    t_reset = r.to_reset()
    edges = [("contract", 5.0)]
    for n in range(cycles):
        c0 = 5.0 + n * (5.0 + relax_s)
        edges += [("relax", c0 + 5.0), ("contract", c0 + 5.0 + relax_s)]
    edges[-1] = ("end", edges[-1][1])
    before = "place"
    for i, (phase, at) in enumerate(edges):
        r.until(t_reset + at - DT, still(x=70.0))
        view = r.snap.cycle
        assert view.phase == before and view.seconds_left == pytest.approx(DT, abs=EPS)
        r.feed(DT, still(x=70.0))
        if phase == "end":
            assert r.c.step == "rerate" and r.snap.cycle is None
        else:
            view = r.snap.cycle
            assert view.phase == phase and view.n == (i + 2) // 2 and view.of == cycles
            assert view.seconds_left == pytest.approx(5.0 if phase == "contract" else relax_s, abs=EPS)
        before = phase
    assert r.c.summary().cycles_done == cycles
    assert names(r.c.cues).count("contract") == names(r.c.cues).count("relax") == cycles


def test_reset_countdown_counts_down_and_remaining_covers_all_cycles():
    r = Run()
    t_reset = r.to_reset()
    assert r.snap.step_remaining_s == pytest.approx(5 + 3 * 17)
    r.until(t_reset + 6.0, still(x=70.0))
    s = r.snap
    assert (s.cycle.phase, s.cycle.n) == ("contract", 1)
    assert s.cycle.seconds_left == pytest.approx(4.0)
    assert s.step_remaining_s == pytest.approx(5 + 3 * 17 - 6)


def test_no_place_time_starts_the_first_contraction_at_once():
    r = Run(place_s=0.0)
    t_reset = r.to_reset()
    assert cue_times(r.c, "contract")[0] == pytest.approx(t_reset)
    assert r.snap.cycle.phase == "contract" and r.snap.cycle.n == 1


# -------------------------------------------------------- contraction checks
def reset_forces(rest, squeeze, after):
    """Force by phase: ``rest`` when placing, ``squeeze`` in contract, ``after`` in relax."""
    def frame_fn(coach):
        def f(t):
            phase = coach.snapshot().cycle.phase if coach.snapshot().cycle else "place"
            force = {"place": rest, "contract": squeeze, "relax": after}[phase]
            return F(force, None, 70.0, 0.0)
        return f
    return frame_fn


@pytest.mark.parametrize("squeeze, after, contracted, relaxed", [
    (110.0, 80.0, True, True),    # a clear rise, then back to rest
    (80.0, 80.0, False, True),    # nothing shows during the contraction
    (70.0, 80.0, True, True),     # a drop counts too (weight shifts off the roller)
    (110.0, 100.0, True, False),  # never comes back down: not relaxed, 80 N stays the rest
    (86.0, 80.0, False, True),    # 6 N on 80 N is under 10 %
    (92.0, 83.0, True, True),     # 3 N back is within 5 % (4 N); the next rest is 83 N, 9 N >= 8.3
])
def test_contraction_and_full_relaxation_are_confirmed_from_force(squeeze, after, contracted, relaxed):
    r = Run()
    t_reset = r.to_reset()
    r.until(t_reset + 5 + 3 * 17 + DT, reset_forces(80.0, squeeze, after)(r.c))
    cycles = r.c.summary().cycles
    assert [c["contracted"] for c in cycles] == [contracted] * 3
    assert [c["relaxed"] for c in cycles] == [relaxed] * 3
    assert cycles[0]["rest_n"] == pytest.approx(80.0)


def test_without_a_force_signal_the_checks_stay_unknown():
    r = Run()
    t_reset = r.to_reset()
    r.until(t_reset + 60.0, still(x=70.0, warnings={"sensor_fault"}))
    cycles = r.c.summary().cycles
    assert [(c["contracted"], c["relaxed"]) for c in cycles] == [(None, None)] * 3


# ---------------------------------------------------------------- pause/resume
def test_pause_freezes_every_timer_and_resume_continues_exactly():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 30.0)
    band = r.c.time_in_band_s
    r.c.pause(r.t)
    frozen = r.snap
    assert frozen.paused and not frozen.can_next
    cues = r.feed(100.0, lambda t: F(300.0, 9.0, 0.0, 0.0, {"over_band", "on_knot"}))
    assert cues == [] and r.c.time_in_band_s == band
    assert r.snap.step_elapsed_s == pytest.approx(30.0) == frozen.step_elapsed_s
    r.c.resume(r.t)
    r.until(t0 + 100.0 + 60.0 - DT)
    assert not r.c.next_offered
    r.feed(DT)
    assert cue_times(r.c, "step_done")[-1] == pytest.approx(t0 + 160.0)
    r.until(t0 + 190.0)
    assert r.c.step == "reset" and cue_times(r.c, "step_start")[-1] == pytest.approx(t0 + 190.0)
    assert r.c.summary().warnings["over_band"] == 0


def test_pause_in_a_contraction_keeps_its_countdown():
    r = Run()
    t_reset = r.to_reset()
    r.until(t_reset + 7.0, still(x=70.0))
    r.c.pause(r.t)
    r.feed(42.0, still(x=70.0))
    assert r.snap.cycle.seconds_left == pytest.approx(3.0)
    r.c.resume(r.t)
    r.feed(3.0 - DT, still(x=70.0))
    assert r.snap.cycle.phase == "contract"
    r.feed(DT, still(x=70.0))
    assert r.snap.cycle.phase == "relax"
    assert cue_times(r.c, "relax")[0] == pytest.approx(t_reset + 52.0)


def test_pause_and_resume_edges_without_frames_between():
    r = Run()
    t0 = r.to_around()
    r.c.pause(t0 + 59.0)   # no frames: the clock still counts 59 s of rolling
    r.c.resume(t0 + 500.0)
    r.c.next(t0 + 501.0)
    assert r.c.step == "reset"
    assert cue_times(r.c, "step_done")[-1] == pytest.approx(t0 + 501.0)


# ----------------------------------------------------------------------- abort
@pytest.mark.parametrize("where", ["find", "around", "reset", "rerate", "paused"])
def test_stop_ends_with_a_partial_summary(where):
    r = Run()
    if where == "find":
        r.start()
        r.feed(2.0, still())
    else:
        t0 = r.to_around()
        r.until(t0 + 20.0)
        if where in ("reset", "rerate"):
            r.until(t0 + 90.0 + (10.0 if where == "reset" else 60.0), still(x=70.0))
        if where == "paused":
            r.c.pause(r.t)
    step = r.c.step
    summary = r.c.stop(r.t + 0.5)
    assert r.c.step == "done" and summary.aborted and summary.ended_in == step
    assert summary.pain_after is None and summary.pain_before == 7.5
    assert r.c.cues[-1].name == "session_done" and r.c.cues[-1].detail == {"aborted": True}
    assert summary.duration_s == pytest.approx(r.t + 0.5)
    if where == "around":
        # the last frame's state holds until the stop, 0.5 s later (HOLD_S)
        assert summary.time_in_band_s == pytest.approx(20.5 - DT, abs=EPS) and summary.cycles_done == 0
    if where == "reset":
        assert summary.cycles_done == 0 and len(summary.cycles) == 1
    with pytest.raises(CoachError, match="cannot stop during 'done'"):
        r.c.stop(r.t + 2.0)


# ------------------------------------------------------------- find and mark
def test_mark_averages_the_last_half_second_of_position():
    r = Run()
    r.start()
    r.feed(2.0, lambda t: F(60.0, 3.0, 100.0 * t, 5.0))  # moving 100 mm/s
    x, y = r.c.mark_knot(r.t)  # samples at 1.52 .. 2.0 s
    assert x == pytest.approx(176.0) and y == pytest.approx(5.0)
    assert r.c.cues[-1].name == "step_done" and r.c.cues[-1].detail["knot_x_mm"] == 176.0


def test_a_one_dimensional_platform_marks_along_x_only():
    r = Run()
    r.start()
    r.feed(1.0, lambda t: F(60.0, 3.0, 42.0, None))
    assert r.c.mark_knot(r.t) == (42.0, None)
    r.c.next(r.t)
    r.feed(1.2, lambda t: F(80.0, 4.5, 60.0, None))  # 18 mm away along x: inside the zone
    assert "move_off_knot" in names(r.c.cues)


@pytest.mark.parametrize("frames", [
    [],                                                 # nothing yet
    [F(5.0, 0.0, 10.0, 0.0)],                           # under the minimum load
    [F(60.0, 3.0, None, None)],                         # no position
    [F(60.0, 3.0, 10.0, 0.0, {"sensor_fault"})],        # a faulty frame
])
def test_marking_without_a_recent_position_is_refused_politely(frames):
    r = Run()
    r.start()
    for f in frames:
        r.t += DT
        r.c.update(r.t, f)
    with pytest.raises(CoachError, match="rest the roller on the most tender spot, then mark it again"):
        r.c.mark_knot(r.t)
    assert r.c.knot is None and r.c.step == "find"


def test_a_stale_position_is_not_used():
    r = Run()
    r.start()
    r.feed(1.0, still())
    r.feed(0.6, lambda t: F(2.0, 0.0, None, None))
    with pytest.raises(CoachError):
        r.c.mark_knot(r.t)


def test_lingering_while_finding_warns_at_3_s_not_before():
    r = Run()
    r.start()
    r.feed(3.0 - DT, still(x=30.0))  # first frame anchors at DT
    assert "keep_moving" not in names(r.c.cues)
    r.feed(DT, still(x=30.0))
    assert "keep_moving" not in names(r.c.cues)
    r.feed(DT, still(x=30.0))
    assert cue_times(r.c, "keep_moving") == [pytest.approx(3.0 + DT)]


def test_exploring_does_not_count_as_lingering():
    r = Run()
    r.start()
    r.feed(20.0, roll(x0=-100.0, speed=30.0, length=200.0, rating=3.0))
    assert "keep_moving" not in names(r.c.cues)


def test_pressing_above_the_band_while_finding_warns():
    r = Run()
    r.start()
    r.feed(1.0, roll(x0=0.0, speed=30.0, rating=4.9))
    assert "ease_off" not in names(r.c.cues)
    r.feed(DT, roll(x0=0.0, speed=30.0, rating=5.1))
    assert names(r.c.cues)[-1] == "ease_off"


# ------------------------------------------------------- around: the rules
def test_over_the_band_warns_with_hysteresis_and_a_gap_between_sounds():
    r = Run()
    t0 = r.to_around()
    ratings = {1: 5.0, 2: 5.1, 3: 4.9, 4: 4.8, 5: 4.7, 6: 5.2}  # one second each
    for second in range(1, 7):
        r.until(t0 + second, roll(rating=ratings[second]))
    assert cue_times(r.c, "ease_off") == [pytest.approx(t0 + 1.0 + DT), pytest.approx(t0 + 5.0 + DT)]
    view = r.snap.warnings["over_band"]
    assert view["count"] == 2 and view["active"]
    assert view["seconds"] == pytest.approx(3.0 + 1.0 - DT, abs=EPS)


def test_rules_over_band_warning_counts_without_a_personal_scale():
    r = Run()
    r.to_around()
    r.feed(1.0, lambda t: F(80.0, None, 100.0, 0.0, {"over_band"}))
    assert names(r.c.cues) .count("ease_off") == 1


def test_two_episodes_within_the_gap_count_twice_but_sound_once():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 0.2, roll(rating=5.5))
    r.until(t0 + 0.4, roll(rating=4.0))
    r.until(t0 + 0.6, roll(rating=5.5))
    assert len(cue_times(r.c, "ease_off")) == 1
    assert r.snap.warnings["over_band"]["count"] == 2


def test_below_the_band_hints_gently_after_3_s():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 3.0, roll(rating=3.9))  # first light frame at DT
    assert "press_a_bit_more" not in names(r.c.cues)
    r.feed(DT, roll(rating=3.9))
    assert cue_times(r.c, "press_a_bit_more") == [pytest.approx(t0 + 3.0 + DT)]


@pytest.mark.parametrize("frame_fn", [
    roll(rating=4.0),                          # the band's lower edge is in the band
    roll(rating=2.0, force=5.0),               # off the roller between strokes
    roll(rating=None),                         # no personal scale: no hint
])
def test_no_light_hint_in_band_off_the_roller_or_without_a_scale(frame_fn):
    r = Run()
    r.to_around()
    r.feed(10.0, frame_fn)
    assert "press_a_bit_more" not in names(r.c.cues)


def test_inside_the_zone_warns_after_the_grace_not_before():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 1.0, still(x=50.0, rating=4.5))  # 50 mm < 50.8 mm: inside from t0 + DT
    assert "move_off_knot" not in names(r.c.cues)
    r.feed(DT, still(x=50.0, rating=4.5))
    assert cue_times(r.c, "move_off_knot") == [pytest.approx(t0 + 1.0 + DT)]


def test_passing_through_the_zone_quickly_or_staying_outside_does_not_warn():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 0.96, still(x=40.0, rating=4.5))  # 24 frames inside: 0.92 s
    r.until(t0 + 20.0, still(x=54.0, rating=4.5))  # beyond the zone and its 3 mm exit margin
    r.until(t0 + 40.0, roll(x0=54.0))
    assert "move_off_knot" not in names(r.c.cues)


def test_rules_on_knot_warning_also_warns():
    r = Run()
    r.to_around()
    r.feed(0.2, lambda t: F(80.0, 4.5, 200.0, 0.0, {"on_knot"}))
    assert names(r.c.cues).count("move_off_knot") == 1


@pytest.mark.parametrize("speed, warns", [(60.0, False), (79.0, False), (100.0, True), (200.0, True)])
def test_fast_strokes_warn_slow_down(speed, warns):
    r = Run(cue_gap_s=0.0)
    r.to_around()
    r.feed(6.0, roll(speed=speed, length=100.0))
    assert ("slow_down" in names(r.c.cues)) == warns
    assert r.snap.last_stroke["length_mm"] == pytest.approx(100.0, abs=speed * DT)


def test_a_long_fast_roll_is_judged_after_one_stroke_length_before_it_turns():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 3.0, lambda t: F(80.0, 4.5, 70.0 + 100.0 * (t - t0), 0.0))  # 300 mm straight on
    assert cue_times(r.c, "slow_down") == [pytest.approx(t0 + 1.0, abs=DT + EPS)]
    assert r.snap.last_stroke["length_mm"] == pytest.approx(100.0, abs=4.0)


def test_a_long_slow_roll_is_not_a_fast_stroke():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 6.0, lambda t: F(80.0, 4.5, 70.0 + 50.0 * (t - t0), 0.0))
    assert "slow_down" not in names(r.c.cues)
    assert r.snap.last_stroke["speed_mm_s"] == pytest.approx(50.0, rel=0.01)


def test_a_fast_jiggle_shorter_than_a_stroke_is_not_a_fast_stroke():
    r = Run()
    r.to_around()
    r.feed(6.0, roll(speed=150.0, length=15.0))
    assert "slow_down" not in names(r.c.cues)


def test_a_pause_at_the_end_of_a_stroke_does_not_hide_its_speed():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 1.0, lambda t: F(80.0, 4.5, 70.0 + 150.0 * (t - t0), 0.0))  # 150 mm in 1 s
    r.until(t0 + 4.0, still(x=220.0, rating=4.5))
    r.until(t0 + 4.5, lambda t: F(80.0, 4.5, 220.0 - 40.0 * (t - t0 - 4.0), 0.0))
    assert cue_times(r.c, "slow_down")
    assert r.snap.last_stroke["speed_mm_s"] == pytest.approx(150.0, rel=0.01)


def test_time_in_band_counts_only_in_band_frames():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 10.0, roll(rating=4.5))
    r.until(t0 + 20.0, roll(rating=5.8))
    r.until(t0 + 30.0, roll(rating=4.0))
    r.until(t0 + 35.0, roll(rating=5.0, force=5.0))  # nobody on it
    # each frame's state counts until the next frame: 250 frames in band, twice
    assert r.c.time_in_band_s == pytest.approx(20.0, abs=EPS)


def test_sides_covered_from_position_relative_to_the_knot():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 3.0, roll(x0=60.0))                       # +x: above
    assert r.snap.sides_covered == ("above",)
    r.until(t0 + 6.0, roll(x0=-140.0))                     # -x: below
    r.until(t0 + 7.0, lambda t: F(80.0, 4.5, 0.0, 70.0))   # +y: right, 1 s only
    assert r.snap.sides_covered == ("above", "below")
    r.until(t0 + 9.0, lambda t: F(80.0, 4.5, 0.0, 70.0))
    r.until(t0 + 12.0, lambda t: F(80.0, 4.5, 10.0, -80.0))
    s = r.snap
    assert s.sides_covered == ("above", "below", "left", "right")
    assert s.sides_s["right"] == pytest.approx(3.0, abs=DT + EPS)
    assert sum(s.sides_s.values()) == pytest.approx(12.0 - DT, abs=EPS)


def test_the_zone_itself_is_no_side():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 5.0, still(x=30.0, rating=4.5))
    assert r.snap.sides_covered == () and sum(r.snap.sides_s.values()) == 0.0


# --------------------------------------------------------- reset: on the knot
def test_on_the_knot_during_the_reset_warns_next_to_it_does_not():
    r = Run()
    t_reset = r.to_reset()
    r.until(t_reset + 10.0, still(x=60.0, rating=4.5))
    assert "move_off_knot" not in names(r.c.cues)
    r.until(t_reset + 12.0, still(x=10.0, rating=4.5))
    assert cue_times(r.c, "move_off_knot") == [pytest.approx(t_reset + 11.0 + DT)]
    assert r.c.step == "reset"


def test_the_reset_does_not_warn_about_pressure_during_a_contraction():
    r = Run()
    t_reset = r.to_reset()
    r.until(t_reset + 30.0, still(x=70.0, rating=9.0, force=300.0))
    assert [q for q in r.c.cues if q.step == "reset" and q.name in ("ease_off", "press_a_bit_more")] == []


# ------------------------------------------------------------ fault and cap
def test_a_sensor_fault_sounds_once_and_its_frames_are_not_judged():
    r = Run()
    t0 = r.to_around()
    r.until(t0 + 5.0, still(x=0.0, rating=9.0, warnings={"sensor_fault"}))
    assert names(r.c.cues[-1:]) == ["fault"] and names(r.c.cues).count("fault") == 1
    assert r.c.time_in_band_s == 0.0
    r.until(t0 + 6.0, roll())
    r.until(t0 + 7.0, still(x=100.0, rating=4.5, warnings={"sensor_fault"}))
    assert names(r.c.cues).count("fault") == 2
    assert r.snap.warnings["sensor_fault"]["times_s"] == [pytest.approx(t0 + DT, abs=1e-3),
                                                          pytest.approx(t0 + 6.0 + DT, abs=1e-3)]


def test_passing_the_10_minute_cap_warns_once():
    r = Run()
    r.start()
    r.until(600.0 - DT, roll(x0=0.0, rating=3.0))
    assert "time_cap" not in names(r.c.cues)
    r.feed(DT, roll(x0=0.0, rating=3.0))
    assert cue_times(r.c, "time_cap") == [pytest.approx(600.0)]
    r.until(700.0, roll(x0=0.0, rating=3.0))
    assert names(r.c.cues).count("time_cap") == 1
    assert r.snap.over_cap and r.c.summary().over_cap


def test_paused_time_does_not_count_towards_the_cap():
    r = Run()
    r.start()
    r.c.pause(100.0)
    r.c.resume(1000.0)
    r.t = 1000.0
    r.until(1499.0, roll(x0=0.0, rating=3.0))
    assert not r.c.over_cap
    r.until(1500.0, roll(x0=0.0, rating=3.0))
    assert cue_times(r.c, "time_cap") == [pytest.approx(1500.0)]


# ----------------------------------------------------------------- hands-free
def test_hands_free_start_waits_for_load_held_for_a_second():
    r = Run(hands_free_start=True)
    assert r.start().go and r.c.step == "ready"
    r.feed(0.96, still(force=40.0))    # 24 frames: 0.92 s since the first
    r.feed(0.2, still(force=2.0))      # stepped off
    assert r.c.step == "ready"
    t_load = r.t + DT
    r.until(t_load + 1.0 - DT, still(force=40.0))
    assert r.c.step == "ready"
    r.feed(DT, still(force=40.0))
    assert r.c.step == "find" and cue_times(r.c, "step_start")[-1] == pytest.approx(t_load + 1.0)
    assert r.c.start_t_s == pytest.approx(t_load + 1.0)


def test_hands_free_off_starts_finding_at_once_and_next_starts_from_ready():
    assert Run().start().go
    r = Run(hands_free_start=True)
    r.start()
    r.c.next(1.0)
    assert r.c.step == "find"


# ---------------------------------------------------------- screen via start
def test_a_stop_or_redirect_from_the_screen_leaves_the_coach_waiting():
    r = Run()
    d = r.start(signs=["swelling"])
    assert d.kind == "stop" and r.c.step == "screen" and r.c.session is None
    d = r.start(region="IT band")
    assert d.kind == "redirect" and d.regions == ("glutes", "tfl") and r.c.step == "screen"
    d = r.start(region="glutes", tool="foam_roller")
    assert d.kind == "redirect" and d.tools == ("lacrosse_ball",)
    d = r.start(region="glutes", tool="lacrosse_ball")
    assert d.go and r.c.step == "find" and r.c.session.region == "glutes"
    assert r.c.decision is d


@pytest.mark.parametrize("kw, match", [
    ({"pain_before": 11}, "pain rating before the session goes from 0"),
    ({"region": "elbow"}, "unknown body region"),
    ({"person": "  "}, "the person must be a name"),
])
def test_bad_answers_raise_a_coach_error(kw, match):
    r = Run()
    with pytest.raises(CoachError, match=match) as err:
        r.start(**kw)
    assert isinstance(err.value, ValueError) and r.c.step == "screen" and r.c.cues == []


# ------------------------------------------------------- commands out of place
def state(c):
    s = c.snapshot()
    return (s.step, s.paused, s.knot, len(c.cues), s.time_in_band_s, s.cycles_done)


def at_screen():
    return Run()


def at_find():
    r = Run()
    r.start()
    r.feed(1.0, still())
    return r


def at_around():
    r = Run()
    r.to_around()
    r.feed(10.0)
    return r


def at_reset():
    r = Run()
    r.to_reset()
    return r


def at_rerate():
    r = Run()
    t_reset = r.to_reset()
    r.until(t_reset + 57.0, still(x=70.0))
    return r


def at_done():
    r = at_rerate()
    r.c.rate(r.t, 3)
    return r


def paused_in_around():
    r = at_around()
    r.c.pause(r.t)
    return r


@pytest.mark.parametrize("setup, command, match", [
    (at_screen, "mark_knot", "cannot mark the knot during 'screen'"),
    (at_screen, "next", "cannot go on during 'screen'"),
    (at_screen, "pause", "cannot pause during 'screen'"),
    (at_screen, "resume", "not paused"),
    (at_screen, "stop", "no session to stop"),
    (at_screen, "rate", "cannot rate during 'screen'"),
    (at_find, "start", "a session is already under way"),
    (at_find, "next", "mark the knot first"),
    (at_find, "rate", "rated again after the reset"),
    (at_around, "mark_knot", "cannot mark the knot during 'around'"),
    (at_around, "next", "keep rolling around the knot"),
    (at_around, "resume", "not paused"),
    (at_reset, "next", "finish at least one contract-relax cycle"),
    (at_reset, "rate", "cannot rate during 'reset'"),
    (at_rerate, "pause", "only finding, rolling around and the reset can be paused"),
    (at_rerate, "next", "no next step"),
    (at_done, "rate", "cannot rate during 'done'"),
    (at_done, "next", "cannot go on during 'done'"),
    (paused_in_around, "pause", "already paused"),
    (paused_in_around, "next", "paused: resume first"),
    (paused_in_around, "rate", "paused: resume first"),
])
def test_commands_in_the_wrong_state_raise_and_change_nothing(setup, command, match):
    r = setup()
    before = state(r.c)
    call = {"start": lambda t: r.c.start(t, "alex", "calf", "foam_roller", 7),
            "rate": lambda t: r.c.rate(t, 3)}.get(command, getattr(r.c, command))
    with pytest.raises(CoachError, match=match) as err:
        call(r.t)
    assert isinstance(err.value, ValueError)
    assert state(r.c) == before


def test_next_in_reset_after_a_full_cycle_goes_to_rerating():
    r = Run()
    t_reset = r.to_reset()
    r.until(t_reset + 5 + 17 - DT, still(x=70.0))
    with pytest.raises(CoachError):
        r.c.next(r.t)
    r.feed(DT, still(x=70.0))
    r.c.next(r.t)
    assert r.c.step == "rerate" and r.c.summary().cycles_done == 1


@pytest.mark.parametrize("pain", [-1, 10.5, math.nan, "3", None])
def test_a_bad_rating_after_is_refused_and_the_coach_still_waits(pain):
    r = at_rerate()
    with pytest.raises(CoachError, match="pain rating after the session"):
        r.c.rate(r.t, pain)
    assert r.c.step == "rerate"
    assert r.c.rate(r.t, 4).pain_after == 4.0


def test_time_going_backwards_or_not_a_number_is_refused():
    r = at_around()
    before = state(r.c)
    for bad in (r.t - 0.01, math.nan, math.inf, "1.0", True):
        with pytest.raises(CoachError, match="time went backwards|t_s must be a finite number"):
            r.c.update(bad, F(80.0, 4.5, 100.0, 0.0))
    assert state(r.c) == before


@pytest.mark.parametrize("frame", [(1, 2, 3), "frame", (80, 4.5, 100, 0, "on_knot"), (80, "x", 1, 0)])
def test_a_malformed_frame_is_refused(frame):
    r = at_around()
    with pytest.raises(CoachError, match="frame"):
        r.c.update(r.t + DT, frame)


def test_frames_may_be_plain_tuples_with_nan_for_unknown():
    r = Run()
    r.start()
    r.c.update(0.04, (60.0, math.nan, 10.0, math.nan, {"over_band"}))
    r.c.update(0.08, [60.0, 3.0, 10.0, 0.0])
    assert names(r.c.cues)[-1] == "ease_off"


def test_settings_must_be_coach_settings():
    with pytest.raises(TypeError):
        Coach({"cycles": 3})


# ------------------------------------------------------------------- purity
def test_the_coach_reads_no_clock_and_touches_no_hardware():
    package = pathlib.Path(__file__).parents[3] / "firmware" / "coach"
    for path in package.glob("*.py"):
        text = path.read_text()
        for banned in ("import time", "from time", "datetime", "sleep(", "gpiozero", "open(", "flask"):
            assert banned not in text, f"{path.name} uses {banned}"
