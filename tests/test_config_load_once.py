"""What the config load works out once instead of per table: each class's fields for ``options.parse``,
the plain types' checks in ``options.convert``, an expression formula's compile.

Each is checked against what it replaced, computed here from ``dataclasses`` and ``typing`` directly."""

from __future__ import annotations

import dataclasses
import typing
from typing import Literal

import pytest

from kpitui import options as opts
from kpitui.builtin import formulas
from kpitui.config import ConfigError, parse_config
from kpitui.expressions import ExpressionError, compile_arithmetic


@dataclasses.dataclass(frozen=True)
class _Several:
    name: str
    count: int
    flag: bool = False
    ratio: float = 1.0
    tags: list[str] = dataclasses.field(default_factory=list)
    kind: Literal["a", "b"] = "a"
    note: str | None = None
    derived: str = dataclasses.field(default="x", init=False)
    later: int = dataclasses.field(default_factory=lambda: 3)


def _old_parse(cls: type, table: dict[str, typing.Any], where: str = "") -> typing.Any:
    """options.parse as it was: the fields and hints looked up on each call."""
    prefix = f"{where}." if where else ""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    values = {}
    for key, value in table.items():
        if key not in fields:
            raise opts.unknown_key(f"{prefix}{key}", [*fields])
        values[key] = opts.convert(value, hints[key], f"{prefix}{key}")
    missing = [
        n
        for n, f in fields.items()
        if n not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise opts.OptionError(f"missing required key {prefix}{missing[0]}", missing[0])
    return cls(**values)


@pytest.mark.parametrize(
    "table",
    [
        {"name": "n", "count": 2},
        {"count": 2, "name": "n", "flag": True, "ratio": 3, "tags": ["x"], "kind": "b", "note": "hi", "later": 9},
        {"name": "n", "count": 2, "note": "x", "tags": []},
    ],
)
def test_parse_builds_what_the_fields_looked_up_each_time_built(table):
    assert opts.parse(_Several, table) == _old_parse(_Several, table)
    assert opts.parse(_Several, table).derived == "x"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"count": 1}, "missing required key t.name (a string)"),
        ({}, "missing required key t.name (a string)"),  # the first required field in the class's order
        ({"name": "n"}, "missing required key t.count (an integer)"),
        ({"name": "n", "count": 1, "derived": "y"}, "unknown key 't.derived'"),  # init=False: not an option
        ({"name": "n", "count": 1, "cuont": 2}, "unknown key 't.cuont' (did you mean 'count'?)"),
        ({"name": 1, "count": 1}, "t.name must be a string, not 1"),
        ({"name": "n", "count": 1, "flag": "yes"}, "t.flag must be true or false, not 'yes'"),
        ({"name": "n", "count": 1, "flag": 1}, "t.flag must be true or false, not 1"),
        ({"name": "n", "count": True}, "t.count must be an integer, not True"),
        ({"name": "n", "count": 1, "note": 5}, "t.note must be a string, not 5"),
        ({"name": "n", "count": 1, "tags": ["a", 2]}, "t.tags[1] must be a string, not 2"),
    ],
)
def test_parse_errors_read_as_before(table, message):
    with pytest.raises(opts.OptionError) as got:
        opts.parse(_Several, table, where="t")
    assert str(got.value).startswith(message)
    if "missing" not in message:  # the old parse's message (bar the type note it added after the key)
        with pytest.raises(opts.OptionError) as old:
            _old_parse(_Several, table, where="t")
        assert str(got.value) == str(old.value)


@pytest.mark.parametrize("tp", [str, bool])
@pytest.mark.parametrize("value", ["s", "", True, False, 0, 1, 1.5, None, [], {}])
def test_plain_types_convert_as_the_general_path(tp, value):
    """``convert``'s early answer for ``str`` and ``bool`` against the general path (``str | bool`` with one
    member is the type itself; ``Union`` of one collapses), so: against ``isinstance`` and the wording."""
    wanted = isinstance(value, tp)
    if wanted:
        assert opts.convert(value, tp, "k") is value
    else:
        with pytest.raises(opts.OptionError) as exc:
            opts.convert(value, tp, "k")
        name = "a string" if tp is str else "true or false"
        assert str(exc.value) == f"k must be {name}, not {value!r}"
        assert exc.value.key == "k"


def test_field_names_are_a_fresh_list_each_time():
    names = opts.field_names(_Several)
    assert names == [f.name for f in dataclasses.fields(_Several)]
    names.append("changed")
    assert opts.field_names(_Several) == [f.name for f in dataclasses.fields(_Several)]
    assert opts.field_names(int) == []


