"""The three benchmark cases (file to events, block mode, live cost) and their profiles.

Each case returns :class:`Row` objects: a figure, its baseline measured in
the same run on the same data, and the verdict against its target.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.signal import butter, lfilter

from bench.data import Config, Data, live_blocks, tile_block
from bench.timing import best_of, profile_top
from firmware.block import Block
from firmware.pipeline.filterloop import FilterLoop
from firmware.pipeline.monitor import Monitor

#: Targets from the brief.
E2E_TARGET_ROWS_S = 100_000
CORE_TARGET_ROWS_S = 1_000_000
#: The live target: under 5 % of a Raspberry Pi Zero 2 W core, estimated from this
#: machine by the slowdowns below (see bench/README.md for where they come from).
PI_ZERO2_TARGET_CORE_PCT = 5.0
#: CPython's single-core slowdown against a current x86 server core: a Pi 4
#: (Cortex-A72, 1.5-1.8 GHz) about 4-6x, a Pi Zero 2 W (Cortex-A53, 1 GHz, about a
#: Pi 3B) about 2-2.5x slower again; the high ends are used.
PI_SLOWDOWN = {"Pi 4": 6.0, "Pi Zero 2 W": 15.0}

#: Live, the device loop hands the filter loop every row on its own (blocks of 1);
#: blocks of 3, 3, 4 are what a loop once a frame (25/s) would pass, for comparison.
LIVE_PATTERN = (3, 3, 4)
LIVE_SIZES = (1, 2, 3, 4)


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


def _bench_analyze(data: Data, label: str, path: str, repeat: int) -> Row:
    """``analyze --json`` on one file of the recording against parsing that file."""
    n = len(data.block)
    argv = analyze_argv(data, path)
    out = run_cli_analyze(argv)  # warm-up (imports) and a check that it works
    n_events = sum(1 for line in out.splitlines() if line.strip())
    table = baseline_loadtxt(path)
    if table.shape != (n, data.block.n_cells + 1):
        raise RuntimeError(f"baseline parsed {table.shape}, expected {(n, data.block.n_cells + 1)}")
    best, runs = best_of(lambda _: run_cli_analyze(argv), repeat)
    b_best, b_runs = best_of(lambda _: baseline_loadtxt(path), repeat)
    return Row("1 end to end", f"analyze --json ({label})", n, best, runs,
               f"np.loadtxt body ({label})", b_best, b_runs,
               target=f">= {E2E_TARGET_ROWS_S:,} rows/s", meets=n / best >= E2E_TARGET_ROWS_S,
               extra={"events": n_events, "bytes": os.path.getsize(path)})


def bench_end_to_end(data: Data, repeat: int) -> list[Row]:
    from firmware.recordings.format import read_recording

    rows = [_bench_analyze(data, label, path, repeat)
            for label, path in ((".csv", data.csv_path), (".csv.gz", data.gz_path))]
    # Breakdown: the reader alone (no filter, no rules, no JSON).
    best, runs = best_of(lambda _: read_recording(data.csv_path), repeat)
    b_best, b_runs = best_of(lambda _: baseline_loadtxt(data.csv_path), repeat)
    rows.append(Row("1 end to end", "  of which read_recording (.csv)", len(data.block), best, runs,
                    "np.loadtxt body (.csv)", b_best, b_runs))
    return rows


# -- 2. core filter loop in block mode ----------------------------------------------

def baseline_numpy_pass(raw: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """A trivial pass over the same array: cast, sum the cells, one lfilter."""
    total = raw.astype(np.float64).sum(axis=1)
    return lfilter(b, a, total)


def _core_blocks(data: Data, cfg: Config) -> list[tuple[str, Block]]:
    """(label, block): the recording itself, then the synthetic long block."""
    long_block = tile_block(data.block, cfg.long_rows, data.platform.rate_hz)
    n = len(data.block)
    own = f"hour ({n:,} rows)" if cfg.duration_s == 3600 else f"{cfg.duration_s / 60:g} min ({n:,} rows)"
    return [(own, data.block), (f"synthetic {len(long_block):,} rows", long_block)]


def bench_core(data: Data, cfg: Config) -> list[Row]:
    b, a = butter(2, 8.0, fs=data.platform.rate_hz)
    rows = []
    for label, block in _core_blocks(data, cfg):
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
    """A row at a time (what the device does) and blocks of 3,3,4 give the same events
    as one block (a guard, not a timing)."""
    def run(blocks):
        m = Monitor(data.platform, data.watch)
        ev = feed_live(m, blocks) + m.finish()
        return [e.to_dict() for e in ev]
    whole = run([block])
    return whole == run(live_blocks(block, (1,))) == run(live_blocks(block, LIVE_PATTERN))


def _bench_live_pattern(data: Data, block: Block, pattern: tuple[int, ...], repeat: int) -> Row:
    """``Monitor.process`` fed ``block`` in blocks cycling through ``pattern``."""
    rate = data.platform.rate_hz
    blocks = live_blocks(block, pattern)
    best, runs = best_of(lambda m: feed_live(m, blocks), repeat,
                         setup=lambda: Monitor(data.platform, data.watch))
    b_best, b_runs = best_of(lambda _: baseline_live(blocks), repeat)
    per_sample = best / len(block)
    core_pct = per_sample * rate * 100
    pi_pct = {name: core_pct * k for name, k in PI_SLOWDOWN.items()}
    return Row("3 live", f"Monitor.process, blocks of {','.join(map(str, pattern))}", len(block),
               best, runs, "loop + 1 ufunc per block", b_best, b_runs, calls=len(blocks),
               target=f"< {PI_ZERO2_TARGET_CORE_PCT:g} % of a Pi Zero 2 W core (est.) at {rate:g}/s",
               meets=pi_pct["Pi Zero 2 W"] < PI_ZERO2_TARGET_CORE_PCT,
               extra={"core_pct": core_pct, "pi_core_pct_est": pi_pct, "pattern": list(pattern)})


def bench_live(data: Data, cfg: Config) -> list[Row]:
    block = data.live_block(cfg)
    patterns = [(s,) for s in LIVE_SIZES] + [LIVE_PATTERN]
    rows = [_bench_live_pattern(data, block, pattern, cfg.repeat) for pattern in patterns]
    # The session needs a few seconds to start (lie down, start, mark): at least 20 s of rows.
    session = data.block.slice(0, max(len(block), int(20 * data.platform.rate_hz)))
    return rows + [_bench_device_loop(data, session, cfg.repeat)]


class _RowSource:
    """The rows of a block handed out one per read, as the paced HX711 boards do."""

    kind = "replay"

    def __init__(self, platform, block: Block) -> None:
        self.platform, self._rows, self._i = platform, live_blocks(block, (1,)), 0

    @property
    def finished(self) -> bool:
        return self._i >= len(self._rows)

    def read(self) -> Block:
        if self.finished:
            return self._rows[0].slice(0, 0)
        self._i += 1
        return self._rows[self._i - 1]

    def next_due_in_s(self) -> float:
        return 0.0


def _session_loop(data: Data, block: Block):
    """A device loop coaching a session (rolling around a marked knot) on ``block``'s rows."""
    from firmware.device.loop import DeviceLoop
    loop = DeviceLoop(_RowSource(data.platform, block), data.watch, announce=lambda m: None)
    while loop.latest["x_mm"] is None and loop.step():  # until someone lies on the roller
        pass
    for name, args in (("start", {"person": "bench", "region": "calf", "tool": "foam_roller",
                                  "pain_before": 5}), ("mark_knot", {})):
        for _ in range(int(data.platform.rate_hz)):  # a second on the roller before each
            loop.step()
        reply = loop.command(name, **args)
        if not reply["ok"] or loop.source.finished:
            raise RuntimeError(f"the bench session did not start: {reply}")
    return loop


