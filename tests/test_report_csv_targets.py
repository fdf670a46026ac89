"""The CSV report carries every target's numbers: a score in a row can be worked out again from that row.

A ``within`` target's row had a score (0.9) and an empty ``target`` cell: its range was nowhere in the CSV.
A ``below`` limit with a ``baseline`` scores down to 0 at that baseline (0.7 for 383 against ≤ 353 from 453),
which the ``target_baseline`` cell left out. Checked through the CLI against hand arithmetic (check15).
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from test_cli import run
from test_semantics import project

UTC = dt.timezone.utc

BODY = """
[metrics.leads]
name = "Leads"
unit = "count"

[kpis.ranged]
formula = "sum"
metrics = ["leads"]
window = "last_month"
target = { kind = "within", low = 384, high = 394 }

[kpis.limit]
formula = "sum"
metrics = ["leads"]
window = "last_month"
target = { kind = "below", value = 353, baseline = 453 }

[kpis.limit_default]
formula = "sum"
metrics = ["leads"]
window = "last_month"
target = { kind = "below", value = 353 }

[kpis.reach]
formula = "sum"
metrics = ["leads"]
window = "last_month"
target = { kind = "reach", value = 413, baseline = 313 }
"""


def test_every_target_number_is_in_its_csv_row(tmp_path):
    # 383 leads in November: 100 on the 2nd, 283 on the 20th
    readings = [("leads", dt.datetime(2026, 11, 2, 9, tzinfo=UTC), 100.0)]
    readings.append(("leads", dt.datetime(2026, 11, 20, 9, tzinfo=UTC), 283.0))
    config = project(tmp_path, BODY, readings)
    done = run("report", "--format", "csv", "--no-collect", "--at", "2026-12-10 12:00", "--config", str(config))
    assert done.returncode == 0, done.stderr
    rows = {r["kpi"]: r for r in csv.DictReader(io.StringIO(done.stdout))}
    ranged = rows["ranged"]  # 1 below the range of width 10: 1 - 1/10
    assert (ranged["value"], ranged["score"], ranged["status"]) == ("383", "0.9", "on_track")
    assert (ranged["target_kind"], ranged["target_low"], ranged["target_high"]) == ("within", "384", "394")
    assert ranged["target"] == "" and ranged["target_baseline"] == ""
    limit = rows["limit"]  # (453 - 383) / (453 - 353)
    assert (limit["score"], limit["target_kind"], limit["target"], limit["target_baseline"]) == (
        "0.7",
        "below",
        "353",
        "453",
    )
    assert (limit["target_low"], limit["target_high"]) == ("", "")
    default = rows["limit_default"]  # the default baseline, 2 x 353 = 706: (706 - 383) / 353
    assert default["target_baseline"] == "" and float(default["score"]) == round((706 - 383) / 353, 6)
    reach = rows["reach"]  # (383 - 313) / (413 - 313)
    assert (reach["score"], reach["target_kind"], reach["target"], reach["target_baseline"]) == (
        "0.7",
        "reach",
        "413",
        "313",
    )
