"""Progress across days: every rule firing and not firing, with the dates passed in."""

from datetime import datetime, timedelta, timezone

import pytest

from server.progress import (
    CAUSES,
    NextDay,
    ProgressSettings,
    Session,
    dose_check,
    group_knots,
    is_settled,
    judge_next_day,
    maintenance,
    next_day_question,
    recurring,
    report,
    trend,
)

CET = timezone(timedelta(hours=1))
DAY0 = datetime(2026, 11, 1, 9, 0, tzinfo=CET)


def at(day: float, hour: int = 9) -> str:
    return (DAY0 + timedelta(days=day, hours=hour - 9)).isoformat()


def S(sid, day, before=None, after=None, x=100.0, y=None, elapsed=300.0, band=60.0, person="ana", region="calf",
      hour=9, next_day=None):
    return Session(sid, person, region, "roller", x, y, at(day, hour), None, "done", before, after, elapsed, band, 4,
                   None, "done", (), next_day)


def knot_of(*sessions, **settings):
    knots = group_knots(sessions, ProgressSettings(**settings))
    assert len(knots) == 1
    return knots[0]


# -- which sessions are the same knot -----------------------------------------------

def test_sessions_within_a_few_cm_are_one_knot_and_further_apart_are_two():
    knots = group_knots([S(1, 0, x=100), S(2, 1, x=130), S(3, 2, x=165), S(4, 3, x=300)])
    assert [[s.id for s in k.sessions] for k in knots] == [[1, 2, 3], [4]]  # 3 is near 2's mark (drift)
    assert (knots[0].x_mm, knots[0].name) == (165, "calf knot at 165 mm")


def test_people_regions_depth_and_unmarked_sessions_stay_apart():
    sessions = [S(1, 0, x=100, y=0), S(2, 0, x=100, y=60), S(3, 0, x=100, person="bo"), S(4, 0, x=100, region="quads"),
                S(5, 0, x=None), S(6, 1, x=None), S(7, 1, x=110, y=20)]
    groups = sorted([s.id for s in k.sessions] for k in group_knots(sessions))
    assert groups == [[1, 7], [2], [3], [4], [5, 6]]  # y counts when both have it; unmarked ones together
    assert group_knots([S(5, 0, x=None)])[0].name == "calf (no knot marked)"


def test_the_same_knot_distance_is_a_setting():
    assert len(group_knots([S(1, 0, x=100), S(2, 1, x=130)], ProgressSettings(same_knot_mm=20))) == 2
    with pytest.raises(ValueError):
        ProgressSettings(same_knot_mm=500)
    with pytest.raises(ValueError):
        ProgressSettings(resolved_pain=5, active_pain=4)


# -- once a day, 10 minutes at most --------------------------------------------------

def test_a_first_session_of_the_day_is_fine():
    check = dose_check([S(1, 0, elapsed=400)], "ana", "calf", 100.0, None, at(1, 10))
    assert (check.seconds_left, check.advice) == (600.0, ())


def test_a_second_session_on_the_same_knot_the_same_day_warns():
    check = dose_check([S(1, 1, elapsed=240, hour=8)], "ana", "calf", 120.0, None, at(1, 18))
    assert [a.kind for a in check.advice] == ["second_today"] and check.seconds_left == 360.0
    assert "already worked this calf knot today (at 08:00)" in check.advice[0].text
    assert check.advice[0].session_id == 1


@pytest.mark.parametrize("other", [S(1, 1, x=200), S(1, 1, person="bo"), S(1, 1, region="glutes"), S(1, 0, hour=23)])
def test_other_knots_people_regions_and_yesterday_do_not_count(other):
    assert dose_check([other], "ana", "calf", 100.0, None, at(1, 18)).advice == ()


def test_before_the_knot_is_marked_the_whole_region_counts():
    check = dose_check([S(1, 1, x=300)], "ana", "calf", None, None, at(1, 18))
    assert "already worked your calf today" in check.advice[0].text
    assert dose_check([S(1, 1, x=None)], "ana", "calf", 100.0, None, at(1, 18)).advice[0].kind == "second_today"


