"""The simulator paced like the HX711 boards, and the lateness counts the load benchmark reads."""

from __future__ import annotations

import pytest

from firmware.sources.simulated import SimulatedPlatform
from firmware.sources.timing import Lateness


class FakeTime:
    def __init__(self):
        self.t, self.slept = 100.0, []

    def clock(self):
        return self.t

    def sleep(self, s):
        self.slept.append(s)
        self.t += s


def test_lateness_counts_rows_later_than_one_period_and_keeps_a_histogram():
    late = Lateness(0.0125)
    for s in (0.0, -0.001, 0.0005, 0.004, 0.0125, 0.0126, 0.2):
        late.add(s)
    d = late.to_dict()
    assert (d["rows"], d["late_rows"], d["worst_ms"]) == (7, 2, 200.0)
    assert d["histogram"] == [3, 0, 1, 1, 1, 0, 0, 1]     # <=1, <=2, <=5, <=12.5, <=25, <=50, <=100, more
    late.reset()
    assert late.to_dict()["rows"] == 0 and late.worst_s == 0.0
    with pytest.raises(ValueError):
        Lateness(0.0)


def test_a_paced_simulator_hands_out_one_row_when_it_is_due_and_counts_late_reads():
    ft = FakeTime()
    src = SimulatedPlatform(clock=ft.clock, sleep=ft.sleep, seed=1, paced=True)
    assert src.poll_interval_s == 0.0                   # read blocks, like the HX711 source
    first, second = src.read(), src.read()
    assert (len(first), len(second)) == (1, 1)
    assert second.t_s[0] == pytest.approx(0.0125) and ft.slept == [pytest.approx(0.0125)]
    ft.t += 0.040                                        # the loop was busy for 40 ms
    src.read()
    assert src.lateness.rows == 3 and src.lateness.late_rows == 1
    assert src.lateness.worst_s == pytest.approx(0.040 + 0.0125 - 0.025)
    unpaced = SimulatedPlatform(clock=ft.clock, seed=1)
    assert unpaced.lateness is None and unpaced.poll_interval_s == pytest.approx(0.0125)
