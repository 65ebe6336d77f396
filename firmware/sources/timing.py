"""How late each sample is read, against when it was ready.

An HX711 holds one conversion: a sample not read within one period (12.5 ms
at 80/s) is overwritten by the next. A source that knows when each row was
ready counts how late it was read; the load benchmark compares those counts
with and without tablets connected.
"""

from __future__ import annotations

import math

#: Upper edges of the lateness histogram, in milliseconds (the last bucket is everything above).
BUCKETS_MS = (1.0, 2.0, 5.0, 12.5, 25.0, 50.0, 100.0)


class Lateness:
    """Counts rows, rows later than one sample period, the worst, and a coarse histogram."""

    def __init__(self, period_s: float) -> None:
        if not (math.isfinite(period_s) and period_s > 0):
            raise ValueError(f"the sample period must be > 0 s, not {period_s!r}")
        self.period_s = period_s
        self.reset()

    def reset(self) -> None:
        self.rows = 0
        self.late_rows = 0
        self.worst_s = 0.0
        self.histogram = [0] * (len(BUCKETS_MS) + 1)

    def add(self, late_s: float) -> None:
        """One row read ``late_s`` seconds after it was ready (negative: early, counts as 0)."""
        late_s = max(0.0, late_s)
        self.rows += 1
        if late_s > self.period_s:
            self.late_rows += 1
        self.worst_s = max(self.worst_s, late_s)
        late_ms = late_s * 1000.0
        self.histogram[next((i for i, edge in enumerate(BUCKETS_MS) if late_ms <= edge), len(BUCKETS_MS))] += 1

    def to_dict(self) -> dict:
        return {"rows": self.rows, "late_rows": self.late_rows, "period_ms": self.period_s * 1000.0,
                "worst_ms": round(self.worst_s * 1000.0, 3), "buckets_ms": list(BUCKETS_MS),
                "histogram": list(self.histogram)}
