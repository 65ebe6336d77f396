"""The device process's loop: samples in, coaching out, with or without a tablet.

Each pass reads what the source has (the HX711 boards, the simulator or a
replay), runs the filter loop and rules on it, feeds the coach one frame,
turns warnings and coach cues into buzzer and LED patterns, and about 25
times a second sends a frame to whoever listens on the channel. Commands come
from the channel (the web process) and from the buttons; each gets a reply.
The loop never waits for a listener, so coaching goes on with no tablet and
while the web process restarts. Time is the source's own sample time, so the
whole loop runs in simulated time in tests.
"""

from __future__ import annotations

import math
import uuid
from typing import Any, Callable

from firmware.coach.protocol import Coach
from firmware.coach.records import CoachError
from firmware.live import FRAME_S, FrameBatcher
from firmware.monitor import Monitor, WatchSettings
from firmware.sources.base import Source

#: Names (person, region, tool) travel in every frame: keep them short.
MAX_NAME_CHARS = 64


class DeviceLoop:
    """Source → filter loop and rules → coach → cues; frames and events to the channel."""

    def __init__(self, source: Source, watch: WatchSettings, *, coach: Coach | None = None, scale=None,
                 cues=None, channel=None, boot_id: str | None = None, data_dir=None,
                 announce: Callable[[str], None] = print) -> None:
        self.source, self.watch = source, watch
        self.monitor = Monitor(source.platform, watch)
        self.coach = coach or Coach()
        # A person's IntensityScale (force -> 0-10); without one, the band in newtons
        # stands for 4/10 to 5/10 so the coach can still count time in band.
        self.scale = scale if scale is not None else band_scale(watch)
        self.cues, self.channel = cues, channel
        self.boot_id = boot_id or uuid.uuid4().hex
        self.data_dir = data_dir          # where people's scales are stored
        self.announce = announce
        self.latest: dict[str, Any] = {"t_s": None, "force_n": None, "rating": None, "x_mm": None,
                                       "y_mm": None, "warnings": [], "faults": []}
        self._batcher = FrameBatcher(rate_hz=source.platform.rate_hz)
        self._polled = getattr(source, "poll_interval_s", 0.0) > 0
        self._t_sent = -math.inf
        self.frames_sent = 0

    # ------------------------------------------------------------------ running
    def step(self) -> bool:
        """One pass; False once the source has nothing more to give."""
        block = self.source.read() if self._polled else self._batcher.add(self.source.read())
        if block is not None and len(block):
            self._process(block)
        self._commands()
        return not self.source.finished

    def hello(self) -> dict[str, Any]:
        return {"boot_id": self.boot_id, "state": self.state()}

    def state(self) -> dict[str, Any]:
        """The full picture: the latest measurement, the coach and the cues."""
        cue = self.cues.player.update(self.latest["t_s"] or 0.0).to_dict() if self.cues else None
        return {**self.latest, "coach": _plain(self.coach.snapshot().to_dict()), "cue": cue}

    def use_profile(self, person, region) -> list[float] | None:
        """Coach on this person's own scale for the region, if they have one stored."""
        if self.data_dir is None:
            return None
        from calibration.profiles import ProfileError, ProfileStore
        try:
            profile = ProfileStore(self.data_dir).load(person, region)
        except ProfileError as e:
            self.announce(f"cannot use the stored scale: {e}")
            return None
        if profile is None:
            return None
        self.scale = profile.scale
        lo_n, hi_n = profile.band_n()
        for event in self.monitor.set_band(lo_n, hi_n):
            self._emit({"type": "event", "kind": "warning", **event.to_dict()})
        return [lo_n, hi_n]

    # --------------------------------------------------------------- internals
    def _process(self, block) -> None:
        out, events = self.monitor.process(block)
        t_s = float(out.t_s[-1])
        force, x, y = (_number(v[-1]) for v in (out.force_n, out.x_mm, out.y_mm))
        rating = None if force is None or self.scale is None else float(self.scale.rating(force))
        warnings = self.monitor.active_warnings()
        self.latest = {"t_s": t_s, "force_n": force, "rating": rating, "x_mm": x, "y_mm": y,
                       "warnings": warnings, "faults": out.fault[-1].nonzero()[0].tolist()}
        cues = self.coach.update(t_s, (force, rating, x, y, frozenset(warnings)))
        for event in events:
            self._emit({"type": "event", "kind": "warning", **event.to_dict()})
        self._play(cues, t_s)
        if self.cues:
            for event in events:
                self.cues.player.apply_event(event)
            self.cues.tick(t_s)
        if t_s - self._t_sent >= FRAME_S - 0.5 / self.source.platform.rate_hz:
            self._t_sent = t_s
            self.frames_sent += 1
            self._emit({"type": "frame", **self.state()})

    def _play(self, cues, t_s: float) -> None:
        for cue in cues:
            self._emit({"type": "event", "kind": "cue", **cue.to_dict()})
            if self.cues and cue.name in self.cues.player.patterns:
                self.cues.player.play(cue.name, t_s)

    def _emit(self, message: dict[str, Any]) -> None:
        if self.channel is not None:
            self.channel.broadcast(message)

    def _commands(self) -> None:
        pending = []
        if self.channel is not None:
            pending += self.channel.poll(0)
        if self.cues is not None:
            pending += [(None, {"name": name, "args": {}}) for name in self.cues.poll()]
        for client, command in pending:
            args = command.get("args") or {}
            if isinstance(args, dict):
                reply = self.command(command.get("name"), **{k: v for k, v in args.items() if k != "name"})
            else:
                reply = {"ok": False, "error": "a command's args must be an object"}
            request_id = command.get("id")
            if not isinstance(request_id, int) or isinstance(request_id, bool):
                request_id = None  # ids are numbers; anything else is not echoed back
            if client is not None:
                self.channel.send(client, {"type": "reply", "id": request_id, **reply})

    def command(self, name: str | None, **args) -> dict[str, Any]:
        """Carry out one command now; ``{"ok": True, ...}`` or ``{"ok": False, "error": ...}``.
        A command never stops the device: anything unexpected is a refused command."""
        t_s = self.latest["t_s"] or 0.0
        try:
            return {"ok": True, **_run_command(self, name, t_s, args)}
        except (CoachError, ValueError, TypeError) as e:
            return {"ok": False, "error": (str(e).splitlines() or [type(e).__name__])[0][:200]}
        except Exception as e:  # a bug must not end the coaching: refuse, say so, go on
            self.announce(f"command {str(name)[:40]!r} failed: {type(e).__name__}: {e}")
            return {"ok": False, "error": f"the device could not do that ({type(e).__name__})"}


