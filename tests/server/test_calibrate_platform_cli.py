"""`knotcoach calibrate platform` end to end on the simulator, with scripted answers."""

import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from calibration.platform import Cell, PlatformCalibration
from calibration.platform_store import load_all, load_platform, platform_path, save_platform
from firmware.sources import factory
from firmware.sources.simulated import SimulatedPlatform
from server import calibrate_platform_cmd
from server.cli import build_parser, main
from server.cli_support import InputError
from tests.calibration.test_platform_cal import WeakCell

ROOT = Path(__file__).resolve().parents[2]
WHEN = "2026-11-27T11:20:03+00:00"
OLD = PlatformCalibration((Cell(0, 0, 123.0, 400.0), Cell(540, 0, 456.0, 401.0),
                           Cell(0, 340, 789.0, 402.0), Cell(540, 340, -1.0, 403.0)))


class Answers:
    """``ask``: hands out scripted answers (an exception instance is raised) and keeps the prompts."""

    def __init__(self, *answers):
        self.answers, self.prompts = list(answers), []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        if not self.answers:
            raise AssertionError(f"unexpected prompt {prompt!r}")
        a = self.answers.pop(0)
        if isinstance(a, BaseException):
            raise a
        return a


def args_for(tmp_path, *extra, data_dir=True):
    argv = ["calibrate", "platform", "--source", "sim", "--fast", "--seed", "3"]
    argv += ["--data-dir", str(tmp_path)] if data_dir else []
    return build_parser().parse_args(argv + list(extra))


def run(tmp_path, answers, *extra, **kw):
    out = io.StringIO()
    ask = Answers(*answers)
    rc = calibrate_platform_cmd.run(args_for(tmp_path, *extra, **kw), ask=ask, out=out, now_iso=lambda: WHEN)
    return rc, out.getvalue(), ask


@pytest.fixture
def stored(tmp_path):
    """A good calibration already stored; returns a function that says whether it is untouched."""
    path = save_platform(tmp_path, OLD, "2026-01-01T09:00:00+00:00")
    before = path.read_bytes()
    return lambda: path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["platform.json"]


def use_sim(monkeypatch, cls=SimulatedPlatform, **kw):
    """Make ``--source sim`` open ``cls`` with these options (faults, a weak cell, ...)."""
    made = []

    def open_sim(seed, clock, paced=False):
        made.append(cls(clock=clock, seed=seed, paced=paced, **kw))
        return made[0]
    monkeypatch.setattr(factory, "_simulated", open_sim)
    return made


def test_end_to_end_on_the_simulator_saves_a_calibration_with_history(tmp_path, stored):
    rc, out, ask = run(tmp_path, [""] * 6, "--mass", "11lb")
    assert rc == 0
    assert ask.prompts[0] == "Step 1 of 6: Clear the platform and keep it still, then press Enter "
    assert ask.prompts[1].startswith("Step 2 of 6: Put the 4.99 kg mass at the centre (x 270 mm, y 170 mm)")
    assert "Move the 4.99 kg mass over cell 3, far right (x 540 mm, y 340 mm)" in ask.prompts[5]
    assert "  tare: 2.0 s left, steady to \u00b10.1 N\n" in out
    assert "centre of pressure within 0.1 mm" in out or "centre of pressure within 0.2 mm" in out
    assert f"Saved to {platform_path(tmp_path)}" in out
    cal = load_platform(tmp_path)
    truth = SimulatedPlatform(seed=3).true_platform  # the simulator's own cells, seen through 540 x 340 mm
    for got, true in zip(cal.cells, truth.cells):
        assert got.counts_per_newton == pytest.approx(true.counts_per_newton, rel=0.005)
        assert got.offset == pytest.approx(true.offset, abs=0.05 * abs(true.counts_per_newton))
    assert [(c.x_mm, c.y_mm) for c in cal.cells] == [(0, 0), (540, 0), (0, 340), (540, 340)]
    current, history = load_all(tmp_path)
    assert current.calibrated_at == WHEN and current.report["source"] == "simulated"
    assert current.report["mass_kg"] == pytest.approx(4.98951607)
    assert [h.platform for h in history] == [OLD]


