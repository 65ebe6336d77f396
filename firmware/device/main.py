"""The device process: ``python -m firmware.device.main [options]``.

Samples, filters, coaches and cues on its own, apart from the web process
(DESIGN.md: a long call in a web thread delayed an 80 Hz loop by 45 ms in the
same process, 0.14 ms in another). It asks for real-time scheduling and a CPU
of its own where allowed, serves the channel on a Unix socket in the data
directory, and stops cleanly on SIGTERM or Ctrl-C. ``knotcoach run`` and the
systemd unit start it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from calibration.files import StoreError, default_data_dir
from firmware.device.live import FRAME_S
from firmware.device.realtime import DEFAULT_PRIORITY, own_cpu, pin_cpu, request_realtime
from firmware.pipeline.monitor import WatchSettings
from firmware.sources.base import POLL_MARGIN_S

SOCKET_NAME = "device.sock"
#: The protocol's numbers as the household set them (CoachSettings fields), in the data directory.
SETTINGS_NAME = "coach.json"
#: Each coached session's raw recording is kept in this folder of the data directory.
RECORDINGS_NAME = "recordings"
#: A fast replay waits while the slowest listener has this much unsent (the channel drops at 1 MiB).
FAST_BACKLOG_BYTES = 256 * 1024
#: How much of a fast replay one pass hands to the loop, in seconds of samples.
FAST_CHUNK_S = 1.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="knotcoach-device", description="The Knot Coach device process.")
    p.add_argument("--data-dir", type=Path, help="calibrations and the channel socket live here")
    p.add_argument("--source", default="auto", help="auto, hx711, sim or replay:FILE")
    p.add_argument("--pins", help="HX711 BCM pins as DOUT:SCK per cell")
    p.add_argument("--seed", type=int, default=1, help="simulator seed")
    p.add_argument("--band-newtons", default="185:330", help="band until a person's scale is chosen")
    p.add_argument("--priority", type=int, default=DEFAULT_PRIORITY,
                   help="real-time priority to ask for (1-99; 0: ordinary scheduling)")
    p.add_argument("--cpu", default="auto", help="a CPU of its own: a number, 'auto' (the last one, when there "
                   "are two or more) or 'none'")
    p.add_argument("--knot", help="X_MM[,Y_MM]: warn when resting here (the coach marks its own knot)")
    p.add_argument("--zone-mm", type=float, default=50.8, help="no-go radius around --knot")
    p.add_argument("--dwell-s", type=float, default=1.0, help="grace inside the zone before a warning")
    p.add_argument("--fast", action="store_true", help="replay without waiting for real time")
    p.add_argument("--speed", type=float, default=1.0, help="simulator only: simulated time runs this many "
                   f"times real time ({SPEED_RANGE[0]:g}-{SPEED_RANGE[1]:g})")
    p.add_argument("--seconds", type=float, help="stop after this many seconds of samples")
    p.add_argument("--person", help="coach on this person's stored scale for --region from the start")
    p.add_argument("--region", help="the body region of --person's scale")
    p.add_argument("--paced", action="store_true", help="simulator only: hand out one sample at a time when "
                   "it is due, like the HX711 boards, and count samples read late (the load benchmark)")
    p.add_argument("--timing-out", type=Path, metavar="FILE", help="with --paced: write the lateness counts here "
                   "as JSON when stopping")
    p.add_argument("--wait-client", type=float, default=0.0, metavar="S",
                   help="wait up to S seconds for the web process before sampling (knotcoach run does)")
    p.add_argument("--recordings", action=argparse.BooleanOptionalAction, default=True,
                   help=f"keep each session's raw samples in DATA/{RECORDINGS_NAME} (oldest deleted beyond "
                        "200 files or 500 MB)")
    return p


#: The simulator may run faster than real time, within reason (browser tests and demos).
SPEED_RANGE = (1.0, 20.0)


def _cpu(text: str) -> int | None:
    """--cpu: 'auto' (the last CPU when there are two or more), 'none', or a CPU's number."""
    if text == "auto":
        return own_cpu()
    if text == "none":
        return None
    try:
        cpu = int(text)
    except ValueError:
        raise ValueError(f"--cpu wants a CPU's number, 'auto' or 'none', not {text!r}") from None
    if not 0 <= cpu < (os.cpu_count() or 1):
        raise ValueError(f"--cpu {cpu}: this machine has CPUs 0-{(os.cpu_count() or 1) - 1}")
    return cpu


