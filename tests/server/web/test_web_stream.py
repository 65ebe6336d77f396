"""The live stream: snapshot first, frames encoded once for all viewers, heartbeats, slow and gone viewers.

Streams are driven step by step: the clock is a counter and the queue wait is
0, so nothing here sleeps.
"""

import itertools
import json

import pytest

from server.web import create_app
from server.web.broadcast import HEARTBEAT, Broadcaster, TooManyViewers, encode_event
from tests.conftest import FakeDevice, frame, pair


def parse(chunk: bytes) -> dict:
    """One SSE message as {"event", "id", "data"} (comments and retry skipped)."""
    out = {}
    for line in chunk.decode().splitlines():
        key, _, value = line.partition(": ")
        if key in ("event", "id"):
            out[key] = value
        elif key == "data":
            out["data"] = json.loads(value)
    return out


def make(device=None, **kw):
    device = device or FakeDevice(state={"t_s": 0.5})
    ticks = itertools.count(0.0, 1.0)  # every clock reading is a second later
    kw = {"heartbeat_s": 5.0, "poll_s": 0.0, "clock": lambda: next(ticks), **kw}
    return device, Broadcaster(device, lambda: {"snapshot": dict(device.state)}, **kw).attach()


def test_encode_event_is_one_sse_message_on_single_lines():
    chunk = encode_event("frame", {"text": "two\nlines", "x": float("nan")}, 7)
    assert chunk == b'event: frame\nid: 7\ndata: {"text":"two\\nlines","x":null}\n\n'


def test_a_stream_starts_with_retry_and_the_snapshot_then_frames():
    device, b = make()
    stream = b.stream(b.open_viewer())
    first = next(stream)
    assert first.startswith(b"retry: 1000\n\nevent: state\n")
    assert parse(first.split(b"\n\n", 1)[1])["data"] == {"snapshot": {"t_s": 0.5}}
    device.push(frame(t_s=1.0))
    message = parse(next(stream))
    assert message["event"] == "frame" and message["data"]["t_s"] == 1.0 and "type" not in message["data"]


def test_each_message_is_encoded_once_and_the_same_bytes_go_to_every_viewer():
    device, b = make()
    one, two = b.stream(b.open_viewer()), b.stream(b.open_viewer())
    next(one), next(two)
    device.push(frame(t_s=1.0))
    a, c = next(one), next(two)
    assert a is c and b.sent == 1


def test_warnings_cues_and_device_changes_have_their_own_events():
    device, b = make()
    stream = b.stream(b.open_viewer())
    next(stream)
    device.push({"type": "event", "kind": "warning", "event": "over_band", "edge": "start", "t_s": 3.0})
    device.push({"type": "event", "kind": "cue", "name": "ease_off", "t_s": 3.0})
    device.push({"type": "event", "kind": "mystery"})
    device.push({"type": "reply", "id": 1, "ok": True})
    device.push({"type": "hello", "boot_id": "b2", "restarted": True, "state": {"t_s": 0.0}})
    got = [parse(next(stream)) for _ in range(4)]
    assert [m["event"] for m in got] == ["warning", "cue", "device", "state"]
    assert got[0]["data"]["event"] == "over_band" and got[2]["data"] == {"connected": True, "restarted": True}
    assert got[3]["data"] == {"snapshot": {"t_s": 0.0}}
    assert [int(m["id"]) for m in got] == [1, 2, 3, 4]


def test_a_lost_device_is_told_once_to_every_viewer():
    device, b = make()
    one, two = b.stream(b.open_viewer()), b.stream(b.open_viewer())
    next(one), next(two)
    device.connected.clear()
    lost = next(one)
    assert parse(lost) == {"event": "device", "id": "1", "data": {"connected": False, "restarted": False}}
    assert next(two) is lost
    device.push(frame(t_s=9.0))
    assert parse(next(one))["event"] == "frame" and b.sent == 2


def test_a_quiet_stream_sends_a_heartbeat_every_heartbeat_seconds():
    clock = itertools.count(0.0, 1.0)
    device, b = make(clock=lambda: next(clock))
    stream = b.stream(b.open_viewer())
    next(stream)  # quiet since t = 0
    assert next(stream) == HEARTBEAT and next(clock) == 6.0  # at the reading 5 s after the snapshot
    device.push(frame())
    assert parse(next(stream))["event"] == "frame"


def test_a_slow_viewer_loses_its_oldest_frames_and_holds_up_no_one():
    device, b = make(queue_frames=3)
    slow, fast = b.open_viewer(), b.open_viewer()
    fast_stream = b.stream(fast)
    next(fast_stream)
    received = []
    for i in range(10):  # the device thread never waits: the slow viewer is never read here
        device.push(frame(t_s=float(i)))
        received.append(parse(next(fast_stream))["data"]["t_s"])
    assert received == [float(i) for i in range(10)]
    assert [parse(c)["data"]["t_s"] for c in slow.pending()] == [7.0, 8.0, 9.0] and slow.dropped == 7


def test_closing_a_stream_frees_its_slot_and_the_cap_holds():
    _, b = make(max_viewers=2)
    one, two = b.open_viewer(), b.open_viewer()
    with pytest.raises(TooManyViewers):
        b.open_viewer()
    stream = b.stream(one)
    next(stream)
    stream.close()  # what waitress does when writing to a gone browser fails
    assert b.viewer_count == 1 and one.closed
    b.open_viewer()
    b.close_all()
    assert b.viewer_count == 0 and two.closed


def test_a_closed_viewer_ends_its_stream():
    _, b = make()
    viewer = b.open_viewer()
    stream = b.stream(viewer)
    next(stream)
    b.close_viewer(viewer)
    assert list(stream) == []


def test_the_stream_endpoint_serves_sse_and_frees_the_slot_when_closed(tmp_path):
    device = FakeDevice(state={"t_s": 0.5})
    app = create_app({"DATA_DIR": tmp_path, "DEVICE": device, "MAX_STREAMS": 1})
    client, broadcaster = pair(app), app.extensions["knotcoach"]["broadcaster"]
    r = client.get("/api/stream")
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    assert r.headers["Cache-Control"] == "no-store"
    chunks = iter(r.response)
    first = next(chunks)
    state = parse(first.split(b"\n\n", 1)[1])
    assert state["event"] == "state" and state["data"]["connected"] is True and state["data"]["frame"]["t_s"] == 0.5
    assert state["data"] == client.get("/api/state").json
    busy = client.get("/api/stream")
    assert busy.status_code == 503 and busy.is_json and "live views" in busy.json["error"]
    device.push(frame(t_s=2.0))
    assert parse(next(chunks))["data"]["t_s"] == 2.0
    r.close()
    assert broadcaster.viewer_count == 0
    never_read = client.get("/api/stream")  # closed before its first chunk: the slot is freed too
    never_read.close()
    assert broadcaster.viewer_count == 0
    head = client.head("/api/stream")
    head.close()
    assert head.status_code == 200 and head.data == b"" and broadcaster.viewer_count == 0
