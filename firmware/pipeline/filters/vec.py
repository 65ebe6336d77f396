"""Vectorised building blocks for streaming stages with carried state."""

from __future__ import annotations

import numpy as np

#: Blocks of up to this many rows (live: one sample per call, as the device loop
#: hands them over) take the stages' plain-Python paths, where numpy's cost per
#: call would dominate.
#: Both paths give the same numbers; tests feed every block size to hold them to it.
ROW_PATH_ROWS = 8


def last_true_index(mask: np.ndarray) -> np.ndarray:
    """For each position along axis 0, the index of the last True at or before it; -1 if none."""
    n = mask.shape[0]
    shape = (n,) + (1,) * (mask.ndim - 1)
    idx = np.where(mask, np.arange(n).reshape(shape), -1)
    return np.maximum.accumulate(idx, axis=0) if n else idx


def ffill(values: np.ndarray, mask: np.ndarray, carry, picked: np.ndarray | None = None, dtype=None):
    """Hold the last value where ``mask`` is True; before any, use ``carry``.

    1-D. If ``picked`` is given it is the values at the True positions and
    ``values`` only gives the length. Work is proportional to the number of
    holes (False positions), which are rare in the filter loop's streams.
    Returns (filled, new_carry).
    """
    n = len(mask)
    if dtype is None:
        dtype = values.dtype if picked is None else picked.dtype
    if isinstance(carry, float) or isinstance(carry, np.floating):
        dtype = np.result_type(dtype, np.float64)
    if picked is None:
        out = values.astype(dtype, copy=True)
    elif len(picked) == n:
        out = picked.astype(dtype, copy=True)
    else:
        out = np.empty(n, dtype=dtype)
        out[mask] = picked
    holes = np.flatnonzero(~mask)
    if len(holes):
        # Each run of holes takes the value just before the run starts.
        run_start = np.ones(len(holes), dtype=bool)
        run_start[1:] = np.diff(holes) != 1
        first = holes[run_start][np.cumsum(run_start) - 1]
        src = first - 1
        out[holes] = np.where(src >= 0, out[np.maximum(src, 0)], carry)
    return out, (out[-1] if n else carry)


def latch(set_mask: np.ndarray, reset_mask: np.ndarray, state):
    """A set/reset latch per row: True after a set, False after a reset (set wins).

    Returns (state per row, state after the last row).
    """
    decided = set_mask | reset_mask
    return ffill(set_mask.astype(bool), decided, state)


def edges(state: np.ndarray, before: bool) -> tuple[np.ndarray, np.ndarray]:
    """Indices where a boolean track rises and falls, given its value before the block."""
    prev = np.concatenate([[before], state[:-1]])
    return np.flatnonzero(state & ~prev), np.flatnonzero(~state & prev)
