"""Tablets on the live stream, and the device loop under that load.

Run from the repository root::

    .venv/bin/python -m bench.stream [--seconds 20] [--viewers 10] [--json OUT]

It starts the product as the Pi runs it — the device process
(``python -m firmware.device.main --source sim --paced``: the simulator hands
out one sample at a time when it is due, like the HX711 boards, and counts
samples read more than one period late) and the web process
(``knotcoach serve``) — pairs like a tablet, and measures:

1. **Stream**: ``--viewers`` (10) viewers on ``/api/stream`` over loopback:
   frames per second each viewer receives, and the delay from a frame's
   sample (its due time on the machine's monotonic clock, which the device
   announces in its hello) to the moment the viewer has read the event.
2. **Device under load**: one run with nobody connected (the baseline, in the
   same session) and one with five viewers streaming plus a burst of page
   loads (new connection per request: pages, static files, JSON); the share of
   samples read more than 12.5 ms late in each.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.report import machine
from bench.web_clients import Viewer, get, page_burst, pair, wait_until_serving

STREAM_TARGET_FPS = 20.0
STREAM_TARGET_P95_MS = 100.0
LOAD_VIEWERS = 5


class Stack:
    """The device process and the web process on a scratch data directory."""

    def __init__(self, data: Path, seconds: float | None = None, realtime: bool = True) -> None:
        self.data = data
        self.port = free_port()
        self.timing = data / "timing.json"
        device = [sys.executable, "-m", "firmware.device.main", "--data-dir", str(data), "--source", "sim",
                  "--paced", "--timing-out", str(self.timing)]
        if seconds is not None:
            device += ["--seconds", str(seconds)]
        if not realtime:
            device += ["--priority", "0"]
        web = [sys.executable, "-m", "server.cli", "serve", "--data-dir", str(data), "--host", "127.0.0.1",
               "--port", str(self.port)]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.device = subprocess.Popen(device, **quiet)
        self.web = subprocess.Popen(web, **quiet)
        wait_until_serving(self.port, 30.0)
        self.cookie = pair(self.port, data)

    def t0_s(self) -> float:
        return device_clock_t0(self.data)

    def cpu_s(self, proc: subprocess.Popen) -> float:
        """CPU seconds (user + system) the process has used so far."""
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_device(self, timeout_s: float) -> dict:
        self.device.wait(timeout_s)
        return json.loads(self.timing.read_text())

    def close(self) -> None:
        for proc in (self.web, self.device):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def device_clock_t0(data: Path) -> float:
    """The device's clock origin (monotonic seconds at sample time 0), from its hello."""
    from server.device_link import DeviceLink
    hellos: list[dict] = []
    link = DeviceLink(data / "device.sock")
    link.subscribe(lambda m: hellos.append(m) if m["type"] == "hello" else None)
    with link:
        if not link.connected.wait(10.0):
            raise RuntimeError("the device process did not answer")
    if "clock" not in hellos[0]:
        raise RuntimeError("the device did not announce its clock (is it --paced?)")
    return float(hellos[0]["clock"]["monotonic_t0_s"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_stream(root: Path, seconds: float, viewers: int) -> dict:
    """Viewers on the SSE stream; the baseline is a listener on the device's own channel, same run."""
    from server.device_link import DeviceLink
    stack = Stack(root / "stream")
    raw: list[float] = []
    try:
        t0 = stack.t0_s()
        clients = [Viewer(stack.port, stack.cookie, t0) for _ in range(viewers)]
        channel = DeviceLink(stack.data / "device.sock")
        channel.subscribe(lambda m: raw.append((time.monotonic() - (t0 + m["t_s"])) * 1000.0)
                          if m["type"] == "frame" and m.get("t_s") is not None else None)
        for c in clients:
            c.start()
        time.sleep(2.0)                                  # all connected and past their snapshot
        with channel:
            for c in clients:
                c.mark()
            time.sleep(seconds)
            results = [c.result() for c in clients]
        for c in clients:
            c.stop()
    finally:
        stack.close()
    delays, raw = sorted(d for r in results for d in r["delays_ms"]), sorted(raw)
    return {"viewers": viewers, "seconds": seconds,
            "fps_min": min(r["fps"] for r in results), "fps_max": max(r["fps"] for r in results),
            "delay_p50_ms": _pct(delays, 50), "delay_p95_ms": _pct(delays, 95), "delay_max_ms": delays[-1],
            "frames": len(delays), "channel_p50_ms": _pct(raw, 50), "channel_p95_ms": _pct(raw, 95)}


def bench_load(root: Path, seconds: float, realtime: bool) -> dict:
    """The idle baseline and the loaded run, each a fresh stack for ``seconds`` of samples."""
    out = {}
    for phase in ("idle", "loaded"):
        stack = Stack(root / f"{phase}-{'rt' if realtime else 'normal'}", seconds=seconds, realtime=realtime)
        stop, stats, clients = threading.Event(), {"requests": 0, "errors": 0}, []
        try:
            cpu0 = stack.cpu_s(stack.web)
            if phase == "loaded":
                clients = [Viewer(stack.port, stack.cookie, None) for _ in range(LOAD_VIEWERS)]
                for c in clients:
                    c.start()
                burst = threading.Thread(target=page_burst, args=(stack.port, stack.cookie, stop, stats))
                burst.start()
            timing = stack.wait_device(seconds + 60.0)
            web_cpu_pct = 100.0 * (stack.cpu_s(stack.web) - cpu0) / seconds
            stop.set()
            if phase == "loaded":
                burst.join()
            for c in clients:
                c.stop()
        finally:
            stop.set()
            stack.close()
        out[phase] = {**timing, "late_pct": 100.0 * timing["late_rows"] / max(timing["rows"], 1),
                      "web_cpu_pct": web_cpu_pct, "page_requests": stats["requests"], "page_errors": stats["errors"],
                      "page_failures": stats.get("failed", {})}
    return out


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def format_report(stream: dict, loads: dict) -> str:
    ok_stream = stream["fps_min"] >= STREAM_TARGET_FPS and stream["delay_p95_ms"] <= STREAM_TARGET_P95_MS
    lines = [
        f"machine: {machine()}",
        f"stream: {stream['viewers']} viewers for {stream['seconds']:g} s on loopback: "
        f"{stream['fps_min']:.1f}-{stream['fps_max']:.1f} frames/s per viewer (target >= {STREAM_TARGET_FPS:g}); "
        f"sample-to-viewer delay p50 {stream['delay_p50_ms']:.1f} ms, p95 {stream['delay_p95_ms']:.1f} ms "
        f"(target <= {STREAM_TARGET_P95_MS:g}), max {stream['delay_max_ms']:.1f} ms "
        f"over {stream['frames']} frames -> {'OK' if ok_stream else 'MISSED'}; baseline, a listener on the "
        f"device's channel itself: p50 {stream['channel_p50_ms']:.1f} ms, p95 {stream['channel_p95_ms']:.1f} ms",
    ]
    for mode, load in loads.items():
        idle, loaded = load["idle"], load["loaded"]
        ok_load = loaded["late_rows"] <= idle["late_rows"] + 3 * (idle["late_rows"] + 1) ** 0.5
        for name, r in (("idle (baseline)", idle), (f"{LOAD_VIEWERS} viewers + page burst", loaded)):
            lines.append(f"device ({mode}), {name}: {r['rows']} samples, {r['late_rows']} read > "
                         f"{r['period_ms']:g} ms late ({r['late_pct']:.3f} %), worst {r['worst_ms']:.1f} ms; web "
                         f"process {r['web_cpu_pct']:.1f} % of a core, {r['page_requests']} page requests "
                         f"({r['page_errors']} failed{': ' + str(r['page_failures']) if r['page_failures'] else ''})")
        lines.append(f"device ({mode}) under load: late samples "
                     f"{'no more frequent than' if ok_load else 'MORE FREQUENT than'} idle (3 sigma of counting noise)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.stream", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="length of each measured run (default 20)")
    p.add_argument("--viewers", type=int, default=10, help="viewers on the stream (default 10)")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--quick", action="store_true",
                   help="the device under load at real-time priority only (a smoke run)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="knotcoach-bench-") as tmp:
        stream = bench_stream(Path(tmp), args.seconds, args.viewers)
        loads = {"real-time": bench_load(Path(tmp), args.seconds, realtime=True)}
        if not args.quick:
            loads["ordinary scheduling"] = bench_load(Path(tmp), args.seconds, realtime=False)
    print(format_report(stream, loads))
    if args.json:
        Path(args.json).write_text(json.dumps({"stream": stream, "load": loads}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
