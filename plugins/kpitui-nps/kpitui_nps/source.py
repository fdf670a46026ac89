"""The ``survey_csv`` source: survey answers from a CSV export, counted per day by NPS category.

Each row of the CSV is one answer with a time and a 0-10 score ("How likely
are you to recommend us?"). A metric picks what it counts with ``category``:

- ``promoters``: scores 9 and 10;
- ``passives``: 7 and 8;
- ``detractors``: 0 to 6;
- ``responses``: every valid answer.

Counts are per local day (kpitui's time zone), stamped at local midnight.
The whole file is re-read whenever it changes and every day's count
*replaces* what was stored (``mode = "replace"``), so re-reading a grown or
corrected export never double-counts; a day the last read counted and a
corrected export no longer has an answer for is stored as 0 (the cursor
remembers the days counted). Rows without a valid time or a whole
score from 0 to 10 are skipped and counted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Sequence

from kpitui.api import FetchResult, MetricSource, OptionError, SourceContext, SourceError, readings_frame
from kpitui.model import Metric
from kpitui.sourcekit import bucket_start, check_timezone, parse_times, read_table

if TYPE_CHECKING:
    import polars as pl
else:  # polars when first used (a fetch), not at config load: it would come before kpitui's first frame
    from kpitui.lazy import polars as pl

Category = Literal["promoters", "passives", "detractors", "responses"]


def category_rules() -> dict[str, pl.Expr]:
    """Each category's rule over the ``score`` column."""
    return {
        "promoters": pl.col("score") >= 9,
        "passives": pl.col("score").is_between(7, 8),
        "detractors": pl.col("score") <= 6,
        "responses": pl.col("score").is_not_null(),
    }


@dataclass(frozen=True)
class SurveyOptions:
    """``path``: the CSV, relative to the config file. ``time_column``, ``score_column``: its
    columns. ``timezone``: the zone of the times in the file (default: kpitui's)."""

    path: str
    time_column: str = "submitted_at"
    score_column: str = "score"
    timezone: str | None = None
    separator: str = ","

    def validate(self) -> None:
        if len(self.separator) != 1:
            raise OptionError(f"separator must be one character, not {self.separator!r}", "separator")
        if self.timezone is not None:
            check_timezone(self.timezone, "timezone")


@dataclass(frozen=True)
class SurveyMetricOptions:
    """``category``: which answers the metric counts."""

    category: Category


class SurveyCsvSource(MetricSource):
    """Promoters, passives, detractors and responses per day, from a survey CSV export."""

    type_name = "survey_csv"
    description = "Survey answers (0-10 score per row) from a CSV, counted per day by NPS category."
    Options = SurveyOptions
    MetricOptions = SurveyMetricOptions
    mode = "replace"  # each read gives every day's full count: store it over the old one
    default_interval = 300.0
    default_timeout = 30.0

    @classmethod
    def check(cls, options: SurveyOptions, metrics: Sequence[Metric], context: SourceContext) -> None:
        # Runs when the config loads: reject what cannot work, with a message naming the metric.
        for metric in metrics:
            if metric.aggregation != "sum":
                raise OptionError(
                    f"metric {metric.id!r} counts answers per day, so it needs aggregation = 'sum', not "
                    f"{metric.aggregation!r}"
                )

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {
            "source": {"path": "survey.csv", "time_column": "submitted_at", "score_column": "score"},
            "metric": {"category": "promoters"},
        }

    def _signature(self, stat) -> str:
        """The cursor: which file state and which metrics were last read (unchanged: nothing to do)."""
        wanted = sorted((m.id, m.options.category) for m in self.metrics)
        text = f"{stat.st_size}:{stat.st_mtime_ns}:{wanted}:{self.options!r}:{self.context.timezone}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def fetch(self, cursor: str | None, now: dt.datetime) -> FetchResult:
        o = self.options
        if not self.metrics:
            return FetchResult(readings_frame([]), cursor=cursor)
        path = self.context.path(o.path)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise SourceError(f"survey file not found: {path}") from None
        signature = self._signature(stat)
        previous, _, stored = (cursor or "").partition("|")
        if signature == previous:
            return FetchResult(readings_frame([]), cursor=cursor)
        raw = read_table(path, "csv", separator=o.separator)  # every column as text; a SourceError names the file
        missing = [c for c in (o.time_column, o.score_column) if c not in raw.columns]
        if missing:
            raise SourceError(f"{path.name} has no column {missing[0]!r}; its columns: {', '.join(raw.columns)}")
        answers = raw.lazy().select(
            # naive times are local to the file's zone; an offset or Z is honoured (kpitui.sourcekit)
            at=parse_times(pl.col(o.time_column), o.timezone or self.context.timezone, epoch=None),
            score=pl.col(o.score_column).str.strip_chars().cast(pl.Float64, strict=False),
        )
        valid = (
            pl.col("at").is_not_null()
            & pl.col("score").is_between(0, 10)
            & (pl.col("score") == pl.col("score").round(0))
        )
        day = bucket_start(pl.col("at"), "day", self.context.timezone)  # local midnight on kpitui's calendar, DST-safe
        kept = answers.filter(valid.fill_null(False)).with_columns(day=day).filter(pl.col("day").is_not_null())
        counts, kept_rows = pl.collect_all(
            [
                kept.group_by("day").agg(
                    **{name: rule.sum().cast(pl.Float64) for name, rule in category_rules().items()}
                ),
                kept.select(pl.len()),
            ]
        )
        days = counts["day"].dt.epoch("us").to_list()
        # a day the last read counted and this one has no answer for (a corrected export dropped them) is 0
        # answers now: replaced by zeros, not left at its old count
        gone = sorted({int(d) for d in stored.split(",") if d.lstrip("-").isdigit()} - set(days))
        if gone:
            empty = pl.DataFrame(
                {"day": gone, **{name: [0.0] * len(gone) for name in category_rules()}},
                schema={"day": pl.Int64, **{name: pl.Float64 for name in category_rules()}},
            ).with_columns(pl.from_epoch("day", time_unit="us").dt.replace_time_zone("UTC"))
            counts = pl.concat([counts, empty.cast(counts.schema)])  # type: ignore[arg-type]
        readings = pl.concat(
            [
                counts.select(metric=pl.lit(m.id), at=pl.col("day"), value=pl.col(m.options.category))
                for m in self.metrics
            ]
        )
        # the cursor: the file state read, then the days it counted (each day's local midnight, µs since the epoch)
        return FetchResult(
            readings, cursor=f"{signature}|{','.join(map(str, days))}", skipped=raw.height - kept_rows.item()
        )
