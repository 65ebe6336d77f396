"""The one seam every source of samples implements.

Like a gpiozero device: ``read()`` returns what has arrived, ``close()``
releases it, and it is a context manager. The simulator and the replay
implement the same seam as the HX711 boards, so the whole stack runs on a
laptop.
"""

from __future__ import annotations

from typing import Callable

from calibration.platform import PlatformCalibration
from firmware.block import Block

#: A loop polling a source reads it this long after its next row is due, so the row is there.
POLL_MARGIN_S = 0.0002
#: A clock is a zero-argument callable returning monotonic seconds.
Clock = Callable[[], float]


class SourceError(RuntimeError):
    """A source that cannot deliver samples (wiring, file, hardware)."""


class Source:
    """Base class: subclasses set ``platform`` and implement ``read``."""

    #: The calibration used to interpret this source's raw counts.
    platform: PlatformCalibration
    #: "hx711", "simulated" or "replay".
    kind: str = "source"

    @property
    def n_cells(self) -> int:
        return self.platform.n_cells

    def read(self) -> Block:
        """Return the rows that arrived since the last call (possibly none)."""
        raise NotImplementedError

    def next_due_in_s(self) -> float:
        """Seconds on the source's clock until its next row is due, for a loop that polls
        a source whose ``read`` does not wait (0: read again at once)."""
        return 0.0

    @property
    def finished(self) -> bool:
        """True when no more rows will ever come (end of a replay)."""
        return False

    def close(self) -> None:
        """Release hardware or files; safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
