"""The coach in the terminal: what ``knotcoach run`` prints while it runs.

It follows the device's channel messages (the same the tablet gets): each
warning as it starts and ends, each cue (contract, relax, step done …), and
a status line twice a second of samples — force, the 0-10 reading, position,
step, timer and the warnings that are on. On a terminal the status line
rewrites itself; into a file or pipe every line stays.
"""

from __future__ import annotations

import math
from typing import Any, TextIO

from firmware.device.live import describe_warning

#: Words for the coach's cues, as the terminal shows them.
CUE_TEXT = {
    "contract": "contract now", "relax": "relax", "place": "move next to the knot", "step_start": "step begins",
    "step_done": "step done", "session_done": "session done", "ease_off": "ease off",
    "press_a_bit_more": "a little more pressure", "move_off_knot": "move off the knot",
    "slow_down": "slower strokes", "keep_moving": "keep moving", "fault": "sensor fault",
    "time_cap": "that is enough for today",
}


class TerminalView:
    """Feed it every channel message (``handle``); it writes to ``out``."""

    def __init__(self, out: TextIO | None, status_every_s: float = 0.5) -> None:
        self.out = out
        self.tty = bool(out is not None and getattr(out, "isatty", lambda: False)())
        self.status_every_s = status_every_s
        self._t_status = -math.inf

    def handle(self, message: dict[str, Any]) -> None:
        if self.out is None:
            return
        kind = message.get("type")
        if kind == "frame":
            self._frame(message)
        elif kind == "event" and message.get("kind") == "warning":
            self._line(describe_warning(float(message.get("t_s") or 0.0), str(message.get("event")),
                                        str(message.get("edge")), message.get("cell")))
        elif kind == "event" and message.get("kind") == "cue":
            name = str(message.get("cue"))
            self._line(f"{float(message.get('t_s') or 0.0):8.2f} s  [{message.get('step')}] "
                       f"{CUE_TEXT.get(name, name.replace('_', ' '))}")
        elif kind == "hello" and message.get("restarted"):
            self._line("the device process restarted; following it again")

    def _frame(self, frame: dict[str, Any]) -> None:
        t_s = frame.get("t_s")
        if t_s is None or t_s - self._t_status < self.status_every_s:
            return
        self._t_status = t_s
        line = status_line(frame)
        self.out.write(f"\r{line:<78}" if self.tty else line + "\n")
        self.out.flush()

    def _line(self, text: str) -> None:
        self.out.write(("\r" if self.tty else "") + text + "\n")
        self.out.flush()


def status_line(frame: dict[str, Any]) -> str:
    """One line: time, force (and the 0-10 reading), position, step and timer, warnings."""
    force, rating = frame.get("force_n"), frame.get("rating")
    text = f"{frame['t_s']:8.2f} s  " + ("fault    " if force is None else f"{force:7.1f} N")
    if force is not None and rating is not None:
        text += f" {rating:4.1f}/10"
    if frame.get("x_mm") is not None and frame.get("y_mm") is not None:
        text += f"  at {frame['x_mm']:6.1f},{frame['y_mm']:6.1f} mm"
    coach = frame.get("coach") or {}
    step = coach.get("step")
    if step and step not in ("screen", "ready"):  # no session under way: nothing to add
        text += f"  {step}{' (paused)' if coach.get('paused') else ''}"
        cycle = coach.get("cycle")
        if cycle:
            text += f" {cycle['phase']} {math.ceil(cycle['seconds_left'])} s ({cycle['n']}/{cycle['of']})"
        elif coach.get("step_remaining_s") is not None:
            text += f" {coach['step_remaining_s']:.0f} s left"
    warnings = frame.get("warnings") or []
    return text + (f"  {' '.join(warnings)}" if warnings else "")
