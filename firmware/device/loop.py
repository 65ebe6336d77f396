"""The device process's loop: samples in, coaching out, with or without a tablet.

Each pass reads what the source has (the HX711 boards, the simulator or a
replay) and takes every row on its own, as it arrived: the filter loop and
rules, the coach, and the warnings and coach cues turned into buzzer and LED
patterns, so a warning sounds on the sample that crossed the line. About 25
times a second a frame with the latest values goes to whoever listens on the
channel. Commands come
from the channel (the web process) and from the buttons; each gets a reply.
The loop never waits for a listener, so coaching goes on with no tablet and
while the web process restarts. Time is the source's own sample time, so the
whole loop runs in simulated time in tests.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import uuid
from typing import Any, Callable

from firmware.device.capture import Capture, CaptureError
from firmware.coach.protocol import Coach
from firmware.coach.records import CoachError
from firmware.block import Block
from firmware.device.live import FRAME_S
from firmware.pipeline.monitor import Monitor, WatchSettings
from firmware.sources.base import Source

#: Names (person, region, tool) travel in every frame: keep them short.
MAX_NAME_CHARS = 64


class DeviceLoop:
    """Source → filter loop and rules → coach → cues; frames and events to the channel."""

    def __init__(self, source: Source, watch: WatchSettings, *, coach: Coach | None = None, scale=None,
                 cues=None, channel=None, boot_id: str | None = None, data_dir=None,
                 announce: Callable[[str], None] = print, recordings_dir=None) -> None:
        self.source, self.watch = source, watch
        self.monitor = Monitor(source.platform, watch)
        self.coach = coach or Coach()
        # A person's IntensityScale (force -> 0-10); without one, the band in newtons
        # stands for 4/10 to 5/10 so the coach can still count time in band.
        self.scale = scale if scale is not None else band_scale(watch)
        self.cues, self.channel = cues, channel
        self.boot_id = boot_id or uuid.uuid4().hex
        self.data_dir = data_dir          # where people's scales and the platform calibration are stored
        self.announce = announce
        self.latest: dict[str, Any] = {"t_s": None, "force_n": None, "rating": None, "x_mm": None,
                                       "y_mm": None, "warnings": [], "faults": []}
        self._t_sent = -math.inf
        self.frames_sent = 0
        self.capture: Capture | None = None   # the calibration capture in progress or last done
        self._capture_ids = itertools.count(1)
        self._platform_changed = False         # the next frame carries the new platform
        # Each coached session's raw rows go to recordings_dir (None: not kept).
        self.recordings = None
        if recordings_dir is not None:
            from firmware.recordings.session import SessionRecordings
            self.recordings = SessionRecordings(recordings_dir, announce)
        self._recorded = None                  # the coach's session being recorded
        self._rec: list = []                   # rows read but not yet handed to the recordings
        self._rec_force_n = None               # the live force just before the first of them
        if data_dir is not None and source.kind == "simulated":
            self._apply_stored_platform(announce_refusal=False)

    # ------------------------------------------------------------------ running
    def step(self) -> bool:
        """One pass; False once the source has nothing more to give."""
        block = self.source.read()
        if len(block):
            if self.capture is not None and not self.capture.done:  # only while capturing
                self._capture_add(block)
            if self.recordings is not None:  # a session's rows, or the pre-roll before one
                self._record(block)
            self._process(block)
        self._commands()
        return not self.source.finished

    def finish(self) -> None:
        """At the end of the samples (a replay ran out, --seconds passed): the rows of an
        warning still on is closed at the last sample, as ``knotcoach analyze`` closes
        them, so each start has its end."""
        self._follow_session(stopping=True)
        for event in self.monitor.finish():
            self._emit({"type": "event", "kind": "warning", **event.to_dict()})

    def hello(self) -> dict[str, Any]:
        return {"boot_id": self.boot_id, "state": {**self.state(), **self.platform_state()}}

    def platform_state(self) -> dict[str, Any]:
        """What the tablet needs to draw the platform and run its calibration wizard."""
        source = {"kind": self.source.kind}
        if self.source.kind == "simulated":
            source["seed"] = getattr(self.source, "seed", None)
        return {"platform": platform_info(self.monitor.platform), "source": source}

    def state(self) -> dict[str, Any]:
        """The full picture: the latest measurement, the coach and the cues."""
        cue = self.cues.player.update(self.latest["t_s"] or 0.0).to_dict() if self.cues else None
        hardware = self.cues is not None and getattr(self.cues, "reason", None) is None
        recording = self.recordings.current if self.recordings is not None else None
        return {**self.latest, "coach": _plain(self.coach.snapshot()), "cue": cue,
                "cues": {"hardware": hardware},  # False: no buzzer here, the tablet sounds the cues
                "recording": recording}          # the session's recording being written (data-dir relative)

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

    # ------------------------------------------------------------- calibration
    def start_capture(self, seconds, settle_s=0.0) -> dict[str, Any]:
        """Collect the raw counts of the next ``seconds`` of samples (after ``settle_s``)."""
        from firmware.device.capture import MAX_SECONDS, MAX_SETTLE_S, MIN_SECONDS, check_seconds
        seconds = check_seconds(seconds, "seconds", MIN_SECONDS, MAX_SECONDS)
        settle_s = check_seconds(settle_s, "settle_s", 0.0, MAX_SETTLE_S)
        if self.capture is not None and not self.capture.done:
            raise CaptureError(f"capture {self.capture.capture_id} is still running "
                               f"({self.capture.seconds_left:.1f} s left): one at a time")
        self.capture = Capture(next(self._capture_ids), seconds, settle_s, self.latest["t_s"],
                               self.source.platform.rate_hz)
        return {"capture_id": self.capture.capture_id, "seconds_left": self.capture.seconds_left}

    def capture_result(self, capture_id, rows: bool = False) -> dict[str, Any]:
        """Progress of a capture (seconds left, statistics so far) or its result once done."""
        capture = self.capture
        if capture is None or capture_id != capture.capture_id or isinstance(capture_id, bool):
            raise CaptureError(f"no capture {capture_id!r} here (only the latest is kept)")
        return capture.to_dict(self.source.n_cells, with_rows=bool(rows) and capture.done)

    def cancel_capture(self) -> dict[str, Any]:
        """Drop a capture in progress (a wizard was abandoned)."""
        running = self.capture is not None and not self.capture.done
        if running:
            self.capture = None
        return {"cancelled": running}

    def _capture_add(self, block) -> None:
        if self.capture.add(block):
            self._emit({"type": "event", "kind": "capture", "capture_id": self.capture.capture_id,
                        "t_s": self.capture.t_last_s, "stats": self.capture.stats(self.source.n_cells)})

    def reload_platform(self) -> dict[str, Any]:
        """Use the platform calibration stored in the data directory from now on."""
        if self.data_dir is None:
            raise ValueError("this device has no data directory to read a calibration from")
        if self.source.kind == "replay":
            raise ValueError("a recording is read with the calibration it was recorded with")
        return self._apply_stored_platform(announce_refusal=True)

    def _apply_stored_platform(self, announce_refusal: bool) -> dict[str, Any]:
        from calibration.files import StoreError
        from calibration.platform_store import load_all
        try:
            current, _ = load_all(self.data_dir)
        except StoreError as e:
            if announce_refusal:
                raise ValueError(str(e)) from None
            self.announce(f"stored platform calibration not used: {e}")
            return {"applied": False, "reason": str(e)}
        reason = _unusable(current, self.source)
        if reason is not None:
            if announce_refusal and current is None:
                raise ValueError(reason)
            return {"applied": False, "reason": reason, "platform": platform_info(self.monitor.platform)}
        p = current.platform
        platform = type(p)(p.cells, p.rate_hz, extra={**p.extra, "calibrated_at": current.calibrated_at})
        for event in self.monitor.finish():  # warnings on now end with the old calibration
            self._emit({"type": "event", "kind": "warning", **event.to_dict()})
        self.source.platform = platform
        self.monitor = Monitor(platform, self.monitor.watch)
        self._platform_changed = True
        info = platform_info(platform)
        self._emit({"type": "event", "kind": "platform", "platform": info})
        return {"applied": True, "platform": info}

    # --------------------------------------------------------------- internals
    def _process(self, block) -> None:
        """Each row through the filter loop, rules, coach and cues on its own, as it
        arrived: a warning and its buzzer act on the very sample that crossed the
        line. Frames to the tablet still go about every ``FRAME_S``."""
        for i in range(len(block)):
            self._process_row(block.slice(i, i + 1))

    def _process_row(self, block) -> None:
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
            frame = self.state()
            if self._platform_changed:  # once, so the link's merged state has the new platform
                self._platform_changed = False
                frame.update(self.platform_state())
            self._emit({"type": "frame", **frame})

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
            reply = {"ok": True, **_run_command(self, name, t_s, args)}
        except (CoachError, ValueError, TypeError) as e:
            return {"ok": False, "error": (str(e).splitlines() or [type(e).__name__])[0][:200]}
        except Exception as e:  # a bug must not end the coaching: refuse, say so, go on
            self.announce(f"command {str(name)[:40]!r} failed: {type(e).__name__}: {e}")
            return {"ok": False, "error": f"the device could not do that ({type(e).__name__})"}
        self._follow_session()
        return reply

    def _record(self, block) -> None:
        """Hand the recordings a frame's rows at a time: a block per row (the paced boards)
        would make a long pre-roll hold tens of thousands of tiny blocks (18 MB, not 6)."""
        if not self._rec:
            self._rec_force_n = self.latest["force_n"]
        self._rec.append(block)
        if block.t_s[-1] - self._rec[0].t_s[0] >= FRAME_S - 0.5 / self.source.platform.rate_hz:
            self._flush_record()

    def _flush_record(self) -> None:
        if self._rec:
            rows = self._rec[0] if len(self._rec) == 1 else Block.concat(self._rec)
            self._rec = []
            self.recordings.add(rows, self._rec_force_n)

    def _follow_session(self, stopping: bool = False) -> None:
        """Record the coach's session: a recording opens when a session starts and is finished
        (a ``recording`` event) when it ends, or when the device stops."""
        if self.recordings is None:
            return
        self._flush_record()  # every row read so far belongs before this change
        session = self.coach.session if self.coach.step not in ("screen", "done") and not stopping else None
        if session is self._recorded:
            return
        if self._recorded is not None:
            done = self.recordings.finish()
            if done is not None:
                self._emit({"type": "event", "kind": "recording", **done, "t_s": self.latest["t_s"]})
        self._recorded = session
        if session is not None:
            from firmware.recordings.session import live_zero_platform
            meta = {"tool": session.tool, "pain_before": session.pain_before, "source": self.source.kind}
            self.recordings.start(live_zero_platform(self.monitor), self.latest["t_s"], session.person,
                                  session.region, {k: v for k, v in meta.items() if v is not None})


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
        if coach.step == "done":  # the last session is over and reported: a fresh coach for the next
            coach = loop.coach = Coach(coach.settings)
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
        return {"state": {**loop.state(), **loop.platform_state()}}
    if name == "capture":
        return loop.start_capture(args.get("seconds"), args.get("settle_s", 0.0))
    if name == "capture_result":
        return loop.capture_result(args.get("capture_id"), args.get("rows", False))
    if name == "capture_cancel":
        return loop.cancel_capture()
    if name == "reload_platform":
        return loop.reload_platform()
    if name == "sim_place_mass":
        return sim_place_mass(loop.source, args.get("cell", "clear"), args.get("mass_kg"))
    raise ValueError(f"unknown command {name!r}")


def platform_info(platform) -> dict[str, Any]:
    """The platform's geometry for drawing it: cell positions, the span they cover (mm), rate."""
    xs = [c.x_mm for c in platform.cells]
    ys = [c.y_mm for c in platform.cells]
    return {"width_mm": max(xs) - min(xs), "depth_mm": max(ys) - min(ys),
            "cells_xy": [[c.x_mm, c.y_mm] for c in platform.cells], "n_cells": platform.n_cells,
            "rate_hz": platform.rate_hz, "calibrated_at": platform.extra.get("calibrated_at"),
            "uncalibrated": bool(platform.extra.get("uncalibrated", False)),
            "counts_per_newton": [c.counts_per_newton for c in platform.cells],
            "offsets": [c.offset for c in platform.cells]}


