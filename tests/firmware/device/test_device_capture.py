"""The device loop's calibration commands, in simulated time: the platform in the hello,
raw captures of the next seconds of samples, a mass put on the simulator by role, and
reloading the stored platform calibration."""

import socket

import numpy as np
import pytest

from calibration.platform_cal import window_stats
from calibration.platform_procedure import PlatformProcedure
from calibration.platform_store import save_platform
from firmware.block import Block
from firmware.device.capture import Capture, stats_from_dict
from firmware.device.channel import Decoder
from firmware.device.channel_server import ChannelServer
from firmware.device.loop import DeviceLoop
from firmware.pipeline.monitor import WatchSettings
from firmware.sources.factory import NOMINAL_COUNTS_PER_NEWTON
from firmware.sources.simulated import SimulatedPlatform

SEED = 4


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def make_loop(data_dir=None, seed=SEED, channel=None):
    clock = Clock()
    source = SimulatedPlatform(clock=clock, seed=seed, autopilot=False, lie_down_at_s=None)
    loop = DeviceLoop(source, WatchSettings(185.0, 330.0), channel=channel, data_dir=data_dir,
                      announce=lambda m: None)
    return clock, source, loop


def run_for(clock, loop, seconds):
    end = clock.t + seconds
    while clock.t < end - 1e-9:
        clock.t = round(clock.t + 0.04, 6)
        loop.step()


def run_capture(clock, loop, seconds, settle_s=0.0):
    reply = loop.command("capture", seconds=seconds, settle_s=settle_s)
    assert reply["ok"], reply
    run_for(clock, loop, seconds + settle_s + 0.1)
    result = loop.command("capture_result", capture_id=reply["capture_id"], rows=True)
    assert result["ok"] and result["done"]
    return result


def test_the_hello_carries_the_platform_geometry_and_the_source():
    clock, source, loop = make_loop()
    run_for(clock, loop, 0.2)
    state = loop.hello()["state"]
    true_xy = [[c.x_mm, c.y_mm] for c in source.true_platform.cells]
    assert state["platform"]["cells_xy"] == true_xy          # the simulator's 600 x 400 mm corners
    assert (state["platform"]["width_mm"], state["platform"]["depth_mm"]) == (600.0, 400.0)
    assert state["platform"]["n_cells"] == 4 and state["platform"]["rate_hz"] == 80.0
    assert state["platform"]["calibrated_at"] is None
    assert state["source"] == {"kind": "simulated", "seed": SEED}
    assert "force_n" in state and "coach" in state
    assert loop.command("state")["state"]["platform"] == state["platform"]


def test_a_capture_keeps_the_raw_counts_of_the_next_seconds_then_tells_with_an_event(tmp_path):
    channel = ChannelServer(tmp_path / "device.sock", hello=lambda: loop.hello())
    clock, source, loop = make_loop(channel=channel)
    reader = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    reader.connect(str(tmp_path / "device.sock"))
    reader.setblocking(False)
    decoder, messages = Decoder(), []

    def drain():
        while True:
            try:
                data = reader.recv(1 << 20)
            except BlockingIOError:
                return
            messages.extend(decoder.feed(data))
    try:
        source.steer("clear_platform")
        run_for(clock, loop, 1.0)
        t_asked = loop.latest["t_s"]
        reply = loop.command("capture", seconds=2.0, settle_s=0.5)
        assert reply["ok"] and reply["seconds_left"] == pytest.approx(2.5)
        run_for(clock, loop, 1.0)
        progress = loop.command("capture_result", capture_id=reply["capture_id"])
        assert progress["ok"] and not progress["done"] and 1.3 < progress["seconds_left"] < 1.6
        refused = loop.command("capture", seconds=1.0)
        assert not refused["ok"] and "one at a time" in refused["error"]
        run_for(clock, loop, 1.6)
        drain()
        events = [m for m in messages if m["type"] == "event" and m["kind"] == "capture"]
        assert len(events) == 1 and events[0]["capture_id"] == reply["capture_id"]
        result = loop.command("capture_result", capture_id=reply["capture_id"], rows=True)
        assert result["done"] and result["seconds_left"] == 0.0
        assert result["n_rows"] == 160 and len(result["raw"]) == 160      # 2.0 s at 80/s, after the settling
        assert result["t_start_s"] == pytest.approx(t_asked)
        assert events[0]["stats"] == result["stats"]
        # Raw counts, before the filter: with nothing on it each cell reads its true offset.
        offsets = [c.offset for c in source.true_platform.cells]
        assert result["stats"]["level_counts"] == pytest.approx(offsets, abs=15)
        assert result["stats"]["n_valid"] == [160] * 4
        run_for(clock, loop, 1.0)                     # nothing more is added once done
        assert loop.command("capture_result", capture_id=reply["capture_id"])["n_rows"] == 160
        assert loop.command("capture", seconds=0.5)["ok"]  # the next may start
    finally:
        reader.close()
        channel.close()


