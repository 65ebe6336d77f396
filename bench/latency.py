"""The whole feedback chain, as the person on the floor gets it.

Run from the repository root::

    .venv/bin/python -m bench.latency [--seconds 120] [--compare REV] [--json OUT]

It starts the product as the Pi runs it: the device process with the simulator
paced like the HX711 boards (one sample handed out when it is due) and its
buzzer on gpiozero's MockFactory (``bench/chain_device.py``), and ``knotcoach
serve``. A tablet — Debian's Chromium through Playwright — pairs, starts a
session, marks the knot and rolls around it; the simulated person presses
past the band's upper edge and eases off, every 1.6 s. From each true crossing of the
edge (the simulated person's own force, with the rule's 5 % hysteresis) it
measures, on the machine's monotonic clock:

- **buzzer**: to the buzzer pin going high (the MockFactory pin's change times);
- **stream**: to the ``over_band`` warning event read by a tablet stream client;
- **Web Audio**: to the start of the tablet's ``ease_off`` sound (the page's
  own oscillator start time, read through Playwright);

and, as baselines in the same run: ``knotcoach analyze --json`` on the very
samples the device saw (the offline figure: filter and rules alone), and the
coach's ``ease_off`` cue event on the stream (what the tablet sounds on).
``--compare REV`` runs the same chain, first, on the product as it was at
commit REV (a temporary git worktree), e.g. the design before the low-lag loop.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.report import machine
from bench.stream import device_clock_t0, free_port
from bench.web_clients import wait_until_serving

HI_N = 330.0
BAND = f"185:{HI_N:g}"
PRESS_N = 430.0           # the press: well past the edge
#: One press and ease-off: longer than the tablet's 1.5 s between two same sounds.
CYCLE_S = 1.6
TARGETS_MS = {"buzzer": (40.0, 60.0), "stream": (None, 80.0), "web_audio": (None, 120.0), "offline": (30.0, None)}
OFFLINE_WORST_MS = 60.0
MATCH_S = 0.3             # a reaction later than this is not counted as this crossing's
#: Page instrumentation: every oscillator start, on the page clock, with the cue it plays.
AUDIO_PROBE = """
window.__kcAudio = [];
const start = AudioScheduledSourceNode.prototype.start;
AudioScheduledSourceNode.prototype.start = function (when) {
  const ctx = this.context;
  const at = performance.timeOrigin + performance.now() + ((when || 0) - ctx.currentTime) * 1000;
  window.__kcAudio.push({at_ms: Math.max(at, performance.timeOrigin + performance.now()), cue: window.__kcCue || null});
  return start.apply(this, arguments);
};
window.addEventListener("DOMContentLoaded", () => {
  const sound = window.KC && window.KC.sound;
  if (!sound) return;
  const play = sound.play.bind(sound);
  sound.play = (name) => { window.__kcCue = name; return play(name); };
});
"""


class StreamEvents(threading.Thread):
    """A tablet's /api/stream: the receive time of every warning and cue event."""

    def __init__(self, port: int, cookie: str) -> None:
        super().__init__(daemon=True)
        self.port, self.cookie, self.events = port, cookie, []
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def run(self) -> None:
        self._conn.request("GET", "/api/stream", headers={"Cookie": self.cookie, "Accept": "text/event-stream"})
        resp = self._conn.getresponse()
        event = None
        try:
            while True:
                line = resp.fp.readline()
                if not line:
                    return
                if line.startswith(b"event: "):
                    event = line[7:].strip().decode()
                elif line.startswith(b"data: ") and event in ("warning", "cue"):
                    self.events.append((time.monotonic(), event, json.loads(line[6:])))
        except (OSError, ValueError):
            return

    def stop(self) -> None:
        if self._conn.sock is not None:
            try:
                self._conn.sock.shutdown(2)
            except OSError:
                pass
        self.join(5)


HERE = Path(__file__).resolve().parent