def _unusable(stored, source) -> str | None:
    """Why a stored calibration does not apply to this source, or None when it does.

    The simulator has its own built-in calibration; a stored one applies to it
    only when it was made on the simulator with the same seed (its cells are
    the same simulated cells), never one made on real boards."""
    if stored is None:
        return "no platform calibration is stored yet"
    if stored.platform.n_cells != source.n_cells:
        return (f"the stored calibration is for {stored.platform.n_cells} cells but the platform has "
                f"{source.n_cells}")
    report = stored.report
    made_here = report.get("source") == "simulated" and report.get("seed") == getattr(source, "seed", None)
    if source.kind == "simulated" and not made_here:
        return "the stored calibration was not made on this simulated platform: it keeps its built-in one"
    return None


def sim_place_mass(source, cell, mass_kg) -> dict[str, Any]:
    """Simulator only: clear the platform (``cell`` "clear"), or put ``mass_kg`` at the centre
    of its cells ("centre") or over cell ``i``: by role, on the simulator's true cells."""
    true_platform = getattr(source, "true_platform", None)
    if true_platform is None or not hasattr(source, "steer"):
        raise ValueError("only the simulated platform can have a mass put on it")
    if cell == "clear":
        source.steer("clear_platform")
        return {}
    xy = [(c.x_mm, c.y_mm) for c in true_platform.cells]
    if cell == "centre":
        x_mm, y_mm = sum(p[0] for p in xy) / len(xy), sum(p[1] for p in xy) / len(xy)
    elif isinstance(cell, int) and not isinstance(cell, bool) and 0 <= cell < len(xy):
        x_mm, y_mm = xy[cell]
    else:
        raise ValueError(f"cell must be 'clear', 'centre' or 0 to {len(xy) - 1}, not {cell!r}")
    if isinstance(mass_kg, bool) or not isinstance(mass_kg, (int, float)):
        raise ValueError(f"mass_kg must be a number, not {mass_kg!r}")
    source.steer("place_mass", mass_kg=float(mass_kg), x_mm=x_mm, y_mm=y_mm)
    return {"x_mm": x_mm, "y_mm": y_mm}


def _number(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _plain(value):
    """Dataclasses to dicts, tuples to lists and NaN to None, so a state is JSON as it stands
    (without ``dataclasses.asdict``'s deep copies: a frame goes out 25 times a second)."""
    kind = type(value)
    if kind is float:
        return None if value != value else value
    if kind is dict:
        return {k: _plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_plain(v) for v in value]
    names = _FIELDS.get(kind)
    if names is None and hasattr(kind, "__dataclass_fields__"):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


#: Field names per dataclass, for ``_plain``.
_FIELDS: dict[type, tuple[str, ...]] = {}
