"""The device loop: a whole coached session on the simulated platform, in simulated time,
with the cues on gpiozero's mock pins and a listener on the channel."""

import socket

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from firmware.cues.devices import open_cues
from firmware.device.channel import Decoder
from firmware.device.channel_server import ChannelServer
from firmware.device.loop import DeviceLoop
from firmware.pipeline.monitor import Knot, WatchSettings
from firmware.sources.simulated import SimulatedPlatform


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def rig(tmp_path):
    clock = Clock()
    source = SimulatedPlatform(clock=clock, seed=3, autopilot=False)
    factory = MockFactory(pin_class=MockPWMPin)
    cues = open_cues(pin_factory=factory)
    channel = ChannelServer(tmp_path / "device.sock", hello=lambda: loop.hello())
    loop = DeviceLoop(source, WatchSettings(185.0, 330.0, Knot(*source.knot_mm)), cues=cues, channel=channel,
                      announce=lambda m: None)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.connect(str(tmp_path / "device.sock"))
    listener.setblocking(False)
    yield clock, source, loop, factory, Listener(listener)
    listener.close()
    channel.close()
    cues.close()
    factory.close()


class Listener:
    """A tablet-like reader on the channel that keeps up (a stuck one would be dropped)."""

    def __init__(self, sock):
        self.sock, self.decoder, self.messages = sock, Decoder(), []

    def drain(self):
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                return self.messages
            assert data, "the device dropped a listener that was reading"
            self.messages += list(self.decoder.feed(data))


def run_for(clock, loop, seconds, listener=None, buzzer_pin=None, on=None):
    end = clock.t + seconds
    while clock.t < end:
        clock.t = round(clock.t + 0.04, 6)
        loop.step()
        if listener is not None:
            listener.drain()
        if buzzer_pin is not None:
            on.append((clock.t, buzzer_pin.state))


def test_a_whole_session_is_coached_hands_free(rig):
    clock, source, loop, factory, listener = rig
    buzzer, beeps = factory.pin(18), []
    run_for(clock, loop, 4.0, listener)            # the person lies down on the roller
    assert loop.command("start", person="ana", region="calf", tool="roller", pain_before=7)["ok"]
    run_for(clock, loop, 3.0, listener)
    source.steer("move_onto_knot", transit_s=0.3)  # finds the tender spot and marks it
    run_for(clock, loop, 1.0, listener)
    assert loop.command("mark_or_next")["ok"] and loop.coach.step == "find"
    knot = loop.coach.knot
    assert knot is not None and abs(knot[0] - source.knot_mm[0]) < 30
    assert loop.command("mark_or_next")["ok"] and loop.coach.step == "around"
    source.steer("move_off_knot", transit_s=0.3)
    run_for(clock, loop, 61.0, listener)
    assert loop.coach.next_offered
    assert loop.command("next")["ok"] and loop.coach.step == "reset"
    run_for(clock, loop, 60.0, listener, buzzer, beeps)  # 3 cycles of 5 s + 12 s, cued by sound
    assert loop.coach.step == "rerate"
    summary = loop.command("rate", pain_after=3)["summary"]
    assert summary["cycles_done"] == 3 and summary["pain_before"] == 7 and summary["pain_after"] == 3
    assert summary["time_in_band_s"] > 0
    cue_names = [c.name for c in loop.coach.cues]
    assert cue_names.count("contract") == 3 and cue_names.count("relax") == 3
    assert any(on for _, on in beeps)              # the buzzer pin really sounded

    messages = listener.drain()
    frames = [m for m in messages if m["type"] == "frame"]
    assert messages[0]["type"] == "hello" and messages[0]["boot_id"] == loop.boot_id
    span = frames[-1]["t_s"] - frames[0]["t_s"]
    assert 22 <= len(frames) / span <= 27          # ~25 frames a second of sample time
    assert {"force_n", "rating", "x_mm", "coach", "cue", "warnings"} <= set(frames[-1])
    assert frames[-1]["cues"] == {"hardware": True}    # mock pins drive the buzzer: the tablet need not
    cues_sent = [m["cue"] for m in messages if m["type"] == "event" and m["kind"] == "cue"]
    assert cues_sent.count("contract") == 3

    # The next session on the same device starts afresh (the finished one was reported).
    settings = loop.coach.settings
    assert loop.coach.step == "done"
    assert loop.command("start", person="bo", region="quads", tool="roller", pain_before=5)["ok"]
    assert loop.coach.step == "find" and loop.coach.session.person == "bo" and loop.coach.settings is settings
    assert loop.coach.knot is None and loop.coach.snapshot().cycles_done == 0


