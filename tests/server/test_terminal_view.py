"""What `knotcoach run` prints from the device's messages."""

from __future__ import annotations

import io

from server.terminal_view import TerminalView, status_line


def frame(t_s, **kw):
    base = {"type": "frame", "t_s": t_s, "force_n": 200.0, "rating": 4.5, "x_mm": 120.0, "y_mm": 80.0,
            "warnings": [], "coach": {"step": "screen"}}
    return {**base, **kw}


def test_status_line_says_force_rating_position_step_timer_and_warnings():
    assert status_line(frame(1.0)) == "    1.00 s    200.0 N  4.5/10  at  120.0,  80.0 mm"
    reset = {"step": "reset", "cycle": {"phase": "contract", "seconds_left": 2.2, "n": 2, "of": 3}}
    assert status_line(frame(2.0, coach=reset, warnings=["on_knot"])).endswith(
        "reset contract 3 s (2/3)  on_knot")
    around = {"step": "around", "paused": True, "step_remaining_s": 41.6}
    assert status_line(frame(3.0, coach=around)).endswith("around (paused) 42 s left")
    assert "fault" in status_line(frame(4.0, force_n=None, rating=None, x_mm=None, y_mm=None))


def test_the_view_prints_warnings_cues_and_a_status_twice_a_second_of_samples():
    out = io.StringIO()
    view = TerminalView(out)
    for i in range(27):                                  # 1.04 s of frames at 25/s
        view.handle(frame(i * 0.04))
    view.handle({"type": "event", "kind": "warning", "t_s": 1.2, "event": "over_band", "edge": "start"})
    view.handle({"type": "event", "kind": "warning", "t_s": 1.9, "event": "sensor_fault", "edge": "end", "cell": 2})
    view.handle({"type": "event", "kind": "cue", "t_s": 2.0, "cue": "contract", "step": "reset"})
    view.handle({"type": "hello", "restarted": True})
    lines = out.getvalue().splitlines()
    assert len([l for l in lines if l.endswith(" mm")]) == 3       # at 0.0, 0.52 and 1.04 s
    assert lines[-4:] == ["    1.20 s  too hard: ease off", "    1.90 s  sensor fault on cell 2 - over",
                          "    2.00 s  [reset] contract now", "the device process restarted; following it again"]


def test_no_output_without_a_terminal():
    view = TerminalView(None)
    view.handle(frame(0.0))                              # nothing to write to, nothing breaks
