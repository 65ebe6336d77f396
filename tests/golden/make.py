"""Regenerate the golden traces: run only when a change of numbers is intended.

    .venv/bin/python -m tests.golden.make

Each case is a recording in (CSV) and what ``knotcoach analyze`` makes of it
(the --trace CSV and the --json events). tests/test_golden.py checks that the
current code reproduces them exactly; review the diff before committing new ones.
"""

from pathlib import Path

from firmware.recordings.format import write_recording
from firmware.sim.scenario import dwell, lift, make_session, press
from server.cli import main

HERE = Path(__file__).parent

#: name: (cells, analyze arguments)
CASES = {
    "corners4": (4, ["--band-newtons", "180:260", "--knot", "300,200"]),
    "ends2": (2, ["--band-newtons", "180:260", "--knot", "300"]),
}


def make_recording(name: str, cells: int) -> Path:
    events = (press(4.0, 300.0, ramp_s=1.5, hold_s=1.5, steady=True) + dwell(9.0, 1.6)
              + lift(13.0, 1.5) + press(17.0, 240.0, ramp_s=1.0, hold_s=1.0, steady=True))
    faults = [(cells - 1, "frozen", 11.0, 12.5), (0, "missing", 20.0, 21.0)]
    block, platform, _ = make_session(21, cells, duration_s=24.0, garbage_fraction=0.02, lost_fraction=0.01,
                                      negative_sensitivity=True, stale_offsets_n=5.0, faults=faults,
                                      events=events)
    path = HERE / f"{name}.csv"
    write_recording(path, platform, block, {"note": "golden trace input, see tests/golden/make.py"})
    return path


def analyze_args(name: str) -> list[str]:
    cells, extra = CASES[name]
    return ["analyze", str(HERE / f"{name}.csv"), *extra, "--json", "--trace", str(HERE / f"{name}.trace.csv")]


if __name__ == "__main__":
    import contextlib
    for name, (cells, _) in CASES.items():
        make_recording(name, cells)
        with open(HERE / f"{name}.events.jsonl", "w") as out, contextlib.redirect_stdout(out):
            assert main(analyze_args(name)) == 0
        print("wrote", name)
