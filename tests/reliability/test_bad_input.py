"""Bad input: broken configs, hostile expressions and garbage log lines are refused or skipped, never a crash.

- ``kpitui check`` on generated TOML (random tables, keys and values drawn
  from the real vocabulary and from junk; byte- and line-level mutations of
  the bundled sample config; undecodable bytes) exits 0 (still valid) or 2
  with exactly one ``kpitui: ...`` line on stderr: never a traceback, never
  another exit code. ``cli.main`` runs in-process for speed, plus a few real
  subprocesses.
- Trigger conditions and KPI formulas that try to run code, read files,
  exhaust memory or CPU are rejected by :mod:`kpitui.expressions` (with the
  builtins that could do harm booby-trapped), and random token soup either
  compiles to something that evaluates or raises ``ExpressionError``.
- Access logs with garbage, truncated lines, binary noise, NULs, CRLF and
  huge lines, read through the collector: every good line is counted
  exactly, every bad one is skipped and counted.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import io
import json
import math
import os
import random
import re
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kpitui import cli
from kpitui.builtin.access_log import FIELD_TYPES
from kpitui.collector import Collector
from kpitui.config import load_config
from kpitui.expressions import ExpressionError, compile_arithmetic, compile_condition
from kpitui.store import Store

from .conftest import REPO, run_kpitui

SAMPLE = (REPO / "kpitui" / "sample_config.toml").read_text(encoding="utf-8")
_TRIED: Counter = Counter()

# -- a tiny TOML writer (no third-party dependency) --------------------------------------------------


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_document(data: dict) -> str:
    lines = []
    for top, table in data.items():
        if not isinstance(table, dict):
            lines.append(f"{toml_key(top)} = {toml_value(table)}")
            continue
        for name, body in table.items():
            if isinstance(body, dict):
                lines.append(f"[{toml_key(top)}.{toml_key(name)}]")
                lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items()]
            else:
                lines.append(f"[{toml_key(top)}]\n{toml_key(name)} = {toml_value(body)}")
    return "\n".join(lines) + "\n"


# -- strategies ---------------------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
REAL_WORDS = [
    "demo",
    "manual",
    "access_log",
    "file",
    "sql",
    "http",
    "command",
    "prometheus",
    "sum",
    "ratio",
    "difference",
    "mean",
    "expression",
    "growth",
    "cumulative",
    "funnel",
    "percentile",
    "count",
    "last",
    "min",
    "max",
    "month_to_date",
    "trailing_30d",
    "last_quarter",
    "hour",
    "day",
    "week",
    "reach",
    "above",
    "below",
    "within",
    "up",
    "down",
    "signups",
    "visits",
    "revenue",
    "UTC",
    "Europe/Paris",
    "Mars/Olympus",
    "monday",
    "combined",
    "custom",
    "status >= 500",
    "path == '/x'",
    "signups / visits",
    "__import__('os')",
    "${HOME}",
    "sqlite:///x.db",
    "https://127.0.0.1:1/x",
]
KEYS = [
    "type",
    "interval",
    "timeout",
    "enabled",
    "source",
    "name",
    "unit",
    "aggregation",
    "trigger",
    "condition",
    "formula",
    "metrics",
    "numerator",
    "denominator",
    "window",
    "grain",
    "target",
    "thresholds",
    "weight",
    "decimals",
    "objective",
    "kpis",
    "title",
    "kind",
    "value",
    "baseline",
    "low",
    "high",
    "due",
    "on_track",
    "at_risk",
    "path",
    "format",
    "url",
    "query",
    "command",
    "history_days",
    "pattern",
    "base",
    "trend",
    "timezone",
    "week_start",
    "fiscal_year_start",
    "currency",
    "raw_retention_days",
    "downsample_to",
    "dirs",
    "theme",
    "refresh_seconds",
    "percent",
    "expression",
]
SCALARS = st.one_of(
    st.sampled_from(REAL_WORDS),
    TEXT,
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, -1, 7, 10**6]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, dt.timezone.utc])),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=6,
)
TABLE = st.dictionaries(st.one_of(st.sampled_from(KEYS), TEXT.filter(bool)), VALUES, max_size=6)
IDS = st.one_of(st.sampled_from(["demo", "manual", "signups", "visits", "leads", "growth", "x"]), TEXT.filter(bool))
CONFIGS = st.fixed_dictionaries(
    {},
    optional={
        "kpitui": st.dictionaries(st.sampled_from(KEYS[-12:]), VALUES, max_size=3),
        "storage": st.dictionaries(
            st.sampled_from(["path", "raw_retention_days", "downsample_to", "junk"]), VALUES, max_size=3
        ),
        "sources": st.dictionaries(IDS, TABLE, max_size=3),
        "metrics": st.dictionaries(IDS, TABLE, max_size=3),
        "kpis": st.dictionaries(IDS, TABLE, max_size=3),
        "objectives": st.dictionaries(IDS, TABLE, max_size=2),
        "plugins": st.dictionaries(st.sampled_from(["dirs", "junk"]), VALUES, max_size=1),
        "ui": st.dictionaries(st.sampled_from(["theme", "refresh_seconds", "junk"]), VALUES, max_size=2),
        "keymap": st.dictionaries(TEXT, VALUES, max_size=2),
        "unknown_table": TABLE,
    },
)


@st.composite
def mutated_sample(draw) -> bytes:
    """The bundled sample config with a few line- or byte-level edits."""
    lines = SAMPLE.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "value", "junk", "truncate", "key"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {toml_value(draw(SCALARS))}"
        elif op == "junk":
            lines.insert(i, draw(st.text(max_size=30).filter(lambda t: "\n" not in t and "\r" not in t)))
        elif op == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, max(0, len(lines[i]) - 1)))]
        elif op == "key" and "=" in lines[i]:
            lines[i] = draw(st.sampled_from(KEYS)) + " =" + lines[i].split("=", 1)[1]
    text = "\n".join(lines)
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:  # sometimes bytes that are not UTF-8 at all
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data


def check_in_process(data: bytes, tmp: Path) -> tuple[int, str]:
    path = tmp / "kpitui.toml"
    if b"[storage]" not in data:  # never the user's real history
        data = f'[storage]\npath = "{(tmp / "h.sqlite3").as_posix()}"\n'.encode() + data
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["check", "--config", str(path)])
        except SystemExit as exc:  # argparse only
            code = exc.code
    return code, err.getvalue()


def assert_clean_verdict(code, stderr: str, data: bytes) -> None:
    assert code in (0, 2), f"exit code {code} for:\n{data[:400]!r}\n{stderr}"
    _TRIED[f"exit_{code}"] += 1
    if code == 2:
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("kpitui: "), f"not one line:\n{stderr}\nfor:\n{data[:400]!r}"
    assert "Traceback" not in stderr


SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


@settings(SETTINGS, max_examples=120)
@given(document=CONFIGS)
def test_kpitui_check_on_random_configs_exits_0_or_2_with_one_line(document):
    with tempfile.TemporaryDirectory() as tmp:
        data = toml_document(document).encode("utf-8")
        code, stderr = check_in_process(data, Path(tmp))
        assert_clean_verdict(code, stderr, data)
        _TRIED["random_configs"] += 1


@settings(SETTINGS, max_examples=120)
@given(data=mutated_sample())
def test_kpitui_check_on_mutated_sample_configs_exits_0_or_2_with_one_line(data):
    with tempfile.TemporaryDirectory() as tmp:
        code, stderr = check_in_process(data, Path(tmp))
        assert_clean_verdict(code, stderr, data)
        _TRIED["mutated_samples"] += 1


@settings(SETTINGS, max_examples=40)
@given(data=st.binary(max_size=300))
def test_kpitui_check_on_arbitrary_bytes_exits_2_with_one_line(data):
    with tempfile.TemporaryDirectory() as tmp:
        code, stderr = check_in_process(data, Path(tmp))
        assert_clean_verdict(code, stderr, data)
        _TRIED["arbitrary_bytes"] += 1


@pytest.mark.slow
@settings(SETTINGS, max_examples=3000)
@given(document=CONFIGS, data=mutated_sample())
def test_check_fuzz_soak(document, data):
    with tempfile.TemporaryDirectory() as tmp:
        for body in (toml_document(document).encode("utf-8"), data):
            code, stderr = check_in_process(body, Path(tmp))
            assert_clean_verdict(code, stderr, body)
            _TRIED["soak_configs"] += 1


BROKEN_FOR_SUBPROCESS = {
    "invalid_toml": b"[metrics\nx = ",
    "not_utf8": b'[kpitui]\ntimezone = "\xff\xfe"\n',
    "unknown_formula_input": b'[metrics.a]\n[kpis.k]\nformula = "sum"\nmetrics = ["b"]\n',
    "hostile_condition": (
        b'[sources.web]\ntype = "access_log"\npath = "x.log"\n[metrics.m]\nsource = "web"\ncondition = '
        b"\"__import__('os').system('id')\"\n"
    ),
    "regex_bomb": (
        b'[sources.web]\ntype = "access_log"\npath = "x.log"\n[metrics.m]\nsource = "web"\ncondition = '
        b"\"matches(path, 'a{30000}')\"\n"
    ),
    "huge_nesting": b'[metrics.a]\n[kpis.k]\nformula = "expression"\nexpression = "'
    + b"(" * 500
    + b"a"
    + b")" * 500
    + b'"\n',
}


def test_kpitui_check_subprocesses_exit_2_with_one_line(tmp_path, figures):
    for name, data in BROKEN_FOR_SUBPROCESS.items():
        path = tmp_path / f"{name}.toml"
        path.write_bytes(f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n'.encode() + data)
        done = run_kpitui("check", "--config", str(path))
        assert done.returncode == 2, (name, done.returncode, done.stderr)
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("kpitui: ") and str(path) in lines[0], (name, done.stderr)
    figures(subprocesses=len(BROKEN_FOR_SUBPROCESS))


def test_config_fuzz_figures(figures):
    """States what the config fuzzers above tried in this run."""
    assert _TRIED["random_configs"] and _TRIED["mutated_samples"] and _TRIED["arbitrary_bytes"]
    figures(**dict(_TRIED))


# -- expressions ---------------------------------------------------------------------------------------

ATTACKS = [
    "__import__('os').system('touch /tmp/kpitui-pwned')",
    "open('/etc/passwd')",
    "open('/etc/passwd').read() == path",
    "().__class__.__bases__[0].__subclasses__()",
    "path.__class__.__mro__",
    "eval('1') == 1",
    "exec('import os')",
    "compile('1', 'x', 'eval')",
    "getattr(path, 'upper')",
    "globals()",
    "locals()",
    "vars()",
    "breakpoint()",
    "input()",
    "print(path)",
    "__builtins__",
    "path.startswith('x')",
    "f'{path}' == 'x'",
    "path[0] == '/'",
    "lambda: 1",
    "[x for x in path]",
    "(x := 1)",
    "b'abc' == path",
    "1 if status else 2",
    "{1: 2}",
    "status ** 10 ** 10",
    "status ** 1000",
    "status ** -100",
    "'a' * 10 ** 9 == path",
    "path * 'x' == 'xx'",
    "len(path) * 10 ** 18 * 10 ** 18 * 10 ** 18 > 1",
    "status == 10 ** 400",
    "status == 1e999",
    "matches(path, 'a{30000}')",
    "matches(path, 'a{,30000}')",
    "matches(path, '[a-z]{20,30000}x')",
    "matches(path, '(?:a{100}){100}')",
    "matches(path, 'a{1000}{1000}')",
    "matches(path, '\\\\w{1000}')",
    "matches(path, '(?<=a)b')",
    "matches(path, '(a)\\\\1')",
    "path in ['a'] * 100000",
    "startswith(path, '" + "x" * 1001 + "')",
    "round(status, 10 ** 9) > 1",
    "(" * 60 + "status" + ")" * 60 + " > 1",
    "not " * 450 + "status > 1",
    "-" * 1999 + "1 == status",
    "status" + " + status" * 400 + " > 1",
    "min(" + ", ".join(["status"] * 500) + ") > 1",
    "path == 'x'; import os",
    "path == 'x'\nimport os",
    "status\x00 == 1",
    "x" * 3000,
    "",
]


@pytest.fixture
def booby_trapped_builtins(monkeypatch):
    """Anything in an expression reaching these Python functions would fail the test."""
    calls = []

    def trap(name):
        def called(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"an expression reached builtins.{name}")

        return called

    # (not compile: ast.parse is built on it, with the AST-only flag)
    for name in ("open", "eval", "exec", "__import__", "input", "breakpoint"):
        real = getattr(builtins, name)
        monkeypatch.setattr(builtins, name, trap(name) if name != "__import__" else _import_guard(real, calls))
    monkeypatch.setattr(os, "system", trap("os.system"))
    monkeypatch.setattr(subprocess, "Popen", trap("subprocess.Popen"))
    return calls


def _import_guard(real, calls):
    def guarded(name, *args, **kwargs):
        if name in ("os", "subprocess", "shutil", "socket", "ctypes", "pty"):
            stack = [f.f_code.co_filename for f in _frames()]
            if any(f"{os.sep}expressions{os.sep}" in s for s in stack):  # the kpitui/expressions/ package
                calls.append(f"import {name}")
        return real(name, *args, **kwargs)

    return guarded


def _frames():
    import sys

    frame = sys._getframe(2)
    while frame is not None:
        yield frame
        frame = frame.f_back


EVENTS = pl.DataFrame(
    {
        "client": ["10.0.0.1", "10.0.0.2", None],
        "user": ["-", "bob", "-"],
        "time": [dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)] * 3,
        "method": ["GET", "POST", None],
        "path": ["/", "/newsletter/thank-you", "a" * 5000],
        "query": ["", "x=1", ""],
        "protocol": ["HTTP/1.1"] * 3,
        "status": [200, 500, 404],
        "bytes": [1, 2, 3],
        "referrer": ["-", "https://google.com/", "-"],
        "agent": ["bot", "Mozilla", ""],
    },
    schema={
        k: {"str": pl.String, "int": pl.Int64, "datetime": pl.Datetime("us", "UTC")}[v] for k, v in FIELD_TYPES.items()
    },
)


# A compiler that evaluated one of these (10 ** 10 ** 10, 'a' * 10 ** 9, a 30,000-repeat regex)
# would run for minutes or exhaust memory: the timeout ends such a run instead of hanging the suite.
# How fast the rejections are is a figure, not an assertion (a loaded CI machine is not a regression).
@pytest.mark.timeout(60)
def test_hostile_expressions_are_rejected_quickly(booby_trapped_builtins, figures):
    slowest = 0.0
    for text in ATTACKS:
        for compile_ in (
            lambda t: compile_condition(t, FIELD_TYPES),
            lambda t: compile_arithmetic(t, ["status", "path", "signups"]),
        ):
            started = time.perf_counter()
            with pytest.raises(ExpressionError):
                compile_(text)
            slowest = max(slowest, time.perf_counter() - started)
    assert not booby_trapped_builtins
    figures(attacks=len(ATTACKS), compilers=2, rejected=2 * len(ATTACKS), slowest_rejection_ms=round(slowest * 1000, 1))


TOKENS = [
    "status",
    "path",
    "method",
    "agent",
    "time",
    "bytes",
    "signups",
    "visits",
    "x",
    "__class__",
    "__import__",
    "os",
    "open",
    "eval",
    "lambda",
    "for",
    "in",
    "not",
    "and",
    "or",
    "if",
    "else",
    "is",
    "None",
    "True",
    "False",
    "startswith",
    "endswith",
    "contains",
    "matches",
    "lower",
    "len",
    "abs",
    "min",
    "max",
    "round",
    "coalesce",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    ":",
    ":=",
    ";",
    "+",
    "-",
    "*",
    "/",
    "**",
    "//",
    "%",
    "@",
    "~",
    "<<",
    "|",
    "&",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "0",
    "1",
    "-1",
    "10",
    "1e308",
    "10**400",
    "0.5",
    "'/a'",
    '"GET"',
    "'a{2000}'",
    "'(?:a{99}){99}'",
    "'2024-03-01T00:00:00'",
    "'x' * 9",
    "\\",
    "#",
    "'",
    '"',
    "\n",
    " ",
]


ATOMS = st.sampled_from(
    [
        "status",
        "bytes",
        "path",
        "method",
        "agent",
        "time",
        "signups",
        "visits",
        "x",
        "0",
        "1",
        "-1",
        "2.5",
        "1e308",
        "'/a'",
        '"GET"',
        "'2024-03-01T00:00:00'",
        "True",
    ]
)
GRAMMAR = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.tuples(
            inner, st.sampled_from(["+", "-", "*", "/", "**", "==", "!=", "<", ">=", "and", "or", "in"]), inner
        ).map(" ".join),
        st.tuples(
            st.sampled_from(
                [
                    "not ",
                    "-",
                    "abs(",
                    "lower(",
                    "len(",
                    "round(",
                    "min(",
                    "max(",
                    "coalesce(",
                    "startswith(",
                    "contains(",
                    "matches(",
                ]
            ),
            inner,
        ).map(
            lambda t: (
                t[0]
                + t[1]
                + (
                    ")"
                    if t[0].endswith("(") and t[0] not in ("startswith(", "contains(", "matches(")
                    else ", '/x')"
                    if t[0].endswith("(")
                    else ""
                )
            )
        ),
        inner.map(lambda t: f"({t})"),
        st.lists(ATOMS, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
    ),
    max_leaves=8,
)


@settings(SETTINGS, max_examples=300)
@given(tokens=st.one_of(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25).map(" ".join), GRAMMAR))
def test_token_soup_compiles_and_evaluates_or_is_rejected(tokens):
    text = tokens
    for kind in ("condition", "arithmetic"):
        started = time.perf_counter()
        try:
            if kind == "condition":
                expr = compile_condition(text, FIELD_TYPES)
                result = EVENTS.select(expr.alias("ok"))
                assert result.schema["ok"] == pl.Boolean and result["ok"].null_count() == 0, text
            else:
                formula = compile_arithmetic(text, ["signups", "visits", "x"])
                columns = {name: pl.col(name) for name in formula.names}
                frame = pl.DataFrame({"signups": [1.0, 0.0, None], "visits": [2.0, 0.0, 3.0], "x": [-1.0, 5.0, 0.0]})
                frame.select(formula.build(columns).alias("v"))
            _TRIED[f"soup_{kind}_compiled"] += 1
        except ExpressionError:
            _TRIED[f"soup_{kind}_rejected"] += 1
        assert time.perf_counter() - started < 2.0, text


NUM = st.recursive(
    st.sampled_from(["status", "bytes", "len(path)", "1", "2.5", "-3", "0", "1e308"]),
    lambda n: st.one_of(
        st.tuples(n, st.sampled_from(["+", "-", "*", "/"]), n).map(" ".join),
        n.map(lambda t: f"abs({t})"),
        st.tuples(n, st.integers(0, 12)).map(lambda t: f"round({t[0]}, {t[1]})"),
        st.tuples(st.sampled_from(["min", "max", "coalesce"]), st.lists(n, min_size=1, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        st.tuples(n, st.integers(-10, 10)).map(lambda t: f"({t[0]}) ** {t[1]}"),
        n.map(lambda t: f"({t})"),
    ),
    max_leaves=6,
)
STR = st.sampled_from(["path", "method", "agent", "query", "lower(agent)", "referrer"])
LIT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=8).map(
    lambda t: json.dumps(t, ensure_ascii=False)
)
CONDITION = st.recursive(
    st.one_of(
        st.tuples(NUM, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), NUM).map(" ".join),
        st.tuples(STR, st.sampled_from(["==", "!="]), LIT).map(" ".join),
        st.tuples(st.sampled_from(["startswith", "endswith", "contains"]), STR, LIT).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
        st.tuples(STR, st.sampled_from(["^/a", "bot|crawl", "[0-9]+$", "(?i)mozilla", "a{2,5}", ".*"])).map(
            lambda t: f"matches({t[0]}, {t[1]!r})"
        ),
        st.tuples(STR, st.lists(LIT, max_size=4)).map(lambda t: f"{t[0]} in [{', '.join(t[1])}]"),
        st.tuples(LIT, STR).map(lambda t: f"{t[0]} in {t[1]}"),
        st.sampled_from(
            [
                "time >= '2024-03-01T00:00:00+00:00'",
                "time < '2030-01-01'",
                "status in [200, 404]",
                "200 <= status < 300",
            ]
        ),
    ),
    lambda c: st.one_of(
        st.tuples(c, st.sampled_from(["and", "or"]), c).map(" ".join),
        c.map(lambda t: f"not ({t})"),
        c.map(lambda t: f"({t})"),
    ),
    max_leaves=6,
)
ARITHMETIC = st.recursive(
    st.sampled_from(["signups", "visits", "x", "1", "0", "2.5"]),
    lambda n: st.one_of(
        st.tuples(n, st.sampled_from(["+", "-", "*", "/"]), n).map(" ".join),
        st.tuples(st.sampled_from(["abs", "min", "max", "coalesce"]), n).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(n, st.integers(-10, 10)).map(lambda t: f"({t[0]}) ** {t[1]}"),
        n.map(lambda t: f"-({t})"),
    ),
    max_leaves=8,
)


@settings(SETTINGS, max_examples=200)
@given(condition=CONDITION, formula=ARITHMETIC)
def test_well_typed_expressions_compile_and_evaluate(condition, formula):
    try:
        result = EVENTS.select(compile_condition(condition, FIELD_TYPES).alias("ok"))
        assert result.schema["ok"] == pl.Boolean and result["ok"].null_count() == 0, condition
        _TRIED["typed_condition_evaluated"] += 1
    except ExpressionError as exc:  # only the documented bounds may refuse a well-typed condition
        assert "too" in str(exc), (condition, str(exc))
        _TRIED["typed_condition_over_bounds"] += 1
    compiled = compile_arithmetic(formula, ["signups", "visits", "x"])
    frame = pl.DataFrame({"signups": [1.0, 0.0, None], "visits": [2.0, 0.0, 3.0], "x": [-1.0, 5.0, 0.0]})
    values = frame.select(compiled.build({n: pl.col(n) for n in compiled.names}).cast(pl.Float64).alias("v"))["v"]
    assert values.len() in (1, 3)  # a formula of literals only is one value
    _TRIED["typed_formula_evaluated"] += 1


def test_expression_fuzz_figures(figures):
    assert _TRIED["soup_condition_rejected"]
    figures(**{k: v for k, v in _TRIED.items() if k.startswith(("soup", "typed"))})


# -- access logs full of garbage, through the collector -----------------------------------------------

GOOD = '{ip} - - [{when:%d/%b/%Y:%H:%M:%S +0000}] "{method} {path} HTTP/1.1" {status} 512 "-" "Mozilla/5.0"'
LOG_CONFIG = """
[storage]
path = "{history}"

