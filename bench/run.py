"""Knot Coach benchmarks: file to events, the filter loop in block mode, and live cost.

Run from the repository root::

    .venv/bin/python -m bench.run [--quick] [--repeat N] [--json OUT] [--profile]

Every figure is the best of N repetitions (N >= 3) and sits next to a simple
baseline measured in the same run on the same data, with the ratio
figure time / baseline time. See bench/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime
import gc
import gzip
import io
import json
import math
import os
import platform
import pstats
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import scipy
from scipy.signal import butter, lfilter

from firmware.block import Block
from firmware.filterloop import FilterLoop
from firmware.monitor import Knot, Monitor, WatchSettings
from firmware.recording import write_recording
from firmware.sim.scenario import hour_session

#: Targets from the brief.
E2E_TARGET_ROWS_S = 100_000
CORE_TARGET_ROWS_S = 1_000_000
#: "Well under 1 % of a core" is read as: under half of that budget.
LIVE_TARGET_CORE_PCT = 0.5

#: The live block pattern: a 25 frames/s device loop at 80 samples/s gets 3, 3, 4 rows per frame.
LIVE_PATTERN = (3, 3, 4)
LIVE_SIZES = (1, 2, 3, 4)


@dataclass
class Config:
    duration_s: float = 3600.0     # the recording (hour_session)
    repeat: int = 5                # best of N
    long_rows: int = 1_000_000     # the synthetic long block for the core loop
    live_rows: int = 4_800         # rows fed live, from the start (1 minute at 80/s)
    seed: int = 0
    n_cells: int = 4
    garbage_fraction: float = 0.02
    lost_fraction: float = 0.01


FULL = Config()
QUICK = Config(duration_s=600.0, repeat=3, long_rows=200_000, live_rows=1_600)


@dataclass
class Row:
    """One figure of the table and its baseline."""

    case: str
    name: str
    rows: int
    best_s: float
    runs_s: list[float]
    baseline: str
    baseline_best_s: float
    baseline_runs_s: list[float]
    calls: int | None = None             # live cases: calls to process()
    target: str | None = None
    meets: bool | None = None
    extra: dict = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.best_s if self.best_s > 0 else math.inf

    @property
    def baseline_rows_per_s(self) -> float:
        return self.rows / self.baseline_best_s if self.baseline_best_s > 0 else math.inf

    @property
    def ratio(self) -> float:
        """How many times the baseline's time this figure takes."""
        return self.best_s / self.baseline_best_s if self.baseline_best_s > 0 else math.inf

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(rows_per_s=self.rows_per_s, baseline_rows_per_s=self.baseline_rows_per_s, ratio=self.ratio)
        if self.calls:
            d.update(us_per_call=self.best_s / self.calls * 1e6,
                     us_per_sample=self.best_s / self.rows * 1e6,
                     baseline_us_per_call=self.baseline_best_s / self.calls * 1e6)
        return d


# -- timing -------------------------------------------------------------------------

def best_of(fn: Callable[[Any], Any], repeat: int, setup: Callable[[], Any] = lambda: None) -> tuple[float, list[float]]:
    """Best and all wall times of ``fn(setup())`` over ``repeat`` runs; setup is not timed."""
    runs = []
    for _ in range(max(1, repeat)):
        arg = setup()
        gc.collect()
        t0 = time.perf_counter()
        fn(arg)
        runs.append(time.perf_counter() - t0)
    return min(runs), runs


#: Per-stage figures in a profile: these functions' cumulative time.
_STAGES = ("process", "_position", "sort_events", "finish", "read_recording", "analyze", "_summary")


