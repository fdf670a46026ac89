"""A formula that gives no number from inputs that have data (÷ 0) is *undefined*, not *no data*.

Computed by hand: each KPI's inputs over the period, and which of them is zero.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from kpitui.api import readings_frame
from kpitui.config import load_config
from kpitui.engine import Engine
from kpitui.model import Status
from kpitui.pipeline import Readings, View

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 15, 12, 0, tzinfo=UTC)

CONFIG = """
[metrics.views]
[metrics.signups]
[metrics.sales]

[kpis.conversion]
formula = "ratio"
numerator = "signups"
denominator = "views"
percent = true
target = { kind = "reach", value = 5 }

[kpis.growth]
formula = "growth"
of = "sales"

[kpis.growth_abs]
formula = "growth"
of = "sales"
mode = "absolute"

[kpis.funnel]
formula = "funnel"
steps = ["views", "signups"]

[kpis.per_view]
formula = "expression"
expression = "signups / views + sales"

[kpis.total]
formula = "sum"
metrics = ["views", "signups"]

[objectives.grow]
kpis = ["conversion", "funnel"]
"""


def t(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def config(write_config, builtin_registry):
    return load_config(write_config(CONFIG), registry=builtin_registry)


# views: read in January only (so 0 over March); signups 4 in March;
# sales 2 in January, none (0) in February, 3 in March
HISTORY = [
    ("views", t(2026, 1, 10), 50),
    ("signups", t(2026, 3, 2), 4),
    ("sales", t(2026, 1, 20), 2),
    ("sales", t(2026, 3, 3), 3),
]


def test_each_built_in_formula_says_why(config):
    snap = Engine(config).evaluate(readings_frame(HISTORY), NOW)
    k = snap.kpis
    assert k["conversion"].status is Status.UNDEFINED  # 4 sign-ups / 0 views in March
    assert k["conversion"].undefined == "÷ 0: views is 0"
    assert k["conversion"].score is None and k["conversion"].progress is None
    assert k["funnel"].status is Status.UNDEFINED and k["funnel"].undefined == "÷ 0: the first step, views, is 0"
    assert k["growth"].status is Status.UNDEFINED  # 3 against February's 0: (3 - 0) / 0
    assert k["growth"].undefined == "÷ 0: sales was 0 the period before"
    assert k["growth_abs"].value == 3 and k["growth_abs"].status is Status.NO_TARGET
    assert k["per_view"].status is Status.UNDEFINED
    assert k["per_view"].undefined == "÷ 0: a divisor in the expression is 0"
    assert k["total"].value == 4 and k["total"].undefined is None
    (objective,) = snap.objectives
    assert objective.status is Status.UNDEFINED  # its KPIs have data and no number: not "no data"


def test_inputs_without_any_reading_are_still_no_data(config):
    snap = Engine(config).evaluate(readings_frame([("sales", t(2026, 3, 3), 3)]), NOW)
    for kid in ("conversion", "funnel", "per_view"):
        assert snap.kpis[kid].status is Status.NO_DATA and snap.kpis[kid].undefined is None
    assert snap.objectives[0].status is Status.NO_DATA


def test_a_growth_over_history_that_only_partly_covers_the_period_stays_cut_short(config):
    """Sales first read in March: February has no reading, so growth has no number, partial history: not undefined."""
    snap = Engine(config).evaluate(readings_frame([("sales", t(2026, 3, 3), 3)]), NOW)
    growth = snap.kpis["growth"]
    assert growth.value is None and growth.partial_history and growth.status is Status.NO_DATA


def test_a_moved_clock_carries_undefined_as_a_fresh_evaluation_makes_it(config):
    engine = Engine(config)
    epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
    rows = pl.DataFrame(
        {
            "metric": [m for m, _, _ in HISTORY],
            "at": [(at - epoch) // dt.timedelta(microseconds=1) for _, at, _ in HISTORY],
            "value": [float(v) for _, _, v in HISTORY],
            "n": [1] * len(HISTORY),
        },
        schema={"metric": pl.String, "at": pl.Int64, "value": pl.Float64, "n": pl.Int64},
    )
    view = View.of(Readings.empty()).write(rows)
    first = engine.evaluate(view, NOW)
    assert first.kpis["conversion"].status is Status.UNDEFINED
    for seconds in (5, 10, 3600, 86_400 * 20):  # within the day, then into April (a new period)
        now = NOW + dt.timedelta(seconds=seconds)
        moved = engine.evaluate(view, now)
        fresh = Engine(config).evaluate(view, now)
        assert moved == fresh
    assert moved.kpis["conversion"].status is Status.UNDEFINED  # April: 0 sign-ups / 0 views
    assert moved.kpis["growth"].status is Status.NO_TARGET  # April's 0 sales against March's 3: -100%


def _cli(*argv: str) -> str:
    import contextlib
    import io

    from kpitui import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    assert code == 0, err.getvalue()
    return out.getvalue()


def test_report_and_series_say_undefined_and_why(tmp_path):
    import csv
    import io
    import json

    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n'
        '[metrics.signups]\nunit = "count"\n[metrics.views]\nunit = "count"\n'
        '[kpis.conv]\nname = "Conversion"\nformula = "ratio"\nnumerator = "signups"\ndenominator = "views"\n'
        'window = "today"\ntarget = { kind = "reach", value = 0.5 }\n[objectives.o]\ntitle = "Grow"\nkpis = ["conv"]\n',
        encoding="utf-8",
    )
    for metric, value, at in (("views", "10", "2026-12-01 10:00"), ("signups", "3", "2026-12-01 11:00")):
        _cli("record", metric, value, "--at", at, "--config", str(config))
    _cli("record", "signups", "2", "--at", "2026-12-02 11:00", "--config", str(config))
    at = ("--at", "2026-12-02 12:00", "--config", str(config))
    report = json.loads(_cli("report", "--no-collect", "--format", "json", *at))
    (kpi,) = report["kpis"]
    assert kpi["value"] is None and kpi["status"] == "undefined" and kpi["undefined"] == "÷ 0: views is 0"
    assert report["objectives"][0]["status"] == "undefined"
    table = _cli("report", "--no-collect", "--width", "0", *at)
    row = next(line for line in table.splitlines() if "Conversion" in line and "to date" in line)
    assert "⊘ undefined (÷ 0: views is 0)" in row and "○" not in row, row
    assert "not missing data: Conversion: ÷ 0: views is 0." in " ".join(table.split()), table
    (csv_row,) = csv.DictReader(io.StringIO(_cli("report", "--no-collect", "--format", "csv", *at)))
    assert csv_row["status"] == "undefined" and csv_row["undefined"] == "÷ 0: views is 0" and csv_row["value"] == ""
    series = json.loads(_cli("series", "conv", "--grain", "day", "--points", "2", "--format", "json", *at))
    before, today = series["points"]
    assert before["value"] == 0.3 and "undefined" not in before
    assert today["value"] is None and today["undefined"] == "÷ 0: views is 0"
    rows = list(
        csv.DictReader(io.StringIO(_cli("series", "conv", "--grain", "day", "--points", "2", "--format", "csv", *at)))
    )
    assert [(r["value"], r["undefined"]) for r in rows] == [("0.3", ""), ("", "÷ 0: views is 0")]  # as the JSON's
    text = _cli("series", "conv", "--grain", "day", "--points", "2", *at)
    assert "undefined  (so far" in text and "formula gives no number (÷ 0: views is 0)" in text, text


OVERFLOW_CONFIG = """
[metrics.big]
[metrics.views]

