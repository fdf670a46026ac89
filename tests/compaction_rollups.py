"""A test's stand-in for a retention rule: every row of a metric's range folded into one down-sampled row."""

from __future__ import annotations

import polars as pl


def one_row(metric: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The range's rows as one row at its first instant: Σvalue, Σn, its first and last instants."""
    return pl.DataFrame(
        {
            "at": [frame["at"].min()],
            "value": [frame["value"].sum()],
            "n": [frame["n"].sum()],
            "first": [frame["at"].min()],
            "last": [frame["at"].max()],
        }
    )