def band_scale(watch: WatchSettings):
    """A 0-10 scale through the newton band's edges (4/10 and 5/10); None if it cannot fit."""
    from calibration.intensity import IntensityScale, Mark, ScaleError
    try:
        return IntensityScale.fit([Mark(watch.band_lo_n, 4.0), Mark(watch.band_hi_n, 5.0)])
    except ScaleError:
        return None


def _run_command(loop: DeviceLoop, name, t_s: float, args: dict) -> dict[str, Any]:
    coach = loop.coach
    if name == "mark_or_next":  # the device button: mark while finding, else go on
        name = "mark_knot" if coach.step == "find" and coach.knot is None else "next"
    if name == "start":
        signs = args.get("signs") or ()
        if not isinstance(signs, (list, tuple)) or not all(isinstance(x, str) for x in signs):
            raise ValueError("signs is a list of words such as 'swelling'")
        for key in ("person", "region", "tool"):
            if not isinstance(args.get(key), str) or len(args[key]) > MAX_NAME_CHARS:
                raise ValueError(f"{key} must be a name of at most {MAX_NAME_CHARS} characters")
        decision = coach.start(t_s, args["person"], args["region"], args["tool"], args.get("pain_before"), signs)
        band = loop.use_profile(args.get("person"), args.get("region")) if decision.go else None
        return {"decision": _plain(decision.to_dict()), "band_n": band}
    if name == "mark_knot":
        point = coach.mark_knot(t_s)
        return {"knot": list(point)}
    if name in ("next", "pause", "resume"):
        loop._play(getattr(coach, name)(t_s), t_s)
        return {}
    if name in ("stop", "rate"):
        summary = coach.stop(t_s) if name == "stop" else coach.rate(t_s, args.get("pain_after"))
        return {"summary": _plain(summary.to_dict())}
    if name == "steer":
        steer = getattr(loop.source, "steer", None)
        if steer is None:
            raise ValueError("only the simulated platform can be steered")
        kwargs = args.get("kwargs") or {}
        if not isinstance(args.get("command"), str) or not isinstance(kwargs, dict) or "command" in kwargs:
            raise ValueError("steer wants a command name and an object of arguments")
        steer(args["command"], **kwargs)
        return {}
    if name == "state":
        return {"state": loop.state()}
    raise ValueError(f"unknown command {name!r}")


def _number(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _plain(value):
    """Tuples to lists and NaN to None, so a state is JSON as it stands."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
