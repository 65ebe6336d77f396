"""``knotcoach run`` end to end: both processes, a scripted person, the session in the database.

The run is the real command in its own process, on the simulated platform
with simulated time running ten times real time (``--speed 10``), so a whole
session — 60 s around the knot, three contract/relax cycles — takes seconds.
The script speaks on the device's channel like the device's buttons and the
tablet do. Waiting here is on the device's own frames, with a deadline.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from server.device_link import DeviceLink
from server.store import open_store, sessions_path

DEADLINE_S = 60.0


class Follower:
    """Follows the device's frames and lets the script wait for a condition on them."""

    def __init__(self, path):
        self.link = DeviceLink(path, retry_s=0.05)
        self.frames, self.cues = [], []
        self._changed = threading.Condition()
        self.link.subscribe(self._on)

    def _on(self, message):
        with self._changed:
            if message["type"] == "frame":
                self.frames.append(message)
            elif message["type"] == "event" and message.get("kind") == "cue":
                self.cues.append(message)
            self._changed.notify_all()

    def wait(self, what, test, timeout_s=DEADLINE_S):
        with self._changed:
            assert self._changed.wait_for(lambda: self.frames and test(self.frames[-1]), timeout_s), \
                f"gave up waiting for {what}; last frame: {self.frames[-1] if self.frames else None}"
            return self.frames[-1]

    def after(self, seconds):
        """Wait until ``seconds`` more of sample time have passed."""
        t0 = self.wait("a frame", lambda f: f["t_s"] is not None)["t_s"]
        return self.wait(f"{seconds} s of samples", lambda f: f["t_s"] >= t0 + seconds)

    def script(self):
        """From now on the simulated person does only what the script says (no lifting off on a whim)."""
        self.command("steer", command="autopilot", kwargs={"on": False})
        self.command("steer", command="lie_down")

    def command(self, name, **args):
        reply = self.link.command(name, timeout_s=10.0, **args)
        assert reply["ok"], reply.get("error")
        return reply


@pytest.fixture
def running(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "run", "--source", "sim", "--speed", "10",
                             "--seed", "3", "--no-web", "--data-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    follower = Follower(tmp_path / "device.sock")
    follower.link.start()
    yield proc, follower
    follower.link.close()
    if proc.poll() is None:  # a test that failed midway: stop both processes as a user would
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()


def step_is(name):
    return lambda f: f["coach"]["step"] == name


def test_a_whole_session_through_knotcoach_run_lands_in_the_database(running, tmp_path):
    proc, me = running
    me.wait("the person on the roller", lambda f: f["t_s"] is not None and f["t_s"] > 3.0)
    me.command("start", person="Ana", region="calf", tool="roller", pain_before=7, signs=[])
    me.script()
    me.after(2.0)
    me.command("steer", command="move_onto_knot", kwargs={"transit_s": 0.3})
    me.after(1.0)
    knot = me.command("mark_knot")["knot"]
    me.command("next")
    me.command("steer", command="move_off_knot", kwargs={"transit_s": 0.3})
    me.wait("the offer to go on after 60 s", lambda f: f["coach"]["can_next"] and f["coach"]["step"] == "around")
    me.command("next")
    me.wait("the re-rating after the cycles", step_is("rerate"))
    summary = me.command("rate", pain_after=3)["summary"]
    me.wait("the end", step_is("done"))
    me.after(1.5)                                   # the web process writes the ending

    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "knotcoach: stopped" in err and "Traceback" not in err

    # The cues fired in the protocol's order, as the device sent them and as the terminal shows them.
    names = [c["cue"] for c in me.cues if c["cue"] in ("contract", "relax", "step_done", "session_done")]
    assert names == ["step_done", "step_done", "contract", "relax", "contract", "relax", "contract", "relax",
                     "step_done", "session_done"]
    shown = [line.split("] ", 1)[1] for line in out.splitlines() if "] " in line]
    assert [s for s in shown if s in ("contract now", "relax")] == ["contract now", "relax"] * 3

    with open_store(sessions_path(tmp_path)) as store:
        (session,) = store.sessions()
    assert (session.person, session.region, session.tool, session.outcome) == ("ana", "calf", "roller", "done")
    assert (session.pain_before, session.pain_after, session.cycles_done) == (7, 3, 3)
    assert session.knot_x_mm == pytest.approx(knot[0], abs=0.5)
    assert session.time_in_band_s == pytest.approx(summary["time_in_band_s"], abs=1.0)
    assert 60 + 3 * (5 + 12) <= session.elapsed_s <= summary["running_s"] + 1.0
    assert session.started_at < session.ended_at


def device_pid(path):
    """The pid of the process serving the device socket (the kernel's peer credentials)."""
    import socket
    import struct
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(path))
        pid, _, _ = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return pid