def run_chain(root: Path, seconds: float, seed: int, tree: Path = HERE.parent) -> dict:
    """One session through the whole product in ``tree``; the raw times of everything measured."""
    data = root / "data"
    data.mkdir(parents=True)
    # Cues as often as the strokes come, and rolling around the knot for the whole run.
    (data / "coach.json").write_text(json.dumps({"cue_gap_s": 0.5, "around_max_s": 180.0, "around_min_s": 120.0}))
    out = root / "chain.json"
    port = free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": tree,
             "env": {**os.environ, "PYTHONPATH": str(tree)}}
    device = subprocess.Popen([sys.executable, str(HERE / "chain_device.py"), str(out), "--data-dir", str(data),
                               "--source", "sim", "--paced", "--seed", str(seed), "--band-newtons", BAND,
                               "--no-recordings"], **quiet)
    web = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--data-dir", str(data),
                            "--host", "127.0.0.1", "--port", str(port)], **quiet)
    try:
        wait_until_serving(port, 30.0)
        t0 = device_clock_t0(data)
        audio, stream, window = _tablet_session(port, data, seconds)
    finally:
        for proc in (device, web):
            proc.terminate()
        for proc in (device, web):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    chain = json.loads(out.read_text())
    return {"t0_s": t0, "window": window, "audio": audio, "stream": stream, "buzzer": chain["buzzer"],
            "truth": chain["truth"], "recording": str(out.with_suffix(".csv.gz")), "tree": str(tree)}


