"""The exports of stored sessions, CSV and JSON: ``knotcoach sessions --format csv|json``
and the tablet's history downloads (``/api/sessions.csv``, ``/api/sessions.json``).

CSV has one row per session; its ``warnings`` column sums each warning as
``name:count:seconds`` joined by ``;``. JSON holds every warning event::

    {"format": "knotcoach-sessions", "version": 1,
     "sessions": [{"id": 3, "person": "ana", ..., "warnings": [{"name": "over_band",
                   "start_t_s": 20.0, "end_t_s": 23.5}], "next_day": null}, ...]}
"""

from __future__ import annotations

import csv
import io
import json

EXPORT_FORMAT, EXPORT_VERSION = "knotcoach-sessions", 1
FORMATS = ("csv", "json")
CSV_FIELDS = ("id", "person", "region", "tool", "knot_x_mm", "knot_y_mm", "started_at", "ended_at", "outcome",
              "step", "pain_before", "pain_after", "elapsed_s", "time_in_band_s", "cycles_done", "warnings",
              "next_day_asked_at", "next_day_tenderness", "next_day_bruising", "recording_path")


def csv_row(s) -> dict:
    row = {k: v for k, v in s.to_dict().items() if k in CSV_FIELDS}
    row["warnings"] = ";".join(f"{name}:{n}:{sec:g}" for name, (n, sec) in s.warning_totals().items())
    nd = s.next_day
    row.update(next_day_asked_at=nd and nd.asked_at, next_day_tenderness=nd and nd.tenderness,
               next_day_bruising=None if nd is None or nd.bruising is None else ("yes" if nd.bruising else "no"))
    return {k: "" if v is None else v for k, v in row.items()}


def to_csv(sessions) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for s in sessions:
        writer.writerow(csv_row(s))
    return buf.getvalue()


def to_json(sessions) -> str:
    data = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "sessions": [s.to_dict() for s in sessions]}
    return json.dumps(data, indent=2, allow_nan=False) + "\n"
