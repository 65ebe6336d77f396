"""The device process's own options: configuration errors are exit 2 and one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def device(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "firmware.device_main", "--data-dir", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, settings, says", [
    (["--source", "sim", "--speed", "50"], None, "--speed must be 1-20"),
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
    lines = [l for l in proc.stderr.splitlines() if "real-time" not in l and "GPIO" not in l and "cues" not in l]
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "device.sock").exists()


def test_the_households_settings_are_the_coachs(tmp_path):
    (tmp_path / "coach.json").write_text(json.dumps({"around_min_s": 45, "cycles": 4}))
    proc = device(tmp_path, "--source", "sim", "--seconds", "0.5", "--speed", "10")
    assert proc.returncode == 0, proc.stderr
