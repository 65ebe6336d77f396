"""The device end of the channel: a non-blocking Unix-socket server.

The device loop calls ``poll(0)`` once per pass, after each read of the
source: about 80 times a second at 80 samples/s, since a pass reads one
sample, or a few when it is late. It waits in ``poll(timeout_s)`` only when
it has nothing else to do: before the first client comes, while a fast
replay waits for its listener, and while ``drain()`` empties the queues at
the end. Each call accepts new clients (and greets each with a ``hello``
carrying the full state), reads their commands, and flushes what is queued
for them. ``broadcast()`` queues the same encoded bytes for every client.
Nothing here blocks: a client that stops reading is dropped once its queue
passes ``MAX_QUEUED_BYTES``, so a stuck tablet or web process can never
stall the coaching.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from pathlib import Path
from typing import Any, Callable

from firmware.device.channel import ChannelError, Decoder, encode

#: A client more than this far behind (about 10 s of frames) is dropped.
MAX_QUEUED_BYTES = 1 << 20


class _Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = Decoder()
        self.out = bytearray()


class ChannelServer:
    """Listens on ``path``; ``hello()`` supplies the greeting for each new client."""

    def __init__(self, path: str | os.PathLike, hello: Callable[[], dict[str, Any]]) -> None:
        self.path = Path(path)
        self._hello = hello
        self._selector = selectors.DefaultSelector()
        self._clients: dict[socket.socket, _Client] = {}
        if self.path.exists() or self.path.is_symlink():
            if answers(self.path):
                raise OSError(f"another device process is already serving {self.path}")
            self.path.unlink()  # a socket left by a device process that died
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self._listener.listen(8)
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ)

    @property
    def clients(self) -> int:
        return len(self._clients)

    @property
    def backlog_bytes(self) -> int:
        """Bytes waiting for the slowest client (0 with none): a fast replay waits on it."""
        return max((len(c.out) for c in self._clients.values()), default=0)

    def drain(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> bool:
        """Keep sending until every client has everything queued, or ``timeout_s`` passes."""
        deadline = clock() + timeout_s
        while self.backlog_bytes and clock() < deadline:
            self.poll(0.01)
        return not self.backlog_bytes

    def broadcast(self, message: dict[str, Any]) -> None:
        """Queue one message for every client, encoded once."""
        if not self._clients:
            return
        try:
            data = encode(message)
        except (ChannelError, TypeError, ValueError):
            return  # a message that cannot travel is dropped, never the device loop
        for client in list(self._clients.values()):
            self._queue(client, data)

    def send(self, client: socket.socket, message: dict[str, Any]) -> None:
        if client in self._clients:
            try:
                data = encode(message)
            except (ChannelError, TypeError, ValueError):
                data = encode({"type": "reply", "id": None, "ok": False, "error": "reply too large to send"})
            self._queue(self._clients[client], data)

    def poll(self, timeout_s: float = 0.0) -> list[tuple[socket.socket, dict[str, Any]]]:
        """Accept, read and write without blocking; returns the commands received."""
        commands = []
        for key, _ in self._selector.select(timeout_s):
            if key.fileobj is self._listener:
                self._accept()
            else:
                commands += self._read(key.fileobj)
        for client in list(self._clients.values()):
            self._flush(client)
        return commands

    def close(self) -> None:
        for sock in list(self._clients):
            self._drop(sock)
        self._selector.unregister(self._listener)
        self._listener.close()
        self._selector.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        client = self._clients[sock] = _Client(sock)
        self._selector.register(sock, selectors.EVENT_READ)
        try:
            self._queue(client, encode({"type": "hello", **self._hello()}))
        except (ChannelError, TypeError, ValueError):
            self._drop(sock)

    def _read(self, sock: socket.socket) -> list[tuple[socket.socket, dict[str, Any]]]:
        client = self._clients.get(sock)
        if client is None:
            return []
        try:
            data = sock.recv(65536)
            if not data:
                raise ConnectionResetError
            return [(sock, m) for m in client.decoder.feed(data) if m["type"] == "command"]
        except (OSError, ChannelError):
            self._drop(sock)
            return []

    def _queue(self, client: _Client, data: bytes) -> None:
        client.out += data
        if len(client.out) > MAX_QUEUED_BYTES:
            self._drop(client.sock)

    def _flush(self, client: _Client) -> None:
        if not client.out:
            return
        try:
            sent = client.sock.send(client.out)
            del client.out[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(client.sock)

    def _drop(self, sock: socket.socket) -> None:
        if self._clients.pop(sock, None) is not None:
            self._selector.unregister(sock)
            sock.close()


def answers(path: str | os.PathLike) -> bool:
    """Whether a live server accepts connections on ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()
