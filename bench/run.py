"""Knot Coach benchmarks: file to events, the filter loop in block mode, and live cost.

Run from the repository root::

    .venv/bin/python -m bench.run [--quick] [--repeat N] [--json OUT] [--profile]

Every figure is the best of N repetitions (N >= 3) and sits next to a simple
baseline measured in the same run on the same data, with the ratio
figure time / baseline time. See bench/README.md for what each row means.

The work is split by responsibility: ``bench.data`` (the configuration and the
recording), ``bench.timing`` (best of N, cProfile), ``bench.cases`` (the three
cases) and ``bench.report`` (machine, code version, the table). This module
runs them and is the command line; it re-exports their public names.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from dataclasses import asdict

from bench.cases import (
    CORE_TARGET_ROWS_S, E2E_TARGET_ROWS_S, LIVE_PATTERN, LIVE_SIZES, PI_ZERO2_TARGET_CORE_PCT, Row, analyze_argv,
    baseline_live, baseline_loadtxt, baseline_numpy_pass, bench_core, bench_end_to_end, bench_live, feed_live,
    live_events_match, profiles, run_cli_analyze,
)
from bench.data import FULL, QUICK, Config, Data, describe_data, live_blocks, make_data, tile_block
from bench.report import format_report, machine
from bench.timing import best_of, profile_top
from firmware.block import Block

__all__ = [
    "Block", "CORE_TARGET_ROWS_S", "Config", "Data", "E2E_TARGET_ROWS_S", "FULL", "LIVE_PATTERN", "LIVE_SIZES",
    "PI_ZERO2_TARGET_CORE_PCT", "QUICK", "Row", "analyze_argv", "baseline_live", "baseline_loadtxt",
    "baseline_numpy_pass", "bench_core", "bench_end_to_end", "bench_live", "best_of", "feed_live", "format_report",
    "live_blocks", "live_events_match", "machine", "main", "make_data", "profile_top", "profiles", "run",
    "run_cli_analyze", "tile_block",
]


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
            "data": describe_data(data),
            "live_events_match_block": live_events_match(data, data.live_block(cfg)),
            "rows": [r.to_dict() for r in rows],
        }
        if profile:
            result["profiles"] = profiles(data, cfg)
    return result


def _parse_config(argv: list[str] | None) -> tuple[Config, argparse.Namespace]:
    """The command line: the configuration it asks for, and the other options."""
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
    return cfg, args


def main(argv: list[str] | None = None) -> int:
    cfg, args = _parse_config(argv)
    result = run(cfg, profile=args.profile)
    print(format_report(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0 if result["live_events_match_block"] else 1


if __name__ == "__main__":
    sys.exit(main())
