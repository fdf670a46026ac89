"""Compiling a condition or a formula: :func:`compile_condition`, :func:`compile_arithmetic`, :class:`Arithmetic`."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..options import nearest
from .functions import _Functions
from .operators import _Operators
from .syntax import MAX_DEPTH, ExpressionError, _parse
from .values import ANY, BOOL, NUM, _article, _canonical_type, _example

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl


class _Compiler(_Operators, _Functions):
    """Walks a parsed tree against the whitelist and builds a polars expression."""


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
        if isinstance(kind, str):  # a type named in words ("int"): no polars needed
            continue
        if isinstance(kind, type) and issubclass(kind, pl.DataType):
            kind = kind()
        if isinstance(kind, pl.DataType):
            out[str(name)] = kind
    return out


_T = TypeVar("_T")


def _column(name: str) -> pl.Expr:
    return pl.col(name)


def _guard(build: Callable[[], _T]) -> _T:
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
    expr, _ = _condition(text, fields, dry=False)
    return expr


def check_condition(text: str, fields: Mapping[str, Any] | Iterable[str]) -> tuple[str, ...]:
    """Check a condition as :func:`compile_condition` does (the same errors) without building its
    expression or importing polars (a config check); the fields it uses, in order of first use."""
    _, names = _condition(text, fields, dry=True)
    return names


def _condition(text: str, fields: Mapping[str, Any] | Iterable[str], *, dry: bool) -> tuple[pl.Expr, tuple[str, ...]]:
    types = _field_types(fields)
    dtypes = _field_dtypes(fields)

    def build() -> tuple[pl.Expr, tuple[str, ...]]:
        tree = _parse(text)
        compiler = _Compiler(text, condition=True, fields=types, resolve=_column, dtypes=dtypes, dry=dry)
        value = compiler.compile(tree)
        if value.type not in (BOOL, ANY):
            raise compiler.error(
                tree, f"a condition must be true or false, but this is {_article(value.type)}; {_example(BOOL)}"
            )
        return value.expr.fill_null(False), tuple(compiler.names)

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

    @property
    def keeps_unit(self) -> bool:
        """Is the value in its identifiers' unit when they share one: sums and differences of
        identifiers and numbers, times or divided by a number, ``min``, ``max``, ``abs``, ``round``,
        ``coalesce`` (``max(a, b)``, ``(a + b) / 2``)? A product or ratio of identifiers is not."""
        return _unit_kept(self._tree) == "unit"

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


def _unit_kept(node: ast.AST) -> str:
    """``"unit"`` (in the identifiers' unit), ``"number"`` (a plain number) or ``"other"``."""
    if isinstance(node, ast.Name):
        return "unit"
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return "number"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _unit_kept(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        left, right = _unit_kept(node.left), _unit_kept(node.right)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            kinds = {left, right}
        elif isinstance(node.op, ast.Mult):
            kinds = {left, right} if "number" in (left, right) else {"other"}
        else:
            kinds = {left} if right == "number" else {"other"}
        return "other" if "other" in kinds else ("unit" if "unit" in kinds else "number")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        if node.func.id in ("min", "max", "abs", "round", "coalesce"):
            kinds = {_unit_kept(arg) for arg in node.args}
            return "other" if "other" in kinds else ("unit" if "unit" in kinds else "number")
    return "other"


def compile_arithmetic(text: str, names: Iterable[str] | None = None) -> Arithmetic:
    """Compile an arithmetic formula over identifiers (metric or KPI ids).

    When ``names`` is given, an identifier not among them is an
    :class:`ExpressionError` that suggests the nearest valid one.
    """
    known = None if names is None else {str(n): NUM for n in names}

    def build() -> Arithmetic:
        tree = _parse(text)
        # a dry walk: the checks without the expression (Arithmetic.build makes it), nor polars
        compiler = _Compiler(text, condition=False, fields=known, resolve=_column, dry=True)
        compiler.compile(tree)
        return Arithmetic(text=text.strip(), names=tuple(compiler.names), _tree=tree)

    return _guard(build)
