"""The simulated platform as a Source: a person rolling, measured by simulated HX711s.

Rows come at the platform's rate (80 samples/s) counted from the clock's
first reading, which happens when the source is made. ``read()`` is
non-blocking and returns every row whose time has come; ``generate(seconds)``
returns the next rows at once without real time passing (``knotcoach
record``). ``steer(command, **kwargs)`` changes what the person does from the
current clock time on (see ``firmware.sim.person.COMMANDS``).

Left alone, it is an honest demo: 4 corner cells of a 600 x 400 mm platform,
a 75 kg person who lies down after 2 s, rolls around a knot in the middle
and, now and then, presses too hard, dwells on the knot or lifts off.
``platform`` is the believed calibration, with offsets stale by a few
newtons as a stored calibration usually is.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from firmware.block import Block
from firmware.sim.person import PersonSample
from firmware.sim.scenario import build_simulation
from firmware.sources.base import Clock, Source, SourceError
from firmware.sources.timing import Lateness


class SimulatedPlatform(Source):
    """A ``Source`` backed by ``firmware.sim``; every option has a realistic default."""

    kind = "simulated"

    def __init__(self, clock: Clock = time.monotonic, seed: int | None = None, *, n_cells: int = 4,
                 body_mass_kg: float = 75.0, knot_mm: tuple[float, float] | None = None,
                 autopilot: bool = True, lie_down_at_s: float | None = 2.0,
                 noise_counts_rms: float = 30.0, garbage_fraction: float = 0.0, lost_fraction: float = 0.0,
                 faults=(), stale_offsets_n: float = 3.0, negative_sensitivity: bool = False,
                 rate_hz: float = 80.0, paced: bool = False,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self.seed = int(seed)
        self._sim, self.true_platform, self.platform = build_simulation(
            self.seed, n_cells, garbage_fraction=garbage_fraction, lost_fraction=lost_fraction,
            negative_sensitivity=negative_sensitivity, stale_offsets_n=stale_offsets_n, faults=faults,
            body_mass_kg=body_mass_kg, knot_mm=knot_mm, autopilot=autopilot, lie_down_at_s=lie_down_at_s,
            noise_counts_rms=noise_counts_rms, rate_hz=rate_hz)
        #: How often a live loop may usefully poll (one sample period); 0 when paced (read blocks).
        self.poll_interval_s = 0.0 if paced else 1.0 / rate_hz
        #: Paced like the HX711 boards: ``read`` waits for the next row and returns it alone,
        #: counting how late after its time each row was read (``lateness``).
        self.paced = paced
        self.lateness = Lateness(1.0 / rate_hz) if paced else None
        self._sleep = sleep
        self._clock = clock
        self._t0 = float(clock())
        self._closed = False
        #: The truth behind the rows returned by the last ``read``/``generate`` (lost rows included).
        self.last_truth: PersonSample | None = None

    @property
    def t0_s(self) -> float:
        """The clock's reading at row time 0: a row at ``t_s`` was due at ``t0_s + t_s`` on the clock."""
        return self._t0

    @property
    def now_s(self) -> float:
        """Seconds since the clock's first reading."""
        return float(self._clock()) - self._t0

    def read(self) -> Block:
        """Every row whose time has come since the last call (possibly none)."""
        self._check_open()
        if self.paced:
            return self._read_paced()
        due = math.floor(self.now_s * self._sim.rate_hz + 1e-9) + 1 - self._sim.next_index
        if due <= 0:
            return Block.empty(self.n_cells)
        return self._take(due)

    def next_due_in_s(self) -> float:
        return max(0.0, self._sim.next_index / self._sim.rate_hz - self.now_s)

    def _read_paced(self) -> Block:
        ready_s = self._sim.next_index / self._sim.rate_hz
        wait_s = ready_s - self.now_s
        if wait_s > 0:
            self._sleep(wait_s)
        self.lateness.add(self.now_s - ready_s)
        return self._take(1)

    def generate(self, seconds: float) -> Block:
        """The next ``seconds`` of rows at once, without waiting for the clock."""
        self._check_open()
        seconds = float(seconds)
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be finite and >= 0, not {seconds}")
        return self._take(int(round(seconds * self._sim.rate_hz)))

    def steer(self, command: str, **kwargs) -> None:
        """Apply a command to the person now (never before rows already handed out)."""
        self._check_open()
        t_s = max(self.now_s, self._sim.last_t_s, 0.0)
        self._sim.steer(command, t_s, **kwargs)

    @property
    def knot_mm(self) -> tuple[float, float]:
        """Where the simulated knot is now (in platform millimetres)."""
        return self._sim.person.knot_at(max(self._sim.last_t_s, 0.0))

    def close(self) -> None:
        self._closed = True

    def _take(self, n: int) -> Block:
        measurement, truth = self._sim.advance(n)
        self.last_truth = truth
        return measurement.block()

    def _check_open(self) -> None:
        if self._closed:
            raise SourceError("the simulated platform is closed")