CONFIG = """
[metrics.leads]
[metrics.requests]
[metrics.visits]
[kpis.per_visit]
formula = "expression"
expression = "(leads + 2 * requests) / visits"
[kpis.both]
formula = "expression"
expression = "leads + requests"
[kpis.again]
formula = "expression"
expression = "(leads + 2 * requests) / visits"
"""


def test_an_expression_formula_is_compiled_once_and_equals_a_fresh_compile(tmp_path, builtin_registry, monkeypatch):
    calls: list[str] = []
    formulas._compiled.cache_clear()

    def counting(text, names=None):
        calls.append(text)
        return compile_arithmetic(text, names)

    monkeypatch.setattr("kpitui.expressions.compile_arithmetic", counting)
    config = parse_config(CONFIG, tmp_path / "kpitui.toml", registry=builtin_registry)
    assert sorted(calls) == ["(leads + 2 * requests) / visits", "leads + requests"]  # validate and formula: once
    for kid in ("per_visit", "both", "again"):
        kpi = config.kpis[kid]
        formula = builtin_registry.formulas["expression"](kpi.params)
        fresh = compile_arithmetic(kpi.params.expression)
        assert formula.compiled == fresh
        assert formula.compiled.names == fresh.names
        assert (formula.additive, formula.keeps_unit) == (fresh.linear, fresh.keeps_unit)
    assert config.kpis["both"].unit_from == "from its metrics"  # keeps_unit from the kept compile


def test_a_bad_expression_fails_the_same_way_every_time(tmp_path, builtin_registry):
    bad = CONFIG.replace("leads + requests", "leads +* requests")
    with pytest.raises(ExpressionError) as direct:
        compile_arithmetic("leads +* requests")
    for _ in range(2):  # a failure is not kept: the second load says the same
        with pytest.raises(ConfigError) as exc:
            parse_config(bad, tmp_path / "kpitui.toml", registry=builtin_registry)
        assert str(exc.value).endswith(f"expression: {direct.value}")
        assert "kpis.both" in str(exc.value)


def test_an_unknown_formula_input_lists_metrics_then_kpis(tmp_path, builtin_registry):
    text = CONFIG + '[kpis.odd]\nformula = "sum"\nmetrics = ["leeds"]\n'
    with pytest.raises(ConfigError) as exc:
        parse_config(text, tmp_path / "kpitui.toml", registry=builtin_registry)
    assert "formula input: unknown metric or KPI 'leeds' (did you mean 'leads'?)" in str(exc.value)
    text = CONFIG + '[kpis.odd]\nformula = "sum"\nmetrics = ["zzzzzz"]\n'
    with pytest.raises(ConfigError) as exc:
        parse_config(text, tmp_path / "kpitui.toml", registry=builtin_registry)
    assert "known: leads, requests, visits, per_visit, both, again, odd" in str(exc.value)


@pytest.mark.parametrize("key", ["notifiers", "alerts", "digests", "annotation_sources"])
@pytest.mark.parametrize("value", ['""', "0", "[]", "false", '"x"', "[1]"])
def test_a_table_that_is_not_a_table_is_refused_though_its_module_is_not_imported(
    tmp_path, builtin_registry, key, value
):
    text = f"{key} = {value}\n" + CONFIG
    with pytest.raises(ConfigError) as exc:
        parse_config(text, tmp_path / "kpitui.toml", registry=builtin_registry)
    assert str(exc.value).endswith(f"{key} must be a table, e.g. [{key}]")


def test_without_alerting_serve_or_annotation_tables_their_modules_stay_unimported(tmp_path):
    """In a fresh interpreter: the config loads with empty alerting fields, and the modules that read those
    tables are not imported; with a [notifiers] table they are, and it is read."""
    import subprocess
    import sys

    path = tmp_path / "kpitui.toml"
    path.write_text(CONFIG + "[alerts]\n[digests]\n[notifiers]\n[annotation_sources]\n")
    probe = (
        "import sys; from kpitui.config import load_config; c = load_config(sys.argv[1]); "
        "print(c.notifiers, c.alerts, c.digests, c.annotation_sources, c.serve, "
        "[m for m in ('kpitui.config.alerting', 'kpitui.serve_auth', 'kpitui.annotations') if m in sys.modules])"
    )
    env = {"KPITUI_LOAD_PLUGINS": ""}
    import os

    run = subprocess.run(
        [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, env={**os.environ, **env}
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "{} {} {} {} None []"
    path.write_text(CONFIG + '[notifiers.ops]\ntype = "command"\ncommand = "true"\n')
    run = subprocess.run(
        [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, env={**os.environ, **env}
    )
    assert run.returncode == 0, run.stderr
    assert "'ops': NotifierSpec(" in run.stdout and "'kpitui.config.alerting'" in run.stdout
