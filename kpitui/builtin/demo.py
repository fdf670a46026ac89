"""The ``demo`` source: months of realistic history on the first poll, then live readings.

Values are a pure function of (seed, metric, hour): a trend, a daily shape,
weekly seasonality and noise. Re-fetching an hour gives the same value, so
the source is idempotent in ``replace`` mode, and the current hour's value
grows as the hour passes. Generated with polars expressions (hash-based
noise), not a Python loop per reading.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from kpitui import hookimpl
from kpitui.api import (
    FetchResult,
    MetricSource,
    OptionError,
    SourceContext,
    SourceError,
    normalise_readings,
    readings_frame,
)
from kpitui.model import Metric, SourceSpec

from . import demo_site

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl

HOUR_US = 3_600_000_000


@dataclass(frozen=True)
class DemoOptions:
    history_days: int = field(default=400, metadata={"help": "days of history backfilled on the first poll"})
    seed: int = 7
    access_log: str | None = field(
        default=None,
        metadata={
            "help": "also write a made-up web site's access log here (combined format; see kpitui.builtin.demo_site)"
        },
    )

    def validate(self) -> None:
        if not 0 <= self.history_days <= 3660:
            raise OptionError("history_days must be between 0 and 3660", "history_days")
        if self.access_log is not None and not self.access_log.strip():
            raise OptionError("access_log must name a file (or be left out)", "access_log")


@dataclass(frozen=True)
class DemoMetricOptions:
    pattern: Literal["count", "gauge", "amount", "duration"] = "count"
    base: float = 10.0  # per day for counts and amounts; the level of a gauge; the mean of a duration
    trend: float = 0.0  # relative growth per 30 days, e.g. 0.05
    weekly: float = 0.25  # how much quieter weekends are (0..1)
    noise: float = 0.15  # relative noise
    events_per_day: float = 1.0  # durations: how many are recorded per day

    def validate(self) -> None:
        if self.base < 0:
            raise OptionError("base must not be negative", "base")
        if not 0 <= self.weekly <= 1:
            raise OptionError("weekly must be between 0 and 1", "weekly")
        if not 0 <= self.noise <= 2:
            raise OptionError("noise must be between 0 and 2", "noise")


def _uniform(key: pl.Expr, seed: int) -> pl.Expr:
    """A deterministic uniform (0, 1) from an integer key."""
    return ((key.hash(seed) % 1_000_003).cast(pl.Float64) + 0.5) / 1_000_003


def _normal(key: pl.Expr, seed: int) -> pl.Expr:
    """A deterministic standard normal (Box-Muller) from an integer key."""
    u1, u2 = _uniform(key, seed), _uniform(key, seed + 7919)
    return (-2 * u1.log()).sqrt() * (2 * math.pi * u2).cos()


def generate(
    metric: str, opts: DemoMetricOptions, seed: int, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> pl.LazyFrame:
    """Hourly readings for ``metric`` in ``[start, end)``; the hour holding ``now`` is pro-rated."""
    mseed = seed * 1_000_003 + sum(ord(c) * (i + 1) for i, c in enumerate(metric))
    hour = pl.col("at").dt.epoch("us") // HOUR_US
    days = (hour - 490_000).cast(pl.Float64) / 24  # days since late 2025: a trend anchor
    hour_of_day = pl.col("at").dt.hour().cast(pl.Float64)
    weekend = pl.col("at").dt.weekday() >= 6
    season = pl.when(weekend).then(1 - opts.weekly).otherwise(1 + opts.weekly * 2 / 5)
    level = opts.base * (1 + opts.trend) ** (days / 30)
    daytime = 1 + 0.9 * ((hour_of_day - 14) / 24 * 2 * math.pi).cos()  # busiest mid-afternoon
    elapsed = ((pl.lit(now).dt.epoch("us") - pl.col("at").dt.epoch("us")) / HOUR_US).clip(0, 1)
    noise = _normal(hour, mseed)
    if opts.pattern in ("count", "amount"):
        mean = level / 24 * season * daytime
        spread = mean.sqrt() if opts.pattern == "count" else mean * 0.5
        value = (mean + spread * noise * opts.noise * 3).clip(0, None)
        value = value.round(0) if opts.pattern == "count" else value.round(2)
        value = (value * elapsed).round(2 if opts.pattern == "amount" else 0)
    elif opts.pattern == "gauge":
        value = (level * (1 + noise * opts.noise * 0.02)).round(0)
    else:  # duration: some hours record one (onboarding finished), most none
        happens = _uniform(hour, mseed + 1) < (opts.events_per_day / 24 * season * daytime)
        value = pl.when(happens & (elapsed >= 1)).then((level * (1 + noise * opts.noise)).clip(0.1, None).round(1))
    return (
        pl.LazyFrame(
            {"at": pl.datetime_range(start, end, "1h", closed="left", time_unit="us", time_zone="UTC", eager=True)}
        )
        .with_columns(value=value, metric=pl.lit(metric))
        .drop_nulls("value")
    )


def write_site_log(path: Path, now: dt.datetime, timezone: str, seed: int = 7) -> int:
    """Bring the made-up site's access log at ``path`` up to ``now`` (:func:`kpitui.builtin.demo_site.extend`)."""
    far = now + dt.timedelta(days=2)  # whole hours: the log is cut at ``now`` itself

    def counts(name: str, per_day: float, trend: float, start: dt.datetime, end: dt.datetime) -> pl.LazyFrame:
        return generate(name, DemoMetricOptions(base=per_day, trend=trend), seed, start, end, far)

    return demo_site.extend(path, now, timezone, counts)


