"""Atomic calibration files: a crash never leaves a half-written or lost file."""

import os
import subprocess
import sys

import pytest

from calibration.files import StoreError, default_data_dir, read_json, write_json_atomic


def test_round_trip_and_no_temp_files_left(tmp_path):
    path = tmp_path / "sub" / "platform.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert read_json(path) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["platform.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "p.json"
    write_json_atomic(path, {"good": True})
    with pytest.raises(ValueError):
        write_json_atomic(path, {"bad": float("nan")})  # not representable in JSON
    assert read_json(path) == {"good": True}
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_a_killed_writer_keeps_the_old_file(tmp_path):
    path = tmp_path / "p.json"
    write_json_atomic(path, {"good": True})
    # The child dies (os._exit, like a kill) between writing the temp file and replacing.
    code = (
        "import os, sys\n"
        "import calibration.files as f\n"
        "def die(*a, **k): os._exit(9)\n"
        "f.os.replace = die\n"
        f"f.write_json_atomic({str(path)!r}, {{'new': True}})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=os.getcwd())
    assert proc.returncode == 9
    assert read_json(path) == {"good": True}


def test_bad_files_say_what_is_wrong(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("{\n  nope\n}")
    with pytest.raises(StoreError, match=r"p.json:2: not valid JSON"):
        read_json(path)
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")


def test_data_dir_prefers_systemd_state_directory(tmp_path):
    assert default_data_dir({"STATE_DIRECTORY": f"{tmp_path}:/other"}) == tmp_path
    assert default_data_dir({}).name == "knotcoach"
