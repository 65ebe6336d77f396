"""The device's local channel: framed, versioned JSON messages over a socket.

The device process (sampling, filters, coach, cues) and the web process talk
over a Unix-domain socket in the data directory. Each message is a 4-byte
big-endian length followed by that many bytes of UTF-8 JSON, an object with
``"v"`` (the channel version, 1) and ``"type"``:

| type | from | what |
|---|---|---|
| ``hello`` | device | on connect: version, a boot id (changes when the device restarts), the full state |
| ``frame`` | device | ~25 a second: force, 0-10 reading, position, step, timer, active warnings |
| ``event`` | device | a warning edge, a cue, a step change, a finished session |
| ``command`` | web | start, mark_knot, next, pause, resume, stop, rate, steer ... with arguments |
| ``reply`` | device | the answer to a command: ok, or a one-line error |

Frames are encoded once and the same bytes are written to every client.
Reading is incremental and strict: a message over ``MAX_MESSAGE_BYTES``, bad
JSON, not an object, or another version is a ``ChannelError`` and the peer
is dropped - the device keeps running.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Iterator

VERSION = 1
MAX_MESSAGE_BYTES = 1 << 20
_HEADER = struct.Struct(">I")
TYPES = ("hello", "frame", "event", "command", "reply")


class ChannelError(ValueError):
    """A message that breaks the channel's rules; the connection is dropped."""


def encode(message: dict[str, Any]) -> bytes:
    """One framed message; ``v`` is added. Non-finite numbers become null."""
    if message.get("type") not in TYPES:
        raise ChannelError(f"unknown message type {message.get('type')!r}")
    body = json.dumps({"v": VERSION, **_finite(message)}, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(body) > MAX_MESSAGE_BYTES:
        raise ChannelError(f"message of {len(body)} bytes is over the {MAX_MESSAGE_BYTES} limit")
    return _HEADER.pack(len(body)) + body


def _finite(value):
    """JSON has no NaN: an undefined force or position travels as null."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class Decoder:
    """Feed it bytes as they arrive; iterate the complete messages."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[dict[str, Any]]:
        self._buffer += data
        while len(self._buffer) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self._buffer)
            if length > MAX_MESSAGE_BYTES:
                raise ChannelError(f"message of {length} bytes is over the {MAX_MESSAGE_BYTES} limit")
            if len(self._buffer) < _HEADER.size + length:
                return
            body = bytes(self._buffer[_HEADER.size:_HEADER.size + length])
            del self._buffer[:_HEADER.size + length]
            yield _decode(body)


def _decode(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ChannelError(f"not a JSON message: {e}") from None
    if not isinstance(message, dict):
        raise ChannelError("a message must be a JSON object")
    if message.get("v") != VERSION:
        raise ChannelError(f"channel version {message.get('v')!r} is not {VERSION}")
    if message.get("type") not in TYPES:
        raise ChannelError(f"unknown message type {message.get('type')!r}")
    return message
