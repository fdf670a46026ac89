"""Expression arithmetic that cannot go wrong quietly (issue 19 items 7 and 8), through the real CLI:
integer literals never wrap past 2**63, and a formula without a metric (``expression = "5"``) is one
clear line from ``check``, ``report`` and ``series``, never an IndexError."""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import pytest

from kpitui.api import readings_frame
from kpitui.store import Store

from .conftest import run_kpitui

BIG = """
[metrics.signups]
name = "Sign-ups"
[kpis.big]
name = "Big"
formula = "expression"
expression = "3037000500 * 3037000500 + signups"
window = "month_to_date"
"""


def project(tmp_path, body: str, readings=()):
    history = tmp_path / "h.sqlite3"
    config = tmp_path / "kpitui.toml"
    config.write_text(f'[storage]\npath = "{history}"\n\n' + textwrap.dedent(body), encoding="utf-8")
    if readings:
        store = Store(history)
        try:
            store.write(readings_frame(list(readings)), mode="replace")
        finally:
            store.close()
    return config


def test_integer_literals_never_wrap(tmp_path):
    config = project(tmp_path, BIG, [("signups", dt.datetime(2026, 11, 20, 9, tzinfo=dt.timezone.utc), 4)])
    done = run_kpitui("report", "--format", "json", "--no-collect", "--at", "2026-11-25 12:00", "--config", str(config))
    assert done.returncode == 0, done.stderr
    value = next(k for k in json.loads(done.stdout)["kpis"] if k["id"] == "big")["value"]
    assert value > 0 and value == pytest.approx(3037000500.0**2 + 4, rel=1e-12)  # not -9,223,372,036,709,301,248


@pytest.mark.slow
@pytest.mark.parametrize("expression", ["5", "abs(-3) * 2", "2 ** 3"])
def test_an_expression_without_a_metric_is_one_line_from_check_report_and_series(tmp_path, expression):
    config = project(tmp_path, BIG.replace("3037000500 * 3037000500 + signups", expression))
    for args in (("check",), ("report", "--no-collect"), ("series", "big")):
        done = run_kpitui(*args, "--config", str(config))
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and "IndexError" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "uses no metric or KPI" in done.stderr
