"""Server-Sent Events to every tablet: each device message encoded once, shared by all viewers.

The broadcaster listens to the device link (its listener runs on the link's
thread, so it must never block): each message becomes one ``bytes`` object
(``event:``, ``id:``, ``data:``) put on every viewer's small queue. A viewer
that cannot keep up loses its oldest frames, never holds up the device link
or the other viewers. Each viewer's stream starts with ``retry: 1000`` and a
full ``state`` snapshot, then the shared messages, and a ``: heartbeat``
comment after ``heartbeat_s`` of silence: writing it to a browser that has
gone fails, which ends the stream and frees the server thread. The device
link does not announce a lost connection, so the streams look at it each
time they wake (at least every ``poll_s``) and publish ``device``
``{"connected": false}`` once.

Time is injected (``clock``) and the waits take their timeout as a number,
so tests drive a stream step by step without sleeping.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

RETRY = b"retry: 1000\n\n"
HEARTBEAT = b": heartbeat\n\n"
MAX_VIEWERS = 32
QUEUE_FRAMES = 50        # 2 s of frames at 25 a second
HEARTBEAT_S = 5.0
POLL_S = 1.0             # how often a quiet stream looks whether the device is still there
#: channel message type -> SSE event name (events carry their kind: warning or cue)
EVENT_KINDS = ("warning", "cue")


class TooManyViewers(Exception):
    """Every stream slot is taken."""


def _finite(value: Any) -> Any:
    """NaN and infinities (not JSON) as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def encode_event(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One SSE message: compact JSON on a single ``data:`` line (json.dumps never emits a newline)."""
    try:
        body = json.dumps(data, separators=(",", ":"), allow_nan=False)
    except ValueError:
        body = json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return f"{head}data: {body}\n\n".encode()


class Viewer:
    """One stream's queue: bounded; when full, the oldest message makes room for the newest."""

    def __init__(self, max_items: int = QUEUE_FRAMES) -> None:
        self._items: deque[bytes] = deque(maxlen=max_items)
        self._ready = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, data: bytes) -> None:
        with self._ready:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(data)
            self._ready.notify()

    def get(self, timeout_s: float) -> bytes | None:
        """The next message, waiting at most ``timeout_s``; None if there was none."""
        with self._ready:
            if not self._items and not self.closed and timeout_s > 0:
                self._ready.wait(timeout_s)
            return self._items.popleft() if self._items else None

    def pending(self) -> list[bytes]:
        with self._ready:
            return list(self._items)

    def close(self) -> None:
        with self._ready:
            self.closed = True
            self._ready.notify_all()


class Broadcaster:
    """Fans the device's messages out to up to ``max_viewers`` SSE streams."""

    def __init__(self, device, snapshot: Callable[[], dict[str, Any]], *, max_viewers: int = MAX_VIEWERS,
                 queue_frames: int = QUEUE_FRAMES, heartbeat_s: float = HEARTBEAT_S, poll_s: float = POLL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.device, self.snapshot = device, snapshot
        self.max_viewers, self.queue_frames = max_viewers, queue_frames
        self.heartbeat_s, self.poll_s, self.clock = heartbeat_s, min(poll_s, heartbeat_s), clock
        self._viewers: set[Viewer] = set()
        self._changed = threading.Condition(threading.RLock())
        self._next_id = 0
        self._connected = self._device_connected()
        self.sent = 0  # messages encoded, for the benchmark

    def attach(self) -> Broadcaster:
        if self.device is not None:
            self.device.subscribe(self.on_message)
        return self

    # -- from the device link's thread --------------------------------------------------
    def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        body = {k: v for k, v in message.items() if k not in ("type", "v")}
        if kind == "frame":
            self.publish("frame", body)
        elif kind == "event" and message.get("kind") in EVENT_KINDS:
            self.publish(message["kind"], body)
        elif kind == "hello":
            snapshot = self.snapshot()  # the device's state may have changed entirely
            with self._changed:
                self._connected = True
                self.publish("device", {"connected": True, "restarted": bool(message.get("restarted"))})
                self.publish("state", snapshot)

    def publish(self, event: str, data: Any) -> bytes:
        """Encode once and queue the same bytes for every viewer; returns them."""
        with self._changed:
            self._next_id += 1
            chunk = encode_event(event, data, self._next_id)
            viewers = list(self._viewers)
            self.sent += 1
        for viewer in viewers:
            viewer.put(chunk)
        return chunk

    def check_device(self) -> None:
        """Publish a lost device connection once (the link has no message for it).

        Looked at under the lock that ``hello`` takes too, so a reconnection racing with
        this check can never be followed by a stale "lost"."""
        with self._changed:  # a re-entrant lock: publish takes it again
            if self._connected and not self._device_connected():
                self._connected = False
                self.publish("device", {"connected": False, "restarted": False})

    def _device_connected(self) -> bool:
        return self.device is not None and self.device.connected.is_set()

    # -- viewers -------------------------------------------------------------------------
    @property
    def viewer_count(self) -> int:
        with self._changed:
            return len(self._viewers)

    def open_viewer(self) -> Viewer:
        with self._changed:
            if len(self._viewers) >= self.max_viewers:
                raise TooManyViewers(f"{self.max_viewers} live views are open already")
            viewer = Viewer(self.queue_frames)
            self._viewers.add(viewer)
            self._changed.notify_all()
        return viewer

    def close_viewer(self, viewer: Viewer) -> None:
        viewer.close()
        with self._changed:
            self._viewers.discard(viewer)
            self._changed.notify_all()

    def close_all(self) -> None:
        """End every stream (the server is stopping)."""
        with self._changed:
            viewers = list(self._viewers)
        for viewer in viewers:
            self.close_viewer(viewer)

    def wait_for_viewers(self, count: int, timeout_s: float) -> bool:
        """Wait until exactly ``count`` streams are open (for tests and the benchmark)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._viewers) == count, timeout_s)

    def stream(self, viewer: Viewer) -> Iterator[bytes]:
        """The bytes of one viewer's stream: retry and the snapshot, then messages and heartbeats.

        The snapshot is taken now, before the first chunk is asked for, so the
        stream starts with the state as it was when the viewer was added.
        """
        first = RETRY + encode_event("state", self.snapshot(), self._next_id)
        return self._frames(viewer, first)

    def _frames(self, viewer: Viewer, first: bytes) -> Iterator[bytes]:
        try:
            yield first
            quiet_since = self.clock()
            while not viewer.closed:
                chunk = viewer.get(self.poll_s)
                self.check_device()
                if chunk is not None:
                    yield chunk
                    quiet_since = self.clock()
                elif self.clock() - quiet_since >= self.heartbeat_s:
                    yield HEARTBEAT
                    quiet_since = self.clock()
        finally:
            self.close_viewer(viewer)
