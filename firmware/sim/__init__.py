"""The simulated platform: a person rolling (truth) and the load cells measuring them.

- ``person``: ``Person``, the ground truth as a steerable state machine over time.
- ``platform_model``: statics, HX711 counts, noise, garbage, losses and cell faults.
- ``scenario``: scripted sessions with ground truth for tests and benchmarks.

Everything is pure and deterministic: time is an argument, randomness is seeded.
"""

from firmware.sim.person import COMMANDS, Person, PersonSample
from firmware.sim.platform_model import (CellFault, Measurement, PlatformModel, default_platform,
                                         distribute_force, stale_calibration)
from firmware.sim.scenario import (Event, Simulation, Truth, build_simulation, dwell, hour_session, lift,
                                   make_session, pass_through, press, realistic_session)

__all__ = [
    "COMMANDS", "Person", "PersonSample",
    "CellFault", "Measurement", "PlatformModel", "default_platform", "distribute_force", "stale_calibration",
    "Event", "Simulation", "Truth", "build_simulation", "dwell", "hour_session", "lift", "make_session",
    "pass_through", "press", "realistic_session",
]
