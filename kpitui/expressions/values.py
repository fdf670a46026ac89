"""The types an expression's values have (text, number, true/false, datetime), and how errors name them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl

STR, NUM, BOOL, TIME, ANY = "string", "number", "true/false", "datetime", "any"

_TYPE_ALIASES = {
    "str": STR, "string": STR, "utf8": STR, "text": STR,
    "int": NUM, "integer": NUM, "float": NUM, "number": NUM, "num": NUM,
    "bool": BOOL, "boolean": BOOL,
    "datetime": TIME, "time": TIME, "date": TIME, "timestamp": TIME,
}  # fmt: skip


def _canonical_type(name: Any) -> str:
    if isinstance(name, str):
        return _TYPE_ALIASES.get(name.strip().lower(), ANY)
    if isinstance(name, pl.DataType) or (isinstance(name, type) and issubclass(name, pl.DataType)):
        dtype = name() if isinstance(name, type) else name
        if dtype == pl.String:
            return STR
        if dtype == pl.Boolean:
            return BOOL
        if dtype.is_numeric():
            return NUM
        if dtype.is_temporal():
            return TIME
    return ANY


_NOT_LITERAL = object()


@dataclass
class _Value:
    expr: pl.Expr
    type: str
    literal: Any = _NOT_LITERAL  # the Python value when the node is a literal
    dtype: Any = None  # the column's polars dtype, when the caller told us

    @property
    def is_literal(self) -> bool:
        return self.literal is not _NOT_LITERAL


def _article(kind: str) -> str:
    return {STR: "text", NUM: "a number", BOOL: "a condition (true/false)", TIME: "a datetime"}.get(kind, kind)


def _example(kind: str) -> str:
    return {
        STR: 'text is written in quotes, e.g. path == "/pricing"',
        NUM: "numbers are written without quotes, e.g. status >= 400",
        BOOL: 'use a comparison or a function, e.g. status == 200 or startswith(path, "/blog")',
        TIME: 'compare datetimes with an ISO string, e.g. time >= "2024-03-01T00:00:00+00:00"',
    }.get(kind, "check the types on both sides")