[sources.web]
type = "access_log"
path = "{log}"
import_rotated = false
max_line_length = 4096

[metrics.hits]
source = "web"
condition = "status >= 100"

[metrics.signups]
source = "web"
condition = 'path == "/newsletter/thank-you" and status < 400'
"""


def good_line(rng: random.Random, when: dt.datetime) -> tuple[str, bool]:
    path = rng.choice(["/", "/newsletter/thank-you", "/pricing", "/ünï"])
    status = rng.choice([200, 302, 404, 500])
    line = GOOD.format(
        ip=f"10.0.0.{rng.randrange(256)}", when=when, method=rng.choice(["GET", "POST"]), path=path, status=status
    )
    return line, path == "/newsletter/thank-you" and status < 400


def garbage_line(rng: random.Random, when: dt.datetime) -> bytes:
    kind = rng.choice(
        ["text", "binary", "truncated", "huge", "bad_time", "bad_status", "nul", "spaces", "empty", "latin1", "quotes"]
    )
    if kind == "text":
        return b"this is not a log line at all"
    if kind == "binary":
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))).replace(b"\n", b"")
    if kind == "truncated":
        line = good_line(rng, when)[0].encode()
        return line[: rng.randrange(1, len(line) - 1)]
    if kind == "huge":
        return good_line(rng, when)[0].replace("HTTP/1.1", "x" * rng.randrange(5000, 300_000) + " HTTP/1.1").encode()
    if kind == "bad_time":
        return good_line(rng, when)[0].replace(f"{when:%b}", "Foo").encode()
    if kind == "bad_status":
        return (
            good_line(rng, when)[0]
            .replace('" 200 ', '" 2x0 ')
            .replace('" 404 ', '" 99 ')
            .replace('" 302 ', '" 1000 ')
            .replace('" 500 ', '" -5 ')
            .encode()
        )
    if kind == "nul":
        line = good_line(rng, when)[0].encode()  # NULs where the status should be (a NUL in the method is a valid line)
        return re.sub(rb'" \d{3} ', b'" \x00\x00\x00 ', line)
    if kind == "spaces":
        return b"   \t  "
    if kind == "empty":
        return b""
    if kind == "latin1":
        return '10.0.0.1 - - [garbage] "GET /caf\xe9 HTTP/1.1" 200 1 "-" "x"'.encode("latin-1")
    return b'"""""""""'


