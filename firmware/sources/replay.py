"""Replay a v1 recording as a live source, in real time or as fast as possible."""

from __future__ import annotations

import numpy as np

from firmware.block import Block
from firmware.recordings.format import Recording, read_recording
from firmware.sources.base import Clock, Source


class ReplaySource(Source):
    """Hands out a recording's rows as their time comes (``fast``: all at once).

    ``clock`` is injected (monotonic seconds); the recording's t_s is played
    relative to the clock's first reading.
    """

    kind = "replay"

    def __init__(self, recording: Recording | str, clock: Clock | None = None, fast: bool = False,
                 chunk_rows: int = 4096) -> None:
        self.recording = recording if isinstance(recording, Recording) else read_recording(recording)
        self.platform = self.recording.platform
        self.fast = fast
        self.chunk_rows = chunk_rows
        self._clock = clock
        self._start: float | None = None
        self._pos = 0
        block = self.recording.block
        self._t0 = float(block.t_s[0]) if len(block) else 0.0
        self.poll_interval_s = 0.0 if fast else 1.0 / self.platform.rate_hz

    @property
    def finished(self) -> bool:
        return self._pos >= len(self.recording.block)

    def next_due_in_s(self) -> float:
        block = self.recording.block
        if self.fast or self._clock is None or self._start is None or self.finished:
            return 0.0
        due = float(block.t_s[self._pos]) - self._t0 + self._start
        return max(0.0, due - self._clock())

    def read(self) -> Block:
        block = self.recording.block
        if self.fast or self._clock is None:
            end = min(len(block), self._pos + self.chunk_rows)
        else:
            now = self._clock()
            if self._start is None:
                self._start = now
            due = self._t0 + (now - self._start)
            end = int(np.searchsorted(block.t_s, due, side="right"))
        part = block.slice(self._pos, max(end, self._pos))
        self._pos = max(end, self._pos)
        return part
