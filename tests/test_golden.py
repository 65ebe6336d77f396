"""Golden traces: a recording in, the exact trace and events out (see tests/golden/make.py).

They pin every number of the filter loop and rules; a change that moves any
of them must regenerate the files on purpose and show the diff for review.
"""

import contextlib
import io

import pytest

from server.cli import main
from tests.golden.make import CASES, HERE, analyze_args


@pytest.mark.parametrize("name", sorted(CASES))
def test_trace_and_events_match_the_golden_files(tmp_path, name):
    args = analyze_args(name)
    args[args.index("--trace") + 1] = str(tmp_path / "trace.csv")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    assert out.getvalue() == (HERE / f"{name}.events.jsonl").read_text()
    got = (tmp_path / "trace.csv").read_text().splitlines()
    want = (HERE / f"{name}.trace.csv").read_text().splitlines()
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"trace line {i + 1} differs"


@pytest.mark.parametrize("name", sorted(CASES))
def test_live_blocks_reproduce_the_golden_trace(name):
    # The same recording fed 3 rows at a time, as the device loop does.
    from firmware.pipeline.analysis import analyze
    from firmware.pipeline.monitor import Knot, WatchSettings
    from firmware.recordings.format import read_recording
    rec = read_recording(HERE / f"{name}.csv")
    want = [line.split(",") for line in (HERE / f"{name}.trace.csv").read_text().splitlines()[1:]]
    _, extra = CASES[name]
    lo, hi = (float(v) for v in extra[1].split(":"))
    knot = [float(v) for v in extra[3].split(",")]
    result = analyze(rec, WatchSettings(lo, hi, Knot(*knot)), block_rows=3)
    force = ["" if f != f else f"{f:.3f}" for f in result.output.force_n]
    assert force == [w[1] for w in want]
