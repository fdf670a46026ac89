"""Literals, names and operators: arithmetic, ``and``/``or``/``not``, comparisons, ``in``."""

from __future__ import annotations

import ast
import datetime as dt
import math
from typing import TYPE_CHECKING, Callable

from ..options import nearest
from .functions import caseless_contains
from .syntax import _BINOPS, _CMPOPS, _CONDITION_FUNCTIONS, _MAX_INT, _OTHER_BINOPS, MAX_EXPONENT, MAX_LIST, MAX_STRING
from .values import ANY, BOOL, NUM, STR, TIME, _example, _Value
from .walker import _Walker

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl


class _Operators(_Walker):
    def _visit_Constant(self, node: ast.Constant, depth: int) -> _Value:
        value = node.value
        if isinstance(value, bool):
            if not self.condition:
                raise self.error(node, f"{value} is not allowed in a formula")
            return _Value(self.pl.lit(value), BOOL, value)
        if isinstance(value, int):
            if abs(value) > _MAX_INT:
                raise self.error(node, "number is too large")
            return _Value(self.pl.lit(value, dtype=self.pl.Int64), NUM, value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.error(node, "number is too large")
            return _Value(self.pl.lit(value, dtype=self.pl.Float64), NUM, value)
        if isinstance(value, str):
            if not self.condition:
                raise self.error(node, "text literals are not allowed in a formula")
            if len(value) > MAX_STRING:
                raise self.error(node, f"text literal is too long (limit {MAX_STRING} characters)")
            return _Value(self.pl.lit(value, dtype=self.pl.String), STR, value)
        if value is None:
            raise self.error(node, "None is not supported")
        if value is Ellipsis:
            raise self.error(node, "... is not allowed")
        raise self.error(node, f"{type(value).__name__} literals are not allowed")

    def _visit_Name(self, node: ast.Name, depth: int) -> _Value:
        name = node.id
        if name.startswith("__"):
            raise self.error(node, f"name {name!r} is not allowed")
        if (self.fields is None or name not in self.fields) and (
            name in self.functions or name in _CONDITION_FUNCTIONS
        ):
            raise self.error(node, f"{name!r} is a function; call it like {name}(...)")
        if self.fields is not None and name not in self.fields:
            kind = "field" if self.condition else "name"
            raise self.error(node, f"unknown {kind} {name!r}", nearest(name, self.fields))
        if name not in self.names:
            self.names.append(name)
        kind = self.fields.get(name, ANY) if self.fields is not None else (ANY if self.condition else NUM)
        return _Value(self.resolve(name), kind, dtype=self.dtypes.get(name))

    def _visit_UnaryOp(self, node: ast.UnaryOp, depth: int) -> _Value:
        operand = self.compile(node.operand, depth)
        if isinstance(node.op, ast.Not):
            if not self.condition:
                raise self.error(node, "'not' is only allowed in conditions")
            self._expect(node.operand, operand, BOOL, "not")
            return _Value(~operand.expr, BOOL)
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            self._expect(node.operand, operand, NUM, "unary " + ("-" if isinstance(node.op, ast.USub) else "+"))
            if isinstance(node.op, ast.UAdd):
                return operand
            if operand.is_literal:
                value = -operand.literal
                return _Value(
                    self.pl.lit(value, dtype=self.pl.Int64 if isinstance(value, int) else pl.Float64), NUM, value
                )
            return _Value(-operand.expr, NUM)
        raise self.error(node, "operator ~ is not supported")

    def _visit_BoolOp(self, node: ast.BoolOp, depth: int) -> _Value:
        word = "and" if isinstance(node.op, ast.And) else "or"
        if not self.condition:
            raise self.error(node, f"'{word}' is only allowed in conditions")
        values = [self.compile(v, depth) for v in node.values]
        for sub, value in zip(node.values, values):
            self._expect(sub, value, BOOL, word)
        expr = values[0].expr
        for value in values[1:]:
            expr = (expr & value.expr) if word == "and" else (expr | value.expr)
        return _Value(expr, BOOL)

    def _visit_BinOp(self, node: ast.BinOp, depth: int) -> _Value:
        op_type = type(node.op)
        if op_type not in _BINOPS:
            symbol = _OTHER_BINOPS.get(op_type, op_type.__name__)
            raise self.error(
                node, f"operator {symbol} is not supported (use + - * / or ** with a small literal exponent)"
            )
        symbol = _BINOPS[op_type]
        left = self.compile(node.left, depth)
        if op_type is ast.Pow:
            return self._power(node, left, depth)
        right = self.compile(node.right, depth)
        self._expect(node.left, left, NUM, symbol)
        self._expect(node.right, right, NUM, symbol)
        # In floats: integer arithmetic would wrap silently past 2**63 (3037000500 * 3037000500).
        a, b = left.expr.cast(self.pl.Float64), right.expr.cast(self.pl.Float64)
        if op_type is ast.Add:
            return _Value(a + b, NUM)
        if op_type is ast.Sub:
            return _Value(a - b, NUM)
        if op_type is ast.Mult:
            return _Value(a * b, NUM)
        return _Value(self.divide(a, b), NUM)

    def _power(self, node: ast.BinOp, base: _Value, depth: int) -> _Value:
        self._expect(node.left, base, NUM, "**")
        exponent = self._number_literal(node.right)
        if exponent is None:
            raise self.error(node.right, "the exponent of ** must be a number literal")
        if abs(exponent) > MAX_EXPONENT:
            raise self.error(node.right, f"the exponent of ** must be between -{MAX_EXPONENT} and {MAX_EXPONENT}")
        if base.is_literal and isinstance(base.literal, (int, float)) and isinstance(exponent, int) and exponent >= 0:
            try:
                value = base.literal**exponent
            except OverflowError:  # a float literal's power past 1.8e308
                raise self.error(node, "number is too large") from None
            if abs(value) > _MAX_INT:
                raise self.error(node, "number is too large")
            return _Value(self.pl.lit(value, dtype=self.pl.Int64 if isinstance(value, int) else pl.Float64), NUM, value)
        as_float = base.expr.cast(self.pl.Float64)
        if exponent < 0:
            return _Value(self.divide(self.pl.lit(1.0), as_float.pow(-exponent)), NUM)
        return _Value(as_float.pow(exponent), NUM)

    def _visit_Compare(self, node: ast.Compare, depth: int) -> _Value:
        if not self.condition:
            raise self.error(node, "comparisons are only allowed in conditions")
        if len(node.ops) > 1 and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            raise self.error(node, "'in' cannot be chained with other comparisons; join them with 'and'")
        result: pl.Expr | None = None
        left_node = node.left
        left = self.compile(left_node, depth)
        for op, right_node in zip(node.ops, node.comparators):
            symbol = _CMPOPS.get(type(op), type(op).__name__)
            if isinstance(op, (ast.Is, ast.IsNot)):
                raise self.error(node, f"'{symbol}' is not supported; use == or !=")
            if isinstance(op, (ast.In, ast.NotIn)):
                expr, right = self._membership(node, left_node, left, right_node, depth)
                if isinstance(op, ast.NotIn):
                    expr = ~expr
            else:
                right = self.compile(right_node, depth)
                expr = self._comparison(op, left_node, left, right_node, right, symbol)
            result = expr if result is None else (result & expr)
            left_node, left = right_node, right
        assert result is not None
        return _Value(result, BOOL)

    def _comparison(
        self, op: ast.cmpop, left_node: ast.expr, left: _Value, right_node: ast.expr, right: _Value, symbol: str
    ) -> pl.Expr:
        left, right = self._align_time(left_node, left, right), self._align_time(right_node, right, left)
        known = {left.type, right.type} - {ANY}
        if len(known) > 1:
            # Point at the literal when there is one: that is usually what the user got wrong.
            culprit, other = (right_node, left) if right.is_literal or not left.is_literal else (left_node, right)
            raise self.error(
                culprit, f"cannot compare {left.type} with {right.type} using {symbol}; {_example(other.type)}"
            )
        if BOOL in known and symbol not in ("==", "!="):
            raise self.error(right_node, f"true/false values can only be compared with == or !=, not {symbol}")
        a, b = left.expr, right.expr
        compare: dict[type[ast.cmpop], Callable[[], pl.Expr]] = {
            ast.Eq: lambda: a == b,
            ast.NotEq: lambda: a != b,
            ast.Lt: lambda: a < b,
            ast.LtE: lambda: a <= b,
            ast.Gt: lambda: a > b,
            ast.GtE: lambda: a >= b,
        }
        return compare[type(op)]()

    def _align_time(self, node: ast.expr, value: _Value, other: _Value) -> _Value:
        """A text literal compared with a datetime becomes a datetime literal of the column's kind.

        Naive text means UTC. Against a naive datetime column the literal is
        naive too (UTC wall time); against a date column, a date.
        """
        if other.type != TIME or value.type != STR or not value.is_literal:
            return value
        try:
            moment = dt.datetime.fromisoformat(value.literal)
        except ValueError:
            example = '"2024-03-01T09:00:00+00:00"'
            raise self.error(node, f"{value.literal!r} is not an ISO 8601 date or time (e.g. {example})") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        moment = moment.astimezone(dt.timezone.utc)
        dtype = other.dtype
        if dtype is not None and dtype == pl.Date:
            return _Value(self.pl.lit(moment.date(), dtype=self.pl.Date), TIME, moment.date())
        if dtype is not None and isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            naive = moment.replace(tzinfo=None)
            return _Value(self.pl.lit(naive, dtype=self.pl.Datetime(dtype.time_unit or "us")), TIME, naive)
        literal = self.pl.lit(moment, dtype=self.pl.Datetime("us", "UTC"))
        if dtype is not None and isinstance(dtype, pl.Datetime) and dtype.time_zone not in (None, "UTC"):
            literal = literal.dt.convert_time_zone(dtype.time_zone)
        return _Value(literal, TIME, moment)

    def _membership(
        self, node: ast.Compare, left_node: ast.expr, left: _Value, right_node: ast.expr, depth: int
    ) -> tuple[pl.Expr, _Value]:
        if isinstance(right_node, (ast.List, ast.Tuple, ast.Set)):
            if len(right_node.elts) > MAX_LIST:
                raise self.error(
                    right_node, f"list is too long ({len(right_node.elts)} items; the limit is {MAX_LIST})"
                )
            items = [self.compile(e, depth + 1) for e in right_node.elts]
            for element, item in zip(right_node.elts, items):
                if not item.is_literal:
                    raise self.error(element, "list items after 'in' must be literal text or numbers")
            kinds = {item.type for item in items}
            if len(kinds) > 1:
                raise self.error(right_node, "list items after 'in' must all be text or all be numbers")
            kind = kinds.pop() if kinds else left.type
            if kind == BOOL:
                raise self.error(right_node, "list items after 'in' must be text or numbers")
            if left.type not in (ANY, kind) and items:
                raise self.error(
                    left_node, f"cannot look for a {left.type} in a list of {kind} values; {_example(left.type)}"
                )
            values = [item.literal for item in items]
            if kind == NUM:
                series = self.pl.Series(values=[float(v) for v in values], dtype=self.pl.Float64)
                target = left.expr.cast(self.pl.Float64, strict=False)
            else:
                series = self.pl.Series(values=[str(v) for v in values], dtype=self.pl.String)
                target = left.expr.cast(self.pl.String) if left.type != STR else left.expr
            return target.is_in(series.implode()), _Value(self.pl.lit(None), ANY)
        right = self.compile(right_node, depth)
        if left.is_literal and left.type == STR and right.type in (STR, ANY):
            # "bot" in agent: substring test
            caseless = caseless_contains(self, right_node, left.literal, depth)
            if caseless is not None:
                return caseless, right
            return right.expr.cast(self.pl.String).str.contains(left.literal, literal=True), right
        raise self.error(
            right_node, '\'in\' needs a list of literals (path in ["/a", "/b"]) or text on the left ("bot" in agent)'
        )

    def _visit_List(self, node: ast.expr, depth: int) -> _Value:
        raise self.error(node, "a list is only allowed after 'in' or 'not in'")

    _visit_Tuple = _visit_Set = _visit_List
