"""The functions an expression may call: text tests (``startswith``, ``matches`` ...) and arithmetic (``min``, ``round``
...)."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from ..options import nearest
from .syntax import _CONDITION_FUNCTIONS, MAX_REGEX, MAX_REGEX_SIZE, MAX_ROUND_DIGITS, _describe
from .values import BOOL, NUM, STR, _Value
from .walker import _Walker

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl


class _Functions(_Walker):
    def _visit_Call(self, node: ast.Call, depth: int) -> _Value:
        if not isinstance(node.func, ast.Name):
            raise self.error(
                node.func,
                f"{_describe(node.func)} is not allowed; only these functions can be called: "
                f"{', '.join(self.functions)}",
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
        value: _Value = getattr(self, f"_call_{name}")(node, depth)
        return value

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
        expr = subject.expr if subject.type == STR else subject.expr.cast(self.pl.String)
        return expr, literal.literal

    def _call_startswith(self, node: ast.Call, depth: int) -> _Value:
        expr, prefix = self._text_and_literal(node, depth, 'startswith(field, "text")')
        return _Value(expr.str.starts_with(prefix), BOOL)

    def _call_endswith(self, node: ast.Call, depth: int) -> _Value:
        expr, suffix = self._text_and_literal(node, depth, 'endswith(field, "text")')
        return _Value(expr.str.ends_with(suffix), BOOL)

    def _call_contains(self, node: ast.Call, depth: int) -> _Value:
        expr, needle = self._text_and_literal(node, depth, 'contains(field, "text")')
        caseless = caseless_contains(self, node.args[0], needle, depth)
        return _Value(caseless if caseless is not None else expr.str.contains(needle, literal=True), BOOL)

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
            pl.select(pl.lit("", dtype=pl.String).str.contains(pattern))  # checked by polars' regex engine, dry or not
        except Exception as exc:  # polars reports a bad or oversized pattern as ComputeError
            detail = str(exc).split("This error occurred", 1)[0].strip().replace("regex error: ", "")
            detail = " ".join(detail.split())
            raise self.error(node.args[1], f"invalid regular expression {pattern!r}: {detail[:200]}") from None
        return _Value(expr.str.contains(pattern), BOOL)

    def _call_lower(self, node: ast.Call, depth: int) -> _Value:
        self._arity(node, 1, 1, "lower(field)")
        subject = self.compile(node.args[0], depth)
        self._expect(node.args[0], subject, STR, "lower(field)")
        expr = subject.expr if subject.type == STR else subject.expr.cast(self.pl.String)
        if subject.is_literal:
            return _Value(self.pl.lit(subject.literal.lower(), dtype=self.pl.String), STR, subject.literal.lower())
        return _Value(expr.str.to_lowercase(), STR)

    def _call_len(self, node: ast.Call, depth: int) -> _Value:
        self._arity(node, 1, 1, "len(field)")
        subject = self.compile(node.args[0], depth)
        self._expect(node.args[0], subject, STR, "len(field)")
        expr = subject.expr if subject.type == STR else subject.expr.cast(self.pl.String)
        return _Value(expr.str.len_chars().cast(self.pl.Int64), NUM)

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
        return _Value(self.pl.min_horizontal(*(v.expr.cast(self.pl.Float64) for v in values)), NUM)

    def _call_max(self, node: ast.Call, depth: int) -> _Value:
        self._arity(node, 1, None, "max(a, b, ...)")
        values = self._numbers(node, depth, "max(a, b, ...)")
        return _Value(self.pl.max_horizontal(*(v.expr.cast(self.pl.Float64) for v in values)), NUM)

    def _call_coalesce(self, node: ast.Call, depth: int) -> _Value:
        self._arity(node, 1, None, "coalesce(a, b, ...)")
        values = self._numbers(node, depth, "coalesce(a, b, ...)")
        return _Value(self.pl.coalesce(*(v.expr.cast(self.pl.Float64) for v in values)), NUM)

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
        return _Value(value.expr.cast(self.pl.Float64).round(digits), NUM)


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


#: ASCII that lower() and a case-insensitive regex treat alike: every character that lowercases to one of these is in
#: its case-folding class and lowercases to exactly it. Not "i" (U+0130 lowercases to "i" + a combining dot, which
#: the regex does not fold) nor "s" (U+017F folds to "s" but lowercases to itself); no uppercase (lower() never
#: gives one).
_CASELESS = frozenset(chr(c) for c in range(32, 127)) - set("ABCDEFGHIJKLMNOPQRSTUVWXYZis")


def _caseless_safe(needle: str) -> bool:
    """Whether ``contains(lower(f), needle)`` equals a case-insensitive regex search of ``needle`` in ``f``."""
    return len(needle) <= 200 and all(c in _CASELESS for c in needle)


def caseless_contains(walker: _Walker, text: ast.expr, needle: str, depth: int) -> pl.Expr | None:
    """``contains(lower(f), "bot")`` (or ``"bot" in lower(f)``) as a case-insensitive search of ``f`` itself, without
    lowercasing every value first (2-3x cheaper); None when ``text`` is no ``lower(f)`` of a field or the needle is
    not :func:`_caseless_safe`."""
    if not (_caseless_safe(needle) and isinstance(text, ast.Call) and isinstance(text.func, ast.Name)):
        return None
    if text.func.id != "lower" or len(text.args) != 1:
        return None
    subject = walker.compile(text.args[0], depth)
    if subject.is_literal or subject.type != STR:
        return None
    return subject.expr.str.contains("(?i)" + walker.pl.escape_regex(needle))
