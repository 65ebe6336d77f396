"""The device process's own options: configuration errors are exit 2 and one line;
a fast replay through ``knotcoach run`` says exactly what ``analyze`` says."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from server.cli import main


def device(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "firmware.device.main", "--data-dir", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, settings, says", [
    (["--source", "sim", "--speed", "50"], None, "--speed must be 1-20"),
    (["--source", "sim", "--priority", "120"], None, "--priority must be 0-99"),
    (["--source", "replay:x.csv", "--speed", "5"], None, "--speed is for the simulated platform"),
    (["--source", "sim", "--person", "ana"], None, "--person and --region go together"),
    (["--source", "sim", "--person", "ana", "--region", "calf"], None, "no calf scale stored for ana"),
    (["--source", "sim", "--knot", "1,x"], None, "--knot X[,Y]"),
    (["--source", "sim"], {"around_min_s": 5}, "around_min_s"),
    (["--source", "sim"], {"rolls": 3}, "unknown setting(s): rolls"),
    (["--source", "sim"], "{not json", "coach.json"),
])
def test_configuration_errors_are_exit_2_and_one_line(tmp_path, args, settings, says):
    if settings is not None:
        (tmp_path / "coach.json").write_text(settings if isinstance(settings, str) else json.dumps(settings))
    proc = device(tmp_path, *args)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines()
             if not any(w in l for w in ("real-time", "GPIO", "cues", "CPU"))]
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "device.sock").exists()


def test_the_old_module_name_runs_the_same_device_process(tmp_path):
    """Units installed before the move run ``python -m firmware.device_main`` (an alias for one release)."""
    def run(module, *args):
        return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=60)
    old, new = run("firmware.device_main", "--help"), run("firmware.device.main", "--help")
    assert old.returncode == 0 and new.returncode == 0 and old.stdout == new.stdout
    refused = run("firmware.device_main", "--data-dir", str(tmp_path), "--source", "sim", "--speed", "50")
    assert refused.returncode == 2 and "--speed must be 1-20" in refused.stderr


def test_the_households_settings_are_the_coachs(tmp_path):
    (tmp_path / "coach.json").write_text(json.dumps({"around_min_s": 45, "cycles": 4}))
    proc = device(tmp_path, "--source", "sim", "--seconds", "0.5", "--speed", "10", "--priority", "0")
    assert proc.returncode == 0, proc.stderr
    assert "ordinary scheduling (--priority 0)" in proc.stderr and "SCHED_FIFO" not in proc.stderr
def test_a_fast_replay_through_run_warns_exactly_as_analyze_does(tmp_path, capsys):
    rec = tmp_path / "ten-minutes.csv"
    assert main(["record", str(rec), "--source", "sim", "--seconds", "600", "--seed", "7"]) == 0
    capsys.readouterr()
    assert main(["analyze", str(rec), "--band-newtons", "150:220", "--json"]) == 0
    expected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(expected) > 20                           # a long, eventful recording

    assert main(["run", "--source", f"replay:{rec}", "--fast", "--band-newtons", "150:220", "--no-web",
                 "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    shown = [line for line in out.splitlines() if "too hard" in line]
    assert len(shown) == len(expected)                  # every start and end reached the terminal
    for line, event in zip(shown, expected):
        assert line.startswith(f"{event['t_s']:8.2f} s") and line.endswith(" - over") == (event["edge"] == "end")


def test_run_passes_its_options_to_the_device_process(tmp_path):
    from server.cli import build_parser
    from server.run_cmd import device_argv
    args = build_parser().parse_args(["run", "--source", "sim", "--speed", "5", "--no-recordings", "--seed", "4",
                                      "--knot", "300,200"])
    argv = device_argv(args, tmp_path, (150.0, 220.0), cpu=1)
    joined = " ".join(argv[1:])
    for part in ("-m firmware.device.main", f"--data-dir {tmp_path}", "--source sim", "--seed 4", "--cpu 1",
                 "--band-newtons 150.0:220.0", "--knot 300.0,200.0", "--speed 5.0", "--no-recordings",
                 "--wait-client 10"):
        assert part in joined, part
    assert "--no-recordings" not in device_argv(build_parser().parse_args(["run"]), tmp_path, None)
