"""The web process's end of the device channel: connect, follow, reconnect.

A ``DeviceLink`` runs one background thread that connects to the device
process's socket, keeps the latest state (the ``hello`` snapshot updated by
every ``frame``), hands each message to the listeners (and a ``disconnected``
message when the device goes away), and reconnects with a
growing pause when the device is gone or restarts (a new boot id in the
``hello`` tells a restart from a reconnect). ``command()`` sends a command and
waits for its reply. The device never waits for us.
"""

from __future__ import annotations

import itertools
from collections import deque
import socket
import threading
from pathlib import Path
from typing import Any, Callable

from firmware.device.channel import ChannelError, Decoder, encode

Listener = Callable[[dict[str, Any]], None]


class DeviceUnavailable(ConnectionError):
    """The device process is not there (yet) or did not answer in time."""


class DeviceLink:
    def __init__(self, path: str | Path, retry_s: float = 0.2, max_retry_s: float = 2.0) -> None:
        self.path = Path(path)
        self.retry_s, self.max_retry_s = retry_s, max_retry_s
        self.state: dict[str, Any] = {}
        self.boot_id: str | None = None
        self.connected = threading.Event()
        self._listeners: list[Listener] = []
        self._replies: dict[int, dict[str, Any]] = {}
        self._waiting: set[int] = set()
        self.errors: deque[str] = deque(maxlen=100)  # recent listener failures, for the web process to log
        self._reply_ready = threading.Condition()
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="device-link", daemon=True)

    def start(self) -> "DeviceLink":
        self._thread.start()
        return self

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def command(self, name: str, timeout_s: float = 2.0, **args) -> dict[str, Any]:
        """Send a command; return the device's reply (``ok``, maybe ``error``)."""
        if not self.connected.wait(timeout_s):
            raise DeviceUnavailable("the device process is not running")
        request_id = next(self._ids)
        data = encode({"type": "command", "id": request_id, "name": name, "args": args})
        with self._reply_ready:
            self._waiting.add(request_id)
        try:
            with self._send_lock:
                if self._sock is None:
                    raise OSError("not connected")
                self._sock.sendall(data)
        except OSError:
            with self._reply_ready:
                self._waiting.discard(request_id)
            raise DeviceUnavailable("the device process went away") from None
        with self._reply_ready:
            try:
                if not self._reply_ready.wait_for(lambda: request_id in self._replies, timeout_s):
                    raise DeviceUnavailable(f"the device did not answer '{name}' in time")
                return self._replies.pop(request_id)
            finally:
                self._waiting.discard(request_id)

    def close(self) -> None:
        self._stop.set()
        with self._send_lock:
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)  # wakes the reader blocked in recv
                except OSError:
                    pass
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self) -> None:
        pause_s = self.retry_s
        while not self._stop.is_set():
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(str(self.path))
            except OSError:
                sock.close()
                self._stop.wait(pause_s)
                pause_s = min(pause_s * 2, self.max_retry_s)
                continue
            pause_s = self.retry_s
            self._follow(sock)

    def _follow(self, sock: socket.socket) -> None:
        with self._send_lock:
            self._sock = sock
        decoder = Decoder()
        try:
            while not self._stop.is_set():
                data = sock.recv(65536)
                if not data:
                    break
                for message in decoder.feed(data):
                    self._handle(message)
        except (OSError, ChannelError):
            pass
        finally:
            was_connected = self.connected.is_set()
            self.connected.clear()
            with self._send_lock:
                self._sock = None
            sock.close()
            if was_connected:  # listeners learn the device is gone (the tablet says so)
                self._notify({"type": "disconnected"})

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "hello":
            restarted = self.boot_id is not None and message.get("boot_id") != self.boot_id
            self.boot_id = message.get("boot_id")
            self.state = dict(message.get("state") or {})
            message = {**message, "restarted": restarted}
            self.connected.set()
        elif kind == "frame":  # replaced in one step, so readers never see half of two frames
            self.state = {**self.state, **{k: v for k, v in message.items() if k not in ("v", "type")}}
        elif kind == "reply":
            with self._reply_ready:
                if message.get("id") in self._waiting:  # late replies to given-up commands are dropped
                    self._replies[message.get("id")] = message
                    self._reply_ready.notify_all()
            return
        self._notify(message)

    def _notify(self, message: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(message)
            except Exception as e:  # one listener's failure must not stop following the device
                self.errors.append(f"{type(e).__name__}: {e}")