def profile_top(fn: Callable[[], Any], top: int = 5) -> dict:
    """Run ``fn`` once under cProfile: the ``top`` functions by own time (tottime), the
    cumulative time of each project stage (``process`` of every filter stage and rule, ...)
    and the total number of function calls. cProfile inflates small calls; shares are rough."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt
    rows, stages = [], []
    root = os.getcwd() + os.sep
    for (path, line, func), (cc, nc, tt, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{path[len(root):] if path.startswith(root) else os.path.basename(path)}:{line}"
        row = {"function": f"{func} ({where})" if line else func, "ncalls": nc, "tottime_s": tt,
               "cumtime_s": ct, "share": tt / total if total else 0.0}
        rows.append(row)
        if func in _STAGES and path.startswith(root) and "/bench/" not in path:
            stages.append(row)
    rows.sort(key=lambda r: -r["tottime_s"])
    stages.sort(key=lambda r: -r["cumtime_s"])
    return {"total_s": total, "calls": stats.total_calls, "top": rows[:top], "stages": stages}


# -- data ---------------------------------------------------------------------------

@dataclass
class Data:
    block: Block
    platform: Any
    watch: WatchSettings
    band: tuple[float, float]
    knot: tuple[float, float]
    csv_path: str
    gz_path: str
    make_s: float
    write_s: float


def make_data(directory: str, cfg: Config) -> Data:
    """The session once, written as .csv and .csv.gz into ``directory``."""
    t0 = time.perf_counter()
    block, plat, truth = hour_session(seed=cfg.seed, n_cells=cfg.n_cells, garbage_fraction=cfg.garbage_fraction,
                                      lost_fraction=cfg.lost_fraction, duration_s=cfg.duration_s)
    make_s = time.perf_counter() - t0
    csv_path, gz_path = os.path.join(directory, "session.csv"), os.path.join(directory, "session.csv.gz")
    t0 = time.perf_counter()
    write_recording(csv_path, plat, block)
    write_recording(gz_path, plat, block)
    write_s = time.perf_counter() - t0
    band = tuple(float(v) for v in truth.band_n)
    knot = tuple(float(v) for v in truth.knot_mm)
    watch = WatchSettings(band_lo_n=band[0], band_hi_n=band[1], knot=Knot(*knot))
    return Data(block, plat, watch, band, knot, csv_path, gz_path, make_s, write_s)


def tile_block(block: Block, n_rows: int, rate_hz: float) -> Block:
    """``block`` repeated end to end (times shifted so they keep rising) and cut to ``n_rows``."""
    reps = max(1, math.ceil(n_rows / len(block)))
    period = float(block.t_s[-1] - block.t_s[0]) + 1.0 / rate_hz
    t_s = np.concatenate([block.t_s + k * period for k in range(reps)])[:n_rows]
    raw = np.tile(block.raw, (reps, 1))[:n_rows]
    return Block(np.ascontiguousarray(t_s), np.ascontiguousarray(raw))


def live_blocks(block: Block, pattern) -> list[Block]:
    """Cut ``block`` into consecutive blocks whose sizes cycle through ``pattern``."""
    out, start, i = [], 0, 0
    n = len(block)
    while start < n:
        size = pattern[i % len(pattern)]
        out.append(block.slice(start, start + size))
        start += size
        i += 1
    return out


# -- 1. end to end ------------------------------------------------------------------

def analyze_argv(data: Data, path: str) -> list[str]:
    lo, hi = data.band
    return ["analyze", path, "--band-newtons", f"{lo:g}:{hi:g}", "--knot", f"{data.knot[0]:g},{data.knot[1]:g}",
            "--json"]


def run_cli_analyze(argv: list[str]) -> str:
    """``knotcoach analyze ... --json`` in this process; its standard output."""
    from server.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(argv)
    if status != 0:
        raise RuntimeError(f"knotcoach {' '.join(argv)} exited with {status}")
    return buf.getvalue()


def baseline_loadtxt(path: str) -> np.ndarray:
    """What just parsing costs: read (gunzip), decode, fill empty fields, ``np.loadtxt`` the body."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8")
    start = 0
    while text.startswith("#", start):  # metadata lines
        start = text.index("\n", start) + 1
    start = text.index("\n", start) + 1  # the column header
    body = text[start:].replace(",,", ",nan,").replace(",,", ",nan,").replace(",\n", ",nan\n")
    return np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2)


