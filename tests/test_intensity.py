"""The personal 0-10 scale: monotone, exact at the marks, clamped, never NaN, refuses contradictions."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from calibration.intensity import IntensityScale, Mark, ScaleError, check_marks, check_ratings, words_for


@st.composite
def mark_sets(draw, min_marks=2, max_marks=5):
    """Consistent marks: ratings at least 0.5 apart, forces rising by at least 6 %."""
    n = draw(st.integers(min_marks, max_marks))
    ratings = sorted(draw(st.lists(st.integers(1, 20), min_size=n, max_size=n, unique=True)))
    force = draw(st.floats(1.0, 2000.0))
    marks = []
    for r in ratings:
        marks.append(Mark(force, r / 2.0))
        force *= draw(st.floats(1.06, 3.0))
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
