"""A small, safe expression language compiled to polars expressions.

Users write trigger conditions and KPI arithmetic as text in the TOML config::

    path == "/newsletter/thank-you" and status < 400
    method == "POST" and startswith(path, "/retainer/submit")
    path in ["/a", "/b"] and not contains(agent, "bot")
    (signups + requests) / visits

The text is parsed with :func:`ast.parse` (``mode="eval"``) and the tree is
walked against a strict whitelist; nothing is ever passed to ``eval`` or
``exec``. Anything outside the whitelist (attribute access, indexing, lambdas,
comprehensions, f-strings, ``:=``, calls to anything but the functions listed
below, names starting with ``__``) is rejected with an :class:`ExpressionError`
that says what and where, and suggests the nearest valid name.

Bounds: at most :data:`MAX_LENGTH` characters, :data:`MAX_NODES` syntax
nodes, :data:`MAX_DEPTH` levels of nesting, :data:`MAX_LIST` items in a list,
:data:`MAX_STRING` characters in a string literal and :data:`MAX_REGEX`
characters in a regular expression.

Conditions (:func:`compile_condition`)
    comparisons ``== != < <= > >=`` (chains such as ``200 <= status < 300``
    work), ``and`` / ``or`` / ``not``, ``x in [...]`` / ``x not in [...]``
    with a list of literals, ``"text" in field`` (substring), string and number
    literals, ``True`` / ``False``, arithmetic as below, and the functions
    ``startswith(f, s)``, ``endswith(f, s)``, ``contains(f, s)`` (``s`` is
    literal text), ``matches(f, regex)`` (a Rust ``regex`` pattern: linear
    time, no look-around or back-references; checked when compiled),
    ``lower(f)`` and ``len(f)``. A datetime field compares with an ISO 8601
    string (``time >= "2024-03-01T00:00:00+00:00"``; naive means UTC). A
    condition that is null for a row (a missing value) counts as false.

Arithmetic (:func:`compile_arithmetic`)
    numbers, identifiers (metric or KPI ids), ``+ - * /`` (computed in
    floating point, so integers never wrap), unary ``-``,
    parentheses and ``abs(x)``, ``min(a, b, ...)``, ``max(a, b, ...)``,
    ``round(x, n)`` (``n`` a literal 0..12), ``coalesce(a, b, ...)``.
    ``/`` is :func:`kpitui.api.safe_div`: a zero or missing divisor gives
    null (no data), never infinity. ``x ** e`` is allowed only when ``e`` is a
    number literal with ``|e| <= 10``; a negative exponent is ``1 / x ** -e``
    with the same null-for-zero rule. ``//``, ``%`` and bit operators are not
    supported.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from .api import safe_div
from .options import nearest

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_LIST",
    "MAX_NODES",
    "MAX_REGEX",
    "MAX_REGEX_SIZE",
    "MAX_STRING",
    "Arithmetic",
    "ExpressionError",
    "compile_arithmetic",
    "compile_condition",
]

MAX_LENGTH = 2000
MAX_NODES = 400
MAX_DEPTH = 40
MAX_LIST = 256
MAX_STRING = 1000
MAX_REGEX = 500
#: how many copies of an atom a regex may ask for through counted repetition (``a{1000}``, nested
#: ``(?:x{100}){10}``): the matching engines' cost per character grows with it (``a{30000}`` takes
#: over a second per 64 KiB log line, and log lines are whatever a client sent)
MAX_REGEX_SIZE = 1000
MAX_EXPONENT = 10
MAX_ROUND_DIGITS = 12
_MAX_INT = 2**63 - 1


class ExpressionError(ValueError):
    """A condition or formula the user must fix; the message says what and where.

    ``position`` is the 1-based column of the offending token (``None`` when
    the whole text is at fault); ``suggestion`` the nearest valid name, if any.
    """

    def __init__(self, message: str, *, position: int | None = None, suggestion: str | None = None):
        super().__init__(message)
        self.message = message
        self.position = position
        self.suggestion = suggestion

    def __str__(self) -> str:
        return self.message


# --- types -----------------------------------------------------------------

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


# --- the whitelist -----------------------------------------------------------

_REJECTED: dict[type, str] = {
    ast.Attribute: "attribute access (.name)",
    ast.Subscript: "indexing or slicing ([...])",
    ast.Slice: "slicing",
    ast.Lambda: "a lambda",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.Starred: "a star argument (*x)",
    ast.NamedExpr: "an assignment expression (:=)",
    ast.IfExp: "an if/else expression",
    ast.Dict: "a dict",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}

_BINOPS: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_OTHER_BINOPS: dict[type, str] = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
}  # fmt: skip
_CMPOPS: dict[type, str] = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
}  # fmt: skip

_CONDITION_FUNCTIONS = ("startswith", "endswith", "contains", "matches", "lower", "len")
_ARITHMETIC_FUNCTIONS = ("abs", "min", "max", "round", "coalesce")


def _describe(node: ast.AST) -> str:
    for kind, label in _REJECTED.items():
        if isinstance(node, kind):
            return label
    return type(node).__name__


def _check_bounds(text: str) -> None:
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is too long ({len(text)} characters; the limit is {MAX_LENGTH})")
    if not text.strip():
        raise ExpressionError("expression is empty")
    if "\x00" in text:
        raise ExpressionError(f"column {text.index(chr(0)) + 1}: expression contains a NUL character")
    # Bound bracket nesting before the parser sees it (deep nesting can exhaust the parser's stack).
    depth = 0
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(f"column {i + 1}: expression is nested too deeply (limit {MAX_DEPTH} levels)", position=i + 1)
        elif ch in ")]}":
            depth -= 1


def _parse(text: str) -> ast.expr:
    _check_bounds(text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        column = exc.offset
        where = f"column {column}: " if column else ""
        raise ExpressionError(f"{where}syntax error: {exc.msg}", position=column) from None
    except (ValueError, MemoryError, RecursionError, OverflowError) as exc:
        raise ExpressionError(f"cannot parse expression: {exc}") from None
    count = 0
    for _ in ast.walk(tree):
        count += 1
        if count > MAX_NODES:
            raise ExpressionError(f"expression is too complex (more than {MAX_NODES} parts)")
    return tree.body


class _Compiler:
    """Walks a parsed tree against the whitelist and builds a polars expression."""

    def __init__(
        self,
        text: str,
        *,
        condition: bool,
        fields: Mapping[str, str] | None,
        resolve: Callable[[str], pl.Expr],
        dtypes: Mapping[str, Any] | None = None,
    ):
        self.text = text.strip()
        self.dtypes = dtypes or {}
        self.condition = condition
        self.fields = fields  # name -> canonical type; None means "any identifier"
        self.resolve = resolve
        self.names: list[str] = []
        self.functions = _CONDITION_FUNCTIONS + _ARITHMETIC_FUNCTIONS if condition else _ARITHMETIC_FUNCTIONS

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
        return method(node, depth + 1)

    def _visit_Constant(self, node: ast.Constant, depth: int) -> _Value:
        value = node.value
        if isinstance(value, bool):
            if not self.condition:
                raise self.error(node, f"{value} is not allowed in a formula")
            return _Value(pl.lit(value), BOOL, value)
        if isinstance(value, int):
            if abs(value) > _MAX_INT:
                raise self.error(node, "number is too large")
            return _Value(pl.lit(value, dtype=pl.Int64), NUM, value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.error(node, "number is too large")
            return _Value(pl.lit(value, dtype=pl.Float64), NUM, value)
        if isinstance(value, str):
            if not self.condition:
                raise self.error(node, "text literals are not allowed in a formula")
            if len(value) > MAX_STRING:
                raise self.error(node, f"text literal is too long (limit {MAX_STRING} characters)")
            return _Value(pl.lit(value, dtype=pl.String), STR, value)
        if value is None:
            raise self.error(node, "None is not supported")
        if value is Ellipsis:
            raise self.error(node, "... is not allowed")
        raise self.error(node, f"{type(value).__name__} literals are not allowed")

    def _visit_Name(self, node: ast.Name, depth: int) -> _Value:
        name = node.id
        if name.startswith("__"):
            raise self.error(node, f"name {name!r} is not allowed")
        if (self.fields is None or name not in self.fields) and (name in self.functions or name in _CONDITION_FUNCTIONS):
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
                return _Value(pl.lit(value, dtype=pl.Int64 if isinstance(value, int) else pl.Float64), NUM, value)
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
            raise self.error(node, f"operator {symbol} is not supported (use + - * / or ** with a small literal exponent)")
        symbol = _BINOPS[op_type]
        left = self.compile(node.left, depth)
        if op_type is ast.Pow:
            return self._power(node, left, depth)
        right = self.compile(node.right, depth)
        self._expect(node.left, left, NUM, symbol)
        self._expect(node.right, right, NUM, symbol)
        # In floats: integer arithmetic would wrap silently past 2**63 (3037000500 * 3037000500).
        a, b = left.expr.cast(pl.Float64), right.expr.cast(pl.Float64)
        if op_type is ast.Add:
            return _Value(a + b, NUM)
        if op_type is ast.Sub:
            return _Value(a - b, NUM)
        if op_type is ast.Mult:
            return _Value(a * b, NUM)
        return _Value(safe_div(a, b), NUM)

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
            return _Value(pl.lit(value, dtype=pl.Int64 if isinstance(value, int) else pl.Float64), NUM, value)
        as_float = base.expr.cast(pl.Float64)
        if exponent < 0:
            return _Value(safe_div(pl.lit(1.0), as_float.pow(-exponent)), NUM)
        return _Value(as_float.pow(exponent), NUM)

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
            raise self.error(culprit, f"cannot compare {left.type} with {right.type} using {symbol}; {_example(other.type)}")
        if BOOL in known and symbol not in ("==", "!="):
            raise self.error(right_node, f"true/false values can only be compared with == or !=, not {symbol}")
        a, b = left.expr, right.expr
        return {
            ast.Eq: lambda: a == b,
            ast.NotEq: lambda: a != b,
            ast.Lt: lambda: a < b,
            ast.LtE: lambda: a <= b,
            ast.Gt: lambda: a > b,
            ast.GtE: lambda: a >= b,
        }[type(op)]()

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
            return _Value(pl.lit(moment.date(), dtype=pl.Date), TIME, moment.date())
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            naive = moment.replace(tzinfo=None)
            return _Value(pl.lit(naive, dtype=pl.Datetime(dtype.time_unit or "us")), TIME, naive)
        literal = pl.lit(moment, dtype=pl.Datetime("us", "UTC"))
        if isinstance(dtype, pl.Datetime) and dtype.time_zone not in (None, "UTC"):
            literal = literal.dt.convert_time_zone(dtype.time_zone)
        return _Value(literal, TIME, moment)

    def _membership(
        self, node: ast.Compare, left_node: ast.expr, left: _Value, right_node: ast.expr, depth: int
    ) -> tuple[pl.Expr, _Value]:
        if isinstance(right_node, (ast.List, ast.Tuple, ast.Set)):
            if len(right_node.elts) > MAX_LIST:
                raise self.error(right_node, f"list is too long ({len(right_node.elts)} items; the limit is {MAX_LIST})")
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
                raise self.error(left_node, f"cannot look for a {left.type} in a list of {kind} values; {_example(left.type)}")
            values = [item.literal for item in items]
            if kind == NUM:
                series = pl.Series(values=[float(v) for v in values], dtype=pl.Float64)
                target = left.expr.cast(pl.Float64, strict=False)
            else:
                series = pl.Series(values=[str(v) for v in values], dtype=pl.String)
                target = left.expr.cast(pl.String) if left.type != STR else left.expr
            return target.is_in(series.implode()), _Value(pl.lit(None), ANY)
        right = self.compile(right_node, depth)
        if left.is_literal and left.type == STR and right.type in (STR, ANY):
            # "bot" in agent: substring test
            return right.expr.cast(pl.String).str.contains(left.literal, literal=True), right
        raise self.error(right_node, "'in' needs a list of literals (path in [\"/a\", \"/b\"]) or text on the left (\"bot\" in agent)")

    def _visit_Call(self, node: ast.Call, depth: int) -> _Value:
        if not isinstance(node.func, ast.Name):
            raise self.error(
                node.func, f"{_describe(node.func)} is not allowed; only these functions can be called: {', '.join(self.functions)}"
            )
        name = node.func.id
        if name.startswith("__"):
            raise self.error(node.func, f"name {name!r} is not allowed")
        if name not in self.functions:
            if name in _CONDITION_FUNCTIONS:
                raise self.error(node.func, f"{name}() is only allowed in conditions")
            raise self.error(node.func, f"unknown function {name!r}", nearest(name, self.functions))
        if node.keywords:
            raise self.error(node.keywords[0].value, f"{name}() takes no keyword arguments")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.error(arg, "star arguments (*x) are not allowed")
        return getattr(self, f"_call_{name}")(node, depth)

    def _arity(self, node: ast.Call, low: int, high: int | None, usage: str) -> None:
        count = len(node.args)
        if count < low or (high is not None and count > high):
            raise self.error(node, f"wrong number of arguments; use {usage}")

    def _text_and_literal(self, node: ast.Call, depth: int, usage: str) -> tuple[pl.Expr, str]:
        self._arity(node, 2, 2, usage)
        subject = self.compile(node.args[0], depth)
        self._expect(node.args[0], subject, STR, usage)
        literal = self.compile(node.args[1], depth)
        if not literal.is_literal or literal.type != STR:
            raise self.error(node.args[1], f"the second argument must be literal text; use {usage}")
        expr = subject.expr if subject.type == STR else subject.expr.cast(pl.String)
        return expr, literal.literal

    def _call_startswith(self, node: ast.Call, depth: int) -> _Value:
        expr, prefix = self._text_and_literal(node, depth, 'startswith(field, "text")')
        return _Value(expr.str.starts_with(prefix), BOOL)

    def _call_endswith(self, node: ast.Call, depth: int) -> _Value:
        expr, suffix = self._text_and_literal(node, depth, 'endswith(field, "text")')
        return _Value(expr.str.ends_with(suffix), BOOL)

    def _call_contains(self, node: ast.Call, depth: int) -> _Value:
        expr, needle = self._text_and_literal(node, depth, 'contains(field, "text")')
        return _Value(expr.str.contains(needle, literal=True), BOOL)

    def _call_matches(self, node: ast.Call, depth: int) -> _Value:
        expr, pattern = self._text_and_literal(node, depth, 'matches(field, "regex")')
        if len(pattern) > MAX_REGEX:
            raise self.error(node.args[1], f"regular expression is too long (limit {MAX_REGEX} characters)")
        size = _regex_size(pattern)
        if size > MAX_REGEX_SIZE:
            raise self.error(
                node.args[1],
                f"regular expression repeats too much ({size} atoms once its {{n}} repetitions are expanded; "
                f"the limit is {MAX_REGEX_SIZE}): use + or * instead of a large {{n}}",
            )
        try:
            pl.select(pl.lit("", dtype=pl.String).str.contains(pattern))
        except Exception as exc:  # polars reports a bad or oversized pattern as ComputeError
            detail = str(exc).split("This error occurred", 1)[0].strip().replace("regex error: ", "")
            detail = " ".join(detail.split())
            raise self.error(node.args[1], f"invalid regular expression {pattern!r}: {detail[:200]}") from None
        return _Value(expr.str.contains(pattern), BOOL)

    def _call_lower(self, node: ast.Call, depth: int) -> _Value:
        self._arity(node, 1, 1, "lower(field)")
        subject = self.compile(node.args[0], depth)
        self._expect(node.args[0], subject, STR, "lower(field)")
        expr = subject.expr if subject.type == STR else subject.expr.cast(pl.String)
        if subject.is_literal:
            return _Value(pl.lit(subject.literal.lower(), dtype=pl.String), STR, subject.literal.lower())
        return _Value(expr.str.to_lowercase(), STR)

    def _call_len(self, node: ast.Call, depth: int) -> _Value:
        self._arity(node, 1, 1, "len(field)")
        subject = self.compile(node.args[0], depth)
        self._expect(node.args[0], subject, STR, "len(field)")
        expr = subject.expr if subject.type == STR else subject.expr.cast(pl.String)
        return _Value(expr.str.len_chars().cast(pl.Int64), NUM)

    def _numbers(self, node: ast.Call, depth: int, usage: str) -> list[_Value]:
        values = [self.compile(arg, depth) for arg in node.args]
        for arg, value in zip(node.args, values):
            self._expect(arg, value, NUM, usage)
        return values

    def _call_abs(self, node: ast.Call, depth: int) -> _Value:
        self._arity(node, 1, 1, "abs(x)")
        (value,) = self._numbers(node, depth, "abs(x)")
        return _Value(value.expr.abs(), NUM)

    def _call_min(self, node: ast.Call, depth: int) -> _Value:
        self._arity(node, 1, None, "min(a, b, ...)")
        values = self._numbers(node, depth, "min(a, b, ...)")
        return _Value(pl.min_horizontal(*(v.expr.cast(pl.Float64) for v in values)), NUM)

    def _call_max(self, node: ast.Call, depth: int) -> _Value:
        self._arity(node, 1, None, "max(a, b, ...)")
        values = self._numbers(node, depth, "max(a, b, ...)")
        return _Value(pl.max_horizontal(*(v.expr.cast(pl.Float64) for v in values)), NUM)

    def _call_coalesce(self, node: ast.Call, depth: int) -> _Value:
        self._arity(node, 1, None, "coalesce(a, b, ...)")
        values = self._numbers(node, depth, "coalesce(a, b, ...)")
        return _Value(pl.coalesce(*(v.expr.cast(pl.Float64) for v in values)), NUM)

    def _call_round(self, node: ast.Call, depth: int) -> _Value:
        self._arity(node, 1, 2, "round(x, digits)")
        value = self.compile(node.args[0], depth)
        self._expect(node.args[0], value, NUM, "round(x, digits)")
        digits = 0
        if len(node.args) == 2:
            literal = self._number_literal(node.args[1])
            if not isinstance(literal, int) or not 0 <= literal <= MAX_ROUND_DIGITS:
                raise self.error(node.args[1], f"digits must be a whole number from 0 to {MAX_ROUND_DIGITS}")
            digits = literal
        return _Value(value.expr.cast(pl.Float64).round(digits), NUM)

    def _visit_List(self, node: ast.expr, depth: int) -> _Value:
        raise self.error(node, "a list is only allowed after 'in' or 'not in'")

    _visit_Tuple = _visit_Set = _visit_List

    # -- type checks --------------------------------------------------------

    def _expect(self, node: ast.expr, value: _Value, kind: str, context: str) -> None:
        if value.type in (kind, ANY):
            return
        raise self.error(node, f"{context} needs {_article(kind)}, got {_article(value.type)}; {_example(kind)}")


def _regex_size(pattern: str) -> int:
    """An upper bound on the atoms a regex expands to: counted repetitions multiply what they repeat.

    Scans Rust ``regex`` syntax conservatively (escapes, nested classes,
    groups, alternation counted as a sum); ``*``, ``+`` and ``?`` cost nothing.
    """
    frames: list[list[int]] = [[]]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            if i - 1 < n and pattern[i - 1] in "pPxuU" and i < n and pattern[i] == "{":
                close = pattern.find("}", i)
                i = n if close < 0 else close + 1
            frames[-1].append(1)
            continue
        if ch == "[":
            depth, i = 1, i + 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and depth:
                if pattern[i] == "\\":
                    i += 1
                elif pattern[i] == "[":
                    depth += 1
                elif pattern[i] == "]":
                    depth -= 1
                i += 1
            frames[-1].append(1)
            continue
        if ch == "(":
            frames.append([])
        elif ch == ")":
            inner = frames.pop() if len(frames) > 1 else []
            frames[-1].append(max(1, sum(inner)))
        elif ch == "{":
            close = pattern.find("}", i)
            body = pattern[i + 1 : close] if close > 0 else ""
            bounds = [part.strip() for part in body.split(",")]
            if close > 0 and 1 <= len(bounds) <= 2 and any(bounds) and all(b.isdigit() or b == "" for b in bounds):
                times = max(int(b) for b in bounds if b)
                if frames[-1]:
                    frames[-1][-1] *= max(times, 1)
                i = close + 1
                continue
            frames[-1].append(1)
        elif ch not in "|*+?":
            frames[-1].append(1)
        i += 1
    while len(frames) > 1:
        inner = frames.pop()
        frames[-1].append(max(1, sum(inner)))
    return sum(frames[0])


def _article(kind: str) -> str:
    return {STR: "text", NUM: "a number", BOOL: "a condition (true/false)", TIME: "a datetime"}.get(kind, kind)


def _example(kind: str) -> str:
    return {
        STR: 'text is written in quotes, e.g. path == "/pricing"',
        NUM: "numbers are written without quotes, e.g. status >= 400",
        BOOL: 'use a comparison or a function, e.g. status == 200 or startswith(path, "/blog")',
        TIME: 'compare datetimes with an ISO string, e.g. time >= "2024-03-01T00:00:00+00:00"',
    }.get(kind, "check the types on both sides")


def _field_types(fields: Mapping[str, Any] | Iterable[str]) -> dict[str, str]:
    if isinstance(fields, Mapping):
        return {str(name): _canonical_type(kind) for name, kind in fields.items()}
    if isinstance(fields, str):
        raise TypeError("fields must be a mapping or an iterable of names, not a single string")
    return {str(name): ANY for name in fields}


def _field_dtypes(fields: Mapping[str, Any] | Iterable[str]) -> dict[str, Any]:
    """The polars dtypes among the declared field types (used to shape datetime literals)."""
    if not isinstance(fields, Mapping):
        return {}
    out = {}
    for name, kind in fields.items():
        if isinstance(kind, type) and issubclass(kind, pl.DataType):
            kind = kind()
        if isinstance(kind, pl.DataType):
            out[str(name)] = kind
    return out


def _guard(build: Callable[[], Any]) -> Any:
    """Run a compile step; anything but an ExpressionError becomes one (never a crash)."""
    try:
        return build()
    except ExpressionError:
        raise
    except RecursionError:
        raise ExpressionError(f"expression is nested too deeply (limit {MAX_DEPTH} levels)") from None
    except Exception as exc:  # a polars or typing corner we did not foresee: still the user's text
        raise ExpressionError(f"cannot compile expression: {exc}") from None


def compile_condition(text: str, fields: Mapping[str, Any] | Iterable[str]) -> pl.Expr:
    """Compile a boolean condition over event fields into a polars expression.

    ``fields`` maps each column name to its type (``"str"``, ``"int"``,
    ``"float"``, ``"bool"``, ``"datetime"`` or a polars dtype), which enables
    type checks with helpful messages; a plain iterable of names skips them.
    The result is never null: a row where the condition is null counts as false.
    """
    types = _field_types(fields)
    dtypes = _field_dtypes(fields)

    def build() -> pl.Expr:
        tree = _parse(text)
        compiler = _Compiler(text, condition=True, fields=types, resolve=pl.col, dtypes=dtypes)
        value = compiler.compile(tree)
        if value.type not in (BOOL, ANY):
            raise compiler.error(tree, f"a condition must be true or false, but this is {_article(value.type)}; {_example(BOOL)}")
        return value.expr.fill_null(False)

    return _guard(build)


@dataclass(frozen=True)
class Arithmetic:
    """A compiled formula: the identifiers it uses and a builder for its expression.

    ``names``: the identifiers (metric or KPI ids) in order of first use.
    """

    text: str
    names: tuple[str, ...]
    _tree: ast.expr = field(repr=False, compare=False)

    @property
    def linear(self) -> bool:
        """Is the formula linear (homogeneous of degree 1) in its identifiers: sums and differences
        of identifiers, each possibly times or divided by a number (``leads + reqs``,
        ``(a - b) / 2``, ``coalesce(a, 0) + b``)? Then it is additive over time when its inputs are.
        A constant term (``a + 5``), a product or ratio of identifiers, ``abs``, ``min``, ``max``,
        ``round`` and powers are not."""
        return _linearity(self._tree) == "linear"

    def build(self, columns: Mapping[str, pl.Expr]) -> pl.Expr:
        """The formula's expression, with each identifier replaced by ``columns[name]``."""
        missing = [name for name in self.names if name not in columns]
        if missing:
            raise ExpressionError(
                f"no value for {missing[0]!r} in formula {self.text!r}",
                suggestion=nearest(missing[0], columns),
            )

        def build() -> pl.Expr:
            compiler = _Compiler(self.text, condition=False, fields=None, resolve=lambda name: columns[name])
            return compiler.compile(self._tree).expr

        return _guard(build)


