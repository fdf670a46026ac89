"""The readings frame a source returns: its schema, and building or coercing one."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import polars as pl

    #: The frame every source returns from :meth:`MetricSource.fetch` (polars dtypes: made when first asked for).
    READINGS_SCHEMA: dict[str, pl.DataType]
else:
    from kpitui.lazy import polars as pl

    def __getattr__(name: str) -> Any:
        if name == "READINGS_SCHEMA":
            return readings_schema()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def readings_schema() -> dict[str, pl.DataType]:
    """:data:`READINGS_SCHEMA` (a new dict each time)."""
    return {"metric": pl.String(), "at": pl.Datetime("us", "UTC"), "value": pl.Float64()}


def readings_frame(rows: Sequence[tuple[str, dt.datetime, float]] | None = None, **columns: Any) -> pl.DataFrame:
    """Build a readings frame from ``(metric, at, value)`` rows or from columns.

    Naive datetimes are taken as UTC.
    """
    if rows is not None:
        metric, at, value = (list(c) for c in zip(*rows)) if rows else ([], [], [])
        columns = {"metric": metric, "at": at, "value": value}
    frame = pl.DataFrame(
        {
            "metric": pl.Series(columns.get("metric", []), dtype=pl.String),
            "at": pl.Series(columns.get("at", [])),
            "value": pl.Series(columns.get("value", []), dtype=pl.Float64, strict=False),
        }
    )
    return normalise_readings(frame)


def normalise_readings(frame: pl.DataFrame) -> pl.DataFrame:
    """Coerce a frame to :data:`READINGS_SCHEMA` (naive times are UTC)."""
    at = frame.schema.get("at")
    if at is None or at == pl.Null:
        at_expr = pl.col("at").cast(pl.Datetime("us", "UTC"))
    elif isinstance(at, pl.Datetime) and at.time_zone is None:
        at_expr = pl.col("at").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif isinstance(at, pl.Datetime):
        at_expr = pl.col("at").dt.convert_time_zone("UTC").cast(pl.Datetime("us", "UTC"))
    else:
        at_expr = pl.col("at").cast(pl.Datetime("us", "UTC"))
    return frame.select(
        pl.col("metric").cast(pl.String),
        at_expr.alias("at"),
        pl.col("value").cast(pl.Float64, strict=False),
    )