def _run_loop(loop) -> None:
    while loop.step():
        pass


def _bench_device_loop(data: Data, block: Block, repeat: int) -> Row:
    """``DeviceLoop.step`` a row at a time: filter loop, rules, the coach, a frame every 40 ms."""
    rate = data.platform.rate_hz
    probe = _session_loop(data, block)
    timed = block.slice(probe.source._i, len(block))  # the rows stepped in the session
    best, runs = best_of(_run_loop, repeat, setup=lambda: _session_loop(data, block))
    block = timed
    blocks = live_blocks(block, (1,))
    b_best, b_runs = best_of(lambda _: baseline_live(blocks), repeat)
    core_pct = best / len(block) * rate * 100
    pi_pct = {name: core_pct * k for name, k in PI_SLOWDOWN.items()}
    return Row("3 live", "DeviceLoop.step, a row each, in a session", len(block), best, runs,
               "loop + 1 ufunc per block", b_best, b_runs, calls=len(block),
               target=f"< {PI_ZERO2_TARGET_CORE_PCT:g} % of a Pi Zero 2 W core (est.) at {rate:g}/s",
               meets=pi_pct["Pi Zero 2 W"] < PI_ZERO2_TARGET_CORE_PCT,
               extra={"core_pct": core_pct, "pi_core_pct_est": pi_pct, "pattern": [1]})


# -- profiles -----------------------------------------------------------------------

def profiles(data: Data, cfg: Config, top: int = 5) -> dict[str, list[dict]]:
    """One cProfile'd run of each case; the top functions by own time."""
    live = live_blocks(data.live_block(cfg), LIVE_PATTERN)
    return {
        "1 analyze --json (.csv)": profile_top(lambda: run_cli_analyze(analyze_argv(data, data.csv_path)), top),
        "2 Monitor.process, whole recording": profile_top(
            lambda: Monitor(data.platform, data.watch).process(data.block), top),
        "3 live, blocks of 3,3,4": profile_top(lambda: feed_live(Monitor(data.platform, data.watch), live), top),
    }
