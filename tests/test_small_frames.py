"""Small frames taken apart in Python instead of by polars calls (a refresh's thousand rows, an
evaluation's few hundred answers): exactly what the polars expressions they replace give."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from kpitui import store_common
from kpitui.engine import queries

ID_SCHEMA = store_common.ID_FRAME_SCHEMA


def _ids(rows: list[tuple[int, int, float, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=ID_SCHEMA, orient="row")


def _by_polars(frame: pl.DataFrame, names: dict[int, str]) -> pl.DataFrame:
    """named_frame as it was: every name in one replace_strict."""
    return frame.select(
        pl.col("metric_id").replace_strict(list(names), list(names.values()), return_dtype=pl.String).alias("metric"),
        pl.col("at").cast(pl.Datetime("us", "UTC")),
        pl.col("value").cast(pl.Float64),
        pl.col("n").cast(pl.Int64),
    )


row = st.tuples(
    st.integers(1, 40), st.integers(-(2**50), 2**50), st.floats(allow_nan=True, allow_infinity=True), st.integers(1, 9)
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(row, max_size=60))
def test_named_frame_names_ids_as_replace_strict_does(rows):
    names = {i: f"m{i:03d}" for i in range(1, 41)}
    frame = _ids(rows)
    got, want = store_common.named_frame(frame, names), _by_polars(frame, names) if rows else None
    assert got.schema == pl.Schema(store_common.LOADED_SCHEMA)
    if rows:
        assert got.equals(want)


def test_named_frame_of_many_rows_and_of_an_unknown_id(monkeypatch):
    names = {1: "a", 2: "b"}
    frame = _ids([(1 + i % 2, i, float(i), 1) for i in range(50)])
    monkeypatch.setattr(store_common, "_NAMED_IN_PYTHON", 10)  # above it: polars names them
    assert store_common.named_frame(frame, names).equals(_by_polars(frame, names))
    monkeypatch.undo()
    unknown = _ids([(1, 0, 1.0, 1), (3, 5, 2.0, 1)])
    with pytest.raises(pl.exceptions.InvalidOperationError):  # as before: an id without a name is an error
        store_common.named_frame(unknown, names)


answer = st.tuples(
    st.sampled_from(["a", "b", "c", "d"]),
    st.integers(-1, 3),  # row: -1 is a newest-reading request
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.one_of(st.none(), st.integers(-(2**55), 2**55)),
)


def _latest_by_polars(answers: pl.DataFrame) -> queries.Latest:
    """The newest readings as the polars filter and cast gave them."""
    found = answers.filter(pl.col("row") < 0, pl.col("value").is_not_null())
    columns = found.select("metric", pl.col("at").cast(pl.Datetime("us", "UTC")), "value").to_dict(as_series=False)
    return dict(zip(columns["metric"], zip(columns["at"], columns["value"])))


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(answer, max_size=30))
def test_newest_readings_as_polars_gives_them(rows):
    answers = pl.DataFrame(
        rows, schema={"metric": pl.String, "row": pl.Int64, "value": pl.Float64, "at": pl.Int64}, orient="row"
    ).with_columns(pl.when(pl.col("value").is_not_null()).then(pl.col("at").fill_null(0)).alias("at"))
    got = queries._latest(
        answers["metric"].to_list(), answers["at"].to_list(), answers["row"].to_list(), answers["value"].to_list()
    )
    want = _latest_by_polars(answers)
    assert list(got) == list(want)
    for metric, (at, value) in want.items():
        got_at, got_value = got[metric]
        assert got_at == at and repr(got_at) == repr(at) and got_at.tzinfo is at.tzinfo
        assert got_value == value or (math.isnan(got_value) and math.isnan(value))
