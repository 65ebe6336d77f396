"""The benchmarks' report: the machine and code measured, and the table as text."""

from __future__ import annotations

import datetime
import os
import platform

import numpy as np
import scipy


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


def _rate(v: float) -> str:
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.0f} k"


def format_report(result: dict) -> str:
    lines = _header_lines(result)
    head = f"{'figure':<52} {'best':>9} {'rows/s':>9}   {'baseline':<26} {'best':>9} {'rows/s':>9} {'ratio':>7}  verdict"
    lines += [head, "-" * len(head)]
    case = None
    for r in result["rows"]:
        if r["case"] != case:
            case = r["case"]
            lines.append(f"[{case}]")
        lines += _row_lines(r)
    lines.append("")
    lines.append("ratio = figure time / baseline time (same data, same run). Live rows: best is µs per call.")
    match = result["live_events_match_block"]
    lines.append(f"Live rows one at a time and blocks of 3,3,4 give the same events as one block: {'yes' if match else 'NO (check the filter loop)'}")
    for name, prof in result.get("profiles", {}).items():
        lines += _profile_lines(name, prof)
    return "\n".join(lines)


def _header_lines(result: dict) -> list[str]:
    """Date, machine, code and data measured, then an empty line."""
    m, d = result["machine"], result["data"]
    return [
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


def _row_lines(r: dict) -> list[str]:
    """One figure of the table: a line, and for a live figure a second line with the share of a core."""
    verdict = "" if r["meets"] is None else ("meets" if r["meets"] else "MISSES") + f" ({r['target']})"
    if not r.get("calls"):
        return [f"{r['name']:<52} {r['best_s'] * 1e3:7.1f}ms {_rate(r['rows_per_s']):>9}   "
                f"{r['baseline']:<26} {r['baseline_best_s'] * 1e3:7.1f}ms {_rate(r['baseline_rows_per_s']):>9} "
                f"{r['ratio']:6.1f}x  {verdict}"]
    name = f"{r['name']} ({r['calls']:,} calls)"
    return [f"{name:<52} {r['us_per_call']:7.1f}µs {_rate(r['rows_per_s']):>9}   "
            f"{r['baseline']:<26} {r['baseline_us_per_call']:7.2f}µs {_rate(r['baseline_rows_per_s']):>9} "
            f"{r['ratio']:6.1f}x  {verdict}",
            f"{'':<4}per call {r['us_per_call']:.1f} µs, per sample {r['us_per_sample']:.1f} µs, "
            f"share of one core at 80/s {r['extra']['core_pct']:.3f} % here; estimated "
            + ", ".join(f"{k} {v:.2f} %" for k, v in r["extra"]["pi_core_pct_est"].items())]


def _profile_lines(name: str, prof: dict) -> list[str]:
    """One case's cProfile: the top functions by own time, then the stages by cumulative time."""
    lines = ["", f"cProfile, {name}: {prof['total_s'] * 1e3:.0f} ms profiled, {prof['calls']:,} function calls; "
                 "top by own time (ms, share, calls)"]
    for p in prof["top"]:
        lines.append(f"  {p['tottime_s'] * 1e3:8.1f} ms {p['share'] * 100:5.1f} %  {p['ncalls']:>8}  {p['function']}")
    lines.append("  stages by cumulative time:")
    for p in prof["stages"]:
        lines.append(f"  {p['cumtime_s'] * 1e3:8.1f} ms {p['cumtime_s'] / prof['total_s'] * 100:5.1f} %  "
                     f"{p['ncalls']:>8}  {p['function']}")
    return lines