def _check(args) -> None:
    """Options that cannot work together or are out of range: a configuration error (exit 2)."""
    if not 0 <= args.priority <= 99:
        raise ValueError(f"--priority must be 0-99, not {args.priority}")
    if not SPEED_RANGE[0] <= args.speed <= SPEED_RANGE[1]:
        raise ValueError(f"--speed must be {SPEED_RANGE[0]:g}-{SPEED_RANGE[1]:g}, not {args.speed:g}")
    if args.speed != 1.0 and args.source.partition(":")[0] not in ("sim", "simulated"):
        raise ValueError("--speed is for the simulated platform (--source sim)")
    if args.seconds is not None and not args.seconds > 0:
        raise ValueError(f"--seconds must be > 0, not {args.seconds:g}")
    if args.paced and (args.source.partition(":")[0] not in ("sim", "simulated") or args.speed != 1.0):
        raise ValueError("--paced is for the simulated platform (--source sim) in real time (no --speed)")
    if bool(args.person) != bool(args.region):
        raise ValueError("--person and --region go together")


def _watch(args) -> WatchSettings:
    from firmware.pipeline.monitor import Knot
    try:
        lo, hi = (float(v) for v in args.band_newtons.split(":"))
        knot = None
        if args.knot:
            xy = [float(v) for v in args.knot.split(",")]
            knot = Knot(xy[0], xy[1] if len(xy) > 1 else None)
        return WatchSettings(lo, hi, knot=knot, zone_mm=args.zone_mm, dwell_s=args.dwell_s)
    except (ValueError, IndexError, TypeError) as e:
        raise ValueError(f"--band-newtons wants LO:HI and --knot X[,Y], in newtons and mm: {e}") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    data_dir = args.data_dir or default_data_dir()

    def say(message: str) -> None:
        print(f"knotcoach-device: {message}", file=sys.stderr, flush=True)

    stop = {"now": False}  # a plain flag: the handler only sets it (no locks in a signal handler)

    def on_signal(*_):
        stop["now"] = True

    for sig in (signal.SIGTERM, signal.SIGINT):  # before opening anything, so a stop always cleans up
        signal.signal(sig, on_signal)
    try:
        cpu = _cpu(args.cpu)
    except ValueError as e:
        say(str(e))
        return 2
    notes = request_realtime(args.priority) if args.priority else ["ordinary scheduling (--priority 0)"]
    if cpu is not None:
        notes.append(pin_cpu(cpu))
    elif args.cpu == "auto":
        notes.append("one CPU here: the device shares it")
    for note in notes:
        say(note)
    try:
        _check(args)
        watch = _watch(args)
        loop, closers = _assemble(args, data_dir, watch, say)
    except (ValueError, StoreError) as e:
        say(str(e))
        return 2  # a configuration error: starting again will not help
    except OSError as e:
        say(f"cannot start: {e}")
        return 1  # maybe passing (GPIO busy at boot, a full disk): the supervisor may try again
    say(f"coaching; channel at {data_dir / SOCKET_NAME}")
    try:
        _wait_for_client(loop.channel, args.wait_client, stop)
        _run(loop, args, stop)
        loop.finish()
        loop.channel.drain(2.0)  # what was said reaches the web process before the socket goes
        _write_timing(args.timing_out, loop.source, say)
    finally:
        for close in reversed(closers):
            try:
                close()
            except Exception as e:  # the others still close
                say(f"while closing: {type(e).__name__}: {e}")
    say("stopped")
    return 0


def _run(loop, args, stop: dict) -> None:
    """Step the loop until stopped, the source ends, or --seconds of samples have passed."""
    polled = getattr(loop.source, "poll_interval_s", 0.0) > 0
    t_first = None
    while not stop["now"] and loop.step():
        t_s = loop.latest["t_s"]
        t_first = t_s if t_first is None else t_first
        if args.seconds is not None and t_s is not None and t_s - t_first >= args.seconds:
            break
        if polled:  # until the next sample is due (the clock may run args.speed times fast)
            time.sleep(min(FRAME_S, loop.source.next_due_in_s() / args.speed) + POLL_MARGIN_S)
        elif args.fast:
            while loop.channel.backlog_bytes > FAST_BACKLOG_BYTES and not stop["now"]:
                loop.channel.poll(0.005)  # a fast replay goes at the pace of its listener