def bench_end_to_end(data: Data, repeat: int) -> list[Row]:
    from firmware.recording import read_recording

    rows = []
    n = len(data.block)
    for label, path in ((".csv", data.csv_path), (".csv.gz", data.gz_path)):
        argv = analyze_argv(data, path)
        out = run_cli_analyze(argv)  # warm-up (imports) and a check that it works
        n_events = sum(1 for line in out.splitlines() if line.strip())
        table = baseline_loadtxt(path)
        if table.shape != (n, data.block.n_cells + 1):
            raise RuntimeError(f"baseline parsed {table.shape}, expected {(n, data.block.n_cells + 1)}")
        best, runs = best_of(lambda _: run_cli_analyze(argv), repeat)
        b_best, b_runs = best_of(lambda _: baseline_loadtxt(path), repeat)
        rows.append(Row("1 end to end", f"analyze --json ({label})", n, best, runs,
                        f"np.loadtxt body ({label})", b_best, b_runs,
                        target=f">= {E2E_TARGET_ROWS_S:,} rows/s", meets=n / best >= E2E_TARGET_ROWS_S,
                        extra={"events": n_events, "bytes": os.path.getsize(path)}))
    # Breakdown: the reader alone (no filter, no rules, no JSON).
    best, runs = best_of(lambda _: read_recording(data.csv_path), repeat)
    b_best, b_runs = best_of(lambda _: baseline_loadtxt(data.csv_path), repeat)
    rows.append(Row("1 end to end", "  of which read_recording (.csv)", n, best, runs,
                    "np.loadtxt body (.csv)", b_best, b_runs))
    return rows


# -- 2. core filter loop in block mode ----------------------------------------------

