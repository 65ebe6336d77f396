"""`knotcoach profile` and `run --person`: the stored scales as a household uses them."""

import json

import pytest

from calibration.intensity import Mark
from calibration.profiles import ProfileStore
from server import profile_cmd
from server.cli import build_parser, main

MARKS = [Mark(60.0, 2.0), Mark(150.0, 5.0), Mark(220.0, 7.0)]


@pytest.fixture
def data(tmp_path):
    store = ProfileStore(tmp_path)
    store.add_calibration("ana", "calf", [Mark(50.0, 2.0), Mark(120.0, 5.0)], "2026-09-01T10:00:00+00:00")
    store.add_calibration("ana", "calf", MARKS, "2026-11-20T10:00:00+00:00")
    store.add_calibration("ana", "glutes", MARKS, "2026-08-01T10:00:00+00:00")
    return tmp_path


def run_profile(data, *words, now="2026-11-27T10:00:00+00:00"):
    lines = []
    args = build_parser().parse_args(["profile", *words, "--data-dir", str(data)])
    assert profile_cmd.run(args, now_iso=now, out=lines.append) == 0
    return "\n".join(lines)


def test_list_and_show_every_calibration_with_its_date(data):
    assert run_profile(data, "list") == "ana: calf, glutes"
    text = run_profile(data, "show", "--person", "ana")
    assert "ana / calf: band" in text and "2026-11-20T10:00:00+00:00  2/10 at 60 N, 5/10 at 150 N" in text
    assert "2026-09-01T10:00:00+00:00  2/10 at 50 N, 5/10 at 120 N" in text  # the earlier one is kept
    assert "glutes scale is 118 days old" in text and "calf scale is" not in text


def test_felt_wrong_suggests_recalibrating(data):
    assert "felt too hard" in run_profile(data, "felt", "--person", "ana", "--region", "calf", "too_hard")
    assert "felt too hard" in run_profile(data, "show", "--person", "ana")


def test_export_import_round_trip(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("x") / "ana.json"
    assert "Wrote 2 scale(s)" in run_profile(data, "export", "--person", "ana", str(out))
    assert json.loads(out.read_text())["person"] == "ana"
    other = tmp_path_factory.mktemp("other")
    assert "Imported ana / calf (2 calibration(s))" in run_profile(other, "import", str(out))


def test_export_refuses_to_replace_a_file_unless_forced(data, tmp_path_factory, capsys):
    out = tmp_path_factory.mktemp("x") / "ana.json"
    out.write_text("someone else's file")
    capsys.readouterr()
    assert main(["profile", "export", "--person", "ana", str(out), "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--force" in err[0]
    assert out.read_text() == "someone else's file"
    assert "Wrote 2 scale(s)" in run_profile(data, "export", "--person", "ana", "--force", str(out))
    assert json.loads(out.read_text())["person"] == "ana"


def test_export_does_not_make_missing_folders(data, tmp_path_factory, capsys):
    base = tmp_path_factory.mktemp("x")
    capsys.readouterr()
    assert main(["profile", "export", "--person", "ana", str(base / "typo" / "ana.json"),
                 "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    assert not (base / "typo").exists()


def test_bad_requests_are_one_line_and_exit_2(data, capsys):
    capsys.readouterr()
    assert main(["profile", "show", "--person", "bob", "--data-dir", str(data)]) == 2
    assert main(["profile", "show", "--person", "../etc", "--data-dir", str(data)]) == 2
    assert main(["profile", "import", str(data / "nope.json"), "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "no scales stored for bob" in err[0]


def test_run_uses_the_persons_stored_band(data, capsys):
    capsys.readouterr()
    assert main(["run", "--source", "sim", "--seconds", "1", "--person", "ana", "--region", "calf",
                 "--data-dir", str(data), "--no-web"]) == 0
    captured = capsys.readouterr()
    assert "ana's calf band: 120-150 N" in captured.err and "band 120.0" not in captured.err
    assert "/10" in captured.out  # the live reading on her own 0-10 scale
    assert main(["run", "--source", "sim", "--seconds", "1", "--person", "ana", "--region", "quads",
                 "--data-dir", str(data)]) == 2
    assert "no quads scale stored for ana" in capsys.readouterr().err
