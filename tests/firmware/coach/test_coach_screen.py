"""Coach settings (every protocol number, checked) and the screen before a session."""

import dataclasses
import math

import pytest

from firmware.coach.screen import (
    FOAM_ROLLER,
    INJURY_SIGNS,
    KNOT_OR_INJURY,
    LACROSSE_BALL,
    TOOLS,
    check_pain,
    screen,
    tools_for,
)
from firmware.coach.settings import LIMITS, CoachSettings


# ------------------------------------------------------------------ settings
def test_defaults_are_the_protocol_numbers():
    s = CoachSettings()
    assert (s.around_min_s, s.around_max_s) == (60.0, 90.0)
    assert s.zone_mm == pytest.approx(2 * 25.4)
    assert (s.dwell_grace_s, s.find_linger_s) == (1.0, 3.0)
    assert (s.contract_s, s.relax_s, s.cycles) == (5.0, 12.0, 3)
    assert 10.0 <= s.relax_s <= 15.0 and 3 <= s.cycles <= 4
    assert (s.band_lo, s.band_hi) == (4.0, 5.0)
    assert (s.fast_stroke_mm_s, s.stroke_length_mm) == (80.0, 100.0)
    assert (s.dose_min_s, s.dose_max_s, s.sessions_per_day) == (300.0, 600.0, 1)
    assert s.hands_free_start is False


def test_every_default_lies_within_its_limits():
    s = CoachSettings()
    for name, (lo, hi, _) in LIMITS.items():
        assert lo <= getattr(s, name) <= hi, name


@pytest.mark.parametrize("name, low, high", [
    ("zone_mm", 20.0, 100.0), ("dwell_grace_s", 0.3, 3.0), ("contract_s", 3.0, 10.0),
    ("relax_s", 5.0, 30.0), ("cycles", 1, 6)])
def test_limits_are_inclusive_and_one_step_beyond_is_refused(name, low, high):
    assert getattr(CoachSettings(**{name: low}), name) == low
    assert getattr(CoachSettings(**{name: high}), name) == high
    step = 1 if isinstance(low, int) else 0.01
    for bad in (low - step, high + step):
        with pytest.raises(ValueError, match=rf"{name} \(.*\) must be between {low:g} and {high:g}"):
            CoachSettings(**{name: bad})


@pytest.mark.parametrize("changes, match", [
    ({"zone_mm": math.nan}, "zone_mm .* must be a number"),
    ({"zone_mm": "50"}, "zone_mm .* must be a number"),
    ({"zone_mm": True}, "zone_mm .* must be a number"),
    ({"cycles": 3.0}, "cycles .* must be a whole number"),
    ({"cycles": True}, "cycles .* must be a whole number"),
    ({"around_min_s": 100.0}, r"around_min_s \(100\) must be at most around_max_s \(90\)"),
    ({"band_lo": 5.0}, r"band_lo \(5\) must be below band_hi \(5\)"),
    ({"dose_min_s": 700.0}, "dose_min_s .* must be at most dose_max_s"),
    ({"hands_free_start": 1}, "hands_free_start must be true or false"),
])
def test_bad_settings_say_which_and_why(changes, match):
    with pytest.raises(ValueError, match=match):
        CoachSettings(**changes)


def test_message_names_the_unit_and_meaning():
    with pytest.raises(ValueError) as err:
        CoachSettings(zone_mm=10)
    assert str(err.value) == "zone_mm (the no-go radius around the knot) must be between 20 and 100 mm, not 10"


def test_replace_and_from_dict_check_again():
    s = CoachSettings()
    assert dataclasses.replace(s, relax_s=15.0).relax_s == 15.0
    with pytest.raises(ValueError):
        dataclasses.replace(s, relax_s=31.0)
    assert CoachSettings.from_dict({"cycles": 4}) == CoachSettings(cycles=4)
    assert CoachSettings.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError, match="unknown setting.*: relax"):
        CoachSettings.from_dict({"relax": 12})
    with pytest.raises(ValueError, match="settings must be an object"):
        CoachSettings.from_dict([("cycles", 4)])


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CoachSettings().cycles = 5


