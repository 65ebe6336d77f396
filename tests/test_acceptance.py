"""The issue's "what done means", measured on simulated sessions with ground truth.

Recordings with 4, 2 and 1 cells, HX711 noise, 2 % garbage frames, 1 % lost
samples, negative sensitivities, stale offsets and faulted cells of every
kind go through the file format and ``knotcoach analyze --json`` exactly as a
user would run it; the events are scored by tests/acceptance.py.
"""

import json

import numpy as np
import pytest

from firmware.pipeline.monitor import Knot, WatchSettings
from firmware.recordings.format import write_recording
from firmware.sim.scenario import realistic_session
from server.cli import main
from tests.acceptance import Score, score_band, score_faults, score_knot

CASES = [
    # (cells, seed, negative sensitivity, stale offsets N, noise counts rms)
    (4, 1, False, 6.0, 30.0),
    (4, 2, True, 8.0, 150.0),
    (2, 3, False, 6.0, 30.0),
    (2, 4, True, 8.0, 150.0),
    (1, 5, False, 6.0, 30.0),
    (1, 6, True, 8.0, 150.0),
]


def events_from_cli(capsys, path, args):
    capsys.readouterr()
    assert main(["analyze", str(path), "--json", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["t_s"] for e in events] == sorted(e["t_s"] for e in events)
    return events


class _E:  # the scorer takes objects with .t_s/.event/.edge/.extra
    def __init__(self, d):
        self.t_s, self.event, self.edge = d["t_s"], d["event"], d["edge"]
        self.extra = {k: v for k, v in d.items() if k not in ("t_s", "event", "edge")}


@pytest.mark.parametrize("cells, seed, negative, stale_n, noise", CASES)
def test_warnings_meet_the_timing_promises(tmp_path, capsys, cells, seed, negative, stale_n, noise):
    block, platform, truth = realistic_session(seed, cells, garbage_fraction=0.02, lost_fraction=0.01,
                                               negative_sensitivity=negative, stale_offsets_n=stale_n,
                                               noise_counts_rms=noise)
    assert len(truth.faults) == 5 and truth.garbage.mean() > 0.015 and (~truth.row_kept).mean() > 0.005
    path = tmp_path / "session.csv.gz"
    write_recording(path, platform, block)
    lo, hi = truth.band_n
    one_d = platform.position_dims == 1
    knot = f"{truth.knot_mm[0]}" if one_d else f"{truth.knot_mm[0]},{truth.knot_mm[1]}"
    args = ["--band-newtons", f"{lo}:{hi}"] + (["--knot", knot] if cells > 1 else [])
    events = [_E(d) for d in events_from_cli(capsys, path, args)]
    score = Score()
    score_band(truth, events, hi, score)
    if cells > 1:
        score_knot(truth, events, 50.8, 1.0, one_d, score)
    score_faults(truth, events, score)
    assert score.problems == []
    # Each criterion was exercised, not vacuously passed.
    assert len(score.band_latencies_s) >= 3 and max(score.band_latencies_s) <= 0.060
    assert len(score.fault_latencies_s) == 5
    if cells > 1:
        assert len(score.knot_errors_s) >= 2
    starts = [e for e in events if e.edge == "start"]
    ends = [e for e in events if e.edge == "end"]
    assert len(starts) == len(ends)


def test_a_press_stopping_short_of_the_edge_never_warns():
    block, platform, truth = realistic_session(8, 4, garbage_fraction=0.02, lost_fraction=0.01)
    lo, hi = truth.band_n
    # Raise the edge so every press stays between 95 % and 100 % of it at most.
    peak = np.nanmax(truth.force_n)
    from firmware.pipeline.analysis import analyze
    from firmware.recordings.format import Recording
    result = analyze(Recording(platform, block), WatchSettings(lo, peak / 0.955, Knot(*truth.knot_mm)))
    assert [e for e in result.events if e.event == "over_band"] == []