def test_coaching_goes_on_while_the_web_process_is_killed_and_a_new_run_follows_it(running, tmp_path):
    import os
    proc, me = running
    me.wait("the person on the roller", lambda f: f["t_s"] is not None and f["t_s"] > 3.0)
    me.command("start", person="Bo", region="quads", tool="roller", pain_before=6, signs=[])
    me.script()
    me.command("steer", command="move_onto_knot", kwargs={"transit_s": 0.3})
    me.after(1.0)
    me.command("mark_knot")
    me.command("next")
    device = device_pid(tmp_path / "device.sock")
    assert device != proc.pid
    try:
        proc.kill()                                   # the web process dies mid-session
        proc.wait()
        me.after(5.0)                                 # the device coaches on: frames, the around timer
        assert me.frames[-1]["coach"]["step"] == "around"

        again = subprocess.Popen([sys.executable, "-m", "server.cli", "run", "--source", "sim", "--no-web",
                                  "--data-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        me.wait("the offer to go on", lambda f: f["coach"]["can_next"] and f["coach"]["step"] == "around")
        me.command("next")
        me.wait("the re-rating", step_is("rerate"))
        me.command("rate", pain_after=2)
        me.wait("the end", step_is("done"))
        me.after(1.5)
        again.send_signal(signal.SIGTERM)
        out, err = again.communicate(timeout=30)
        assert again.returncode == 0 and "already coaching here; following it" in err
        assert device_pid(tmp_path / "device.sock") == device   # not stopped: this run did not start it
    finally:
        os.kill(device, signal.SIGTERM)

    with open_store(sessions_path(tmp_path)) as store:
        (session,) = store.sessions()                 # the same row, resumed, not a second one
    assert (session.person, session.outcome, session.pain_before, session.pain_after, session.cycles_done) == \
        ("bo", "done", 6, 2, 3)


def test_run_serves_the_tablet_on_the_default_source_and_stops_on_sigterm(tmp_path):
    import http.client
    import re
    from urllib.parse import urlsplit
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "run", "--host", "127.0.0.1", "--port", "0",
                             "--data-dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        lines = []
        while not (m := re.search(r"knotcoach: pair a tablet: (http://\S+/pair/\S+)", lines[-1] if lines else "")):
            lines.append(proc.stderr.readline())
            assert lines[-1], "".join(lines)
        url = urlsplit(m.group(1))
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request("GET", "/api/state")
        unpaired = conn.getresponse()
        assert unpaired.status == 401 and "pair" in json.loads(unpaired.read())["error"]  # not paired yet
        conn.request("GET", url.path)
        resp = conn.getresponse()
        resp.read()
        cookie = resp.getheader("Set-Cookie").split(";")[0]
        deadline, body = time.monotonic() + 30.0, {}
        # The web's own link connects; until the device's hello is merged the source is the
        # command's guess for auto ("hx711"), so wait for the device's own word on it.
        while not (body.get("connected") and body.get("source") == "simulated") and time.monotonic() < deadline:
            conn.request("GET", "/api/state", headers={"Cookie": cookie})
            body = json.loads(conn.getresponse().read())
            threading.Event().wait(0.1)
        conn.close()
        assert body["connected"] and body["source"] == "simulated", (body, "".join(lines))  # auto: no boards
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err and "knotcoach: stopped" in err
    assert "no HX711 boards found" in "".join(lines) + err
    assert not (tmp_path / "device.sock").exists()                  # the device process closed too