def test_commands_in_the_wrong_state_are_refused_with_a_reason(rig):
    clock, source, loop, factory, listener = rig
    run_for(clock, loop, 1.0)
    reply = loop.command("next")
    assert reply["ok"] is False and reply["error"]
    assert loop.command("frobnicate") == {"ok": False, "error": "unknown command 'frobnicate'"}
    assert loop.command("steer", command="press_harder")["ok"]
    assert loop.command("start", person="ana", region="it band", tool="roller", pain_before=7)["decision"]["kind"] \
        == "redirect"


def test_a_session_uses_the_persons_stored_scale(rig, tmp_path):
    from calibration.intensity import Mark
    from calibration.profiles import ProfileStore
    clock, source, loop, factory, listener = rig
    ProfileStore(tmp_path).add_calibration("ana", "calf", [Mark(80.0, 2.0), Mark(200.0, 5.0), Mark(260.0, 7.0)],
                                           "2026-11-20T10:00:00+00:00")
    loop.data_dir = tmp_path
    run_for(clock, loop, 3.0, listener)
    reply = loop.command("start", person="ana", region="calf", tool="roller", pain_before=6)
    lo, hi = reply["band_n"]
    assert hi == pytest.approx(200.0, abs=0.01) and loop.monitor.watch.band_hi_n == hi
    run_for(clock, loop, 1.0, listener)
    assert loop.latest["rating"] == pytest.approx(loop.scale.rating(loop.latest["force_n"]))
    reply = loop.command("stop")
    assert reply["ok"] and reply["summary"]["aborted"]
    # Someone without a stored scale keeps the default band.
    other = DeviceLoop(source, WatchSettings(185.0, 330.0), data_dir=tmp_path, announce=lambda m: None)
    assert other.command("start", person="bo", region="calf", tool="roller", pain_before=6)["band_n"] is None


@pytest.mark.parametrize("command", [
    {"name": "start", "args": [1, 2]},
    {"name": "start", "args": {"name": "x"}},
    {"name": "start", "args": {"person": "é" * 300000, "region": "calf", "tool": "roller", "pain_before": 5}},
    {"name": "start", "args": {"person": "a", "region": "calf", "tool": "roller", "pain_before": 5, "signs": 5}},
    {"name": "steer", "args": {"command": "set_force", "kwargs": 5}},
    {"name": "steer", "args": {"command": "set_force", "kwargs": {"bogus": 1}}},
    {"name": "steer", "args": {"command": 1}},
    {"name": None, "id": "é" * 400000},
])
def test_no_command_can_stop_the_device(rig, command):
    from firmware.device.channel import encode
    clock, source, loop, factory, listener = rig
    run_for(clock, loop, 0.5, listener)
    data = encode({"type": "command", **command})
    while data:  # a big command arrives over several passes of the loop
        try:
            sent = listener.sock.send(data)
            data = data[sent:]
        except BlockingIOError:
            pass
        run_for(clock, loop, 0.04, listener)
    run_for(clock, loop, 0.5, listener)  # the loop goes on
    replies = [m for m in listener.drain() if m["type"] == "reply"]
    assert replies and replies[-1]["ok"] is False and len(replies[-1]["error"]) <= 200
    assert loop.coach.step == "screen"


def test_a_second_device_process_does_not_take_over_the_socket(tmp_path):
    from firmware.device.channel_server import ChannelServer
    with ChannelServer(tmp_path / "device.sock", hello=lambda: {}):
        with pytest.raises(OSError, match="already serving"):
            ChannelServer(tmp_path / "device.sock", hello=lambda: {})
        assert (tmp_path / "device.sock").is_socket()


