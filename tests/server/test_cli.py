"""The knotcoach command as a user meets it: help, record, analyze, run, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from calibration.platform import Cell, PlatformCalibration
from firmware.block import MISSING, Block
from firmware.recordings.format import read_recording, write_recording
from server.cli import build_parser, main

SUBCOMMANDS = ["run", "record", "calibrate", "profile", "sessions", "analyze", "pair", "doctor", "serve"]


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


def test_record_from_a_fast_replay_keeps_seconds_of_samples_not_of_wall_time(recording, tmp_path, capsys):
    out = tmp_path / "two.csv"
    assert main(["record", str(out), "--source", f"replay:{recording}", "--fast", "--seconds", "2"]) == 0
    rec, whole = read_recording(out), read_recording(recording)
    assert len(rec.block) == 2 * 80
    assert rec.block.t_s.tolist() == whole.block.t_s[:160].tolist()


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
    (["analyze", "{rec}"], "--band-newtons --profile is required"),
    (["analyze", "{rec}", "--band-newtons", "1:2", "--profile", "{rec}"], "not allowed with argument"),
    (["analyze", "{rec}", "--profile", "{rec}"], "rec.csv"),
    (["analyze", "{rec}", "--band-newtons", "1:2", "--region", "calf"], "--region goes with --profile"),
    (["analyze", "{rec}", "--band-newtons", "200:100"], "LO must be below HI"),
    (["analyze", "{rec}", "--band-newtons", "x:1"], "must be a number"),
    (["analyze", "{rec}", "--band-newtons", "1:inf"], "finite"),
    (["analyze", "{rec}", "--band-newtons", "1:2", "--knot", "a,b"], "must be a number"),
    (["analyze", "{rec}", "--band-newtons", "1:2", "--zone-mm", "-3"], "zone-mm must be >"),
    (["analyze", "{rec}", "--band-newtons", "1:2", "--knot", "1e308,1e308"], "within 10000 mm"),
    (["analyze", "{rec}", "--band-newtons", "185:1e308"], "at most 20000 N"),
    (["analyze", "{rec}", "--band-newtons", "1:2", "--zone-mm", "1e308"], "zone-mm must be at most"),
    (["analyze", "{rec}", "--band-newtons", "1:2", "--dwell-s", "1e9"], "dwell-s must be at most"),
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


def test_run_replays_a_recording_in_the_terminal(recording, capsys, tmp_path):
    capsys.readouterr()
    assert main(["run", "--source", f"replay:{recording}", "--fast", "--band-newtons", "100:150", "--no-web",
                 "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "too hard: ease off" in out and " N" in out


def test_help_lines_fit_an_80_column_terminal(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out.splitlines()
    rows = [line for line in out if line.startswith("    ") and line.split()[0] in SUBCOMMANDS]
    assert len(rows) == len(SUBCOMMANDS)
    following = [out[out.index(r) + 1] for r in rows if out.index(r) + 1 < len(out)]
    assert not any(f.startswith("      ") and f.split()[0] not in SUBCOMMANDS for f in following)


def test_record_never_replaces_a_file_unless_asked(recording, tmp_path, capsys):
    before = recording.read_bytes()
    assert main(["record", str(recording), "--source", "sim", "--seconds", "1"]) == 2
    assert "already exists" in capsys.readouterr().err and recording.read_bytes() == before
    assert main(["record", str(tmp_path), "--source", "sim", "--seconds", "1"]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["record", str(recording), "--source", "sim", "--seconds", "1", "--force"]) == 0
    assert len(read_recording(recording).block) == 80


def test_a_failing_recording_is_not_passed_off_as_complete(tmp_path, monkeypatch, capsys):
    from firmware.sources.simulated import SimulatedPlatform

    def broken(self, seconds):
        raise MemoryError("out of memory")

    monkeypatch.setattr(SimulatedPlatform, "generate", broken)
    out = tmp_path / "x.csv"
    with pytest.raises(MemoryError):
        main(["record", str(out), "--source", "sim", "--seconds", "5"])
    assert not out.exists() and (tmp_path / "x.csv.part").exists()


def test_summary_lists_each_warning_with_its_time(recording, capsys):
    capsys.readouterr()
    assert main(["analyze", str(recording), "--band-newtons", "100:150", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # Every start is closed by its own end, later or at the same sample.
    open_ = {}
    for e in events:
        key = (e["event"], e.get("cell"))
        if e["edge"] == "start":
            assert key not in open_
            open_[key] = e["t_s"]
        else:
            assert open_.pop(key) <= e["t_s"]
    assert not open_
    assert main(["analyze", str(recording), "--band-newtons", "100:150"]) == 0
    text = capsys.readouterr().out
    for e in events:
        if e["edge"] == "start":
            assert f"{e['t_s']:8.2f} s  pressing harder than the band" in text
    assert "Frames rejected as glitches or invalid: " in text


def test_a_healthy_ten_per_second_recording_has_no_fault(tmp_path, capsys):
    platform = PlatformCalibration((Cell(0, 0, 1000, 400.0), Cell(500, 0, 2000, 400.0)), rate_hz=10.0)
    rng = np.random.default_rng(1)
    t = np.arange(300) / 10.0
    raw = np.stack([1000 + rng.normal(0, 20, 300), 2000 + rng.normal(0, 20, 300)], axis=1).astype(np.int64)
    path = tmp_path / "slow.csv"
    write_recording(path, platform, Block(t, raw))
    capsys.readouterr()
    assert main(["analyze", str(path), "--band-newtons", "100:200", "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_rows_before_any_reading_have_no_force(tmp_path):
    platform = PlatformCalibration((Cell(0, 0, 1000, 400.0),))
    raw = 1000 + np.arange(40, dtype=np.int64)[:, None] % 3
    raw[:10] = int(MISSING)
    path = tmp_path / "late.csv"
    write_recording(path, platform, Block(np.arange(40) / 80.0, raw))
    trace = tmp_path / "t.csv"
    assert main(["analyze", str(path), "--band-newtons", "1:2", "--trace", str(trace)]) == 0
    forces = [line.split(",")[1] for line in trace.read_text().splitlines()[1:]]
    # The first reading (row 10) is confirmed by the second: force from row 11 on.
    assert forces[:11] == [""] * 11 and all(f for f in forces[11:])


def test_analyze_judges_on_a_persons_own_scale(recording, tmp_path, capsys):
    from calibration.intensity import Mark
    from calibration.profiles import ProfileStore
    store = ProfileStore(tmp_path / "data")
    profile = store.add_calibration("ana", "calf", [Mark(60.0, 2.0), Mark(150.0, 5.0), Mark(220.0, 7.0)],
                                    "2026-11-20T10:00:00+00:00")
    lo, hi = profile.band_n()
    assert hi == pytest.approx(150.0, abs=0.01)
    store.export("ana", tmp_path / "ana.json")
    capsys.readouterr()
    assert main(["analyze", str(recording), "--profile", str(tmp_path / "ana.json"), "--json"]) == 0
    by_profile = capsys.readouterr().out
    assert main(["analyze", str(recording), "--band-newtons", f"{lo}:{hi}", "--json"]) == 0
    assert by_profile == capsys.readouterr().out and '"over_band"' in by_profile


def test_a_damaged_platform_calibration_is_reported_not_used(tmp_path, capsys):
    (tmp_path / "platform.json").write_text("{ not json")
    assert main(["run", "--source", "sim", "--seconds", "1", "--data-dir", str(tmp_path)]) == 2
    assert "stored platform calibration cannot be used" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_host_that_does_not_resolve_is_one_line_before_anything_starts(tmp_path, capsys, command):
    assert main([command, "--host", "no-such-host.invalid", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--host 'no-such-host.invalid': not an address" in err[0]
    assert not (tmp_path / "device.sock").exists()


@pytest.mark.parametrize("argv", [["sessions"], ["profile", "list"], ["pair", "--list"], ["run", "--no-web"],
                                  ["calibrate", "platform", "--source", "sim"]])
def test_a_data_dir_that_is_a_file_is_one_line(tmp_path, capsys, argv):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("mine\n")
    assert main([*argv, "--data-dir", str(not_a_folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a data folder" in err[0]
    assert not_a_folder.read_text() == "mine\n"
