"""`knotcoach sessions`: the list, the CSV and JSON exports, and bad input."""

import csv
import json

import pytest

from server import exports, sessions_cmd
from server.cli import UsageError, _Parser, build_parser, main
from server.cli_support import InputError
from server.store import open_store, sessions_path



@pytest.fixture
def data(tmp_path):
    with open_store(sessions_path(tmp_path)) as store:
        a = store.start_session("ana", "calf", "roller", "2026-11-20T09:00:00+01:00", pain_before=8)
        store.update_progress(a, 200.0, 120.5, 3, knot_x_mm=120.0, step="reset")
        w = store.add_warning(a, "over_band", 20.0)
        store.end_warning(w, 23.5)
        store.add_warning(a, "over_band", 50.0, 51.0)
        store.add_warning(a, "on_knot", 60.0, 61.25)
        store.finish_session(a, "2026-11-20T09:04:00+01:00", "done", pain_after=4, t_s=240.0, cycles_done=4)
        store.record_next_day(a, "2026-11-21T08:00:00+01:00", 5, bruising=False)
        b = store.start_session("ana", "glutes", "ball", "2026-11-22T18:30:00+01:00", pain_before=6,
                                knot_x_mm=-40.0, knot_y_mm=15.5, recording_path="/data/rec/b.csv.gz")
        store.finish_session(b, "2026-11-22T18:31:00+01:00", "aborted", t_s=55.0)
        c = store.start_session("bo", "calf", "roller", "2026-11-23T07:00:00+00:00")
        store.update_progress(c, 12.0, 3.0, 0)  # left running: the device died
    return tmp_path


def parse(*argv):
    parser = _Parser(prog="knotcoach")
    sessions_cmd.configure(parser.add_subparsers(dest="command", parser_class=_Parser))
    return parser.parse_args(["sessions", *argv])


def run(data, *argv):
    lines = []
    assert sessions_cmd.run(parse(*argv, "--data-dir", str(data)), out=lines.append) == 0
    return lines


def test_the_list_is_newest_first_with_everything_that_happened(data):
    lines = run(data)
    assert [line.split()[0] for line in lines] == ["#3", "#2", "#1"]
    assert lines[0] == ("#3  2026-11-23 07:00 +0000  bo  calf  roller  no knot marked  pain - -> -  0:12 (3 s in band)"
                        "  0 cycle(s)  unfinished")
    assert "knot -40,15.5 mm  pain 6 -> -  0:55" in lines[1]
    assert lines[1].endswith("aborted  recording /data/rec/b.csv.gz")  # the recording, when one was kept
    assert lines[2] == ("#1  2026-11-20 09:00 +0100  ana  calf  roller  knot 120 mm  pain 8 -> 4  4:00 "
                        "(120.5 s in band)  4 cycle(s)  done  warnings: over_band 2x 4.5 s, on_knot 1x 1.2 s"
                        "  next day 5/10")


def test_filters(data):
    first = lambda *argv: [line.split()[0] for line in run(data, *argv)]
    assert first("--person", "Ana") == ["#2", "#1"]
    assert first("--region", "calf") == ["#3", "#1"]
    assert first("--person", "ana", "--region", "calf") == ["#1"]
    assert first("--since", "2026-11-22") == ["#3", "#2"]
    assert first("--since", "2026-11-22T18:00:00+01:00") == ["#3", "#2"]
    assert run(data, "--person", "cy") == ["No sessions match."]


def test_no_database_lists_nothing_and_creates_nothing(tmp_path):
    assert run(tmp_path) == ["No sessions yet."]
    assert run(tmp_path, "--format", "json")[0].startswith('{\n  "format": "knotcoach-sessions"')
    assert list(tmp_path.iterdir()) == []


