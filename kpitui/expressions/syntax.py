"""Text to a syntax tree, within bounds: the limits, :class:`ExpressionError`, and the whitelist's tables."""

from __future__ import annotations

import ast

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
                raise ExpressionError(
                    f"column {i + 1}: expression is nested too deeply (limit {MAX_DEPTH} levels)", position=i + 1
                )
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
