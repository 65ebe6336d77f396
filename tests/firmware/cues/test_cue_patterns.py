"""Cue patterns and the pure cue player: rhythms, priorities, LED states, time."""

from __future__ import annotations

import json

import pytest

from firmware.cues import patterns as patterns_module
from firmware.cues.patterns import (
    FAULT,
    IDLE,
    IN_BAND,
    LED_LOOKS,
    OVER,
    PATTERNS,
    Pattern,
    Priority,
    Step,
)
from firmware.cues.player import CuePlayer
from firmware.pipeline.rules import Event

DT = 0.001  # 1 ms sampling of the schedule


def times(t0: float, t1: float, dt: float = DT) -> list[float]:
    n = round((t1 - t0) / dt)
    return [round(t0 + i * dt, 6) for i in range(n + 1)]


def beeps_heard(player: CuePlayer, t0: float, t1: float, dt: float = DT) -> list[tuple[float, float, str]]:
    """(start_s, length_s, cue) of each buzzer-on stretch seen by sampling update()."""
    out: list[tuple[float, float, str]] = []
    start = None
    cue = None
    for t in times(t0, t1, dt):
        s = player.update(t)
        if s.buzzer_on and start is None:
            start, cue = t, s.cue
        elif not s.buzzer_on and start is not None:
            out.append((start, t - start, cue))
            start = None
    if start is not None:
        out.append((start, t1 - start, cue))
    return out


def expected_beeps(name: str, start_s: float) -> list[tuple[float, float]]:
    return [(start_s + b, length) for b, length in PATTERNS[name].beeps()]


def assert_beeps(heard, expected, tol: float = 2 * DT) -> None:
    assert len(heard) == len(expected), (heard, expected)
    for (hs, hl, *_), (es, el) in zip(heard, expected):
        assert hs == pytest.approx(es, abs=tol)
        assert hl == pytest.approx(el, abs=tol)


# --- the patterns ------------------------------------------------------------------

REQUIRED = ["ease_off", "move_off_knot", "contract", "relax", "step_done", "fault"]


def test_required_and_optional_patterns_exist_with_words():
    for name in REQUIRED + ["press_a_bit_more", "slow_down", "session_done"]:
        p = PATTERNS[name]
        assert p.name == name and p.meaning and p.rhythm


def test_rhythms_are_distinct_on_an_active_buzzer():
    signatures = {name: p.signature() for name, p in PATTERNS.items()}
    assert len(set(signatures.values())) == len(signatures), signatures


def test_each_rhythm_is_what_its_table_row_says():
    sig = {name: p.signature() for name, p in PATTERNS.items()}
    assert sig == {
        "fault": "L-L-L",
        "ease_off": "S-S-S",
        "move_off_knot": "S-L",
        "contract": "L-L",
        "relax": "L",
        "step_done": "S-S",
        "session_done": "S-S-L",
        "press_a_bit_more": "S",
        "slow_down": "S_S",
    }
    # ease off is rapid: short beeps with short gaps, all within 0.4 s
    assert PATTERNS["ease_off"].duration_s < 0.4


def test_relax_falls_and_session_done_rises_on_a_piezo():
    relax = [s.tone_hz for s in PATTERNS["relax"].steps if s.on]
    assert relax == sorted(relax, reverse=True) and len(set(relax)) > 1
    done = [s.tone_hz for s in PATTERNS["session_done"].steps if s.on]
    assert done == sorted(done) and len(set(done)) > 1


def test_patterns_are_short_and_fit_a_tonal_buzzer():
    for p in PATTERNS.values():
        assert 0 < p.duration_s <= 1.5
        for s in p.steps:
            if s.on:
                assert 440.0 <= s.tone_hz <= 1760.0  # TonalBuzzer, mid A5, one octave


def test_priorities_and_repeats():
    assert PATTERNS["fault"].priority == Priority.FAULT
    assert PATTERNS["ease_off"].priority == PATTERNS["move_off_knot"].priority == Priority.WARNING
    for name in ("contract", "relax", "step_done", "session_done"):
        assert PATTERNS[name].priority == Priority.STEP
        assert PATTERNS[name].repeat_after_s is None
    for name in ("press_a_bit_more", "slow_down"):
        assert PATTERNS[name].priority == Priority.HINT
    for name in ("fault", "ease_off", "move_off_knot"):
        assert PATTERNS[name].repeat_after_s > 0


def test_docstring_table_lists_every_pattern_and_led_state():
    doc = patterns_module.__doc__
    for name in PATTERNS:
        assert f"| ``{name}`` |" in doc
    for state in LED_LOOKS:
        assert f"| ``{state}`` |" in doc


