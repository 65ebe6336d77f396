"""`knotcoach calibrate person` end to end on the simulator, tapping by key, and stopping without saving."""

import io
import json

import pytest

from calibration.profiles import ProfileStore, band_from_profile_file
from firmware.sim.perception import Perceiver
from server import calibrate_person_cmd
from server.cli import build_parser, main

NOW = "2025-06-01T10:00:00+02:00"


def _args(data_dir, *extra):
    return build_parser().parse_args(["calibrate", "person", "--person", "Alex", "--region", "calf",
                                      "--source", "sim", "--fast", "--data-dir", str(data_dir), *extra])


def _run(args, keys=lambda: "", **kw):
    out = io.StringIO()
    rc = calibrate_person_cmd.run(args, keys=keys, out=out, now_iso=lambda: NOW, **kw)
    return rc, out.getvalue()


class ScriptedKeys:
    """Presses keys at given call numbers (one call per 0.04 s frame of simulated time)."""

    def __init__(self, script):
        self.script, self.calls = dict(script), 0

    def __call__(self):
        self.calls += 1
        return self.script.get(self.calls, "")


@pytest.mark.parametrize("seed, body_kg", [(1, 75.0), (5, 58.0), (9, 96.0)])
def test_simulated_person_end_to_end_recovers_their_band(tmp_path, seed, body_kg):
    args = _args(tmp_path, "--seed", str(seed), "--body-kg", str(body_kg))
    rc, text = _run(args)
    assert rc == 0
    assert "marked 2/10" in text and "marked 5/10" in text and "Your 4-5/10 band for calf" in text
    profile = ProfileStore(tmp_path).load("alex", "calf")
    assert profile.current.date == NOW and dict(profile.current.info) == {"source": "simulated"}
    truth = Perceiver(seed, body_kg).curve
    lo_n, hi_n = band_from_profile_file(ProfileStore(tmp_path).path("alex", "calf"))
    assert lo_n == pytest.approx(truth.force_at(4), rel=0.05)
    assert hi_n == pytest.approx(truth.force_at(5), rel=0.05)
    assert f"{lo_n:.0f}-{hi_n:.0f} N" in text


def test_through_main_with_no_keyboard_and_history_kept(tmp_path, capsys):
    argv = ["calibrate", "person", "--person", "alex", "--region", "upper back", "--marks", "2,5",
            "--source", "sim", "--fast", "--data-dir", str(tmp_path)]
    assert main(argv) == 0
    assert main(argv + ["--seed", "2"]) == 0
    assert "Saved in" in capsys.readouterr().out
    data = json.loads((tmp_path / "people" / "alex" / "upper-back.json").read_text())
    assert len(data["calibrations"]) == 2 and [m["rating"] for m in data["calibrations"][0]["marks"]] == [2, 5]


def test_manual_taps_with_enter(tmp_path):
    # the simulated person lies down at 2 s; the ramp starts about 3 s later
    keys = ScriptedKeys({250: "\n", 450: " "})  # at about 10 s and 18 s of simulated time
    rc, text = _run(_args(tmp_path, "--manual", "--marks", "3,6"), keys=keys)
    assert rc == 0 and "marked 3/10" in text and "marked 6/10" in text
    marks = ProfileStore(tmp_path).load("alex", "calf").current.marks
    assert [m.rating for m in marks] == [3.0, 6.0]
    # the simulated person still follows the pacer (about 20 N/s here): the taps 8 s apart differ by ~160 N
    assert 120 < marks[1].force_n - marks[0].force_n < 200


@pytest.mark.parametrize("key", ["q", "\x1b"])
def test_q_stops_at_once_without_saving(tmp_path, key):
    store = ProfileStore(tmp_path)
    _run(_args(tmp_path, "--seed", "3"))
    before = store.path("alex", "calf").read_bytes()
    keys = ScriptedKeys({400: key})  # mid-ramp: the simulated person has tapped 2/10 by then
    rc, text = _run(_args(tmp_path, "--seed", "3"), keys=keys)
    assert rc == 1 and "Nothing was saved" in text and "marked 2/10" in text
    assert store.path("alex", "calf").read_bytes() == before
    assert keys.calls == 400