def run_garbage_log(tmp: Path, seed: int, lines: int, garbage_ratio: float, registry=None) -> dict:
    rng = random.Random(seed)
    when = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
    chunks: list[bytes] = []
    expected: Counter = Counter()
    good = bad = 0
    for _ in range(lines):
        when += dt.timedelta(seconds=rng.randrange(0, 30))
        if rng.random() < garbage_ratio:
            data = garbage_line(rng, when)
            chunks.append(data + rng.choice([b"\n", b"\r\n"]))
            bad += 1
            continue
        line, signup = good_line(rng, when)
        chunks.append(line.encode() + rng.choice([b"\n", b"\r\n"]))
        hour = when.replace(minute=0, second=0)
        expected[("hits", hour)] += 1
        expected[("signups", hour)] += signup
        good += 1
    log = tmp / "access.log"
    log.write_bytes(b"".join(chunks))
    config_path = tmp / "kpitui.toml"
    config_path.write_text(
        LOG_CONFIG.format(history=(tmp / "h.sqlite3").as_posix(), log=log.as_posix()), encoding="utf-8"
    )
    config = load_config(config_path, registry=registry)
    with Store(config.storage.path) as store:
        collector = Collector(config, store, clock=lambda: dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc))
        results = collector.run_once()
        collector.close()
        stored = {(m, at): int(v) for m, at, v in store.load()[0].select("metric", "at", "value").iter_rows() if v}
    assert [r.error for r in results] == [None], results
    want = {k: v for k, v in expected.items() if v}
    assert stored == want, f"{len(set(stored.items()) ^ set(want.items()))} (metric, hour) counts differ"
    empty_lines = sum(1 for c in chunks if c.strip(b"\r\n") == b"")
    skipped = results[0].skipped
    assert bad - empty_lines <= skipped <= bad, f"{bad} bad lines ({empty_lines} empty), {skipped} skipped"
    return {"lines": lines, "good": good, "garbage": bad, "skipped": skipped, "log_bytes": log.stat().st_size}


def test_garbage_log_lines_are_skipped_and_good_ones_counted_exactly(tmp_path, builtin_registry, figures):
    stats = run_garbage_log(tmp_path, seed=1, lines=4000, garbage_ratio=0.3, registry=builtin_registry)
    figures(**stats)


@settings(SETTINGS, max_examples=15)
@given(seed=st.integers(0, 2**32), lines=st.integers(1, 300), ratio=st.floats(0, 1))
def test_any_mix_of_garbage_and_good_lines(builtin_registry, seed, lines, ratio):
    with tempfile.TemporaryDirectory() as tmp:
        stats = run_garbage_log(Path(tmp), seed, lines, ratio, registry=builtin_registry)
        _TRIED["garbage_logs"] += 1
        _TRIED["garbage_lines"] += stats["garbage"]
        _TRIED["good_lines"] += stats["good"]


def test_garbage_fuzz_figures(figures):
    assert _TRIED["garbage_logs"]
    figures(logs=_TRIED["garbage_logs"], garbage_lines=_TRIED["garbage_lines"], good_lines=_TRIED["good_lines"])
