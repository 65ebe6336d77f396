"""Blocks of raw samples: the one shape every source produces.

A block is a run of rows; each row has a timestamp in seconds and one raw
signed HX711 value per cell, or ``MISSING`` when that cell gave no reading.
Live sources hand over the 1-4 rows that just arrived; offline readers hand
over thousands. The filter loop gives the same result either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Marks "no reading" in a raw array; outside the 24-bit range on purpose.
MISSING = np.int64(-(1 << 31))


@dataclass(frozen=True)
class Block:
    """``t_s``: float64 (n,), seconds; ``raw``: int64 (n, cells), counts or MISSING."""

    t_s: np.ndarray
    raw: np.ndarray

    def __post_init__(self) -> None:
        if self.t_s.ndim != 1 or self.raw.ndim != 2 or self.raw.shape[0] != self.t_s.shape[0]:
            raise ValueError(f"block shapes disagree: t_s {self.t_s.shape}, raw {self.raw.shape}")

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @property
    def n_cells(self) -> int:
        return int(self.raw.shape[1])

    @classmethod
    def empty(cls, n_cells: int) -> "Block":
        return cls(np.empty(0, dtype=np.float64), np.empty((0, n_cells), dtype=np.int64))

    @classmethod
    def from_rows(cls, t_s, raw) -> "Block":
        """Build from Python sequences; ``None`` in ``raw`` means no reading."""
        t = np.asarray(t_s, dtype=np.float64)
        rows = [[MISSING if v is None else v for v in row] for row in raw]
        n_cells = len(rows[0]) if rows else 0
        r = np.asarray(rows, dtype=np.int64).reshape(len(rows), n_cells)
        return cls(t, r)

    def slice(self, start: int, stop: int) -> "Block":
        return Block(self.t_s[start:stop], self.raw[start:stop])

    def split(self, size: int):
        """Yield consecutive sub-blocks of at most ``size`` rows."""
        for start in range(0, len(self), size):
            yield self.slice(start, start + size)

    @staticmethod
    def concat(blocks) -> "Block":
        blocks = list(blocks)
        return Block(np.concatenate([b.t_s for b in blocks]), np.concatenate([b.raw for b in blocks]))
