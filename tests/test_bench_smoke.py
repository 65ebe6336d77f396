"""The benchmark harness runs end to end on a tiny input. No timing is asserted."""

import json

import pytest

from bench import run as bench
from bench.cases import PI_SLOWDOWN


TINY = bench.Config(duration_s=20.0, repeat=1, long_rows=3_000, live_rows=200)


#: What a row needs for the README's table: figure, rate, baseline, ratio and verdict.
TABLE_KEYS = {"case", "name", "rows", "best_s", "rows_per_s", "baseline", "baseline_best_s",
              "baseline_rows_per_s", "ratio", "target", "meets"}
LIVE_KEYS = {"calls", "us_per_call", "us_per_sample", "baseline_us_per_call"}


def assert_verdict_matches_figure(r):
    """``meets`` is the figure compared with the threshold the row's own ``target`` states."""
    if r["target"] is None:
        assert r["meets"] is None
        return
    assert isinstance(r["meets"], bool)
    op, threshold = r["target"].split()[:2]
    threshold = float(threshold.replace(",", ""))
    if r["case"] == "3 live":
        assert LIVE_KEYS <= set(r) and op == "<"
        rate_hz = float(r["target"].rsplit(" at ", 1)[1].removesuffix("/s"))
        core_pct = r["extra"]["core_pct"]
        assert core_pct == pytest.approx(r["us_per_sample"] * 1e-6 * rate_hz * 100)
        zero2 = r["extra"]["pi_core_pct_est"]["Pi Zero 2 W"]
        assert zero2 == pytest.approx(core_pct * PI_SLOWDOWN["Pi Zero 2 W"])
        assert r["meets"] == (zero2 < threshold)
    else:
        assert op == ">=" and r["target"].endswith(" rows/s")
        assert r["meets"] == (r["rows_per_s"] >= threshold)


def test_harness_runs_every_case_on_a_tiny_recording(tmp_path):
    result = bench.run(TINY, profile=True, directory=str(tmp_path))
    rows = result["rows"]
    assert {r["case"] for r in rows} == {"1 end to end", "2 block mode", "3 live"}
    n = result["data"]["rows"]
    assert n > 1000
    for r in rows:
        assert r["best_s"] > 0 and r["baseline_best_s"] > 0 and len(r["runs_s"]) == 1
        assert TABLE_KEYS <= set(r), TABLE_KEYS - set(r)
        assert r["rows_per_s"] == pytest.approx(r["rows"] / r["best_s"])
        assert r["ratio"] == pytest.approx(r["best_s"] / r["baseline_best_s"])
        assert_verdict_matches_figure(r)
    assert [r["name"] for r in rows if r["target"] is None] == ["  of which read_recording (.csv)"]
    live = [r for r in rows if r["case"] == "3 live"]
    assert [r["extra"]["pattern"] for r in live] == [[1], [2], [3], [4], [3, 3, 4], [1]]
    assert live[-2]["calls"] == 60  # 200 rows as 3,3,4
    # the whole device loop, a row per step, on the session's rows after it started
    assert live[-1]["name"].startswith("DeviceLoop.step") and 0 < live[-1]["calls"] < 20 * 80
    assert result["live_events_match_block"] is True
    assert set(result["profiles"]) and all(p["top"] for p in result["profiles"].values())
    assert (tmp_path / "session.csv").exists() and (tmp_path / "session.csv.gz").exists()
    text = bench.format_report(result)
    assert "verdict" in text and "share of one core" in text
    verdicts = text.count("meets (") + text.count("MISSES (")
    assert verdicts == sum(r["target"] is not None for r in rows)
    json.dumps(result)  # everything is JSON-able


def test_cli_writes_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "QUICK", bench.Config(duration_s=15.0, repeat=3, long_rows=2_000, live_rows=100))
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["config"]["repeat"] == 3 and len(data["rows"]) == 13
    assert "rows/s" in capsys.readouterr().out