def test_the_mass_is_asked_for_when_not_given_and_geometry_presets_apply(tmp_path, monkeypatch):
    use_sim(monkeypatch, n_cells=2, negative_sensitivity=True)
    rc, out, ask = run(tmp_path, ["2.5 kg"] + [""] * 4, "--preset", "ends:600")
    assert rc == 0 and ask.prompts[0].startswith("Known mass")
    assert "over cell 1, right end (x 600 mm, y 0 mm)" in ask.prompts[4]
    cal = load_platform(tmp_path)
    assert cal.n_cells == 2 and cal.cells[1].counts_per_newton < 0


def test_the_simulator_is_not_saved_over_the_default_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    rc, out, _ = run(tmp_path, [""] * 6, "--mass", "5kg", data_dir=False)
    assert rc == 0 and "Not saved: this was the simulated platform" in out
    assert not platform_path(tmp_path).exists()


class Steered(SimulatedPlatform):
    """A simulator that does something else for one command: a person who does not follow the steps."""

    instead: dict = {}

    def steer(self, command, **kwargs):
        if command == "place_mass" and (kwargs["x_mm"], kwargs["y_mm"]) == (300.0, 200.0) and "centre" in self.instead:
            command, kwargs = self.instead["centre"]
        elif command in self.instead:
            command, kwargs = self.instead[command]
        super().steer(command, **kwargs)


def steered(**instead):
    return type("S", (Steered,), {"instead": instead})


MASS_AT_CENTRE = ("place_mass", dict(mass_kg=5.0, x_mm=300.0, y_mm=200.0))


@pytest.mark.parametrize("sim_cls, options, answers, words", [
    (steered(clear_platform=("lie_down", {})), {}, ["", "q"], "tare: the platform is moving"),
    (steered(clear_platform=MASS_AT_CENTRE), dict(autopilot=False, lie_down_at_s=None), ["", "q"],
     "seems loaded.*--fresh"),
    (SimulatedPlatform, dict(faults=[(2, "missing", 0.0, 1e9)]), ["", "q"], "no valid readings from cell 2"),
    (SimulatedPlatform, dict(faults=[(1, "frozen", 0.0, 1e9)]), ["", "", "q"], "cell 1 did not respond"),
    (steered(centre=("remove_mass", {})), {}, ["", "", "q"], "did not change"),
    (WeakCell, {}, [""] * 6, "differ by a factor of 4"),
    (steered(centre=("place_mass", dict(mass_kg=5.0, x_mm=380.0, y_mm=200.0))), {}, [""] * 6, " [6-7]\\d mm away"),
])
def test_refusals_leave_the_stored_calibration_unchanged(tmp_path, monkeypatch, stored, sim_cls, options,
                                                         answers, words):
    use_sim(monkeypatch, sim_cls, **options)
    with pytest.raises(InputError, match=words) as e:
        run(tmp_path, answers, "--mass", "5kg")
    assert "nothing saved" in str(e.value) and "\n" not in str(e.value)
    assert stored()


def test_a_step_refused_once_can_be_repeated_and_then_succeed(tmp_path, monkeypatch):
    made = use_sim(monkeypatch)
    answers = Answers(*[""] * 9)

    def ask(prompt):
        if prompt.startswith("Step 2") and answers.prompts.count(prompt) == 0:
            made[0].steer("lie_down")  # someone steps on the platform during the first try
        elif prompt.startswith("Press Enter to try"):
            made[0].steer("clear_platform")
        return answers(prompt)
    rc = calibrate_platform_cmd.run(args_for(tmp_path, "--mass", "5kg"), ask=ask, out=io.StringIO(),
                                    now_iso=lambda: WHEN)
    assert rc == 0 and load_platform(tmp_path) is not None
    assert sum(p.startswith("Step 2") for p in answers.prompts) == 2


@pytest.mark.parametrize("extra, words", [
    (["--mass", "0kg"], "more than 0 kg"), (["--mass", "250kg"], "not plausible"), (["--mass", "5"], "needs a unit"),
    (["--mass", "0.3kg"], "too light to calibrate with: use 2\u201320 kg"), (["--mass=-1kg"], "more than 0 kg"),
    (["--mass", "1e9kg"], "not plausible"), (["--mass", "5 stone"], "must look like"),
    (["--mass", "5kg", "--preset", "ends:600"], "geometry has 2 cells but the platform reads 4"),
    (["--mass", "5kg", "--preset", "hexagon"], "geometry must be"),
    (["--mass", "5kg", "--source", "replay:x.csv"], "not a recording"),
])
def test_bad_input_is_one_line_and_changes_nothing(tmp_path, stored, extra, words):
    with pytest.raises(InputError, match=words):
        run(tmp_path, [""] * 6, *extra)
    assert stored()