def _write_timing(path: Path | None, source, say) -> None:
    lateness = getattr(source, "lateness", None)
    if path is None or lateness is None:
        return
    from calibration.files import write_json_atomic
    try:
        write_json_atomic(path, lateness.to_dict())
    except OSError as e:
        say(f"{path}: cannot write the timing: {e.strerror or e}")


def _wait_for_client(channel, wait_s: float, stop: dict) -> None:
    deadline = time.monotonic() + wait_s
    while not channel.clients and time.monotonic() < deadline and not stop["now"]:
        channel.poll(0.02)


class _Chunked:
    """A fast replay handed out a second at a time, so frames and events flow as it goes."""

    def __init__(self, source, rows: int) -> None:
        self._source, self._rows, self._pending = source, rows, None

    def read(self):
        if self._pending is None or not len(self._pending):
            self._pending = self._source.read()
        block, self._pending = self._pending.slice(0, self._rows), self._pending.slice(self._rows, len(self._pending))
        return block

    @property
    def finished(self) -> bool:
        return self._source.finished and not (self._pending is not None and len(self._pending))

    def __getattr__(self, name):
        return getattr(self._source, name)


def _coach(data_dir: Path):
    """The coach with the household's settings from coach.json, if there is one."""
    import json

    from firmware.coach.protocol import Coach
    from firmware.coach.settings import CoachSettings
    path = data_dir / SETTINGS_NAME
    if not path.exists():
        return Coach()
    try:
        return Coach(CoachSettings.from_dict(json.loads(path.read_text(encoding="utf-8"))))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: {e}") from None


def _assemble(args, data_dir: Path, watch: WatchSettings, say):
    """Open the source, the cues and the channel; return the loop and what to close."""
    from calibration.platform_store import load_platform
    from firmware.device.channel_server import ChannelServer
    from firmware.cues.devices import open_cues
    from firmware.device.loop import DeviceLoop
    from firmware.sources.factory import SourceSpecError, open_source

    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        clock = _scaled_clock(args.speed)
        source = open_source(args.source, pins=args.pins, seed=args.seed, fast=args.fast, announce=say,
                             platform=load_platform(data_dir), clock=clock, paced=args.paced)
    except SourceSpecError as e:
        raise ValueError(str(e)) from None
    closers = [source.close]
    try:
        cues = open_cues()
        closers.append(cues.close)
        if cues.reason:
            say(cues.reason)
        if args.fast and getattr(source, "poll_interval_s", 1.0) == 0:
            source = _Chunked(source, int(FAST_CHUNK_S * source.platform.rate_hz))
        loop = DeviceLoop(source, watch, coach=_coach(data_dir), cues=cues, data_dir=data_dir, announce=say,
                          recordings_dir=data_dir / RECORDINGS_NAME if args.recordings else None)
        if args.person and loop.use_profile(args.person, args.region) is None:
            raise ValueError(f"no {args.region} scale stored for {args.person}")
        channel = ChannelServer(data_dir / SOCKET_NAME, hello=lambda: _hello(loop))
    except BaseException:
        for close in reversed(closers):  # what was opened is released again
            close()
        raise
    closers.append(channel.close)
    loop.channel = channel
    return loop, closers


def _hello(loop) -> dict:
    """The device loop's greeting, plus the source's clock origin where it has one: with the
    monotonic clock (shared by every process on the machine) a listener can tell how long
    after its sample a frame reached it (the stream benchmark)."""
    hello = loop.hello()
    t0_s = getattr(loop.source, "t0_s", None)
    if t0_s is not None and getattr(loop.source, "paced", False):
        hello["clock"] = {"monotonic_t0_s": t0_s}
    return hello


def _scaled_clock(speed: float):
    """Monotonic seconds, running ``speed`` times as fast (the simulator's time-lapse)."""
    if speed == 1.0:
        return time.monotonic
    return lambda: time.monotonic() * speed


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
