"""The knotcoach command as a user meets it: help, record, analyze, run, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from calibration.platform import Cell, PlatformCalibration
from firmware.block import Block
from firmware.recording import read_recording, write_recording
from server.cli import build_parser, main

SUBCOMMANDS = ["run", "record", "analyze"]


def test_every_subcommand_says_what_it_does(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert f"    {name} " in out
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        assert "usage: knotcoach " + name in capsys.readouterr().out
    helps = {a.dest: a.help for a in build_parser()._subparsers._group_actions[0]._choices_actions}
    assert set(helps) == set(SUBCOMMANDS) and all(h and "\n" not in h for h in helps.values())


@pytest.fixture
def recording(tmp_path, capsys):
    path = tmp_path / "rec.csv"
    assert main(["record", str(path), "--source", "sim", "--seconds", "20", "--seed", "4"]) == 0
    return path


def test_record_writes_simulated_time_at_once(recording, capsys):
    rec = read_recording(recording)
    assert len(rec.block) == 20 * 80 and rec.platform.n_cells == 4
    assert rec.meta["source"] == "simulated"
    assert "wrote 1600 samples" in capsys.readouterr().err
    assert not list(recording.parent.glob("*.part"))


def test_analyze_human_summary_and_json(recording, capsys):
    capsys.readouterr()
    assert main(["analyze", str(recording), "--band-newtons", "100:150"]) == 0
    out = capsys.readouterr().out
    assert "20.0 s, 1600 samples from 4 cell(s)" in out and "Band 100-150 N" in out
    assert main(["analyze", str(recording), "--band-newtons", "100:150", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events and events[0] == {"t_s": events[0]["t_s"], "event": "over_band", "edge": "start"}
    assert sum(e["edge"] == "start" for e in events) == sum(e["edge"] == "end" for e in events)


def test_trace_has_one_row_per_sample(recording, tmp_path):
    trace = tmp_path / "trace.csv"
    assert main(["analyze", str(recording), "--band-newtons", "100:150", "--trace", str(trace)]) == 0
    lines = trace.read_text().splitlines()
    assert lines[0] == "t_s,force_n,x_mm,y_mm,fault" and len(lines) == 1601
    body = np.genfromtxt(trace, delimiter=",", skip_header=1)
    assert np.all(np.isnan(body[:100, 2]))             # unloaded start: no position
    assert np.nanmax(body[:, 1]) > 150 and np.nanmin(body[:, 2]) >= -50


def test_one_cell_trace_has_no_position(tmp_path):
    platform = PlatformCalibration((Cell(0, 0, 1000, 400.0),))
    t = np.arange(400) / 80.0
    raw = (1000 + 400 * np.clip(t - 1, 0, None) * 100).astype(np.int64)[:, None]
    path = tmp_path / "one.csv"
    write_recording(path, platform, Block(t, raw))
    trace = tmp_path / "t.csv"
    assert main(["analyze", str(path), "--band-newtons", "100:200", "--knot", "0", "--trace", str(trace)]) == 0
    rows = [line.split(",") for line in trace.read_text().splitlines()[1:]]
    assert all(r[2] == "" and r[3] == "" for r in rows)
    assert float(rows[-1][1]) > 200


def test_empty_recording_gives_no_events(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    write_recording(path, PlatformCalibration((Cell(0, 0, 0, 1.0),)), Block.empty(1))
    capsys.readouterr()
    assert main(["analyze", str(path), "--band-newtons", "1:2", "--json"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("args, message", [
    (["analyze", "{rec}"], "required: --band-newtons"),
    (["analyze", "{rec}", "--band-newtons", "200:100"], "LO must be below HI"),
    (["analyze", "{rec}", "--band-newtons", "x:1"], "must be a number"),
    (["analyze", "{rec}", "--band-newtons", "1:inf"], "finite"),
    (["analyze", "{rec}", "--band-newtons", "1:2", "--knot", "a,b"], "must be a number"),
    (["analyze", "{rec}", "--band-newtons", "1:2", "--zone-mm", "-3"], "zone-mm must be >"),
    (["analyze", "{missing}", "--band-newtons", "1:2"], "cannot read"),
    (["analyze", "{bad}", "--band-newtons", "1:2"], "bad.csv:7: raw value"),
    (["analyze", "{rec}", "--band-newtons", "1:2", "--trace", "{rec}"], "overwrite the recording"),
    (["analyze", "{rec}", "--band-newtons", "1:2", "--trace", "/nonexistent/t.csv"], "cannot write"),
    (["record", "/nonexistent/dir/x.csv", "--source", "sim"], "does not exist"),
    (["record", "{tmp}/x.csv", "--source", "nonsense"], "unknown source"),
    (["record", "{tmp}/x.csv", "--source", "replay:{missing}"], "cannot read"),
    (["record", "{tmp}/x.csv", "--source", "sim", "--seconds", "0"], "seconds must be >"),
    (["run", "--source", "hx711", "--pins", "5:6,5:7"], "distinct"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, recording, capsys, args, message):
    bad = tmp_path / "bad.csv"
    bad.write_text(recording.read_text().replace("\n0.0125,", "\n0.0125,x", 1))
    names = {"rec": recording, "missing": tmp_path / "missing.csv", "bad": bad, "tmp": tmp_path}
    before = recording.read_bytes()
    capsys.readouterr()
    assert main([a.format(**names) for a in args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert recording.read_bytes() == before  # nothing already stored is touched


def test_installed_console_script_reports_bad_input_without_traceback(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("not a recording\n")
    proc = subprocess.run([sys.executable, "-m", "server.cli", "analyze", str(bad), "--band-newtons", "1:2"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == f"knotcoach: {bad}:1: not a knotcoach recording " \
                                  "(line 1 must be '# knotcoach recording 1')"


def test_run_replays_a_recording_in_the_terminal(recording, capsys):
    capsys.readouterr()
    assert main(["run", "--source", f"replay:{recording}", "--fast", "--band-newtons", "100:150"]) == 0
    out = capsys.readouterr().out
    assert "too hard: ease off" in out and " N" in out
