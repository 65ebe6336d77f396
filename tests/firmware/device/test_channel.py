"""The device channel: framing, versioning, and a server that never blocks the device."""

import json
import socket
import struct

import pytest

from firmware.device.channel import MAX_MESSAGE_BYTES, ChannelError, Decoder, encode
from firmware.device.channel_server import MAX_QUEUED_BYTES, ChannelServer


def test_messages_survive_any_chunking():
    data = b"".join(encode({"type": "frame", "force_n": i, "x_mm": float("nan")}) for i in range(20))
    for size in (1, 3, 7, 64, len(data)):
        dec = Decoder()
        got = [m for i in range(0, len(data), size) for m in dec.feed(data[i:i + size])]
        assert [m["force_n"] for m in got] == list(range(20))
        assert all(m["x_mm"] is None and m["v"] == 1 for m in got)  # NaN travels as null


@pytest.mark.parametrize("body, message", [
    (b"\xff\xfe", "not a JSON message"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({"v": 2, "type": "frame"}).encode(), "version 2"),
    (json.dumps({"v": 1, "type": "gossip"}).encode(), "unknown message type"),
])
def test_bad_messages_are_refused(body, message):
    with pytest.raises(ChannelError, match=message):
        list(Decoder().feed(struct.pack(">I", len(body)) + body))


def test_oversized_messages_are_refused_before_reading_them():
    with pytest.raises(ChannelError, match="over the"):
        list(Decoder().feed(struct.pack(">I", MAX_MESSAGE_BYTES + 1)))
    with pytest.raises(ChannelError):
        encode({"type": "frame", "blob": "x" * MAX_MESSAGE_BYTES})


def connect(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    sock.settimeout(2.0)
    return sock


def read_messages(sock, dec, count):
    got = []
    while len(got) < count:
        got += list(dec.feed(sock.recv(65536)))
    return got


def test_server_greets_broadcasts_and_takes_commands(tmp_path):
    path = tmp_path / "device.sock"
    with ChannelServer(path, hello=lambda: {"boot_id": "abc", "state": {"step": "idle"}}) as server:
        a, b = connect(path), connect(path)
        server.poll(0.05)
        server.poll(0.05)
        assert server.clients == 2
        server.broadcast({"type": "frame", "force_n": 12.5})
        server.poll(0)
        da, db = Decoder(), Decoder()
        for sock, dec in ((a, da), (b, db)):
            hello, frame = read_messages(sock, dec, 2)
            assert hello["type"] == "hello" and hello["boot_id"] == "abc"
            assert frame == {"v": 1, "type": "frame", "force_n": 12.5}
        a.sendall(encode({"type": "command", "name": "pause"}))
        commands = []
        for _ in range(20):
            commands += server.poll(0.05)
            if commands:
                break
        assert [c[1]["name"] for c in commands] == ["pause"]
        server.send(commands[0][0], {"type": "reply", "ok": True})
        server.poll(0)
        assert read_messages(a, da, 1)[0]["ok"] is True
        b.sendall(b"\x00\x00\x00\x05{bad}")  # a broken peer is dropped, the others stay
        for _ in range(20):
            server.poll(0.05)
            if server.clients == 1:
                break
        assert server.clients == 1
        a.close()
        b.close()
    assert not path.exists()


def test_a_client_that_stops_reading_is_dropped_not_waited_for(tmp_path):
    path = tmp_path / "device.sock"
    with ChannelServer(path, hello=lambda: {}) as server:
        lazy = connect(path)
        server.poll(0.05)
        frame = {"type": "frame", "pad": "x" * 4000}
        for _ in range(2 * MAX_QUEUED_BYTES // 4000):
            server.broadcast(frame)
            server.poll(0)
        assert server.clients == 0
        lazy.close()


def test_a_stale_socket_file_is_replaced(tmp_path):
    path = tmp_path / "device.sock"
    path.write_text("left over")
    with ChannelServer(path, hello=lambda: {}):
        assert path.is_socket()
