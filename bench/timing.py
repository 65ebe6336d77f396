"""How the benchmarks measure: best of N wall-clock runs, and one cProfile'd run."""

from __future__ import annotations

import cProfile
import gc
import os
import pstats
import time
from typing import Any, Callable


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