def test_bad_input_exits_2_through_the_cli(tmp_path, stored, capsys):
    assert main(["calibrate", "platform", "--source", "sim", "--fast", "--data-dir", str(tmp_path),
                 "--mass", "300kg"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not plausible" in err
    assert stored()


@pytest.mark.parametrize("mass, words", [("-1kg", "more than 0"), ("1e9kg", "not plausible"), ("0.2kg", "too light")])
def test_a_mass_out_of_range_is_named_as_such_through_the_cli(tmp_path, stored, capsys, mass, words):
    assert main(["calibrate", "platform", "--source", "sim", "--fast", "--data-dir", str(tmp_path),
                 f"--mass={mass}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "must look like" not in err
    assert stored()


def test_a_bad_answer_to_the_mass_prompt_is_asked_again_with_the_reason(tmp_path, stored):
    rc, out, ask = run(tmp_path, ["five", "0.2kg", "-1kg", "5kg"] + [""] * 6)
    assert rc == 0 and sum(p.startswith("Known mass") for p in ask.prompts) == 4
    assert "must look like 5kg" in out and "too light" in out and "more than 0 kg" in out
    assert "known mass 5 kg" in out and load_platform(tmp_path) != OLD


@pytest.mark.parametrize("answers, rc", [(["five", "q"], 1), (["0.2kg", " Q "], 1), (["five", EOFError()], 1),
                                         (["five", KeyboardInterrupt()], 130)])
def test_giving_up_at_the_mass_prompt_changes_nothing(tmp_path, stored, answers, rc):
    got, out, ask = run(tmp_path, answers)
    assert got == rc and "abandoned" in out and "unchanged" in out
    assert not any(p.startswith("Step") for p in ask.prompts)
    assert stored()


def test_a_damaged_store_is_refused_before_anything_starts(tmp_path):
    platform_path(tmp_path).write_text("{broken")
    with pytest.raises(InputError, match="not valid JSON.*move it aside"):
        run(tmp_path, [], "--mass", "5kg")
    assert platform_path(tmp_path).read_text() == "{broken"


@pytest.mark.parametrize("at, error, rc", [(0, KeyboardInterrupt(), 130), (3, KeyboardInterrupt(), 130),
                                           (5, EOFError(), 1)])
def test_interrupting_at_a_prompt_abandons_without_touching_the_store(tmp_path, stored, at, error, rc):
    answers = [""] * at + [error]
    got, out, _ = run(tmp_path, answers, "--mass", "5kg")
    assert got == rc and "abandoned" in out and "unchanged" in out
    assert stored()


def test_main_drives_it_with_input(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda prompt="": "")
    assert main(["calibrate", "platform", "--source", "sim", "--fast", "--data-dir", str(tmp_path),
                 "--mass", "5kg"]) == 0
    assert "Saved to" in capsys.readouterr().out and load_platform(tmp_path).n_cells == 4


def _child(tmp_path, script=None):
    cmd = [sys.executable, "-u"]
    cmd += ["-c", script] if script else ["-m", "server.cli"]
    cmd += ["calibrate", "platform", "--source", "sim", "--fast", "--mass", "5kg", "--data-dir", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_process_killed_mid_calibration_leaves_the_stored_one(tmp_path, stored):
    proc = _child(tmp_path)
    try:
        proc.stdin.write("\n\n")  # tare and the centre; then it waits at step 3
        proc.stdin.flush()
        for line in proc.stdout:
            if "centre: 0.0 s left" in line:
                break
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert stored()


def test_a_process_dying_inside_the_save_leaves_the_stored_one(tmp_path):
    path = save_platform(tmp_path, OLD, "2026-01-01T09:00:00+00:00")
    before = path.read_bytes()
    script = textwrap.dedent("""
        import os, sys
        def die(*args, **kwargs):
            os._exit(17)  # killed after the new file was written, before it replaced the old one
        os.replace = die
        from server.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    proc = _child(tmp_path, script)
    out, err = proc.communicate("\n" * 6, timeout=120)
    assert proc.returncode == 17, err
    assert "cell 3: 0.0 s left" in out and "Saved" not in out
    assert load_platform(tmp_path) == OLD
    assert path.read_bytes() == before
    leftovers = [p for p in os.listdir(tmp_path) if p != "platform.json"]
    assert all(p.startswith(".platform.json.") and p.endswith(".tmp") for p in leftovers)
