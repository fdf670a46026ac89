"""`kpitui check` says when the history holds readings of metrics the config does not have: a metric renamed in the
config starts with no history under its new id, and the report and dashboard can only show it as no data
(check12: renaming ``s`` to ``s2`` showed "—" and "never" with no word of the 42,466 readings still under ``s``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KPITUI = str(Path(sys.executable).with_name("kpitui"))


def kpitui(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([KPITUI, *args], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def config(tmp_path: Path, metric: str) -> str:
    path = tmp_path / f"{metric}.toml"
    path.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        f'[metrics.{metric}]\nunit = "count"\n[metrics.visits]\nunit = "count"\n'
    )
    return str(path)


def test_check_names_the_readings_a_renamed_metric_left_behind(tmp_path):
    before = config(tmp_path, "sales")
    assert "note: the history" not in kpitui("check", "--config", before).stdout  # no history yet: nothing to say
    kpitui("record", "sales", "3", "--at", "2026-03-02 10:00", "--config", before)
    kpitui("record", "visits", "9", "--at", "2026-03-02 10:00", "--config", before)
    assert "note: the history" not in kpitui("check", "--config", before).stdout  # every stored metric is named
    out = kpitui("check", "--config", config(tmp_path, "orders")).stdout
    assert "the history holds readings of 1 metric this config does not have: sales" in out
    assert "metrics of this config without readings: orders" in out