def _linearity(node: ast.AST) -> str:
    """``"linear"``, ``"zero"`` (the number 0), ``"constant"`` (another number) or ``"other"``."""
    if isinstance(node, ast.Name):
        return "linear"
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return "zero" if node.value == 0 else "constant"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _linearity(node.operand)
    if isinstance(node, ast.BinOp):
        left, right = _linearity(node.left), _linearity(node.right)
        if "other" in (left, right):
            return "other"
        numbers = ("zero", "constant")
        if isinstance(node.op, (ast.Add, ast.Sub)):
            if left in numbers and right in numbers:
                return "constant"
            kinds = {left, right} - {"zero"}
            return "linear" if kinds == {"linear"} else "other"
        if isinstance(node.op, ast.Mult):
            if left in numbers and right in numbers:
                return "constant"
            return "linear" if "zero" not in (left, right) and {left, right} == {"linear", "constant"} else "other"
        if isinstance(node.op, ast.Div):
            if left == "linear" and right == "constant":
                return "linear"
            return "constant" if left in numbers and right == "constant" else "other"
        return "other"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "coalesce" and node.args:
        kinds = {_linearity(arg) for arg in node.args}
        return "linear" if kinds <= {"linear", "zero"} and "linear" in kinds else "other"
    return "other"


def compile_arithmetic(text: str, names: Iterable[str] | None = None) -> Arithmetic:
    """Compile an arithmetic formula over identifiers (metric or KPI ids).

    When ``names`` is given, an identifier not among them is an
    :class:`ExpressionError` that suggests the nearest valid one.
    """
    known = None if names is None else {str(n): NUM for n in names}

    def build() -> Arithmetic:
        tree = _parse(text)
        compiler = _Compiler(text, condition=False, fields=known, resolve=pl.col)
        compiler.compile(tree)
        return Arithmetic(text=text.strip(), names=tuple(compiler.names), _tree=tree)

    return _guard(build)