def baseline_numpy_pass(raw: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """A trivial pass over the same array: cast, sum the cells, one lfilter."""
    total = raw.astype(np.float64).sum(axis=1)
    return lfilter(b, a, total)


def bench_core(data: Data, cfg: Config) -> list[Row]:
    rate = data.platform.rate_hz
    long_block = tile_block(data.block, cfg.long_rows, rate)
    b, a = butter(2, 8.0, fs=rate)
    rows = []
    for label, block in ((f"hour ({len(data.block):,} rows)" if cfg.duration_s == 3600 else
                          f"{cfg.duration_s / 60:g} min ({len(data.block):,} rows)", data.block),
                         (f"synthetic {len(long_block):,} rows", long_block)):
        b_best, b_runs = best_of(lambda _: baseline_numpy_pass(block.raw, b, a), cfg.repeat)
        for name, make in (("Monitor.process", lambda: Monitor(data.platform, data.watch)),
                           ("FilterLoop.process", lambda: FilterLoop(data.platform))):
            best, runs = best_of(lambda obj: obj.process(block), cfg.repeat, setup=make)
            rows.append(Row("2 block mode", f"{name}, {label}", len(block), best, runs,
                            "astype+sum+lfilter", b_best, b_runs,
                            target=f">= {CORE_TARGET_ROWS_S:,} rows/s",
                            meets=len(block) / best >= CORE_TARGET_ROWS_S))
    return rows


# -- 3. live cost -------------------------------------------------------------------

def feed_live(monitor: Monitor, blocks: list[Block]) -> list:
    events = []
    for blk in blocks:
        _, ev = monitor.process(blk)
        events += ev
    return events


def baseline_live(blocks: list[Block]) -> None:
    """An empty Python loop over the same blocks plus one numpy ufunc call per block."""
    for blk in blocks:
        np.add(blk.raw, 1)


def live_events_match(data: Data, block: Block) -> bool:
    """The live pattern gives the same events as one block (a guard, not a timing)."""
    def run(blocks):
        m = Monitor(data.platform, data.watch)
        ev = feed_live(m, blocks) + m.finish()
        return [e.to_dict() for e in ev]
    return run([block]) == run(live_blocks(block, LIVE_PATTERN))


def bench_live(data: Data, cfg: Config) -> list[Row]:
    block = data.block.slice(0, min(cfg.live_rows, len(data.block)))
    rate = data.platform.rate_hz
    rows = []
    patterns = [(s,) for s in LIVE_SIZES] + [LIVE_PATTERN]
    for pattern in patterns:
        blocks = live_blocks(block, pattern)
        best, runs = best_of(lambda m: feed_live(m, blocks), cfg.repeat,
                             setup=lambda: Monitor(data.platform, data.watch))
        b_best, b_runs = best_of(lambda _: baseline_live(blocks), cfg.repeat)
        per_sample = best / len(block)
        core_pct = per_sample * rate * 100
        rows.append(Row("3 live", f"Monitor.process, blocks of {','.join(map(str, pattern))}", len(block),
                        best, runs, "loop + 1 ufunc per block", b_best, b_runs, calls=len(blocks),
                        target=f"< {LIVE_TARGET_CORE_PCT:g} % of a core at {rate:g}/s",
                        meets=core_pct < LIVE_TARGET_CORE_PCT,
                        extra={"core_pct": core_pct, "pattern": list(pattern)}))
    return rows


# -- profiles -----------------------------------------------------------------------

def profiles(data: Data, cfg: Config, top: int = 5) -> dict[str, list[dict]]:
    """One cProfile'd run of each case; the top functions by own time."""
    live = live_blocks(data.block.slice(0, min(cfg.live_rows, len(data.block))), LIVE_PATTERN)
    return {
        "1 analyze --json (.csv)": profile_top(lambda: run_cli_analyze(analyze_argv(data, data.csv_path)), top),
        "2 Monitor.process, whole recording": profile_top(
            lambda: Monitor(data.platform, data.watch).process(data.block), top),
        "3 live, blocks of 3,3,4": profile_top(lambda: feed_live(Monitor(data.platform, data.watch), live), top),
    }


# -- the whole run ------------------------------------------------------------------

def machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip() or cpu
                    break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cpu": cpu or "unknown",
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        **_code_version(),
    }


def _code_version() -> dict:
    """The commit measured, and which code files differed from it (others edit while we measure)."""
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                                  cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "firmware", "calibration", "server").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or "unknown", "modified": dirty}


def run(cfg: Config, profile: bool = False, directory: str | None = None) -> dict:
    """Make the data, run all three cases; a JSON-able dict of everything measured."""
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="knotcoach-bench-"))
        data = make_data(directory, cfg)
        rows = bench_end_to_end(data, cfg.repeat) + bench_core(data, cfg) + bench_live(data, cfg)
        result = {
            "machine": machine(),
            "config": asdict(cfg),
            "data": {"rows": len(data.block), "cells": data.block.n_cells, "band_n": list(data.band),
                     "knot_mm": list(data.knot), "csv_bytes": os.path.getsize(data.csv_path),
                     "gz_bytes": os.path.getsize(data.gz_path), "simulate_s": data.make_s,
                     "write_both_s": data.write_s},
            "live_events_match_block": live_events_match(
                data, data.block.slice(0, min(cfg.live_rows, len(data.block)))),
            "rows": [r.to_dict() for r in rows],
        }
        if profile:
            result["profiles"] = profiles(data, cfg)
    return result


def _rate(v: float) -> str:
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.0f} k"


