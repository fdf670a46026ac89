"""The benchmark suite runs end to end (small sizes, two groups) and every figure says its budget, what was
measured, how the runs spread and what it is compared with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_small_run_of_the_suite_fills_every_column(tmp_path):
    pytest.importorskip("pandas")
    pytest.importorskip("duckdb")
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--only",
            "engine,access_log",
            "--readings",
            "20000",
            "--lines",
            "5000",
            "--runs",
            "1",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: some budget missed (they are for the full sizes)
    text = out.read_text()
    assert "a partial or smaller run" in text
    # the figures' table only: RESULTS.md embeds NOTES.md after it, whose own tables may start a row "| 1 "
    table = text.split("## Figures\n\n", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith(("| 1 ", "| 2 ", "| 3 ", "| 4 "))]
    assert len(rows) >= 10, text
    for row in rows:
        group, name, budget, measured, spread, reference, verdict = [c.strip() for c in row.strip("|").split("|")]
        assert budget and measured and spread and reference, row
        assert "not measured" not in measured, row