def test_end_to_end_matches_the_cli_and_the_baseline_parses_the_same_rows(tmp_path):
    data = bench.make_data(str(tmp_path), bench.Config(duration_s=10.0))
    out = bench.run_cli_analyze(bench.analyze_argv(data, data.gz_path))
    assert all(json.loads(line)["edge"] in ("start", "end") for line in out.splitlines())
    table = bench.baseline_loadtxt(data.csv_path)
    assert table.shape == (len(data.block), 5)


def test_tile_and_live_blocks_keep_every_row_in_order():
    data_block = bench.Block.from_rows([0.0, 0.0125, 0.025], [[1, 2], [3, None], [5, 6]])
    long = bench.tile_block(data_block, 7, 80.0)
    assert len(long) == 7 and (long.t_s[1:] > long.t_s[:-1]).all()
    parts = bench.live_blocks(long, (3, 3, 4))
    assert [len(p) for p in parts] == [3, 3, 1]
    assert (bench.Block.concat(parts).raw == long.raw).all()


def test_the_stream_benchmark_runs_the_product_and_reports_every_figure(tmp_path, capsys):
    """bench.stream on a tiny scale: two viewers, 2 s runs. Only that it measures, not how fast."""
    from bench import stream
    out = tmp_path / "stream.json"
    assert stream.main(["--seconds", "2", "--viewers", "2", "--quick", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    s = figures["stream"]
    assert s["viewers"] == 2 and s["frames"] > 0 and 0 < s["fps_min"] <= s["fps_max"]
    assert 0 <= s["channel_p50_ms"] and 0 <= s["delay_p50_ms"] <= s["delay_p95_ms"] <= s["delay_max_ms"]
    assert list(figures["load"]) == ["real-time"]                      # --quick: one mode
    for mode in figures["load"]:
        idle, loaded = figures["load"][mode]["idle"], figures["load"][mode]["loaded"]
        assert idle["rows"] >= 150 and loaded["rows"] >= 150          # 2 s at 80/s
        assert idle["page_requests"] == 0 and loaded["page_requests"] > 0
        assert loaded["page_errors"] == 0, loaded["page_failures"]      # every page loads under the burst
    report = capsys.readouterr().out
    assert "frames/s per viewer" in report and report.count("under load") == 1


def test_latency_crossings_follow_the_rules_hysteresis():
    from bench.latency import HI_N, crossings
    t = [i / 80 for i in range(10)]
    f = [0, HI_N + 1, 0.96 * HI_N, HI_N + 1, 0.9 * HI_N, HI_N + 5, 0, 0, HI_N + 1, 0]
    # 0.96 x the edge does not end an episode, so only three crossings start
    assert crossings(list(zip(t, f)), 0.0, 1.0) == [t[1], t[5], t[8]]
    assert crossings(list(zip(t, f)), 0.05, 1.0) == [t[5], t[8]]


def test_latency_matching_summary_and_false_alarms():
    from bench.latency import HI_N, false_alarms, first_after, summary
    assert first_after([1.0, 1.02, 2.0], 1.01) == pytest.approx(0.01)
    assert first_after([1.0, 2.0], 1.01) is None              # nothing within 0.3 s
    s = summary([0.010, 0.020, None, 0.030])
    assert (s["n"], s["missed"], s["p50_ms"], s["max_ms"]) == (3, 1, 20.0, 30.0)
    assert summary([None]) == {"n": 0, "missed": 1}
    truth = [(i / 80, 0.9 * HI_N) for i in range(80)] + [(1 + i / 80, HI_N + 10) for i in range(80)]
    assert false_alarms(truth, [0.5, 1.05]) == 1               # 0.5 s: the true force stayed below 95 %


def test_the_latency_benchmark_runs_the_whole_chain(tmp_path):
    # As a user runs it (its own process: Playwright's sync API wants no asyncio loop around it).
    import subprocess
    import sys
    out = tmp_path / "latency.json"
    done = subprocess.run([sys.executable, "-m", "bench.latency", "--seconds", "5", "--json", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "buzzer pin high" in done.stdout and "Chromium" in done.stdout
    m = json.loads(out.read_text())["now"]
    assert m["crossings"] >= 2
    for name in ("buzzer", "stream", "web_audio", "offline", "cue_event"):
        assert m[name]["n"] >= 1, (name, m[name])