def _tablet_session(port: int, data: Path, seconds: float):
    from playwright.sync_api import sync_playwright

    from server.web.pairing import PairingStore
    base = f"http://127.0.0.1:{port}"
    args = ["--autoplay-policy=no-user-gesture-required"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.add_init_script(AUDIO_PROBE)
            page.goto(f"{base}/pair/{PairingStore(data).issue_token()}")
            page.wait_for_selector("#step-name")
            page.mouse.click(5, 5)                      # a tap: the page may sound from now on
            cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
            stream = StreamEvents(port, cookie)
            stream.start()
            _command(page, "start", {"person": "bench", "region": "calf", "tool": "foam_roller",
                                     "pain_before": 5, "signs": [], "anyway": True})
            time.sleep(3.0)                             # lying down, rolling
            _command(page, "mark_knot", {})
            time.sleep(1.0)
            window = (time.monotonic(), time.monotonic() + seconds)
            while time.monotonic() < window[1] + 0.5:  # a press past the edge, easing off, again
                _command(page, "steer", {"command": "press_harder", "kwargs": {"force_n": PRESS_N, "ramp_s": 0.3}})
                time.sleep(CYCLE_S / 2)
                _command(page, "steer", {"command": "ease_off", "kwargs": {"ramp_s": 0.3}})
                time.sleep(CYCLE_S / 2)
            audio = page.evaluate("window.__kcAudio")
            wall_minus_mono = time.time() - time.monotonic()
            _command(page, "stop", {})
            stream.stop()
        finally:
            browser.close()
    starts = [(a["at_ms"] / 1000.0 - wall_minus_mono, a["cue"]) for a in audio]
    return starts, stream.events, window


def _command(page, name: str, body: dict, tries: int = 3) -> dict:
    """A command as the tablet sends it; a busy device (503) is asked again."""
    for _ in range(tries):
        reply = _post(page, name, body)
        if reply["status"] != 503:
            break
    if reply["status"] != 200:
        raise RuntimeError(f"{name}: HTTP {reply['status']} {reply['body']}")
    return reply["body"]


def _post(page, name: str, body: dict) -> dict:
    return page.evaluate("""async ([name, body]) => {
        const token = document.querySelector('meta[name="csrf-token"]').content;
        const r = await fetch('/api/command/' + name, {method: 'POST', body: JSON.stringify(body),
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token}});
        return {status: r.status, body: await r.json()};
    }""", [name, body])


def crossings(truth: list, lo_s: float, hi_s: float) -> list[float]:
    """Sample times where the true force goes over the edge (the rule's 5 % hysteresis)."""
    out, over = [], False
    for t, f in truth:
        now = f > HI_N if not over else f > 0.95 * HI_N
        if now and not over and lo_s <= t <= hi_s:
            out.append(t)
        over = now
    return out


def first_after(times: list[float], t: float, within_s: float = MATCH_S) -> float | None:
    later = [x for x in times if t <= x <= t + within_s]
    return min(later) - t if later else None


def offline_starts(raw: dict) -> list[float]:
    """``knotcoach analyze --json`` (of the same tree) on the samples the device saw: over_band starts."""
    tree = raw["tree"]
    done = subprocess.run([sys.executable, "-m", "server.cli", "analyze", raw["recording"], "--json",
                           "--band-newtons", BAND], cwd=tree, env={**os.environ, "PYTHONPATH": tree},
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"analyze failed on the chain's own recording: {done.stderr.strip()}")
    events = [json.loads(line) for line in done.stdout.splitlines()]
    return [e["t_s"] for e in events if e["event"] == "over_band" and e["edge"] == "start"]


def measure(raw: dict) -> dict:
    t0 = raw["t0_s"]
    lo_s, hi_s = raw["window"][0] - t0, raw["window"][1] - t0
    true_s = crossings(raw["truth"], lo_s, hi_s)
    buzzer = [t for t, on in raw["buzzer"] if on]
    warnings = [t for t, kind, e in raw["stream"] if kind == "warning" and e.get("event") == "over_band"
                and e.get("edge") == "start"]
    cues = [t for t, kind, e in raw["stream"] if kind == "cue" and e.get("cue") == "ease_off"]
    audio = [t for t, cue in raw["audio"] if cue == "ease_off"]
    offline = offline_starts(raw)
    series = {"buzzer": buzzer, "stream": warnings, "cue_event": cues, "web_audio": audio}
    result = {"crossings": len(true_s)}
    for name, times in series.items():
        result[name] = summary([first_after(times, t0 + c) for c in true_s])
    result["offline"] = summary([first_after(offline, c) for c in true_s])
    result["false_alarms"] = false_alarms(raw["truth"], offline)
    return result


def summary(latencies: list[float | None]) -> dict:
    got = sorted(x * 1000.0 for x in latencies if x is not None)
    if not got:
        return {"n": 0, "missed": len(latencies)}
    pct = lambda p: got[min(len(got) - 1, int(round(p / 100.0 * (len(got) - 1))))]  # noqa: E731
    mean = sum(got) / len(got)
    jitter = (sum((x - mean) ** 2 for x in got) / len(got)) ** 0.5
    return {"n": len(got), "missed": len(latencies) - len(got), "p50_ms": pct(50), "p95_ms": pct(95),
            "max_ms": got[-1], "jitter_ms": jitter}


def false_alarms(truth: list, starts: list[float]) -> int:
    """Warnings started with the true force below 95 % of the edge all through the 0.15 s before."""
    count = 0
    for d in starts:
        window = [f for t, f in truth if d - 0.15 <= t <= d]
        count += bool(window) and max(window) < 0.95 * HI_N
    return count


def format_report(m: dict) -> str:
    lines = [f"{m['crossings']} true crossings of {HI_N:g} N "
             f"(the simulated person's force, 5 % hysteresis); false offline alarms: {m['false_alarms']}"]
    names = {"buzzer": "buzzer pin high (MockFactory)", "stream": "over_band event on a tablet stream",
             "web_audio": "ease_off sound starts in Chromium", "offline": "knotcoach analyze (baseline)",
             "cue_event": "coach's ease_off cue on the stream (baseline)"}
    for key, label in names.items():
        s = m[key]
        if not s["n"]:
            lines.append(f"{label}: none matched ({s['missed']} crossings)")
            continue
        p50_t, p95_t = TARGETS_MS.get(key, (None, None))
        verdict = []
        if p50_t is not None:
            verdict.append(f"p50 target {p50_t:g}: {'ok' if s['p50_ms'] <= p50_t else 'MISSED'}")
        if p95_t is not None:
            verdict.append(f"p95 target {p95_t:g}: {'ok' if s['p95_ms'] <= p95_t else 'MISSED'}")
        if key == "offline":
            verdict.append(f"worst target {OFFLINE_WORST_MS:g}: {'ok' if s['max_ms'] <= OFFLINE_WORST_MS else 'MISSED'}")
        lines.append(f"{label}: p50 {s['p50_ms']:.1f} / p95 {s['p95_ms']:.1f} / max {s['max_ms']:.1f} ms, "
                     f"jitter {s['jitter_ms']:.1f} ms, {s['n']} matched, {s['missed']} not within "
                     f"{MATCH_S * 1000:g} ms" + (f" ({'; '.join(verdict)})" if verdict else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.latency", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=120.0, help="length of the measured stretch (default 120)")
    p.add_argument("--seed", type=int, default=3, help="simulator seed")
    p.add_argument("--compare", metavar="REV", help="also run the chain on the product at git commit REV")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="knotcoach-latency-") as tmp:
        if args.compare:
            old = Path(tmp) / "then"
            subprocess.run(["git", "worktree", "add", "--detach", str(old), args.compare], cwd=HERE.parent,
                           check=True, capture_output=True)
            try:
                figures[args.compare] = measure(run_chain(Path(tmp) / "run-then", args.seconds, args.seed, old))
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=HERE.parent,
                               capture_output=True)
        figures["now"] = measure(run_chain(Path(tmp) / "run-now", args.seconds, args.seed))
    print(f"machine: {machine()}")
    for name, m in figures.items():
        print(f"\n[{'this tree' if name == 'now' else 'commit ' + name}]")
        print(format_report(m))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