def test_ctrl_c_stops_without_saving(tmp_path):
    def keys():
        raise KeyboardInterrupt
    rc, text = _run(_args(tmp_path), keys=keys)
    assert rc == 130 and "Nothing was saved" in text
    assert ProfileStore(tmp_path).people() == []


def test_too_few_marks_are_refused_with_what_to_redo(tmp_path):
    # one tap only: the pacer rises, holds, and ends with a single mark
    from server.cli_support import InputError
    with pytest.raises(InputError, match="at least two marks.*nothing was saved") as info:
        _run(_args(tmp_path, "--manual", "--ramp-s", "10"), keys=ScriptedKeys({200: "\n"}))
    assert "\n" not in str(info.value)
    assert ProfileStore(tmp_path).people() == []


def test_manual_taps_need_a_keyboard(tmp_path, capsys):
    argv = ["calibrate", "person", "--person", "alex", "--region", "calf", "--manual",
            "--source", "sim", "--fast", "--data-dir", str(tmp_path)]
    assert main(argv) == 2  # under pytest standard input is no keyboard
    assert "needs a keyboard" in capsys.readouterr().err


@pytest.mark.parametrize("extra, words", [
    (["--person", "../x"], "person's name"),
    (["--region", "elbow"], "unknown body region"),
    (["--region", "it band"], "IT band"),
    (["--marks", "5,2"], "--marks"),
    (["--marks", "2,x"], "--marks"),
    (["--marks", "5"], "--marks"),
    (["--body-kg", "3"], "body-kg"),
    (["--source", "nowhere"], "unknown source"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, extra, words):
    argv = ["calibrate", "person", "--person", "alex", "--region", "calf", "--source", "sim", "--fast",
            "--data-dir", str(tmp_path), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err
    assert ProfileStore(tmp_path).people() == []


def test_a_damaged_stored_profile_is_reported_before_starting(tmp_path, capsys):
    path = ProfileStore(tmp_path).path("alex", "calf")
    path.parent.mkdir(parents=True)
    path.write_text("{")
    assert main(["calibrate", "person", "--person", "alex", "--region", "calf", "--source", "sim", "--fast",
                 "--data-dir", str(tmp_path)]) == 2
    assert "calf.json" in capsys.readouterr().err and path.read_text() == "{"


def test_pacer_line_shows_force_pacer_and_what_to_tap():
    from calibration.scale_procedure import ScaleProcedure
    proc = ScaleProcedure(50.0, 500.0)
    proc.feed(0.0, 40.0)
    line = calibrate_person_cmd.pacer_line(proc)
    assert "you   40 N" in line and "pacer   50 N" in line and "tap at 2/10 (just noticeable)" in line
    assert line.startswith("[==") and "|" in line[3:5] and line.count("=") == 2


# -- the simulator is never saved as a real person, nor taps when it only stands in for missing boards ----

def _no_boards(monkeypatch):
    from firmware.sources import hx711_source
    monkeypatch.setattr(hx711_source, "probe_hx711", lambda pins: (False, "no /dev/gpiochip0"))


def _auto_args(tmp_path, *extra, data_dir=True):
    argv = ["calibrate", "person", "--person", "Alex", "--region", "calf", "--source", "auto"]
    return build_parser().parse_args(argv + (["--data-dir", str(tmp_path)] if data_dir else []) + list(extra))


def _virtual():
    clock = calibrate_person_cmd.VirtualClock()
    return dict(clock=clock, sleep=clock.sleep)


def test_a_simulated_person_is_not_saved_over_the_default_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    args = build_parser().parse_args(["calibrate", "person", "--person", "alex", "--region", "calf",
                                      "--source", "sim", "--fast"])
    rc, text = _run(args)
    assert rc == 0 and "marked 5/10" in text and "Your 4-5/10 band for calf" in text
    assert "simulated: not saved (give --data-dir to keep it)" in text and "Saved in" not in text
    assert ProfileStore(tmp_path).people() == [] and not any(tmp_path.iterdir())


def test_a_simulator_standing_in_for_missing_boards_never_taps_for_the_person(tmp_path, monkeypatch):
    _no_boards(monkeypatch)
    from server.cli_support import InputError
    with pytest.raises(InputError, match="at least two marks.*nothing was saved"):
        _run(_auto_args(tmp_path), **_virtual())  # nobody taps: no marks at all
    assert ProfileStore(tmp_path).people() == []


def test_with_auto_falling_back_to_the_simulator_the_person_taps_and_it_is_not_saved(tmp_path, monkeypatch):
    _no_boards(monkeypatch)
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    rc, text = _run(_auto_args(tmp_path, "--marks", "3,6", data_dir=False),
                    keys=ScriptedKeys({250: "\n", 450: " "}), **_virtual())
    assert rc == 0 and "simulated platform stands in: you tap the marks yourself" in text
    assert "marked 3/10" in text and "marked 6/10" in text
    assert "simulated: not saved (give --data-dir to keep it)" in text
    assert not any(tmp_path.iterdir())


def test_with_auto_falling_back_and_a_data_dir_the_persons_own_taps_are_kept(tmp_path, monkeypatch):
    _no_boards(monkeypatch)
    rc, text = _run(_auto_args(tmp_path, "--marks", "3,6"), keys=ScriptedKeys({250: "\n", 450: " "}), **_virtual())
    assert rc == 0 and "Saved in" in text and "not saved" not in text
    profile = ProfileStore(tmp_path).load("alex", "calf")
    assert [m.rating for m in profile.current.marks] == [3.0, 6.0]
    assert dict(profile.current.info) == {"source": "simulated"}


def test_with_auto_falling_back_and_no_keyboard_it_says_how_to_let_the_simulator_tap(tmp_path, monkeypatch,
                                                                                      capsys):
    _no_boards(monkeypatch)
    assert main(["calibrate", "person", "--person", "alex", "--region", "calf", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "needs a keyboard" in err and "--source sim" in err and "using the simulated platform" in err
    assert ProfileStore(tmp_path).people() == []


# -- a rating never reached ---------------------------------------------------

def test_a_rating_never_reached_is_named_and_the_scale_fitted_from_the_marks_made(tmp_path):
    rc, text = _run(_args(tmp_path, "--manual"), keys=ScriptedKeys({250: "\n", 450: " "}))  # 2/10 and 5/10 only
    assert rc == 0
    assert "The press ended before you tapped 7/10 (" in text and "that rating was skipped" in text
    assert "fitted from the 2 marks you made" in text and "Saved in" in text
    marks = ProfileStore(tmp_path).load("alex", "calf").current.marks
    assert [m.rating for m in marks] == [2.0, 5.0]


def test_with_one_mark_the_skipped_ratings_are_named_and_nothing_is_saved(tmp_path):
    from server.cli_support import InputError
    out = io.StringIO()
    with pytest.raises(InputError, match="at least two marks.*nothing was saved"):
        calibrate_person_cmd.run(_args(tmp_path, "--manual", "--ramp-s", "10"), keys=ScriptedKeys({200: "\n"}),
                                 out=out, now_iso=lambda: NOW)
    assert "before you tapped 5/10 (" in out.getvalue() and ", 7/10 (" in out.getvalue()
    assert "those ratings were skipped" in out.getvalue() and "fitted from" not in out.getvalue()
    assert ProfileStore(tmp_path).people() == []


def test_the_ramp_is_paced_by_sound_on_a_terminal(tmp_path):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    rc = calibrate_person_cmd.run(_args(tmp_path), keys=lambda: "", out=out, now_iso=lambda: NOW)
    assert rc == 0
    assert out.getvalue().count("\a") >= 8  # ticks while the pacer rises (it ends at the last mark)
