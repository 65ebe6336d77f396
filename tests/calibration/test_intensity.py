"""The personal 0-10 scale: monotone, exact at the marks, clamped, never NaN, refuses contradictions."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from calibration.intensity import (
    EXPONENT_RANGE, MAX_EXPONENT_BETWEEN_MARKS, MAX_FORCE_N, MIN_FORCE_N, IntensityScale, Mark, ScaleError,
    check_marks, check_ratings, words_for,
)


@st.composite
def mark_sets(draw, min_marks=2, max_marks=5):
    """Plausible, consistent marks: 2-3000 N, ratings at least 0.5 apart, forces rising by at least 6 %
    and no faster than the scale allows (rating at most as force to the 6th power between marks)."""
    n = draw(st.integers(min_marks, max_marks))
    ratings = sorted(draw(st.lists(st.integers(1, 20), min_size=n, max_size=n, unique=True)))
    force = draw(st.floats(20.0, 400.0))
    marks = [Mark(force, ratings[0] / 2.0)]
    for lo, hi in zip(ratings, ratings[1:]):
        least = max(1.06, (hi / lo) ** (1 / MAX_EXPONENT_BETWEEN_MARKS) * 1.001)
        force *= draw(st.floats(least, least * 2.5))
        marks.append(Mark(force, hi / 2.0))
    assume(force <= MAX_FORCE_N)
    try:
        IntensityScale(marks)
    except ScaleError as e:  # a band beyond what can be pressed is the one refusal these marks may meet
        assert "outside what can be pressed" in str(e)
        assume(False)
    return marks


forces = st.one_of(st.floats(min_value=-1e308, max_value=1e308, allow_nan=False),
                   st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1e300, math.inf, -math.inf]))


@given(mark_sets(), st.lists(forces, min_size=2, max_size=20))
def test_monotone_clamped_and_never_nan(marks, fs):
    scale = IntensityScale(marks)
    fs = np.sort(np.array(fs))
    r = scale.rating(fs)
    assert not np.isnan(r).any()
    assert ((r >= 0) & (r <= 10)).all()
    assert (np.diff(r) >= -1e-12).all()
    assert scale.rating(0.0) == 0.0 and scale.rating(math.inf) == 10.0


@given(mark_sets())
def test_exact_at_the_marks(marks):
    scale = IntensityScale(marks)
    for m in marks:
        assert scale.rating(m.force_n) == pytest.approx(m.rating, abs=0.2)
        assert abs(scale.rating(m.force_n) - m.rating) < 1e-6


@given(mark_sets(), st.floats(0.0, 10.0))
def test_inverse_round_trips(marks, rating):
    scale = IntensityScale(marks)
    force = scale.force_for(rating)
    assert force >= 0 and not math.isnan(force)
    if math.isfinite(force):
        assert scale.rating(force) == pytest.approx(rating, abs=1e-6)


@given(mark_sets())
def test_shuffled_marks_give_the_same_scale(marks):
    a, b = IntensityScale(marks), IntensityScale(list(reversed(marks)))
    assert a.marks == b.marks and a.band_n() == b.band_n()


@given(mark_sets(), st.data())
@settings(max_examples=60)
def test_refuses_a_higher_rating_at_a_lower_force(marks, data):
    i = data.draw(st.integers(0, len(marks) - 2))
    bad = list(marks)
    bad[i + 1] = Mark(marks[i].force_n * data.draw(st.floats(0.1, 0.999)), marks[i + 1].rating)
    with pytest.raises(ScaleError, match="less pressure"):
        IntensityScale(bad)


def test_extrapolation_exponent_is_held_to_a_sensible_range():
    steep = IntensityScale([Mark(100, 2), Mark(130, 5)])  # fitted 3.5, still allowed between the marks
    assert steep.exponent == EXPONENT_RANGE[1]
    assert steep.rating(200) == pytest.approx(min(5 * (200 / 130) ** 3, 10))
    flat = IntensityScale([Mark(100, 2), Mark(300, 2.5)])  # fitted 0.2
    assert flat.exponent == EXPONENT_RANGE[0]
    assert flat.band_n() == pytest.approx((300 * (4 / 2.5) ** 2, 300 * 2 ** 2))


def test_a_band_beyond_what_can_be_pressed_is_refused():
    with pytest.raises(ScaleError, match="outside what can be pressed .* slow press again") as info:
        IntensityScale([Mark(2000, 0.5), Mark(2900, 1.0)])  # 5/10 would be near 300 kN
    assert "\n" not in str(info.value)
    with pytest.raises(ScaleError, match="outside what can be pressed"):
        IntensityScale([Mark(2.5, 9), Mark(3, 10)])  # 4/10 would be well under 1 N
    scale = IntensityScale([Mark(100, 2), Mark(200, 5)])
    with pytest.raises(ScaleError, match="outside what can be pressed"):
        scale.band_n(0.0, 10.0)


# -- refusals, as properties --------------------------------------------------------

plausible_force = st.floats(MIN_FORCE_N * 5, MAX_FORCE_N / 5)  # times up to 5 stays plausible


@given(plausible_force, st.floats(1.0, 1.0499), st.floats(0.5, 9.5), st.floats(0.5, 9.5))
def test_forces_within_5_percent_are_refused(force, ratio, r_lo, r_gap):
    r_hi = min(r_lo + max(r_gap, 0.5), 10.0)
    assume(r_hi - r_lo >= 0.5)
    marks = [Mark(force, r_lo), Mark(force * ratio, r_hi)]
    with pytest.raises(ScaleError, match="almost the same pressure|marks too close") as info:
        IntensityScale(marks)
    assert "\n" not in str(info.value)


@given(plausible_force, st.floats(1.06, 5.0), st.floats(0.1, 9.5), st.floats(0.0, 0.4999))
def test_ratings_within_half_a_point_are_refused(force, ratio, r_lo, gap):
    with pytest.raises(ScaleError, match="too close to tell apart"):
        IntensityScale([Mark(force, r_lo), Mark(force * ratio, r_lo + gap)])


@given(plausible_force, st.floats(1.06, 5.0), st.floats(0.1, 9.0), st.floats(0.5, 9.9))
def test_a_higher_rating_at_a_lower_force_is_refused(force, ratio, r_lo, gap):
    r_hi = min(r_lo + gap, 10.0)
    assume(r_hi - r_lo >= 0.5)
    with pytest.raises(ScaleError, match="less pressure"):
        IntensityScale([Mark(force * ratio, r_lo), Mark(force, r_hi)])


@given(plausible_force, st.floats(0.1, 9.0), st.floats(0.5, 9.9), st.floats(1.001, 3.0))
def test_marks_rising_faster_than_the_6th_power_are_refused(force, r_lo, gap, excess):
    r_hi = min(r_lo + gap, 10.0)
    assume(r_hi - r_lo >= 0.5)
    ratio = (r_hi / r_lo) ** (1 / (MAX_EXPONENT_BETWEEN_MARKS * excess))
    with pytest.raises(ScaleError, match="almost the same pressure|marks too close for the ratings"):
        IntensityScale([Mark(force, r_lo), Mark(force * ratio, r_hi)])


@given(st.lists(st.tuples(st.floats(MIN_FORCE_N, MAX_FORCE_N), st.floats(0.01, 10.0)), min_size=2, max_size=6),
       st.lists(forces, min_size=2, max_size=20))
@settings(suppress_health_check=[HealthCheck.filter_too_much])
def test_any_plausible_marks_are_refused_or_make_a_sound_scale(raw, fs):
    marks = [Mark(f, r) for f, r in raw]
    try:
        scale = IntensityScale(marks)
    except ScaleError as e:
        assert "\n" not in str(e)
        return
    r = scale.rating(np.sort(np.array(fs)))
    assert np.isfinite(r).all() and ((r >= 0) & (r <= 10)).all() and (np.diff(r) >= -1e-12).all()
    for m in marks:
        assert abs(scale.rating(m.force_n) - m.rating) <= 0.2
    assert EXPONENT_RANGE[0] <= scale.exponent <= EXPONENT_RANGE[1]
    lo, hi = scale.band_n()
    assert MIN_FORCE_N <= lo < hi <= MAX_FORCE_N


def test_published_loads_put_the_band_near_51_to_61_percent():
    scale = IntensityScale([Mark(50, 3.9), Mark(70, 6.2), Mark(90, 8.2)])
    lo, hi = scale.band_n()
    assert 49 < lo < 53 and 58 < hi < 62
    assert 1.2 < scale.exponent < 1.6


def test_vectorised_and_scalar_agree():
    scale = IntensityScale([Mark(100, 2), Mark(200, 5), Mark(260, 7)])
    f = np.array([[0.0, 50.0], [150.0, 1e6]])
    r = scale.rating(f)
    assert r.shape == (2, 2) and isinstance(scale.rating(150.0), float)
    assert r[1, 0] == scale.rating(150.0)
    assert np.isnan(scale.rating(np.nan))  # no measurement stays no measurement
    assert scale.force_for(np.array([4.0, 5.0])).tolist() == list(scale.band_n())
    assert scale.band_n(2, 7) == pytest.approx((100, 260))


@pytest.mark.parametrize("marks, words", [
    ([Mark(100, 2)], "at least two marks"),
    ([], "at least two marks"),
    ([Mark(100, 2), Mark(200, 2.3)], "too close"),
    ([Mark(100, 2), Mark(102, 5)], "almost the same pressure"),
    ([Mark(200, 2), Mark(100, 5)], "less pressure"),
    ([Mark(0, 2), Mark(100, 5)], "no pressure"),
    ([Mark(-5, 2), Mark(100, 5)], "no pressure"),
    ([Mark(math.nan, 2), Mark(100, 5)], "no pressure"),
    ([Mark(100, 2), Mark(200, 11)], "outside the scale"),
    ([Mark(100, 0), Mark(200, 5)], "outside the scale"),
    ([Mark(100, -1), Mark(200, 5)], "outside the scale"),
    ([Mark(1.5, 2), Mark(100, 5)], "almost no pressure .* mark it again"),
    ([Mark(1e-300, 2), Mark(100, 5)], "almost no pressure"),
    ([Mark(100, 2), Mark(3500, 5)], "more than anyone presses .* calibrate"),
    ([Mark(100, 2), Mark(math.inf, 5)], "more than anyone presses"),
    ([Mark(1e-300, 2), Mark(1e300, 7)], "almost no pressure"),
    ([Mark(100, 2), Mark(105, 7)], "marks too close for the ratings you gave: press more slowly"),
    ([Mark(100, 2), Mark(110, 7)], "marks too close for the ratings you gave"),
])
def test_refuses_marks_with_a_message_saying_what_to_redo(marks, words):
    with pytest.raises(ScaleError, match=words) as info:
        check_marks(marks)
    assert "\n" not in str(info.value)


def test_ratings_to_ask_for_are_checked():
    assert check_ratings([2, 5, 7]) == (2.0, 5.0, 7.0)
    for bad in ([5], [2, 2.2], [5, 2], [0, 5], [2, 11], [2, math.nan]):
        with pytest.raises(ScaleError):
            check_ratings(bad)


def test_force_for_refuses_ratings_off_the_scale_and_band_order():
    scale = IntensityScale([Mark(100, 2), Mark(200, 5)])
    with pytest.raises(ScaleError):
        scale.force_for(10.5)
    with pytest.raises(ScaleError):
        scale.band_n(5, 4)


def test_dict_round_trip_and_bad_dicts():
    scale = IntensityScale([Mark(100, 2), Mark(200, 5), Mark(260, 7)])
    assert IntensityScale.from_dict(scale.to_dict()).band_n() == pytest.approx(scale.band_n())
    for bad in (None, {"marks": "x"}, {"marks": [{"force_n": "1", "rating": 2}, {"force_n": 2, "rating": 5}]},
                {"marks": [{"force_n": True, "rating": 2}]}, {"marks": [{"force": 1}]}):
        with pytest.raises(ScaleError):
            IntensityScale.from_dict(bad)


def test_words():
    assert words_for(2) == "just noticeable" and words_for(7) == "painful" and words_for(12) == words_for(10)


def test_one_float_is_rated_as_the_array_path_rates_it():
    # The device rates every sample with the plain-Python path; it is the same curve.
    import numpy as np
    scale = IntensityScale([Mark(110.0, 2.0), Mark(190.0, 5.0), Mark(260.0, 7.0)])
    forces = [float(f) for f in np.concatenate([np.geomspace(0.01, 3000.0, 400), [110.0, 190.0, 260.0]])]
    for f in forces + [0.0, -5.0, float("nan")]:
        one, arr = scale.rating(f), float(scale.rating(np.array([f]))[0])
        assert (one != one and arr != arr) or one == pytest.approx(arr, rel=1e-12, abs=1e-12), f