def test_step_at_and_beeps_merge_adjacent_tones():
    relax = PATTERNS["relax"]
    assert relax.beeps() == [(0.0, pytest.approx(1.0))]
    assert relax.step_at(-0.01) is None and relax.step_at(relax.duration_s) is None
    assert relax.step_at(0.0).tone_hz == 659.0
    assert relax.step_at(0.95).tone_hz == 440.0


def test_steps_and_patterns_are_checked():
    with pytest.raises(ValueError):
        Step(0.0, True)
    with pytest.raises(ValueError):
        Step(float("nan"), True)
    with pytest.raises(ValueError):
        Step(0.1, False, 440.0)
    with pytest.raises(ValueError):
        Pattern("x", Priority.HINT, (Step(0.1, False),), "m", "r")
    with pytest.raises(ValueError):
        Pattern("x", Priority.HINT, (), "m", "r")


def test_led_looks():
    assert LED_LOOKS[IN_BAND].colour == "green" and LED_LOOKS[IN_BAND].period_s is None
    assert all(LED_LOOKS[IN_BAND].lit_at(t) for t in (0, 0.3, 7.1))
    over, fault, idle = LED_LOOKS[OVER], LED_LOOKS[FAULT], LED_LOOKS[IDLE]
    assert over.colour == "red" and over.blink_hz == 2.0
    assert fault.colour == "amber" and fault.blink_hz == 5.0 > over.blink_hz
    assert over.lit_at(0.0) and not over.lit_at(0.3) and over.lit_at(0.5)
    assert fault.lit_at(0.05) and not fault.lit_at(0.15)
    # idle: a short heartbeat flash, dark most of the time
    lit = [idle.lit_at(t) for t in times(0, 2.0 - DT)]
    assert 0 < sum(lit) / len(lit) <= 0.1 and lit[0]


# --- the player: one pattern --------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_a_played_pattern_sounds_exactly_its_rhythm(name):
    player = CuePlayer()
    player.update(0.0)
    assert player.play(name, 1.0)
    heard = beeps_heard(player, 1.0, 4.0)
    assert_beeps(heard, expected_beeps(name, 1.0))
    assert {cue for *_, cue in heard} == {name}
    assert player.update(4.0).cue is None


def test_the_sound_does_not_depend_on_the_tick_rate():
    def run(dt):
        p = CuePlayer()
        p.play("contract", 0.0)
        out = {}
        for t in times(0.0, 6.0, dt):
            out[round(t, 3)] = p.update(t)
            if round(t, 3) == 0.6:
                p.hold("fault", 0.6)
            if round(t, 3) == 3.0:
                p.release("fault", 3.0)
        return out

    fine, coarse = run(0.001), run(0.05)
    for t, state in coarse.items():
        assert fine[t].buzzer_on == state.buzzer_on, t
        assert fine[t].cue == state.cue, t


def test_cue_state_mirror_is_json():
    player = CuePlayer()
    player.set_led(IN_BAND, 0.0)
    player.play("relax", 0.0)
    d = player.update(0.1).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["cue"] == "relax" and d["buzzer_on"] and d["tone_hz"] == 659.0
    assert d["led"] == {"state": "in_band", "colour": "green", "blink_hz": 0.0, "on": True, "level": 1.0}


# --- priorities, interruption, gaps ------------------------------------------------

def test_two_step_cues_queue_with_the_minimum_gap():
    player = CuePlayer(min_gap_s=0.25)
    player.play("step_done", 0.0)
    assert player.update(0.05).buzzer_on
    player.play("contract", 0.1)
    heard = beeps_heard(player, 0.1, 3.0)
    second = PATTERNS["step_done"].duration_s + 0.25
    assert_beeps(heard, expected_beeps("step_done", 0.0)[1:] + expected_beeps("contract", second))


def test_fault_interrupts_a_step_cue_which_plays_again_afterwards():
    player = CuePlayer(min_gap_s=0.25, stale_step_s=3.0)
    player.play("contract", 0.0)
    player.update(0.2)
    player.hold("fault", 0.2)  # contract's first beep is cut at 0.2
    heard = beeps_heard(player, 0.2, 4.0)
    fault_start = 0.2 + 0.25
    contract_again = fault_start + PATTERNS["fault"].duration_s + 0.25
    assert_beeps(heard, expected_beeps("fault", fault_start) + expected_beeps("contract", contract_again))
    assert [c for *_, c in heard] == ["fault"] * 3 + ["contract"] * 2
    # silent during the gap after the cut
    assert not player.update(4.0).buzzer_on


