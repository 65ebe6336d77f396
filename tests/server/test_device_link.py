"""The web side of the channel follows the device, across restarts."""

import queue
import threading

import pytest

from firmware.device.channel_server import ChannelServer
from server.device_link import DeviceLink, DeviceUnavailable


class FakeDevice:
    """A device process stand-in: serves the channel from its own thread until stopped
    (the server is not thread-safe, so everything it sends goes through ``outbox``)."""

    def __init__(self, path, boot_id):
        self.server = ChannelServer(path, hello=lambda: {"boot_id": boot_id, "state": {"step": "idle"}})
        self.outbox = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            while not self.outbox.empty():
                self.server.broadcast(self.outbox.get())
            for client, cmd in self.server.poll(0.02):
                ok = cmd["name"] != "explode"
                self.server.send(client, {"type": "reply", "id": cmd["id"], "ok": ok,
                                          **({} if ok else {"error": "no such command"})})
        self.server.close()

    def close(self):
        self.stop.set()
        self.thread.join(5)


def wait_for(predicate, event, timeout_s=5.0):
    while not predicate():
        assert event.wait(timeout_s), "timed out"
        event.clear()


def test_follows_state_answers_commands_and_notices_a_restart(tmp_path):
    path = tmp_path / "device.sock"
    seen, changed = [], threading.Event()

    def listener(message):
        seen.append(message)
        changed.set()

    device = FakeDevice(path, "boot-1")
    with DeviceLink(path, retry_s=0.01, max_retry_s=0.05) as link:
        link.subscribe(listener)
        assert link.connected.wait(5)
        assert link.state == {"step": "idle"} and link.boot_id == "boot-1"
        device.outbox.put({"type": "frame", "force_n": 99.0, "step": "around"})
        wait_for(lambda: any(m["type"] == "frame" for m in seen), changed)
        assert link.state["force_n"] == 99.0 and link.state["step"] == "around"
        assert link.command("pause")["ok"] is True
        assert link.command("explode") == {"v": 1, "type": "reply", "id": 2, "ok": False,
                                           "error": "no such command"}
        device.close()
        device = FakeDevice(path, "boot-2")  # the device process restarted
        wait_for(lambda: any(m.get("restarted") for m in seen), changed)
        assert link.boot_id == "boot-2" and link.state == {"step": "idle"}
    device.close()


def test_commands_fail_quickly_without_a_device(tmp_path):
    with DeviceLink(tmp_path / "none.sock", retry_s=0.01) as link:
        with pytest.raises(DeviceUnavailable, match="not running"):
            link.command("start", timeout_s=0.05)
