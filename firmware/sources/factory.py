"""Pick and open a source from a command-line word: auto, hx711, sim or replay:FILE."""

from __future__ import annotations

import time
from typing import Callable

from calibration.platform import Cell, PlatformCalibration, corner_layout, ends_layout
from firmware.recordings.format import RecordingError
from firmware.sources.base import Clock, Source, SourceError

#: The 600 x 400 mm roller platform of hardware.md carries its cells 540 x 340 mm apart.
PLATFORM_W_MM, PLATFORM_D_MM = 540.0, 340.0
#: A rough sensitivity for an uncalibrated platform, so forces are at least in the right range.
NOMINAL_COUNTS_PER_NEWTON = 2000.0


class SourceSpecError(ValueError):
    """A source that cannot be opened, with the reason in words."""


def parse_pins(text: str | None):
    """'5:6,17:27' -> ((5, 6), (17, 27)); None -> the default pins."""
    from firmware.sources.hx711_source import DEFAULT_PINS

    if not text:
        return DEFAULT_PINS
    pairs = []
    for part in text.split(","):
        bits = part.split(":")
        if len(bits) != 2 or not all(b.strip().isdigit() for b in bits):
            raise SourceSpecError(f"--pins wants DOUT:SCK pairs of BCM numbers like 5:6,17:27, not {text!r}")
        pairs.append(tuple(int(b) for b in bits))
    flat = [p for pair in pairs for p in pair]
    if not 1 <= len(pairs) <= 4 or len(set(flat)) != len(flat) or not all(0 <= p <= 27 for p in flat):
        raise SourceSpecError("--pins wants 1 to 4 DOUT:SCK pairs of distinct BCM pins 0-27")
    return tuple(pairs)


def uncalibrated_platform(n_cells: int, rate_hz: float = 80.0) -> PlatformCalibration:
    """Geometry of hardware.md's platform with a nominal sensitivity and no known zero."""
    layout = {4: corner_layout(PLATFORM_W_MM, PLATFORM_D_MM), 2: ends_layout(PLATFORM_W_MM), 1: [(0.0, 0.0)]}
    xy = layout.get(n_cells) or corner_layout(PLATFORM_W_MM, PLATFORM_D_MM)[:n_cells]
    cells = tuple(Cell(x, y, 0.0, NOMINAL_COUNTS_PER_NEWTON) for x, y in xy)
    return PlatformCalibration(cells, rate_hz, extra={"uncalibrated": True})


def open_source(spec: str, *, pins: str | None = None, seed: int = 1, fast: bool = False,
                clock: Clock = time.monotonic, announce: Callable[[str], None] = print,
                platform: PlatformCalibration | None = None, paced: bool = False) -> Source:
    """Open the source named by ``spec``; SourceSpecError says why one cannot be."""
    kind, _, arg = spec.partition(":")
    if kind == "replay":
        from firmware.sources.replay import ReplaySource
        if not arg:
            raise SourceSpecError("replay needs a file: --source replay:REC.csv")
        try:
            return ReplaySource(arg, clock=clock, fast=fast)
        except RecordingError as e:
            raise SourceSpecError(str(e)) from None
    if kind in ("sim", "simulated"):
        return _simulated(seed, clock, paced)
    if kind not in ("auto", "hx711"):
        raise SourceSpecError(f"unknown source {spec!r}: use auto, hx711, sim or replay:FILE")
    from firmware.sources.hx711_source import HX711Source, probe_hx711

    pin_pairs = parse_pins(pins)
    ok, reason = probe_hx711(pin_pairs)
    if not ok:
        if kind == "hx711":
            raise SourceSpecError(f"HX711 boards not usable: {reason}")
        announce(f"no HX711 boards found ({reason}); using the simulated platform")
        return _simulated(seed, clock)
    if platform is None:
        platform = uncalibrated_platform(len(pin_pairs))
        announce("this platform is not calibrated yet: forces are rough estimates")
    try:
        return HX711Source(pin_pairs, platform, clock=clock)
    except SourceError as e:
        raise SourceSpecError(str(e)) from None


def _simulated(seed: int, clock: Clock, paced: bool = False) -> Source:
    from firmware.sources.simulated import SimulatedPlatform
    return SimulatedPlatform(clock=clock, seed=seed, paced=paced)