def format_report(result: dict) -> str:
    m, d = result["machine"], result["data"]
    lines = [
        f"Knot Coach benchmarks, {m['date']}",
        f"CPU {m['cpu']} ({m['cores']} cores, {m['machine']}), {m['system']}; "
        f"Python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}",
        f"Code: commit {m['commit']}" + (f" + uncommitted changes in {', '.join(m['modified'])}" if m["modified"] else ""),
        f"Data: {d['rows']:,} rows x {d['cells']} cells ({result['config']['duration_s'] / 60:g} min), "
        f".csv {d['csv_bytes'] / 1e6:.1f} MB, .csv.gz {d['gz_bytes'] / 1e6:.1f} MB; band {d['band_n'][0]:g}:"
        f"{d['band_n'][1]:g} N, knot {d['knot_mm'][0]:g},{d['knot_mm'][1]:g} mm; "
        f"best of {result['config']['repeat']}",
        "",
    ]
    head = f"{'figure':<52} {'best':>9} {'rows/s':>9}   {'baseline':<26} {'best':>9} {'rows/s':>9} {'ratio':>7}  verdict"
    lines += [head, "-" * len(head)]
    case = None
    for r in result["rows"]:
        if r["case"] != case:
            case = r["case"]
            lines.append(f"[{case}]")
        verdict = "" if r["meets"] is None else ("meets" if r["meets"] else "MISSES") + f" ({r['target']})"
        if r.get("calls"):
            name = f"{r['name']} ({r['calls']:,} calls)"
            lines.append(f"{name:<52} {r['us_per_call']:7.1f}µs {_rate(r['rows_per_s']):>9}   "
                         f"{r['baseline']:<26} {r['baseline_us_per_call']:7.2f}µs {_rate(r['baseline_rows_per_s']):>9} "
                         f"{r['ratio']:6.1f}x  {verdict}")
            lines.append(f"{'':<4}per call {r['us_per_call']:.1f} µs, per sample {r['us_per_sample']:.1f} µs, "
                         f"share of one core at 80/s {r['extra']['core_pct']:.3f} %")
        else:
            lines.append(f"{r['name']:<52} {r['best_s'] * 1e3:7.1f}ms {_rate(r['rows_per_s']):>9}   "
                         f"{r['baseline']:<26} {r['baseline_best_s'] * 1e3:7.1f}ms {_rate(r['baseline_rows_per_s']):>9} "
                         f"{r['ratio']:6.1f}x  {verdict}")
    lines.append("")
    lines.append("ratio = figure time / baseline time (same data, same run). Live rows: best is µs per call.")
    match = result["live_events_match_block"]
    lines.append(f"Live blocks of 3,3,4 give the same events as one block: {'yes' if match else 'NO (check the filter loop)'}")
    for name, prof in result.get("profiles", {}).items():
        lines.append("")
        lines.append(f"cProfile, {name}: {prof['total_s'] * 1e3:.0f} ms profiled, {prof['calls']:,} function calls; "
                     "top by own time (ms, share, calls)")
        for p in prof["top"]:
            lines.append(f"  {p['tottime_s'] * 1e3:8.1f} ms {p['share'] * 100:5.1f} %  {p['ncalls']:>8}  {p['function']}")
        lines.append("  stages by cumulative time:")
        for p in prof["stages"]:
            lines.append(f"  {p['cumtime_s'] * 1e3:8.1f} ms {p['cumtime_s'] / prof['total_s'] * 100:5.1f} %  "
                         f"{p['ncalls']:>8}  {p['function']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10-minute recording, fewer repetitions (smoke test)")
    parser.add_argument("--repeat", type=int, help="best of N repetitions (N >= 3; default 5, quick 3)")
    parser.add_argument("--json", metavar="OUT", help="also write every figure as JSON to OUT")
    parser.add_argument("--profile", action="store_true", help="also cProfile one run of each case (top 5)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.repeat is not None:
        if args.repeat < 3:
            parser.error("--repeat must be at least 3")
        cfg = Config(**{**asdict(cfg), "repeat": args.repeat})
    result = run(cfg, profile=args.profile)
    print(format_report(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0 if result["live_events_match_block"] else 1


if __name__ == "__main__":
    sys.exit(main())
