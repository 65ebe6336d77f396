"""The device process: ``python -m firmware.device_main [options]``.

Samples, filters, coaches and cues on its own, apart from the web process
(DESIGN.md: a long call in a web thread delayed an 80 Hz loop by 45 ms in the
same process, 0.14 ms in another). It asks for real-time scheduling and a CPU
of its own where allowed, serves the channel on a Unix socket in the data
directory, and stops cleanly on SIGTERM or Ctrl-C. ``knotcoach run`` and the
systemd unit start it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from calibration.files import StoreError, default_data_dir
from firmware.live import FRAME_S
from firmware.monitor import WatchSettings
from firmware.realtime import DEFAULT_PRIORITY, request_realtime

SOCKET_NAME = "device.sock"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="knotcoach-device", description="The Knot Coach device process.")
    p.add_argument("--data-dir", type=Path, help="calibrations and the channel socket live here")
    p.add_argument("--source", default="auto", help="auto, hx711, sim or replay:FILE")
    p.add_argument("--pins", help="HX711 BCM pins as DOUT:SCK per cell")
    p.add_argument("--seed", type=int, default=1, help="simulator seed")
    p.add_argument("--band-newtons", default="185:330", help="band until a person's scale is chosen")
    p.add_argument("--priority", type=int, default=DEFAULT_PRIORITY, help="real-time priority to ask for")
    p.add_argument("--cpu", type=int, help="a CPU to pin the process to")
    return p


def _band(text: str) -> WatchSettings:
    try:
        lo, hi = (float(v) for v in text.split(":"))
        return WatchSettings(lo, hi)
    except ValueError:
        raise SystemExit(f"knotcoach-device: --band-newtons wants LO:HI in newtons, not {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    watch = _band(args.band_newtons)
    data_dir = args.data_dir or default_data_dir()

    def say(message: str) -> None:
        print(f"knotcoach-device: {message}", file=sys.stderr, flush=True)

    stop = {"now": False}  # a plain flag: the handler only sets it (no locks in a signal handler)

    def on_signal(*_):
        stop["now"] = True

    for sig in (signal.SIGTERM, signal.SIGINT):  # before opening anything, so a stop always cleans up
        signal.signal(sig, on_signal)
    for note in request_realtime(args.priority, args.cpu):
        say(note)
    try:
        loop, closers = _assemble(args, data_dir, watch, say)
    except (ValueError, OSError, StoreError) as e:
        say(str(e))
        return 2
    say(f"coaching; channel at {data_dir / SOCKET_NAME}")
    try:
        polled = getattr(loop.source, "poll_interval_s", 0.0) > 0
        while not stop["now"] and loop.step():
            if polled:
                time.sleep(FRAME_S)
    finally:
        for close in reversed(closers):
            try:
                close()
            except Exception as e:  # the others still close
                say(f"while closing: {type(e).__name__}: {e}")
    say("stopped")
    return 0


def _assemble(args, data_dir: Path, watch: WatchSettings, say):
    """Open the source, the cues and the channel; return the loop and what to close."""
    from calibration.platform_store import load_platform
    from firmware.channel_server import ChannelServer
    from firmware.cues.devices import open_cues
    from firmware.device import DeviceLoop
    from firmware.sources.factory import SourceSpecError, open_source

    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        source = open_source(args.source, pins=args.pins, seed=args.seed, announce=say,
                             platform=load_platform(data_dir))
    except SourceSpecError as e:
        raise ValueError(str(e)) from None
    closers = [source.close]
    try:
        cues = open_cues()
        closers.append(cues.close)
        if cues.reason:
            say(cues.reason)
        loop = DeviceLoop(source, watch, cues=cues, data_dir=data_dir, announce=say)
        channel = ChannelServer(data_dir / SOCKET_NAME, hello=loop.hello)
    except BaseException:
        for close in reversed(closers):  # what was opened is released again
            close()
        raise
    closers.append(channel.close)
    loop.channel = channel
    return loop, closers


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
