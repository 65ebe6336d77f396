"""The app served by waitress, on a real device process running the simulator.

Not a unit test: a device process, its socket, the device link thread and
waitress's threads all run for real on loopback. Waits are on events and
socket reads with timeouts, never sleeps.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading

import pytest

from server.device_link import DeviceLink
from server.web import create_app
from server.web.pairing import PairingStore, csrf_for
from server.web.serving import make_server, public_urls


def start_device(data_dir):
    return subprocess.Popen([sys.executable, "-m", "firmware.device.main", "--source", "sim",
                             "--data-dir", str(data_dir), "--seed", "3"], stderr=subprocess.PIPE, text=True)


class SSE:
    """A raw stream reader: sends the request, then yields (event, data) as they come."""

    def __init__(self, port: int, cookie: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.sock.sendall(f"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
                          "Accept: text/event-stream\r\n\r\n".encode())
        self.buffer = b""

    def events(self):
        while True:
            while b"\n\n" not in self.buffer:
                data = self.sock.recv(65536)
                assert data, "the stream ended"
                self.buffer += data
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.decode().split("\n")
                          if ": " in line and not line.startswith(":"))
            if "event" in fields:
                yield fields["event"], json.loads(fields["data"])

    def close(self):
        self.sock.close()


@pytest.fixture
def served(tmp_path):
    device = start_device(tmp_path)
    link = DeviceLink(tmp_path / "device.sock", retry_s=0.05, max_retry_s=0.2).start()
    app = create_app({"DATA_DIR": tmp_path, "DEVICE": link, "SOURCE_KIND": "simulated", "HEARTBEAT_S": 0.5,
                      "STREAM_POLL_S": 0.1})
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert link.connected.wait(30), "the device process did not come up"
        yield app, server, link, device
    finally:
        server.close()
        thread.join(10)
        link.close()
        device.terminate()
        device.wait(10)
        device.stderr.close()
    assert not thread.is_alive()


def request(port, method, path, body=None, cookie=None, csrf=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if cookie:
        headers["Cookie"] = cookie
    if csrf:
        headers["X-CSRF-Token"] = csrf
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r, data


def test_a_paired_tablet_follows_and_steers_the_simulated_device_until_it_goes_away(served, tmp_path):
    app, server, _, device = served
    port = server.port
    assert port > 0 and public_urls("127.0.0.1", port) == [f"http://127.0.0.1:{port}"]
    r, data = request(port, "GET", "/api/state")
    assert r.status == 401 and json.loads(data)["error"]
    r, _ = request(port, "GET", f"/pair/{PairingStore(tmp_path).issue_token()}")
    assert r.status == 303
    cookie = r.getheader("Set-Cookie").split(";")[0]
    device_id = cookie.split("=", 1)[1].split(".")[0]
    csrf = csrf_for(app.extensions["knotcoach"]["secret"], device_id)

    r, data = request(port, "GET", "/api/state", cookie=cookie)
    state = json.loads(data)
    assert r.status == 200 and state["connected"] is True and state["source"] == "simulated"
    assert state["frame"]["coach"]["step"] in ("screen", "ready") and len(state["platform"]["cells_xy"]) == 4

    stream = SSE(port, cookie)
    events = stream.events()
    assert next(events)[0] == "state"
    frames = [data for name, data in (next(events) for _ in range(10)) if name == "frame"]
    assert len(frames) >= 5 and frames[-1]["t_s"] > frames[0]["t_s"]

    r, data = request(port, "POST", "/api/command/next", {}, cookie, csrf)
    assert r.status == 400 and json.loads(data)["error"]           # refused by the coach, said why
    r, data = request(port, "POST", "/api/command/steer", {"command": "lift_off"}, cookie, csrf)
    assert r.status == 200 and json.loads(data)["ok"] is True
    r, data = request(port, "POST", "/api/command/steer", {"command": "no_such_move"}, cookie, csrf)
    assert r.status == 400
    r, data = request(port, "POST", "/api/command/start", {"person": "ana", "region": "calf", "tool": "roller",
                                                           "pain_before": 5}, cookie)
    assert r.status == 403                                            # no CSRF token
    r, data = request(port, "POST", "/api/command/start", {"person": "ana", "region": "calf", "tool": "roller",
                                                           "pain_before": 5}, cookie, csrf)
    reply = json.loads(data)
    assert r.status == 200 and reply["decision"]["kind"] == "go" and reply["dose"]["seconds_left"] == 600.0
    step = next(data["coach"]["step"] for name, data in events if name == "frame" and data["coach"]["step"] != "screen")
    assert step in ("ready", "find")
    r, data = request(port, "POST", "/api/command/stop", {}, cookie, csrf)
    assert r.status == 200 and "summary" in json.loads(data)

    device.kill()                                                     # the device process dies
    device.wait(10)
    assert next(data for name, data in events if name == "device") == {"connected": False, "restarted": False}
    r, data = request(port, "POST", "/api/command/pause", {}, cookie, csrf)
    assert r.status == 503 and json.loads(data)["error"]
    r, data = request(port, "GET", "/api/state", cookie=cookie)
    assert json.loads(data)["connected"] is False

    broadcaster = app.extensions["knotcoach"]["broadcaster"]
    assert broadcaster.viewer_count == 1
    stream.close()                                                    # the tablet goes away
    assert broadcaster.wait_for_viewers(0, timeout_s=10)              # its thread is free again


def test_the_stream_cap_answers_503_and_close_ends_open_streams(tmp_path):
    app = create_app({"DATA_DIR": tmp_path, "MAX_STREAMS": 2, "HEARTBEAT_S": 0.5, "STREAM_POLL_S": 0.1})
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    r, _ = request(server.port, "GET", f"/pair/{PairingStore(tmp_path).issue_token()}")
    cookie = r.getheader("Set-Cookie").split(";")[0]
    streams = [SSE(server.port, cookie) for _ in range(2)]
    for s in streams:
        assert next(s.events())[0] == "state"
    r, data = request(server.port, "GET", "/api/stream", cookie=cookie)
    assert r.status == 503 and "live views" in json.loads(data)["error"]
    server.close()
    thread.join(10)
    assert not thread.is_alive()
    for s in streams:
        s.close()