def test_the_day_is_the_one_where_the_person_is_now():
    late = Session(1, "ana", "calf", "roller", 100.0, None, "2026-11-26T23:30:00+00:00", None, "done", 7, 3, 300.0,
                   60.0, 4, None, "done")
    assert dose_check([late], "ana", "calf", 100.0, None, "2026-11-27T08:00:00+01:00").advice  # 00:30 here
    assert not dose_check([late], "ana", "calf", 100.0, None, "2026-11-27T08:00:00+00:00").advice


def test_ten_minutes_a_day_is_the_cap():
    check = dose_check([S(1, 1, elapsed=330, hour=7), S(2, 1, elapsed=300, hour=8)], "ana", "calf", 100.0, None,
                       at(1, 12))
    assert check.seconds_left == 0 and [a.kind for a in check.advice] == ["second_today", "over_cap"]
    assert "10 minutes today" in check.advice[1].text
    longer = ProgressSettings(daily_cap_s=900)
    assert dose_check([S(1, 1, elapsed=630)], "ana", "calf", 100.0, None, at(1, 12), longer).seconds_left == 270


# -- the 3-5 day trend --------------------------------------------------------------

def test_no_trend_from_fewer_than_three_days():
    assert trend(knot_of(S(1, 0, 8, 4), S(2, 1, 6, 3)), at(1, 20)) is None
    assert trend(knot_of(S(1, 0, 8, 4), S(2, 1, 6, 3)), at(1, 20), ProgressSettings(trend_min_days=2)) is not None


def test_a_knot_clearly_easing_over_days():
    got = trend(knot_of(S(1, 0, 8, 4, band=40), S(2, 1, 7, 3, band=60), S(3, 2, 5, 2, band=90)), at(2, 20))
    assert got.verdict == "better" and len(got.days) == 3
    assert "tender before 8/10 -> 5/10; after 4/10 -> 2/10; time in the band 40 s -> 90 s" in got.text
    assert "Clearly easing" in got.text


@pytest.mark.parametrize("pains, verdict, words", [((7, 7, 6), "same", "Not clearly easing"),
                                                   ((5, 6, 7), "worse", "see a professional")])
def test_a_knot_not_easing_or_getting_worse(pains, verdict, words):
    got = trend(knot_of(*[S(i, i, p, 3) for i, p in enumerate(pains)]), at(2, 20))
    assert got.verdict == verdict and words in got.text


def test_the_trend_looks_back_five_days_one_point_per_day():
    k = knot_of(S(1, 0, 9, 5), S(2, 6, 8, 4, band=30, hour=8), S(3, 6, 6, 3, band=20, hour=19), S(4, 7, 6, 3),
                S(5, 9, 5, 2))
    got = trend(k, at(10, 20))
    assert [p.day.day for p in got.days] == [7, 8, 10]  # day 0 (1 Nov) is too old
    assert (got.days[0].pain_before, got.days[0].pain_after, got.days[0].time_in_band_s) == (8, 3, 50)
    assert trend(k, at(13, 20)) is None  # only days 7 and 9 (the 10th) remain in the window


# -- recurring knots ----------------------------------------------------------------

def test_a_knot_that_settled_and_came_back_is_recurring():
    k = knot_of(S(1, 0, 7, 4), S(2, 1, 4, 2), S(3, 2, 2, 1), S(4, 9, 6, 3))
    got = recurring(k)
    assert got.kind == "recurring" and "settled by 03 Nov" in got.text and "6/10 again on 10 Nov" in got.text
    assert CAUSES in got.text and "tech neck" in got.text and "squat or deadlift" in got.text
    assert "professional" in got.text and "not medical advice" in got.text


def test_a_next_day_answer_counts_as_settled():
    k = knot_of(S(1, 0, 7, 3, next_day=NextDay(at(1), 2, False)), S(2, 6, 5, 3))
    assert recurring(k) is not None


