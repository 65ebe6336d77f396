"""What the load cells measure: statics, HX711 counts, noise and real-board faults.

``distribute_force`` splits a total force acting at a point onto the cells by
statics. ``PlatformModel.measure`` turns the truth into raw signed 24-bit
counts per cell with the platform's TRUE offsets and sensitivities, adds
HX711 noise, saturates at the 24-bit limits, then adds the imperfections seen
on real boards (see /work/shared/realdata): garbage frames, lost rows, empty
cells and scheduled cell faults. ``stale_calibration`` gives the offsets the
device *believes*, shifted by some newtons' worth.

Every random draw is keyed by (seed, stream, block of 8192 samples), so the
output depends only on the seed and the sample index, never on chunking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.platform import (MISREAD_VALUES as RAW_MISREADS, RAW_MAX, RAW_MIN, Cell, PlatformCalibration,
                                  corner_layout, ends_layout)
from firmware.block import MISSING, Block

#: Kinds of garbage frame and how often each appears among garbage frames.
GARBAGE_KINDS = ("spike", "bit_slip", "top_byte", "misread")
GARBAGE_WEIGHTS = (0.25, 0.25, 0.2, 0.3)
#: Values that recur when a frame is misread (bogde/HX711#83), and all ones = -1.
MISREAD_VALUES = np.array(RAW_MISREADS, dtype=np.int64)
FAULT_KINDS = ("frozen", "saturated", "all_ones", "missing")
_BLOCK = 8192
_NOISE, _GARBAGE, _LOSS, _LAYOUT, _STALE = 11, 12, 13, 14, 15


@dataclass(frozen=True)
class CellFault:
    """One cell misbehaving from ``start_s`` (inclusive) to ``end_s`` (exclusive).

    ``frozen``: repeats its first faulted reading exactly; ``saturated``:
    ``value`` (default 8388607; -8388608 also seen); ``all_ones``: -1;
    ``missing``: no reading at all.
    """

    cell: int
    kind: str
    start_s: float
    end_s: float
    value: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if not (self.cell >= 0 and self.start_s < self.end_s):
            raise ValueError(f"fault needs a cell >= 0 and start_s < end_s: {self}")
        if self.kind == "saturated" and self.value not in (None, RAW_MAX, RAW_MIN):
            raise ValueError("a saturated cell reads 8388607 or -8388608")

    def as_tuple(self) -> tuple[int, str, float, float]:
        return (self.cell, self.kind, self.start_s, self.end_s)


def as_fault(f) -> CellFault:
    """A ``CellFault`` from itself or a ``(cell, kind, start_s, end_s[, value])`` tuple."""
    return f if isinstance(f, CellFault) else CellFault(*f)


def distribute_force(force_n, x_mm, y_mm, cells_xy) -> np.ndarray:
    """Force on each cell (n, k) for a total force acting at (x, y), by statics.

    One cell carries everything; two share by the lever rule along their line
    (the point is projected onto it); four at the corners of an axis-aligned
    rectangle share by the bilinear lever rule; any other layout gets the
    least-norm forces that satisfy the sum of forces and both moments.
    Where the force is zero the point may be NaN.
    """
    xy = np.asarray(cells_xy, dtype=np.float64).reshape(-1, 2)
    return _split(force_n, x_mm, y_mm, xy, _rectangle(xy))


def _split(force_n, x_mm, y_mm, xy: np.ndarray, rect) -> np.ndarray:
    f = np.asarray(force_n, dtype=np.float64)
    centre = xy.mean(axis=0)
    x = np.where(np.isfinite(x_mm), x_mm, centre[0])
    y = np.where(np.isfinite(y_mm), y_mm, centre[1])
    k = len(xy)
    if k == 1:
        return f[:, None].copy()
    if k == 2:
        d = xy[1] - xy[0]
        s = ((x - xy[0, 0]) * d[0] + (y - xy[0, 1]) * d[1]) / float(d @ d)
        return np.stack([f * (1 - s), f * s], axis=1)
    if rect is not None:
        (x0, x1, y0, y1) = rect
        u, v = (x - x0) / (x1 - x0), (y - y0) / (y1 - y0)
        wx = np.where((xy[:, 0] == x0)[None, :], (1 - u)[:, None], u[:, None])  # x0, y0 come from xy
        wy = np.where((xy[:, 1] == y0)[None, :], (1 - v)[:, None], v[:, None])
        return f[:, None] * wx * wy
    a = np.vstack([np.ones(k), xy[:, 0], xy[:, 1]])  # (3, k): sum F, moments about y and x axes
    b = np.stack([f, f * x, f * y])                # (3, n)
    return (np.linalg.pinv(a) @ b).T


def _rectangle(xy: np.ndarray):
    """(x0, x1, y0, y1) when the four cells sit at the corners of an axis-aligned rectangle."""
    if len(xy) != 4:
        return None
    xs, ys = np.unique(xy[:, 0]), np.unique(xy[:, 1])
    if len(xs) != 2 or len(ys) != 2:
        return None
    corners = {(a, b) for a in xs for b in ys}
    if {tuple(p) for p in xy} != corners:
        return None
    return xs[0], xs[1], ys[0], ys[1]


@dataclass(frozen=True)
class Measurement:
    """Every nominal row at once, with what happened to it.

    ``raw`` holds counts or MISSING for every nominal row, lost ones
    included; ``kept`` says which rows reach the block. ``garbage``, ``empty``
    and ``faulted`` mark (row, cell) values that were corrupted, left empty by
    chance, or overridden by a scheduled fault.
    """

    t_s: np.ndarray
    raw: np.ndarray
    kept: np.ndarray
    garbage: np.ndarray
    empty: np.ndarray
    faulted: np.ndarray

    def block(self) -> Block:
        return Block(self.t_s[self.kept], self.raw[self.kept])

    @staticmethod
    def concat(parts) -> "Measurement":
        parts = list(parts)
        return Measurement(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                             ("t_s", "raw", "kept", "garbage", "empty", "faulted")))


class PlatformModel:
    """The true platform and its HX711s, turning truth into raw counts.

    ``noise_counts_rms`` (default 30 counts, about 0.07 N at 420 counts/N);
    ``garbage_fraction``: share of single readings that are garbage;
    ``lost_row_fraction``: share of rows lost entirely (a time gap);
    ``empty_cell_fraction``: share of single readings left empty;
    ``faults``: scheduled ``CellFault``s (or tuples).
    """

    def __init__(self, platform: PlatformCalibration, seed: int = 0, *, noise_counts_rms: float = 30.0,
                 garbage_fraction: float = 0.0, lost_row_fraction: float = 0.0,
                 empty_cell_fraction: float = 0.0, faults=()) -> None:
        for name, v in (("garbage_fraction", garbage_fraction), ("lost_row_fraction", lost_row_fraction),
                        ("empty_cell_fraction", empty_cell_fraction)):
            if not 0.0 <= v < 1.0:
                raise ValueError(f"{name} must be in [0, 1), not {v}")
        if not (math.isfinite(noise_counts_rms) and noise_counts_rms >= 0):
            raise ValueError("noise_counts_rms must be finite and >= 0")
        self.platform = platform
        self.seed = int(seed)
        self.noise_counts_rms = float(noise_counts_rms)
        self.garbage_fraction = float(garbage_fraction)
        self.lost_row_fraction = float(lost_row_fraction)
        self.empty_cell_fraction = float(empty_cell_fraction)
        self.faults = tuple(as_fault(f) for f in faults)
        for f in self.faults:
            if f.cell >= platform.n_cells:
                raise ValueError(f"fault on cell {f.cell}, but the platform has {platform.n_cells} cells")
        self._xy = np.array([(c.x_mm, c.y_mm) for c in platform.cells], dtype=np.float64)
        self._rect = _rectangle(self._xy)
        self._offset = np.array([c.offset for c in platform.cells])
        self._cpn = np.array([c.counts_per_newton for c in platform.cells])
        self._frozen: dict[int, int] = {}
        self._cache: dict[int, dict[str, np.ndarray]] = {}

    @property
    def fault_intervals(self) -> list[tuple[int, str, float, float]]:
        return [f.as_tuple() for f in self.faults]

    def clean_counts(self, force_n, x_mm, y_mm) -> np.ndarray:
        """Counts per cell before noise (float, unrounded)."""
        return self._offset + self._cpn * _split(force_n, x_mm, y_mm, self._xy, self._rect)

    def measure(self, first_index: int, force_n, x_mm, y_mm) -> Measurement:
        """Raw rows for samples ``first_index, first_index + 1, ...`` of the truth given."""
        n = len(force_n)
        t = (first_index + np.arange(n)) / self.platform.rate_hz
        rnd = self._randoms(first_index, n)
        counts = self.clean_counts(force_n, x_mm, y_mm) + self.noise_counts_rms * rnd["normal"]
        clean = np.clip(np.rint(counts), RAW_MIN, RAW_MAX).astype(np.int64)
        garbage = rnd["u_garbage"] < self.garbage_fraction
        raw = clean.copy()
        if garbage.any():
            raw[garbage] = corrupt(clean[garbage], rnd["kind"][garbage], rnd["p1"][garbage], rnd["p2"][garbage])
        faulted = self._apply_faults(t, clean, raw)
        garbage &= ~faulted
        empty = (rnd["u_empty"] < self.empty_cell_fraction) & ~faulted
        raw[empty] = MISSING
        kept = rnd["u_row"] >= self.lost_row_fraction
        return Measurement(t, raw, kept, garbage, empty, faulted)

    def _apply_faults(self, t: np.ndarray, clean: np.ndarray, raw: np.ndarray) -> np.ndarray:
        faulted = np.zeros(raw.shape, dtype=bool)
        for i, f in enumerate(self.faults):
            rows = (t >= f.start_s) & (t < f.end_s)
            if not rows.any():
                continue
            if f.kind == "frozen":
                if i not in self._frozen:
                    self._frozen[i] = int(clean[np.argmax(rows), f.cell]) if f.value is None else int(f.value)
                value = self._frozen[i]
            else:
                value = {"saturated": RAW_MAX if f.value is None else f.value,
                         "all_ones": -1, "missing": MISSING}[f.kind]
            raw[rows, f.cell] = value
            faulted[rows, f.cell] = True
        return faulted

    def _randoms(self, first_index: int, n: int) -> dict[str, np.ndarray]:
        if n == 0:
            return {key: v[:0] for key, v in self._random_block(0).items()}
        b0, b1 = first_index // _BLOCK, (first_index + n - 1) // _BLOCK
        lo = first_index - b0 * _BLOCK
        if b0 == b1:
            return {key: v[lo:lo + n] for key, v in self._random_block(b0).items()}
        blocks = [self._random_block(b) for b in range(b0, b1 + 1)]
        return {key: np.concatenate([blk[key] for blk in blocks])[lo:lo + n] for key in blocks[0]}

    def _random_block(self, b: int) -> dict[str, np.ndarray]:
        if b not in self._cache:
            if len(self._cache) > 4:
                self._cache.pop(min(self._cache))
            shape = (_BLOCK, self.platform.n_cells)
            noise = np.random.default_rng([self.seed, _NOISE, b])
            garb = np.random.default_rng([self.seed, _GARBAGE, b])
            loss = np.random.default_rng([self.seed, _LOSS, b])
            kind = np.searchsorted(np.cumsum(GARBAGE_WEIGHTS)[:-1], garb.random(shape), side="right")
            self._cache[b] = {
                "normal": noise.standard_normal(shape),
                "u_garbage": garb.random(shape), "kind": kind,
                "p1": garb.random(shape), "p2": garb.random(shape),
                "u_empty": loss.random(shape), "u_row": loss.random(_BLOCK),
            }
        return self._cache[b]


def corrupt(clean, kind, p1, p2) -> np.ndarray:
    """Garbage readings in place of ``clean``: kind 0 spike, 1 bit slip, 2 top byte/sign, 3 misread."""
    clean = np.asarray(clean, dtype=np.int64)
    u24 = clean & 0xFFFFFF
    spike = clean + np.where(p2 < 0.5, -1, 1) * (200_000 + (p1 * 3_800_000).astype(np.int64))
    slip = _signed(u24 ^ (np.int64(1) << (14 + (p1 * 9).astype(np.int64))))
    top = _signed(np.where(p2 < 0.5, u24 ^ 0x800000, (u24 & 0xFFFF) | ((p1 * 256).astype(np.int64) << 16)))
    misread = MISREAD_VALUES[np.minimum((p1 * len(MISREAD_VALUES)).astype(np.int64), len(MISREAD_VALUES) - 1)]
    out = np.choose(np.asarray(kind), [np.clip(spike, RAW_MIN, RAW_MAX), slip, top, misread])
    same = out == clean  # a top byte replaced by itself: make it wrong anyway
    out[same] = _signed((u24[same] ^ 0x400000))
    return out.astype(np.int64)


def _signed(u24):
    u24 = np.asarray(u24, dtype=np.int64) & 0xFFFFFF
    return np.where(u24 >= 0x800000, u24 - 0x1000000, u24)


def default_platform(n_cells: int = 4, seed: int = 0, *, negative_sensitivity: bool = False,
                     width_mm: float = 600.0, depth_mm: float = 400.0, rate_hz: float = 80.0) -> PlatformCalibration:
    """The TRUE calibration of a typical home-built platform.

    4: corners of a 600 x 400 mm platform; 3: a triangle; 2: the ends of a
    600 mm beam along x (y = 0); 1: one cell under the middle. Sensitivity
    400-450 counts/N; offsets +/-10 000-90 000 counts. With
    ``negative_sensitivity`` the odd cells (or the only cell) read lower
    under load.
    """
    rng = np.random.default_rng([int(seed), _LAYOUT])
    layouts = {4: corner_layout(width_mm, depth_mm), 2: ends_layout(width_mm),
               3: [(0.0, 0.0), (width_mm, 0.0), (width_mm / 2, depth_mm)],
               1: [(width_mm / 2, depth_mm / 2)]}
    if n_cells not in layouts:
        raise ValueError(f"a platform has 1 to 4 cells, not {n_cells}")
    cells = []
    for i, (x, y) in enumerate(layouts[n_cells]):
        cpn = float(np.round(rng.uniform(400.0, 450.0), 1))
        if negative_sensitivity and (i % 2 == 1 or n_cells == 1):
            cpn = -cpn
        offset = float(rng.choice([-1, 1]) * rng.integers(10_000, 90_000))
        cells.append(Cell(x_mm=x, y_mm=y, offset=offset, counts_per_newton=cpn))
    return PlatformCalibration(cells=tuple(cells), rate_hz=rate_hz)


def stale_calibration(platform: PlatformCalibration, shift_n: float, seed: int = 0) -> PlatformCalibration:
    """What the device believes: each offset shifted by 60-100 % of ``shift_n`` newtons' worth, either sign."""
    if shift_n == 0:
        return platform
    rng = np.random.default_rng([int(seed), _STALE])
    cells = []
    for c in platform.cells:
        shift_counts = rng.choice([-1, 1]) * rng.uniform(0.6, 1.0) * shift_n * abs(c.counts_per_newton)
        offset = float(np.clip(np.rint(c.offset + shift_counts), RAW_MIN, RAW_MAX))
        cells.append(Cell(c.x_mm, c.y_mm, offset, c.counts_per_newton))
    return PlatformCalibration(cells=tuple(cells), rate_hz=platform.rate_hz, extra=dict(platform.extra))


def default_knot(platform: PlatformCalibration) -> tuple[float, float]:
    """The middle of the cells: where a person puts the knot on a well-built platform."""
    xs = [c.x_mm for c in platform.cells]
    ys = [c.y_mm for c in platform.cells]
    return float(np.mean(xs)), float(np.mean(ys))