# -------------------------------------------------------------------- screen
@pytest.mark.parametrize("sign", list(INJURY_SIGNS))
def test_any_injury_sign_stops_and_suggests_a_professional(sign):
    d = screen("calf", FOAM_ROLLER, 7, [sign])
    assert d.kind == "stop" and not d.go
    assert "physiotherapist or doctor" in d.reason and INJURY_SIGNS[sign] in d.reason
    assert d.signs == (sign,) and d.tool is None


def test_several_signs_are_all_named_and_stop_wins_over_the_it_band():
    d = screen("it band", FOAM_ROLLER, 7, {"sharp_pain", "swelling"})
    assert d.kind == "stop" and d.signs == ("swelling", "sharp_pain")
    assert "swelling and sharp or shooting pain" in d.reason


def test_no_signs_and_a_single_sign_string_are_accepted():
    assert screen("calf", FOAM_ROLLER, 7, ()).go
    assert screen("calf", FOAM_ROLLER, 7, "swelling").kind == "stop"


def test_unknown_sign_is_refused():
    with pytest.raises(ValueError, match="unknown injury sign.*bruise"):
        screen("calf", FOAM_ROLLER, 7, ["bruise"])


@pytest.mark.parametrize("name", ["IT band", "it-band", "it_band", "ITBand", "iliotibial band"])
def test_it_band_is_refused_and_redirected_to_glutes_and_tfl(name):
    d = screen(name, FOAM_ROLLER, 6)
    assert d.kind == "redirect" and d.regions == ("glutes", "tfl")
    assert "not a muscle" in d.reason and "glutes" in d.reason and "TFL" in d.reason
    assert d.region is None and d.tool is None


@pytest.mark.parametrize("region, good", [
    ("glutes", LACROSSE_BALL), ("shoulders", LACROSSE_BALL), ("upper back", LACROSSE_BALL),
    ("quads", FOAM_ROLLER), ("lats", FOAM_ROLLER)])
def test_tool_per_region(region, good):
    d = screen(region, good, 7)
    assert d.go and d.tool == good and d.tools == (good,)
    wrong = next(t for t in TOOLS if t != good)
    r = screen(region, wrong, 7)
    assert r.kind == "redirect" and r.tools == (good,) and r.regions == (r.region,)
    assert ("lacrosse ball" if good == LACROSSE_BALL else "foam roller") in r.reason


@pytest.mark.parametrize("region", ["calf", "hamstrings", "forearms"])
@pytest.mark.parametrize("tool", ["lacrosse ball", "Foam-Roller"])
def test_either_tool_for_calf_hamstrings_and_unlisted_regions(region, tool):
    d = screen(region, tool, 7)
    assert d.go and set(d.tools) == set(TOOLS)
    assert tools_for(region) == TOOLS


def test_region_and_tool_names_are_normalised():
    d = screen(" Upper Back ", "Lacrosse Ball", 8)
    assert (d.region, d.tool, d.pain_before) == ("upper-back", LACROSSE_BALL, 8.0)


@pytest.mark.parametrize("region, tool, match", [
    ("elbow", FOAM_ROLLER, "unknown body region"), ("calf", "tennis ball", "unknown tool")])
def test_unknown_region_or_tool_is_refused(region, tool, match):
    with pytest.raises(ValueError, match=match):
        screen(region, tool, 7)


@pytest.mark.parametrize("pain", [0, 0.0, 7.5, 10])
def test_pain_rating_from_0_to_10_is_recorded(pain):
    assert screen("calf", FOAM_ROLLER, pain).pain_before == float(pain)
    assert check_pain(pain) == float(pain)


@pytest.mark.parametrize("pain", [-0.1, 10.1, math.nan, math.inf, "7", None, True])
def test_pain_rating_outside_0_to_10_or_not_a_number_is_refused(pain):
    with pytest.raises(ValueError, match="pain rating before the session"):
        screen("calf", FOAM_ROLLER, pain)


def test_every_decision_carries_the_knot_or_injury_hint():
    for d in (screen("calf", FOAM_ROLLER, 7), screen("calf", FOAM_ROLLER, 7, ["swelling"]),
              screen("it band", FOAM_ROLLER, 7)):
        assert d.hint == KNOT_OR_INJURY and "worse" in d.hint
        assert d.to_dict()["hint"] == KNOT_OR_INJURY