def test_a_knot_that_settles_and_stays_settled_is_not_recurring():
    k = knot_of(S(1, 0, 7, 4), S(2, 1, 4, 2), S(3, 2, 2, 1), S(4, 9, 3, 1))  # 3/10 is below "active again"
    assert recurring(k) is None and not is_settled(k)


def test_weeks_of_sessions_without_settling_is_recurring():
    weeks = [S(i, d, p, 3) for i, (d, p) in enumerate([(0, 7), (3, 5), (8, 4), (15, 4)])]
    got = recurring(knot_of(*weeks))
    assert "for 15 days and it is still 4/10" in got.text and CAUSES in got.text
    assert recurring(knot_of(*weeks[:3])) is None                     # 8 days: not yet
    assert recurring(knot_of(*weeks[:3], S(9, 15, 2, 1))) is None     # settled by week two
    assert recurring(knot_of(*weeks), ProgressSettings(recurring_span_days=21)) is None


# -- maintenance once settled --------------------------------------------------------

def test_a_settled_knot_gets_a_maintenance_reminder_every_few_days():
    k = knot_of(S(1, 0, 7, 3), S(2, 1, 4, 2), S(3, 2, 2, 1))
    assert is_settled(k)
    got = maintenance(k, at(5, 18))
    assert got.kind == "maintenance" and "2-3 times a week" in got.text and "3 days ago" in got.text
    assert maintenance(k, at(4, 18)) is None  # two days ago: not yet
    assert maintenance(k, at(4, 18), ProgressSettings(maintenance_every_days=2)) is not None


def test_no_maintenance_reminder_while_the_knot_is_active():
    assert maintenance(knot_of(S(1, 0, 7, 3), S(2, 1, 5, 2)), at(8, 18)) is None


# -- the next-day question ------------------------------------------------------------

def test_the_day_after_a_session_asks_how_tender_it_is():
    k = knot_of(S(1, 0, 8, 4), S(2, 1, 7, 3))
    got = next_day_question(k, at(2, 8))
    assert (got.kind, got.session_id) == ("next_day", 2)
    assert "How tender is the calf knot at 100 mm now, 0-10 (it was 7/10 before that session)?" in got.text
    assert next_day_question(k, at(3, 8)) is not None  # a skipped day still asks
    assert next_day_question(k, at(1, 20)) is None     # same day
    assert next_day_question(k, at(4, 8)) is None      # too long ago to compare


def test_the_question_is_asked_once():
    k = knot_of(S(1, 0, 8, 4, next_day=NextDay(at(1, 8), 5, False)))
    assert next_day_question(k, at(1, 10)) is None


@pytest.mark.parametrize("tender, bruise, words", [(4, False, "Good: 4/10 today"),
                                                   (8, False, "No easier than before the session (7 -> 8/10)"),
                                                   (3, True, "A bruise means the pressure was too much")])
def test_what_the_next_day_answer_means(tender, bruise, words):
    got = judge_next_day(S(1, 0, 7, 3), tender, bruise)
    assert got.kind == "next_day_answer" and words in got.text


# -- the whole report ---------------------------------------------------------------

def test_the_report_for_one_person_newest_knot_first():
    sessions = [S(1, 0, 8, 4), S(2, 1, 7, 3), S(3, 2, 5, 2),                               # calf: easing
                S(4, 0, 3, 1, region="glutes"), S(5, 1, 2, 1, region="glutes", hour=7),   # glutes: settled
                S(6, 2, 9, 5, person="bo")]
    got = report(sessions, "ana", at(4, 8))
    assert [(a.kind, a.session_id) for a in got] == [("next_day", 3), ("trend", 3), ("maintenance", 5)]
    assert [(a.kind, a.session_id) for a in report(sessions, "ana", at(3, 8))] == [
        ("next_day", 3), ("trend", 3), ("next_day", 5)]  # glutes: 2 days ago, too soon for maintenance
    assert [a.kind for a in report(sessions, "ana", at(8, 8))] == ["maintenance"]  # the calf days are past
    assert report(sessions, "nobody", at(3, 8)) == []
