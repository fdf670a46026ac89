"""The compiler's base: its state, errors that say where (line and column), dispatch to the visitors, type checks."""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..api import safe_div
from .syntax import _ARITHMETIC_FUNCTIONS, _CONDITION_FUNCTIONS, MAX_DEPTH, ExpressionError, _describe
from .values import ANY, _article, _example, _Value

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl


class _Dry:
    """Stands in for polars and its expressions in a *dry* walk (``_Walker(dry=True)``): every
    attribute, call and operator gives the stand-in back. A dry walk makes every check a real
    one makes (names, types, literals, bounds, the regular expressions, which polars' engine
    checks) without building an expression, so a config is checked without importing polars."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def _same(self, *args: Any) -> Any:
        return self

    __invert__ = __neg__ = __pos__ = __abs__ = _same
    __and__ = __rand__ = __or__ = __ror__ = _same
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _same
    __pow__ = __rpow__ = __lt__ = __le__ = __gt__ = __ge__ = _same
    __eq__ = __ne__ = _same
    __hash__ = object.__hash__


_DRY: Any = _Dry()


class _Walker:
    """Walks a parsed tree: each node to its ``_visit_<Node>`` method (in the classes that extend this one).

    ``dry``: check only (see :class:`_Dry`); the values' expressions are stand-ins, polars is not imported.
    """

    def __init__(
        self,
        text: str,
        *,
        condition: bool,
        fields: Mapping[str, str] | None,
        resolve: Callable[[str], pl.Expr],
        dtypes: Mapping[str, Any] | None = None,
        dry: bool = False,
    ):
        #: polars, or the stand-in in a dry walk: what the visitors build expressions with
        self.pl: Any = _DRY if dry else pl
        if dry:
            resolve = self.pl.col
        self.text = text.strip()
        self.dtypes = dtypes or {}
        self.condition = condition
        self.fields = fields  # name -> canonical type; None means "any identifier"
        self.resolve = resolve
        self.names: list[str] = []
        self.functions = _CONDITION_FUNCTIONS + _ARITHMETIC_FUNCTIONS if condition else _ARITHMETIC_FUNCTIONS

    def divide(self, numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
        """:func:`kpitui.api.safe_div` (a zero or missing divisor gives null)."""
        return _DRY if self.pl is _DRY else safe_div(numerator, denominator)

    # -- errors -------------------------------------------------------------

    def _column(self, node: ast.AST) -> int | None:
        offset = getattr(node, "col_offset", None)
        line = getattr(node, "lineno", 1)
        if isinstance(node, (ast.Attribute, ast.Subscript)) and node.value.end_col_offset is not None:
            # point at the "." or "[" rather than at the start of the whole expression
            offset, line = node.value.end_col_offset, node.value.end_lineno or line
        if offset is None:
            return None
        lines = self.text.splitlines() or [""]
        source_line = lines[min(max(line, 1), len(lines)) - 1]
        return len(source_line.encode("utf-8")[:offset].decode("utf-8", "ignore")) + 1

    def error(self, node: ast.AST, message: str, suggestion: str | None = None) -> ExpressionError:
        column = self._column(node)
        where = ""
        if column is not None:
            line = getattr(node, "lineno", 1)
            where = f"line {line}, column {column}: " if "\n" in self.text else f"column {column}: "
        hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
        return ExpressionError(f"{where}{message}{hint}", position=column, suggestion=suggestion)

    # -- walking ------------------------------------------------------------

    def compile(self, node: ast.expr, depth: int = 0) -> _Value:
        if depth > MAX_DEPTH:
            raise self.error(node, f"expression is nested too deeply (limit {MAX_DEPTH} levels)")
        method = getattr(self, f"_visit_{type(node).__name__}", None)
        if method is None:
            raise self.error(node, f"{_describe(node)} is not allowed")
        value: _Value = method(node, depth + 1)
        return value

    def _number_literal(self, node: ast.expr) -> int | float | None:
        sign = 1
        while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            sign = -sign if isinstance(node.op, ast.USub) else sign
            node = node.operand
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            if isinstance(node.value, float) and not math.isfinite(node.value):
                return None
            return sign * node.value
        return None

    def _expect(self, node: ast.expr, value: _Value, kind: str, context: str) -> None:
        if value.type in (kind, ANY):
            return
        raise self.error(node, f"{context} needs {_article(kind)}, got {_article(value.type)}; {_example(kind)}")
