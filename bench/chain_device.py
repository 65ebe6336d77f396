"""The device process as the chain benchmark runs it: ``python bench/chain_device.py OUT.json ARGS...``
(run with the tree under test first on ``PYTHONPATH``).

It is ``firmware.device.main`` with ARGS, with two things only a benchmark
needs, both kept out of the product:

- the cues on gpiozero's ``MockFactory`` (injected where the device asks gpiozero
  for its default factory), so the buzzer pin's every change is recorded with
  its time on the machine's monotonic clock;
- the simulated person's true force for every sample the source hands out,
  and those samples themselves.

At exit both go to OUT.json: ``{"buzzer": [[t_monotonic_s, state], ...],
"truth": [[t_s, force_n], ...]}`` (``t_s`` is sample time; the device's hello
gives the clock origin), and the samples to OUT.csv.gz as a recording with the
device's calibration, for ``knotcoach analyze`` (sample times kept).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    from gpiozero.pins.mock import MockFactory

    import firmware.cues.devices as devices
    from firmware.sources.simulated import SimulatedPlatform
    try:
        from firmware.device import main as device_main
    except ImportError:  # the layout before firmware/device/ (bench.latency --compare an older commit)
        import firmware.device_main as device_main

    out, args = Path(argv[0]), argv[1:]
    factory = MockFactory()
    buzzer = factory.pin(devices.BUZZER_PIN)
    opened_s = time.monotonic()
    buzzer.clear_states()  # from here on, states are (seconds since the last change, state)
    devices.default_pin_factory = lambda: factory  # the device's only way to gpiozero's default

    truth: list[tuple[float, float]] = []
    blocks, sources = [], []
    take = SimulatedPlatform._take

    def take_and_keep(self, n):
        block = take(self, n)
        truth.extend(zip(self.last_truth.t_s.tolist(), self.last_truth.force_n.tolist()))
        blocks.append(block)
        sources[:] = [self]
        return block

    SimulatedPlatform._take = take_and_keep
    try:
        return device_main.main(args)
    finally:
        t, changes = opened_s, []
        for state in buzzer.states[1:]:
            t += state.timestamp
            changes.append((t, bool(state.state)))
        out.write_text(json.dumps({"buzzer": changes, "truth": truth}))
        if sources and blocks:
            from firmware.block import Block
            try:
                from firmware.recordings.format import write_recording
            except ImportError:
                from firmware.recording import write_recording
            write_recording(out.with_suffix(".csv.gz"), sources[0].platform, Block.concat(blocks))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
