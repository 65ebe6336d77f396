"""Fixtures for the tablet app: a fake device, an app on a temporary data directory, paired clients.

    def test_x(paired_client, fake_device):
        r = paired_client.post("/api/command/next", json={})   # cookie and X-CSRF-Token already set
        assert fake_device.commands == [("next", {})]

``web_app`` fixes the local clock (``NOW``) at 2026-11-27 09:30 +01:00 and the
pairing clock (``CLOCK_S``) to ``web_clock``, which tests may move.
"""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest

NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))


class FakeDevice:
    """The DeviceLink surface: ``state``, ``connected``, ``boot_id``, ``subscribe``, ``command``.

    ``commands`` records (name, args); ``replies[name]`` is the reply dict (default ok),
    or an exception to raise. ``push`` delivers a message as the link would.
    """

    def __init__(self, state: dict | None = None, connected: bool = True) -> None:
        self.state = dict(state or {})
        self.connected = threading.Event()
        if connected:
            self.connected.set()
        self.boot_id = "fake-boot"
        self.listeners: list = []
        self.commands: list[tuple[str, dict]] = []
        self.replies: dict = {}

    def subscribe(self, listener) -> None:
        self.listeners.append(listener)

    def command(self, name, timeout_s=2.0, **args):
        from server.device_link import DeviceUnavailable
        if not self.connected.is_set():
            raise DeviceUnavailable("the device process is not running")
        self.commands.append((name, args))
        reply = self.replies.get(name, {"ok": True})
        if isinstance(reply, BaseException):
            raise reply
        return {"type": "reply", "id": len(self.commands), **reply}

    def push(self, message: dict) -> None:
        if message["type"] == "frame":
            self.state = {**self.state, **{k: v for k, v in message.items() if k not in ("type", "v")}}
        elif message["type"] == "hello":
            self.state = dict(message.get("state") or {})
            self.connected.set()
        for listener in list(self.listeners):
            listener(message)


def frame(t_s: float = 1.0, force_n: float = 200.0, **extra) -> dict:
    """A device frame message as the channel carries it."""
    return {"type": "frame", "t_s": t_s, "force_n": force_n, "rating": 4.5, "x_mm": 300.0, "y_mm": 200.0,
            "warnings": [], "faults": [], "coach": {"step": "screen", "paused": False, "session": None},
            "cue": None, **extra}


class Clock:
    def __init__(self, now_s: float = 1_800_000_000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def fake_device():
    return FakeDevice(state={k: v for k, v in frame().items() if k != "type"})


@pytest.fixture
def web_clock():
    return Clock()


@pytest.fixture
def web_app(tmp_path, fake_device, web_clock):
    from server.web import create_app
    app = create_app({"DATA_DIR": tmp_path / "data", "DEVICE": fake_device, "SOURCE_KIND": "simulated",
                      "TESTING": True, "NOW": lambda: NOW, "CLOCK_S": web_clock})
    return app


@pytest.fixture
def web_client(web_app):
    """A browser that is not paired."""
    return web_app.test_client()


def pair(app, client=None):
    """Pair a test client through a real one-time link; sets its X-CSRF-Token for every request."""
    from server.web.pairing import PairingStore, csrf_for
    client = client or app.test_client()
    store: PairingStore = app.extensions["knotcoach"]["pairing"]
    response = client.get(f"/pair/{store.issue_token()}", headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14) "
                                                                     "Chrome/120.0 Safari/537.36"})
    assert response.status_code == 303, response.data
    cookie = client.get_cookie("knotcoach_device")
    device_id = re.fullmatch(r"([0-9a-f]{32})\..*", cookie.value).group(1)
    client.device_id = device_id
    client.environ_base["HTTP_X_CSRF_TOKEN"] = csrf_for(app.extensions["knotcoach"]["secret"], device_id)
    return client


@pytest.fixture
def paired_client(web_app):
    return pair(web_app)