def test_capture_rows_are_exactly_the_window_whatever_the_block_sizes():
    rows_t = np.arange(0, 400) / 80.0
    raw = np.arange(400 * 2, dtype=np.int64).reshape(400, 2)
    kept = []
    for sizes in ([1], [3, 4], [7], [400]):
        capture, i, k = Capture(1, 1.0, 0.25, 0.5, 80.0), 0, 0
        while i < 400 and not capture.add(Block(rows_t[i:i + sizes[k % len(sizes)]], raw[i:i + sizes[k % len(sizes)]])):
            i += sizes[k % len(sizes)]
            k += 1
        kept.append(capture.raw(2))
    expected = raw[(rows_t > 0.75) & (rows_t <= 1.75 + 1e-9)]
    assert len(expected) == 80
    for got in kept:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("args, words", [
    ({"seconds": 0.2}, "from 0.5 to 10"), ({"seconds": 11}, "from 0.5 to 10"), ({"seconds": "3"}, "seconds"),
    ({"seconds": True}, "seconds"), ({}, "seconds"), ({"seconds": 2, "settle_s": -1}, "settle_s"),
    ({"seconds": 2, "settle_s": 9}, "settle_s"),
])
def test_bad_capture_requests_are_refused_with_a_reason(args, words):
    clock, source, loop = make_loop()
    run_for(clock, loop, 0.2)
    reply = loop.command("capture", **args)
    assert reply["ok"] is False and words in reply["error"]
    assert loop.capture is None


def test_capture_results_are_only_for_the_latest_capture_and_a_cancel_frees_the_device():
    clock, source, loop = make_loop()
    assert not loop.command("capture_result", capture_id=1)["ok"]
    first = loop.command("capture", seconds=1.0)["capture_id"]   # before any sample: starts with the first
    run_for(clock, loop, 0.5)
    assert loop.command("capture_cancel") == {"ok": True, "cancelled": True}
    second = loop.command("capture", seconds=0.5)["capture_id"]
    assert second != first
    for bad in (first, True, "2", None):
        assert not loop.command("capture_result", capture_id=bad)["ok"]
    run_for(clock, loop, 0.6)
    assert loop.command("capture_result", capture_id=second)["n_rows"] == 40
    assert loop.command("capture_cancel") == {"ok": True, "cancelled": False}


def test_a_mass_is_put_by_role_on_the_simulators_own_cells():
    clock, source, loop = make_loop()
    assert loop.command("sim_place_mass", cell="clear")["ok"]
    run_for(clock, loop, 2.0)
    reply = loop.command("sim_place_mass", cell=1, mass_kg=5.0)
    assert reply["ok"] and (reply["x_mm"], reply["y_mm"]) == (600.0, 0.0)
    run_for(clock, loop, 1.5)
    assert loop.latest["force_n"] == pytest.approx(5.0 * 9.81, rel=0.05)
    assert loop.latest["x_mm"] == pytest.approx(600.0, abs=15)
    assert loop.command("sim_place_mass", cell="centre", mass_kg=5.0)["x_mm"] == 300.0
    for cell in (4, -1, "left", True, None):
        assert not loop.command("sim_place_mass", cell=cell, mass_kg=5.0)["ok"]
    for mass in ("5kg", None, -1, 900):
        assert not loop.command("sim_place_mass", cell=0, mass_kg=mass)["ok"]


