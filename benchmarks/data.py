"""Generated benchmark data: a config of 1,000 metrics and 300 KPIs, and a reading history.

Everything is deterministic (fixed seeds) and built column-wise with polars,
so a run needs no downloaded data and the same scale gives the same figures.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import polars as pl

#: the instant every benchmark evaluates at (a Tuesday, in British winter time)
NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)
TIMEZONE = "Europe/London"
HISTORY_DAYS = 400

# How metrics combine over time: mostly counts, some gauges and means, a few min/max/count.
_RULES = ["sum"] * 11 + ["last"] * 3 + ["mean"] * 3 + ["min", "max", "count"]
_WINDOWS = [
    "today", "yesterday", "week_to_date", "month_to_date", "quarter_to_date", "year_to_date",
    "trailing_7d", "trailing_30d", "trailing_90d", "last_month",
]  # fmt: skip
# Formula types in proportion (every built-in type appears).
_FORMULAS = (
    ["sum"] * 6 + ["ratio"] * 5 + ["difference"] * 2 + ["mean"] * 2 + ["expression"] * 3
    + ["growth"] * 3 + ["cumulative", "funnel", "percentile", "weighted_sum", "weighted_mean"]
)  # fmt: skip


def metric_id(i: int) -> str:
    return f"m{i:04d}"


def rule_of(i: int) -> str:
    return _RULES[i % len(_RULES)]


def config_text(history_path: Path, *, metrics: int = 1000, kpis: int = 300, seed: int = 7) -> str:
    """A config with ``metrics`` metrics and ``kpis`` KPIs of mixed formula types and windows."""
    rng = random.Random(seed)
    out = [
        f'[kpitui]\ntimezone = "{TIMEZONE}"\n\n[storage]\npath = "{history_path.as_posix()}"\n',
    ]
    for i in range(metrics):
        rule = rule_of(i)
        unit = "duration" if rule == "mean" else "number"
        out.append(f'[metrics.{metric_id(i)}]\nunit = "{unit}"\naggregation = "{rule}"\n')

    def pick(k: int) -> list[str]:
        return [metric_id(i) for i in rng.sample(range(metrics), k)]

    objectives: dict[int, list[str]] = {}
    for k in range(kpis):
        formula = _FORMULAS[k % len(_FORMULAS)]
        window = rng.choice(_WINDOWS)
        a, b, c, d = pick(4)
        if formula in ("sum", "difference"):
            body = f"metrics = {[a, b, c] if formula == 'sum' else [a, b]}"
        elif formula == "ratio":
            body = f'numerator = "{a}"\ndenominator = "{b}"\npercent = true'
        elif formula == "mean":
            body = f'metrics = ["{a}"]'
        elif formula == "expression":
            body = f'expression = "({a} - {b}) / {c} * 100"'
        elif formula in ("growth", "cumulative", "percentile"):
            body = f'of = "{a}"' + ("\np = 90" if formula == "percentile" else "")
        elif formula == "funnel":
            body = f"steps = {[a, b, c, d]}"
        else:
            body = f"weights = {{ {a} = 1.0, {b} = 2.5, {c} = 0.5 }}"
        body = body.replace("'", '"')
        target = rng.choice(['{ kind = "reach", value = 5000 }', '{ kind = "above", value = 10, baseline = 0 }', ""])
        out.append(
            f'[kpis.k{k:03d}]\nformula = "{formula}"\n{body}\nwindow = "{window}"\n'
            + (f"target = {target}\n" if target else "")
        )
        objectives.setdefault(k % 20, []).append(f"k{k:03d}")
    for o, members in objectives.items():
        out.append(f"[objectives.o{o:02d}]\nkpis = {members}\n".replace("'", '"'))
    return "\n".join(out)


def history(
    rows: int, *, metrics: int = 1000, seed: int = 1, end: dt.datetime = NOW, days: int = HISTORY_DAYS
) -> pl.DataFrame:
    """``rows`` readings of ``metrics`` metrics spread over ``days`` before ``end``, in no order.

    Metric sizes are skewed (the busiest metrics hold about ten times more
    readings than the quietest); values are small numbers with two decimals.
    """
    span_us = days * 86_400_000_000
    end_us = (end - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)
    i = pl.int_range(0, rows, eager=True).alias("i")
    u = (pl.col("i").hash(seed) % 1_000_003).cast(pl.Float64) / 1_000_003  # uniform in [0, 1)
    names = pl.Series([metric_id(k) for k in range(metrics)])
    return (
        pl.DataFrame(i)
        .select(
            metric=pl.lit(names).gather((u.pow(1.5) * metrics).cast(pl.Int64).clip(0, metrics - 1)),
            at=(pl.lit(end_us) - 1 - pl.col("i").hash(seed + 1) % span_us).cast(pl.Datetime("us", "UTC")),
            value=((pl.col("i").hash(seed + 2) % 10_000).cast(pl.Float64) / 100).round(2),
        )
        .unique(subset=["metric", "at"], keep="first")
    )


def new_readings(rows: int, *, metrics: list[str], start: dt.datetime, seconds: float, seed: int) -> pl.DataFrame:
    """``rows`` fresh readings of ``metrics`` between ``start`` and ``start + seconds`` (a poll's worth)."""
    start_us = (start - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)
    i = pl.int_range(0, rows, eager=True).alias("i")
    names = pl.Series(metrics)
    return (
        pl.DataFrame(i)
        .select(
            metric=pl.lit(names).gather(pl.col("i") % len(metrics)),
            at=(pl.lit(start_us) + pl.col("i").hash(seed) % max(1, int(seconds * 1e6))).cast(pl.Datetime("us", "UTC")),
            value=((pl.col("i").hash(seed + 1) % 1000).cast(pl.Float64) / 10),
        )
        .unique(subset=["metric", "at"], keep="first")
    )