def test_a_step_cue_cut_by_a_fault_is_dropped_when_it_would_come_too_late():
    player = CuePlayer(min_gap_s=0.25, stale_step_s=2.0)
    player.play("contract", 0.0)
    player.hold("fault", 0.2)  # the fault ends at 1.95; contract could start at 2.2
    heard = beeps_heard(player, 0.2, 6.0)
    assert {c for *_, c in heard} == {"fault"}


def test_interrupting_in_a_pause_of_the_pattern_needs_no_extra_wait():
    player = CuePlayer(min_gap_s=0.1)
    player.play("slow_down", 0.0)  # di (0.08) ..... 0.6 s silence ..... di
    player.update(0.5)
    player.hold("ease_off", 0.5)  # silent since 0.08: starts at once
    assert player.update(0.5).cue == "ease_off" and player.update(0.5).buzzer_on


def test_lower_or_equal_priority_does_not_interrupt():
    player = CuePlayer(min_gap_s=0.25, stale_step_s=3.0)
    player.hold("fault", 0.0)
    assert player.play("contract", 0.1)
    player.hold("ease_off", 0.2)
    assert player.update(1.4).cue == "fault"
    # after the fault: ease_off (warning) before contract (step), then contract
    heard = beeps_heard(player, 1.5, 3.7)
    assert [c for *_, c in heard][:3] == ["ease_off"] * 3
    ease_end = 1.5 + 0.25 + PATTERNS["ease_off"].duration_s
    assert_beeps(heard[3:], expected_beeps("contract", ease_end + 0.25))


def test_a_held_warning_is_not_restarted_and_repeats_while_held():
    player = CuePlayer(min_gap_s=0.25)
    player.hold("ease_off", 0.0)
    player.update(0.1)
    player.hold("ease_off", 0.1)  # a repeat of the running warning
    assert not player.play("ease_off", 0.12)
    ease = PATTERNS["ease_off"]
    period = ease.duration_s + ease.repeat_after_s
    heard = beeps_heard(player, 0.1, 2 * period + 0.5)
    expected = [b for b in expected_beeps("ease_off", 0.0) if b[0] >= 0.1]
    expected += expected_beeps("ease_off", period) + expected_beeps("ease_off", 2 * period)
    # the beep that was sounding at 0.1 is seen from 0.1 on
    heard = [h for h in heard if h[0] > 0.1 + DT]
    assert_beeps(heard, expected)


def test_release_lets_the_pattern_finish_and_stops_repeats():
    player = CuePlayer()
    player.hold("move_off_knot", 0.0)
    player.update(0.15)
    player.release("move_off_knot", 0.15)  # in the pause between di and daah
    heard = beeps_heard(player, 0.15, 6.0)
    assert_beeps(heard, expected_beeps("move_off_knot", 0.0)[1:])
    assert player.held == ()


def test_a_one_shot_warning_becomes_held_without_restarting():
    player = CuePlayer()
    player.play("ease_off", 0.0)
    player.update(0.1)
    player.hold("ease_off", 0.1)
    ease = PATTERNS["ease_off"]
    assert beeps_heard(player, 0.2, ease.duration_s + ease.repeat_after_s + 0.01)[-1][0] == pytest.approx(
        ease.duration_s + ease.repeat_after_s, abs=2 * DT)


def test_hints_are_dropped_while_a_warning_is_held_or_when_stale():
    player = CuePlayer(stale_hint_s=0.5)
    player.hold("ease_off", 0.0)
    assert not player.play("press_a_bit_more", 0.1)
    player.release("ease_off", 0.2)
    player.update(0.3)
    player.play("contract", 0.4)  # 1.25 s long
    assert player.play("slow_down", 0.5)  # waits, but would start after 1.6 s: stale
    heard = beeps_heard(player, 0.5, 4.0)
    assert {c for *_, c in heard} == {"contract"}


def test_a_stale_step_cue_is_dropped():
    player = CuePlayer(min_gap_s=0.25, stale_step_s=0.5)
    player.hold("fault", 0.0)
    player.play("relax", 0.1)  # could start only at 1.75 s
    heard = beeps_heard(player, 0.0, 3.9)
    assert {c for *_, c in heard} == {"fault"}


