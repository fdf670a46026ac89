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

The package: ``syntax`` (bounds, :class:`ExpressionError`, the whitelist),
``values`` (the types of values), ``walker`` (the compiler's base: errors
and type checks), ``operators`` and ``functions`` (what may be written and
called) and ``compiler`` (:func:`compile_condition`,
:func:`compile_arithmetic`).
"""

from __future__ import annotations

from .compiler import Arithmetic, check_condition, compile_arithmetic, compile_condition
from .syntax import (
    MAX_DEPTH,
    MAX_EXPONENT as MAX_EXPONENT,
    MAX_LENGTH,
    MAX_LIST,
    MAX_NODES,
    MAX_REGEX,
    MAX_REGEX_SIZE,
    MAX_ROUND_DIGITS as MAX_ROUND_DIGITS,
    MAX_STRING,
    ExpressionError,
)
from .values import ANY as ANY, BOOL as BOOL, NUM as NUM, STR as STR, TIME as TIME

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
    "check_condition",
    "compile_arithmetic",
    "compile_condition",
]