def test_a_platform_is_calibrated_through_captures_and_reloaded(tmp_path):
    """What the tablet's wizard does, on the device's side: recovers the true cells."""
    clock, source, loop = make_loop(data_dir=tmp_path)
    run_for(clock, loop, 0.5)
    cells_xy = loop.hello()["state"]["platform"]["cells_xy"]
    procedure = PlatformProcedure(cells_xy, 5.0, source.n_cells, reference=source.platform,
                                  nominal_counts_per_newton=NOMINAL_COUNTS_PER_NEWTON)
    for step in procedure.steps:
        cell = "clear" if step.kind == "tare" else ("centre" if step.placement.cell is None else step.placement.cell)
        assert loop.command("sim_place_mass", cell=cell, mass_kg=5.0)["ok"]
        result = run_capture(clock, loop, 3.0, settle_s=0.5)
        stats = stats_from_dict(result["stats"], source.n_cells)
        np.testing.assert_allclose(stats.level_counts, window_stats(np.array(result["raw"])).level_counts)
        procedure.accept(step, stats)
    fitted = procedure.finish()
    for got, true in zip(fitted.platform.cells, source.true_platform.cells):
        assert got.counts_per_newton == pytest.approx(true.counts_per_newton, rel=0.005)
        assert got.offset == pytest.approx(true.offset, abs=0.5 * abs(true.counts_per_newton))  # within 0.5 N
    assert fitted.cop_error_mm < 5.0
    loop.command("sim_place_mass", cell="clear")
    run_for(clock, loop, 1.0)
    save_platform(tmp_path, fitted.platform, "2026-12-01T10:00:00+00:00",
                  {**fitted.report(), "source": "simulated", "seed": SEED})
    reply = loop.command("reload_platform")
    assert reply["ok"] and reply["applied"], reply
    assert reply["platform"]["calibrated_at"] == "2026-12-01T10:00:00+00:00"
    assert loop.monitor.platform.cells == fitted.platform.cells and source.platform is loop.monitor.platform
    run_for(clock, loop, 1.0)
    source.steer("place_mass", mass_kg=10.0, x_mm=150.0, y_mm=100.0)
    run_for(clock, loop, 2.0)
    weight_n = 10.0 * 9.81  # the simulated world's gravity
    assert loop.latest["force_n"] == pytest.approx(weight_n, rel=0.01)
    assert loop.latest["x_mm"] == pytest.approx(150.0, abs=5) and loop.latest["y_mm"] == pytest.approx(100.0, abs=5)
    # A device restarted on the same simulator starts with it; another seed keeps its built-in one.
    assert make_loop(data_dir=tmp_path)[2].monitor.platform.cells == fitted.platform.cells
    other = make_loop(data_dir=tmp_path, seed=SEED + 1)[2]
    assert other.monitor.platform.extra.get("calibrated_at") is None


def test_the_next_frame_carries_the_reloaded_platform(tmp_path):
    channel = ChannelServer(tmp_path / "device.sock", hello=lambda: loop.hello())
    clock, source, loop = make_loop(data_dir=tmp_path, channel=channel)
    reader = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    reader.connect(str(tmp_path / "device.sock"))
    reader.setblocking(False)
    try:
        run_for(clock, loop, 0.5)
        save_platform(tmp_path, source.true_platform, "2026-12-01T10:00:00+00:00",
                      {"source": "simulated", "seed": SEED})
        assert loop.command("reload_platform")["applied"]
        run_for(clock, loop, 0.5)
        decoder, messages = Decoder(), []
        while True:
            try:
                messages += list(decoder.feed(reader.recv(1 << 20)))
            except BlockingIOError:
                break
        frames = [m for m in messages if m["type"] == "frame"]
        with_platform = [m for m in frames if "platform" in m]
        assert len(with_platform) == 1 and with_platform[0]["platform"]["calibrated_at"] == "2026-12-01T10:00:00+00:00"
        assert frames.index(with_platform[0]) > 0  # frames before the reload carried none
        assert any(m["type"] == "event" and m["kind"] == "platform" for m in messages)
    finally:
        reader.close()
        channel.close()


def test_reloading_refuses_or_declines_what_does_not_fit(tmp_path):
    clock, source, loop = make_loop()
    run_for(clock, loop, 0.3)
    assert "no data directory" in loop.command("reload_platform")["error"]
    loop.data_dir = tmp_path
    assert "no platform calibration is stored" in loop.command("reload_platform")["error"]
    before = loop.monitor
    save_platform(tmp_path, source.true_platform, "2026-12-01T10:00:00+00:00", {"source": "hx711"})
    reply = loop.command("reload_platform")  # made on real boards: the simulator keeps its own
    assert reply["ok"] and not reply["applied"] and "simulated platform" in reply["reason"]
    two = type(source.true_platform)(source.true_platform.cells[:2], 80.0)
    save_platform(tmp_path, two, "2026-12-02T10:00:00+00:00", {"source": "simulated", "seed": SEED})
    reply = loop.command("reload_platform")
    assert not reply["applied"] and "2 cells" in reply["reason"]
    assert loop.monitor is before
    (tmp_path / "platform.json").write_text("{broken")
    assert not loop.command("reload_platform")["ok"]
    assert loop.monitor is before


def test_stepping_while_not_capturing_adds_no_work():
    clock, source, loop = make_loop()
    run_for(clock, loop, 0.5)
    loop._capture_add = None  # would fail if it were called without a capture running
    run_for(clock, loop, 0.5)
    assert loop.frames_sent > 10