def test_a_hint_is_cut_by_a_step_cue_and_not_replayed():
    player = CuePlayer(min_gap_s=0.0)
    player.play("slow_down", 0.0)
    player.update(0.3)
    player.play("contract", 0.3)
    heard = beeps_heard(player, 0.3, 4.0)
    assert {c for *_, c in heard} == {"contract"}


def test_the_same_one_shot_is_not_queued_twice():
    player = CuePlayer()
    player.play("relax", 0.0)
    assert not player.play("relax", 0.5)
    player.play("contract", 0.6)
    assert not player.play("contract", 0.7)
    heard = beeps_heard(player, 0.0, 4.0)
    assert [c for *_, c in heard] == ["relax", "contract", "contract"]


def test_fault_held_per_cell():
    player = CuePlayer()
    player.apply_event(Event(1.0, "sensor_fault", "start", {"cell": 0}))
    player.apply_event({"t_s": 1.1, "event": "sensor_fault", "edge": "start", "cell": 2})
    player.apply_event(Event(1.2, "sensor_fault", "end", {"cell": 0}))
    assert player.held == ("fault",)
    assert player.update(1.3).led_state == FAULT
    player.apply_event(Event(1.4, "sensor_fault", "end", {"cell": 2}))
    assert player.held == ()
    player.apply_event(Event(1.5, "something_else", "start"))
    with pytest.raises(ValueError):
        player.apply_event(Event(1.5, "over_band", "middle"))


def test_rule_events_hold_their_warnings():
    player = CuePlayer()
    player.apply_event(Event(0.0, "over_band", "start"))
    player.apply_event(Event(0.0, "on_knot", "start"))
    state = player.update(0.01)
    assert state.cue == "ease_off" and state.held == ("ease_off", "move_off_knot")
    player.apply_event(Event(0.5, "over_band", "end").to_dict())
    assert player.held == ("move_off_knot",)


def test_stop_all_silences_everything():
    player = CuePlayer()
    player.hold("fault", 0.0)
    player.play("contract", 0.1)
    player.stop_all(0.2)
    assert player.held == ()
    assert beeps_heard(player, 0.2, 5.0) == []


# --- LED ----------------------------------------------------------------------------

def test_led_follows_the_set_state_and_held_warnings_override_it():
    player = CuePlayer()
    assert player.update(0.0).led_state == IDLE
    player.set_led(IN_BAND, 1.0)
    s = player.update(1.3)
    assert (s.led_state, s.led_colour, s.led_on, s.led_level) == (IN_BAND, "green", True, 1.0)
    player.hold("ease_off", 2.0)
    # red, blinking twice a second, lit from the moment it began
    lit = [player.update(t).led_on for t in (2.0, 2.1, 2.26, 2.4, 2.5, 2.76)]
    assert lit == [True, True, False, False, True, False]
    assert player.update(2.8).led_colour == "red"
    player.hold("fault", 3.0)
    s = player.update(3.05)
    assert (s.led_state, s.led_colour, s.led_on, s.led_blink_hz) == (FAULT, "amber", True, 5.0)
    assert not player.update(3.15).led_on
    player.release("fault", 4.0)
    assert player.update(4.0).led_state == OVER
    player.release("ease_off", 4.5)
    assert player.update(4.5).led_state == IN_BAND
    player.set_led(OVER, 5.0)
    assert player.update(5.0).led_state == OVER


def test_idle_led_level_is_dim():
    player = CuePlayer()
    s = player.update(0.0)
    assert s.led_on and 0 < s.led_level < 0.5 and s.led_colour == "blue"


# --- input checks and time --------------------------------------------------------------

def test_bad_input_is_refused():
    player = CuePlayer()
    with pytest.raises(ValueError, match="unknown cue"):
        player.play("louder", 0.0)
    with pytest.raises(ValueError, match="unknown cue"):
        player.hold("louder", 0.0)
    with pytest.raises(ValueError, match="LED state"):
        player.set_led("purple", 0.0)
    with pytest.raises(ValueError, match="finite"):
        player.update(float("nan"))
    with pytest.raises(ValueError):
        CuePlayer(min_gap_s=-1)


def test_a_late_request_counts_as_now():
    player = CuePlayer()
    player.update(5.0)
    player.play("contract", 4.9)  # from a block of samples that ended at 4.9
    s = player.update(5.0)
    assert s.t_s == 5.0 and s.cue == "contract" and s.buzzer_on
    assert player.update(4.0).t_s == 5.0  # time never runs backwards


def test_reset():
    player = CuePlayer()
    player.hold("fault", 0.0)
    player.reset()
    s = player.update(0.0)
    assert s.cue is None and s.led_state == IDLE and player.held == ()