[kpis.total]
formula = "sum"
metrics = ["big"]

[kpis.per_view]
formula = "ratio"
numerator = "big"
denominator = "views"

[kpis.twice]
formula = "expression"
expression = "big * 2"

[kpis.conversion]
formula = "ratio"
numerator = "views"
denominator = "big"
"""


def test_a_sum_beyond_the_largest_float_says_overflow_not_a_zero_divisor(write_config, builtin_registry):
    """Two readings of 1e308 in March sum to inf (1.8e308 is the largest float): overflow, not ÷ 0 nor 'no number'."""
    from kpitui.model import OVERFLOW

    config = load_config(write_config(OVERFLOW_CONFIG), registry=builtin_registry)
    history = [("big", t(2026, 3, 2), 1e308), ("big", t(2026, 3, 3), 1e308), ("views", t(2026, 3, 3), 4)]
    snap = Engine(config).evaluate(readings_frame(history), NOW)
    for kid in ("total", "per_view"):  # inf itself; inf / 4 (views is 4, not 0)
        assert snap.kpis[kid].status is Status.UNDEFINED and snap.kpis[kid].undefined == OVERFLOW, kid
    assert snap.kpis["conversion"].value == 0.0  # 4 / inf is 0: a number, no overflow
    one = Engine(config).evaluate(readings_frame([("big", t(2026, 3, 2), 1e308), ("views", t(2026, 3, 3), 0)]), NOW)
    assert one.kpis["total"].value == 1e308 and one.kpis["total"].undefined is None
    assert one.kpis["twice"].undefined == OVERFLOW  # 1e308 * 2: the formula's own value overflows
    assert one.kpis["per_view"].undefined == "÷ 0: views is 0"  # a finite numerator over 0 is still ÷ 0


def test_report_series_and_explain_say_overflow(tmp_path):
    import csv
    import io
    import json

    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n'
        '[metrics.big]\nunit = "count"\n'
        '[kpis.total]\nname = "Total"\nformula = "sum"\nmetrics = ["big"]\nwindow = "today"\n',
        encoding="utf-8",
    )
    for at in ("2026-12-01 10:00", "2026-12-02 10:00", "2026-12-02 11:00"):
        _cli("record", "big", "1e308", "--at", at, "--config", str(config))
    why = "overflow: the value or a sum it reads exceeds 1.8e308, the largest number"
    at = ("--at", "2026-12-02 12:00", "--config", str(config))
    (kpi,) = json.loads(_cli("report", "--no-collect", "--format", "json", *at))["kpis"]
    assert kpi["value"] is None and kpi["status"] == "undefined" and kpi["undefined"] == why
    assert kpi["previous"] == 1e308  # Dec 1: one reading, a number
    table = _cli("report", "--no-collect", "--width", "0", "--explain", *at)
    row = next(line for line in table.splitlines() if "Total" in line and "to date" in line)
    assert f"⊘ undefined ({why})" in row, row
    assert f"Total: {why}." in " ".join(table.split()), table
    assert f"Total: no change to explain (the current period's value is undefined: {why})" in table, table
    (csv_row,) = csv.DictReader(io.StringIO(_cli("report", "--no-collect", "--format", "csv", *at)))
    assert csv_row["status"] == "undefined" and csv_row["undefined"] == why and csv_row["value"] == ""
    series = json.loads(_cli("series", "total", "--grain", "day", "--points", "2", "--format", "json", *at))
    before, today = series["points"]
    assert before["value"] == 1e308 and "undefined" not in before
    assert today["value"] is None and today["undefined"] == why
    text = _cli("series", "total", "--grain", "day", "--points", "2", *at)
    assert f"formula gives no number ({why})" in text, text
    rows = list(
        csv.DictReader(io.StringIO(_cli("series", "total", "--grain", "day", "--points", "2", "--format", "csv", *at)))
    )
    assert [(r["value"], r["undefined"]) for r in rows] == [("1e+308", ""), ("", why)]  # the comma in why: quoted
    # the metric's own series (its aggregation, a sum) overflows in the same bucket: said, not "—" (no data)
    metric = json.loads(_cli("series", "big", "--grain", "day", "--points", "2", "--format", "json", *at))
    before, today = metric["points"]
    assert before["value"] == 1e308 and "undefined" not in before
    assert today["value"] is None and today["undefined"] == why
    text = _cli("series", "big", "--grain", "day", "--points", "2", *at)
    assert "undefined" in text.splitlines()[-2] and f"the readings are there but give no number ({why})" in text, text


def test_a_moved_clock_carries_overflow_as_a_fresh_evaluation_makes_it(write_config, builtin_registry):
    from kpitui.model import OVERFLOW

    config = load_config(write_config(OVERFLOW_CONFIG), registry=builtin_registry)
    engine = Engine(config)
    epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
    history = [("big", t(2026, 3, 2), 1e308), ("big", t(2026, 3, 3), 1e308), ("views", t(2026, 3, 3), 4)]
    rows = pl.DataFrame(
        {
            "metric": [m for m, _, _ in history],
            "at": [(at - epoch) // dt.timedelta(microseconds=1) for _, at, _ in history],
            "value": [float(v) for _, _, v in history],
            "n": [1] * len(history),
        },
        schema={"metric": pl.String, "at": pl.Int64, "value": pl.Float64, "n": pl.Int64},
    )
    view = View.of(Readings.empty()).write(rows)
    assert engine.evaluate(view, NOW).kpis["total"].undefined == OVERFLOW
    for seconds in (5, 3600, 86_400 * 20):  # within the day, then into April (a new period: 0, a number)
        now = NOW + dt.timedelta(seconds=seconds)
        moved = engine.evaluate(view, now)
        assert moved == Engine(config).evaluate(view, now)
    assert moved.kpis["total"].value == 0 and moved.kpis["total"].undefined is None