def test_without_gpio_the_state_says_the_tablet_must_sound_the_cues():
    from firmware.cues.devices import NoGpioOutput
    from firmware.cues.player import CuePlayer
    from firmware.sources.simulated import SimulatedPlatform
    source = SimulatedPlatform(clock=lambda: 0.0, seed=1)
    assert DeviceLoop(source, WatchSettings(185.0, 330.0), announce=lambda m: None).state()["cues"] == \
        {"hardware": False}
    mirrored = DeviceLoop(source, WatchSettings(185.0, 330.0), cues=NoGpioOutput(CuePlayer()), announce=lambda m: None)
    assert mirrored.state()["cues"] == {"hardware": False} and mirrored.state()["cue"] is not None


class _Rows:
    """A source that hands out a fixed block ``size`` rows at a time (as a polled replay does)."""

    kind = "replay"

    def __init__(self, platform, block, size):
        self.platform, self.block, self.size, self.pos = platform, block, size, 0

    @property
    def finished(self):
        return self.pos >= len(self.block)

    def read(self):
        part = self.block.slice(self.pos, self.pos + self.size)
        self.pos += self.size
        return part

    def next_due_in_s(self):
        return 0.0


class _Channel:
    def __init__(self):
        self.messages = []

    def broadcast(self, message):
        self.messages.append(message)

    def poll(self, timeout_s=0.0):
        return []


def test_every_row_is_judged_as_it_arrives_even_when_rows_come_four_at_a_time():
    """The warning, its cue and the buzzer act on the sample that crossed the line, not at
    the end of the block it came in; frames still go about 25 a second."""
    import numpy as np

    from calibration.platform import Cell, PlatformCalibration
    from firmware.block import Block
    from firmware.pipeline.monitor import Monitor
    platform = PlatformCalibration((Cell(0.0, 0.0, 1000.0, 400.0),))
    t = np.arange(800) / 80.0
    force = np.where(t > 2.0, 150.0 + 60.0 * np.sin(2 * np.pi * 0.7 * (t - 2.0)), 0.0)  # crosses 200 N
    noise = np.random.default_rng(1).normal(0, 30, len(t))  # a live cell is never exactly still
    raw = np.round(1000.0 + 400.0 * force + noise)[:, None].astype(np.int64)
    block = Block(t, raw)
    watch = WatchSettings(100.0, 200.0)
    expected = [e.to_dict() for e in Monitor(platform, watch).process(block)[1]]
    assert [e["event"] for e in expected] == ["over_band"] * len(expected) and len(expected) >= 6
    factory = MockFactory(pin_class=MockPWMPin)
    cues = open_cues(pin_factory=factory)
    channel = _Channel()
    try:
        loop = DeviceLoop(_Rows(platform, block, 4), watch, cues=cues, channel=channel, announce=lambda m: None)
        assert loop.command("start", person="ana", region="calf", tool="foam_roller", pain_before=5)["ok"]
        buzzer = factory.pin(18)
        went_high = []
        while not loop.source.finished:
            before = buzzer.state
            loop.step()
            if buzzer.state and not before:
                went_high.append(loop.latest["t_s"])
    finally:
        cues.close()
        factory.close()
    warnings = [m for m in channel.messages if m["type"] == "event" and m["kind"] == "warning"]
    assert [{k: w[k] for k in ("t_s", "event", "edge")} for w in warnings] == expected
    starts = [w["t_s"] for w in warnings if w["edge"] == "start"]
    # Four rows came in one read: the crossing is mostly not the block's last row.
    assert any(round(s * 80) % 4 != 3 for s in starts)
    frames = [m for m in channel.messages if m["type"] == "frame"]
    assert 23 <= len(frames) / (t[-1] - t[0]) <= 27
    assert went_high, "the buzzer never sounded"
    # The coach hears of the crossing on its own sample too: its "ease off" cue has that time.
    eases = [m["t_s"] for m in channel.messages if m["type"] == "event" and m.get("cue") == "ease_off"]
    assert eases and all(any(abs(e - s) < 1e-9 for s in starts) for e in eases), (eases, starts)
    assert any(round(e * 80) % 4 != 3 for e in eases)
