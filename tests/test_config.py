"""Config validation: every mistake is one clear message naming file, table, key and the nearest name."""

from __future__ import annotations

import pytest

from kpitui.config import ConfigError, load_config, parse_config

BASE = """
[sources.demo]
type = "demo"
history_days = 10

[metrics.signups]
name = "Sign-ups"
source = "demo"
trigger = "Viewed the thank-you page"

[metrics.views]
source = "demo"

[kpis.leads]
formula = "sum"
metrics = ["signups"]
target = 100

[kpis.conversion]
formula = "ratio"
numerator = "signups"
denominator = "views"

[objectives.grow]
title = "Grow"
kpis = ["leads", "conversion"]
"""


def load(write_config, text, builtin_registry):
    path = write_config(text)
    return load_config(path, registry=builtin_registry)


def error_of(write_config, text, builtin_registry) -> str:
    with pytest.raises(ConfigError) as info:
        load(write_config, text, builtin_registry)
    return str(info.value)


def test_valid_config_loads(write_config, builtin_registry):
    config = load(write_config, BASE, builtin_registry)
    assert list(config.metrics) == ["signups", "views"]
    assert config.metrics["signups"].is_key and not config.metrics["views"].is_key
    assert config.metrics["signups"].options.base == 10.0  # demo default
    assert config.kpis["leads"].target.value == 100
    assert config.objectives["grow"].kpis == ("leads", "conversion")
    assert "manual" in config.sources  # always there for hand-recorded readings


def test_sample_config_is_valid(builtin_registry):
    from kpitui.config import BUNDLED_SAMPLE as SAMPLE

    config = load_config(SAMPLE, registry=builtin_registry)
    assert len(config.objectives) >= 4
    assert any(not m.is_key for m in config.metrics.values())
    assert {k.formula for k in config.kpis.values()} >= {"sum", "ratio", "difference", "mean", "expression"}


@pytest.mark.parametrize(
    "change, expected",
    [
        (('type = "demo"', 'type = "dmeo"'), "[sources.demo] type: unknown source type 'dmeo' (did you mean 'demo'?)"),
        (
            ('metrics = ["signups"]', 'metrics = ["signup"]'),
            "[kpis.leads] formula input: unknown metric or KPI 'signup' (did you mean 'signups'?)",
        ),
        (
            ('formula = "ratio"', 'formula = "ration"'),
            "[kpis.conversion] formula: unknown formula type 'ration' (did you mean 'ratio'?)",
        ),
        (
            ('kpis = ["leads", "conversion"]', 'kpis = ["lead", "conversion"]'),
            "[objectives.grow] kpis[0]: unknown KPI 'lead' (did you mean 'leads'?)",
        ),
        (('name = "Sign-ups"', 'nmae = "Sign-ups"'), "[metrics.signups] unknown key 'nmae' (did you mean 'name'?)"),
        (("history_days = 10", 'history_days = "ten"'), "[sources.demo] history_days must be an integer, not 'ten'"),
        (
            ('source = "demo"\ntrigger', 'source = "demoo"\ntrigger'),
            "[metrics.signups] source: unknown source 'demoo' (did you mean 'demo'?)",
        ),
        (
            ("target = 100", 'target = { kind = "rech", value = 1 }'),
            "[kpis.leads.target] kind: unknown target kind 'rech' (did you mean 'reach'?)",
        ),
        (("target = 100", 'window = "month_to_dat"'), "month_to_date"),
        (("target = 100", 'target = { kind = "within", low = 5 }'), "needs both low and high"),
    ],
)
def test_mistakes_name_file_table_key_and_nearest(write_config, builtin_registry, change, expected):
    old, new = change
    assert old in BASE
    message = error_of(write_config, BASE.replace(old, new, 1), builtin_registry)
    assert "kpitui.toml: " in message
    assert expected in message


@pytest.mark.parametrize(
    "section",
    ["sources", "metrics", "kpis", "objectives", "notifiers", "alerts", "digests", "annotation_sources"],
)
def test_an_entry_that_is_not_a_table_is_named(write_config, builtin_registry, section):
    message = error_of(write_config, f"{BASE}\n[{section}]\nbroken = 1\n", builtin_registry)
    assert f"[{section}.broken] must be a table" in message


def test_unknown_key_suggests_nearest(write_config, builtin_registry):
    message = error_of(
        write_config,
        BASE.replace('source = "demo"\n\n[kpis', 'source = "demo"\nagregation = "sum"\n\n[kpis'),
        builtin_registry,
    )
    assert "agregation" in message and "did you mean 'aggregation'" in message


def test_unknown_top_level_table(write_config, builtin_registry):
    message = error_of(write_config, BASE + "\n[objective.x]\ntitle = 'x'\n", builtin_registry)
    assert "unknown table [objective] (did you mean [objectives]?)" in message


def test_kpi_may_name_its_objective(write_config, builtin_registry):
    text = BASE + '\n[kpis.more]\nformula = "sum"\nmetrics = ["views"]\nobjective = "grow"\n'
    assert load(write_config, text, builtin_registry).objectives["grow"].kpis == ("leads", "conversion", "more")
    message = error_of(write_config, text.replace('objective = "grow"', 'objective = "gro"'), builtin_registry)
    assert "[kpis.more] objective: unknown objective 'gro' (did you mean 'grow'?)" in message


def test_kpi_cycles_are_rejected(write_config, builtin_registry):
    text = BASE + (
        '\n[kpis.a]\nformula = "expression"\nexpression = "b + 1"\n[kpis.b]\nformula = '
        '"expression"\nexpression = "a * 2"\n'
    )
    assert "cycle: a -> b -> a" in error_of(write_config, text, builtin_registry)


def test_invalid_toml_names_line(write_config, builtin_registry):
    message = error_of(write_config, BASE + "\n[kpis.broken\n", builtin_registry)
    assert "invalid TOML" in message and "line" in message


def test_condition_on_a_source_that_cannot_evaluate_it(write_config, builtin_registry):
    text = BASE.replace('trigger = "Viewed the thank-you page"', 'trigger = "x"\ncondition = "path == \'/a\'"')
    assert "does not evaluate trigger conditions" in error_of(write_config, text, builtin_registry)


def test_expression_formula_rejects_code(write_config, builtin_registry):
    text = BASE + "\n[kpis.evil]\nformula = \"expression\"\nexpression = \"__import__('os').system('true')\"\n"
    message = error_of(write_config, text, builtin_registry)
    assert "[kpis.evil]" in message and "expression" in message


def test_timezone_and_calendar_settings(write_config, builtin_registry):
    config = load(
        write_config,
        '[kpitui]\ntimezone = "Europe/London"\nweek_start = "sunday"\nfiscal_year_start = "april"\n' + BASE,
        builtin_registry,
    )
    assert (config.settings.timezone, config.settings.week_start, config.settings.fiscal_year_start) == (
        "Europe/London",
        6,
        4,
    )
    message = error_of(write_config, '[kpitui]\nweek_start = "sundy"\n' + BASE, builtin_registry)
    assert "did you mean 'sunday'" in message


def test_relative_storage_path_is_next_to_config(tmp_path, builtin_registry):
    path = tmp_path / "kpitui.toml"
    text = '[storage]\npath = "data/h.sqlite3"\n' + BASE
    config = parse_config(text, path, registry=builtin_registry)
    assert config.storage.path == tmp_path / "data" / "h.sqlite3"