def test_json_export_round_trip(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("x") / "all.json"
    assert run(data, "--out", str(out)) == [f"Wrote 3 session(s) to {out}"]
    got = json.loads(out.read_text())
    assert (got["format"], got["version"]) == ("knotcoach-sessions", 1)
    with open_store(sessions_path(data)) as store:
        assert got["sessions"] == json.loads(json.dumps([s.to_dict() for s in store.sessions()]))
    first = got["sessions"][2]
    assert first["warnings"][0] == {"name": "over_band", "start_t_s": 20.0, "end_t_s": 23.5}
    assert first["next_day"] == {"asked_at": "2026-11-21T08:00:00+01:00", "tenderness": 5.0, "bruising": False}
    assert [p.name for p in out.parent.iterdir()] == ["all.json"]  # no temporary file left


def test_csv_export_round_trip(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("x") / "ana.txt"
    run(data, "--person", "ana", "--format", "csv", "--out", str(out))
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    with open_store(sessions_path(data)) as store:
        stored = store.sessions(person="ana")
    assert [int(r["id"]) for r in rows] == [s.id for s in stored] == [2, 1]
    for row, s in zip(rows, stored):
        for field in ("person", "region", "tool", "started_at", "ended_at", "outcome", "step"):
            assert row[field] == getattr(s, field)
        for field in ("knot_x_mm", "pain_before", "elapsed_s", "time_in_band_s"):
            assert float(row[field]) == getattr(s, field)
        assert int(row["cycles_done"]) == s.cycles_done
    assert (rows[0]["knot_y_mm"], rows[0]["pain_after"], rows[0]["recording_path"]) == ("15.5", "", "/data/rec/b.csv.gz")
    assert rows[1]["warnings"] == "over_band:2:4.5;on_knot:1:1.25"
    assert (rows[1]["next_day_tenderness"], rows[1]["next_day_bruising"]) == ("5.0", "no")


def test_csv_to_standard_output(data):
    lines = run(data, "--format", "csv", "--region", "glutes")[0].splitlines()
    assert lines[0].split(",") == list(exports.CSV_FIELDS) and lines[1].startswith("2,ana,glutes,ball,-40.0,")


def test_an_export_replaces_an_old_one(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("x") / "s.csv"
    out.write_text("old\n")
    run(data, "--out", str(out))
    assert out.read_text().startswith("id,person,")


@pytest.mark.parametrize("argv, message", [
    (["--since", "last week"], "--since takes a date"),
    (["--person", "../etc"], "a person's name"),
    (["--region", "it band"], "IT band is not rolled"),
    (["--region", "elbow"], "unknown body region"),
    (["--format", "xml"], "invalid choice: 'xml'"),
])
def test_bad_arguments_are_one_line(data, argv, message):
    with pytest.raises(UsageError) as e:
        parse(*argv)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("out, message", [
    ("nowhere/s.csv", "does not exist"),
    (".", "is a folder"),
    ("s.xlsx", "say --format csv"),
    ("sessions.db", "the sessions database itself"),
])
def test_bad_outputs_are_one_line_and_change_nothing(data, monkeypatch, out, message):
    monkeypatch.chdir(data)
    before = sessions_path(data).read_bytes()
    with pytest.raises(InputError) as e:
        run(data, "--out", out)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert sessions_path(data).read_bytes() == before


def test_a_damaged_database_is_one_line(tmp_path):
    sessions_path(tmp_path).write_bytes(b"not a database at all" * 100)
    with pytest.raises(InputError, match="damaged or not a sessions database"):
        run(tmp_path)


def test_the_knotcoach_command(data, capsys, tmp_path_factory):
    out = tmp_path_factory.mktemp("x") / "s.json"
    assert main(["sessions", "--person", "bo", "--data-dir", str(data)]) == 0
    assert capsys.readouterr().out.startswith("#3  2026-11-23 07:00 +0000  bo")
    assert main(["sessions", "--out", str(out), "--data-dir", str(data)]) == 0
    assert len(json.loads(out.read_text())["sessions"]) == 3
    assert "list past sessions, or export them as CSV or JSON" in build_parser().format_help()


def test_bad_input_exits_2_with_one_line(data, capsys):
    capsys.readouterr()
    assert main(["sessions", "--since", "soon", "--data-dir", str(data)]) == 2
    assert main(["sessions", "--out", str(data / "none" / "s.csv"), "--data-dir", str(data)]) == 2
    sessions_path(data).write_bytes(b"garbage" * 100)
    assert main(["sessions", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "--since takes a date" in err[0] and "does not exist" in err[1] and "damaged" in err[2]


def daily_calf_sessions(data_dir, pains):
    with open_store(sessions_path(data_dir)) as store:
        for day, (before, after) in enumerate(pains, start=20):
            sid = store.start_session("cy", "calf", "roller", f"2026-11-{day}T08:00:00+00:00", pain_before=before,
                                      knot_x_mm=200.0, knot_y_mm=100.0)
            store.finish_session(sid, f"2026-11-{day}T08:05:00+00:00", "done", pain_after=after, t_s=300.0,
                                 time_in_band_s=200.0, cycles_done=3)


def test_progress_tells_how_a_knot_comes_along(tmp_path):
    daily_calf_sessions(tmp_path, [(8, 4), (6, 3), (4, 2)])
    lines = []
    args = parse("--person", "cy", "--progress", "--data-dir", str(tmp_path))
    assert sessions_cmd.run(args, out=lines.append, now_iso="2026-11-23T09:00:00+00:00") == 0
    text = "\n".join(lines)
    assert lines[0] == "calf knot at 200, 100 mm: 3 session(s), 2026-11-20 to 2026-11-22, " \
                       "tenderness 4 -> 2/10 last time"                   # the knot at a glance
    assert lines[1] == "" and all(line.startswith("- ") for line in lines[2:])
    assert "tender before 8/10 -> 4/10" in text and "easing" in text   # the 3-day trend
    assert "How tender is the calf knot" in text                         # the next-day question


def test_progress_shows_each_knot_even_with_nothing_to_advise(tmp_path):
    daily_calf_sessions(tmp_path, [(5, 4)])
    lines = []
    args = parse("--person", "CY", "--progress", "--data-dir", str(tmp_path))   # however the name is typed
    assert sessions_cmd.run(args, out=lines.append, now_iso="2026-11-20T20:00:00+00:00") == 0
    assert lines[0].startswith("calf knot at 200, 100 mm: 1 session(s), 2026-11-20, tenderness 5 -> 4/10")
    lines = []
    args = parse("--person", "nobody", "--progress", "--data-dir", str(tmp_path))
    assert sessions_cmd.run(args, out=lines.append) == 0 and lines == ["No sessions for nobody yet."]


def test_progress_needs_a_person(data, capsys):
    assert main(["sessions", "--progress", "--data-dir", str(data)]) == 2
    assert "--progress needs --person" in capsys.readouterr().err