class DemoSource(MetricSource):
    """Realistic made-up history for trying kpitui: trend, weekly seasonality, noise."""

    type_name = "demo"
    description = "Generates months of realistic history on the first poll, then keeps producing readings."
    Options = DemoOptions
    MetricOptions = DemoMetricOptions
    mode = "replace"
    default_interval = 30.0
    default_timeout = 30.0

    @classmethod
    def writes(cls, options: DemoOptions, context: SourceContext) -> list[Path]:
        return [context.path(options.access_log)] if options.access_log else []

    def __init__(self, spec: SourceSpec, metrics: Sequence[Metric], context: SourceContext) -> None:
        super().__init__(spec, metrics, context)
        self.log = context.path(self.options.access_log) if self.options.access_log else None
        # written before the first poll, so a source tailing it finds it on its own first poll
        self._write_log(dt.datetime.now(dt.timezone.utc))

    def _write_log(self, now: dt.datetime) -> None:
        if self.log is not None:
            try:
                write_site_log(self.log, now, self.context.timezone, self.options.seed)
            except OSError as exc:
                raise SourceError(f"cannot write the demo access log {self.log}: {exc.strerror or exc}") from None

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"source": {"history_days": 120}, "metric": {"pattern": "count", "base": 20, "trend": 0.05}}

    def fetch(self, cursor: str | None, now: dt.datetime) -> FetchResult:
        now = now.astimezone(dt.timezone.utc)
        self._write_log(now)
        current = now.replace(minute=0, second=0, microsecond=0)
        if cursor:
            start = dt.datetime.fromisoformat(cursor)
        else:
            start = current - dt.timedelta(days=self.options.history_days)
        end = current + dt.timedelta(hours=1)
        frames = [generate(m.id, m.options, self.options.seed, start, end, now) for m in self.metrics]
        readings = normalise_readings(pl.concat(frames).collect()) if frames else readings_frame([])
        # the current hour is re-emitted next time (its value grows); earlier hours are final
        return FetchResult(readings, cursor=current.isoformat())


@hookimpl
def register_metric_sources() -> list[type[MetricSource]]:
    return [DemoSource]
