"""A plugin that hangs or prints never freezes kpitui or dirties its output (issue 16).

Real plugin files in a ``[plugins] dirs`` folder, run through the real
``kpitui`` script in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

GOOD = """
import kpitui
from kpitui.api import FormulaType, Input

print("hello from good at import")

class Twice(FormulaType):
    type_name = "twice"
    description = "Twice a metric."

    def inputs(self):
        return [Input("m", "a")]

    def expression(self, inputs):
        return inputs["m"] * 2

@kpitui.hookimpl
def register_formula_types():
    print("hello from good's hook")
    return [Twice]
"""

HANGS_AT_IMPORT = "import time\nprint('about to hang')\ntime.sleep(600)\n"
HANGS_IN_HOOK = """
import time
import kpitui

@kpitui.hookimpl
def register_metric_sources():
    while True:
        time.sleep(1)
"""


def kpitui(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    script = str(Path(sys.executable).with_name("kpitui"))
    return subprocess.run(
        [script, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def plugin_config(tmp_path: Path, plugins: dict[str, str], tables: str) -> Path:
    """A config in ``tmp_path`` whose history is there too and whose plugins folder holds ``plugins`` (file name ->
    source), followed by ``tables``."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    for name, source in plugins.items():
        (folder / name).write_text(source, encoding="utf-8")
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[plugins]\ndirs = ["{folder.as_posix()}"]\n'
        + tables,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config(tmp_path) -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "good.py").write_text(GOOD)
    (plugins / "stuck_import.py").write_text(HANGS_AT_IMPORT)
    (plugins / "stuck_hook.py").write_text(textwrap.dedent(HANGS_IN_HOOK))
    path = tmp_path / "kpitui.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [storage]
            path = "{tmp_path / "h.sqlite3"}"
            [plugins]
            dirs = ["{plugins}"]
            [metrics.a]
            name = "A"
            [kpis.doubled]
            name = "Doubled"
            formula = "twice"
            """
        )
    )
    return path


@pytest.mark.slow
def test_a_hanging_plugin_is_reported_by_name_and_left_out(config):
    env = {"KPITUI_PLUGIN_TIMEOUT": "1"}
    started = time.monotonic()
    listing = kpitui("plugins", "--config", str(config), env=env)
    elapsed = time.monotonic() - started
    assert listing.returncode == 0, listing.stderr
    assert elapsed < 30, elapsed
    assert "stuck_import  (plugins dir) — ERROR" in listing.stdout
    assert "stuck_hook  (plugins dir) — ERROR" in listing.stdout
    assert "did not finish within 1s" in listing.stdout
    assert "good  (plugins dir) — ok" in listing.stdout
    report = kpitui("report", "--no-collect", "--format", "json", "--config", str(config), env=env)
    assert report.returncode == 0, report.stderr
    assert "doubled" in {k["id"] for k in json.loads(report.stdout)["kpis"]}


@pytest.mark.slow
def test_a_plugins_print_never_reaches_stdout(config):
    env = {"KPITUI_PLUGIN_TIMEOUT": "1"}
    report = kpitui("report", "--no-collect", "--format", "json", "--config", str(config), env=env)
    assert report.returncode == 0, report.stderr
    json.loads(report.stdout)  # nothing but the JSON
    assert "hello from good at import" in report.stderr and "hello from good's hook" in report.stderr
    listing = kpitui("plugins", "--format", "json", "--config", str(config), env=env)
    json.loads(listing.stdout)
    assert "about to hang" not in listing.stdout


def test_an_unknown_type_names_the_plugin_that_failed_to_load(tmp_path):
    path = plugin_config(
        tmp_path,
        {
            "x.py": "import kpitui\nraise RuntimeError('the x SDK needs X_TOKEN')\n",
            "other.py": "raise ImportError('unrelated')\n",
        },
        '[sources.crm]\ntype = "x_src"\n[metrics.deals]\nsource = "crm"\n',
    )
    check = kpitui("check", "--config", str(path))
    assert check.returncode == 2
    line = check.stderr.strip().splitlines()[-1]
    assert "unknown source type 'x_src'" in line
    assert "plugin 'x' failed to load: RuntimeError: the x SDK needs X_TOKEN" in line
    assert line.index("plugin 'x'") < line.index("plugin 'other'")  # the likeliest first


NOISY_FETCH = """
import kpitui
from kpitui.api import FetchResult, FormulaType, Input, MetricSource, readings_frame


class Noisy(MetricSource):
    type_name = "noisy"

    def fetch(self, cursor, now):
        print("debug: fetching")
        return FetchResult(readings_frame([(m.id, now, 5) for m in self.metrics]))


class Loud(FormulaType):
    type_name = "loud"

    def inputs(self):
        return [Input("m", "visits")]

    def expression(self, inputs):
        print("debug: computing")
        return inputs["m"]


@kpitui.hookimpl
def register_metric_sources():
    return [Noisy]


@kpitui.hookimpl
def register_formula_types():
    return [Loud]
"""


def test_a_plugins_print_in_fetch_or_a_formula_stays_out_of_report_json(tmp_path):
    path = plugin_config(
        tmp_path,
        {"noisy.py": NOISY_FETCH},
        '[sources.n]\ntype = "noisy"\n[metrics.visits]\nsource = "n"\n[kpis.loud_visits]\nformula = "loud"\n',
    )
    report = kpitui("report", "--format", "json", "--config", str(path))  # collects first: fetch runs here
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert next(k for k in data["kpis"] if k["id"] == "loud_visits")["value"] == 5
    assert "debug: fetching" in report.stderr and "debug: computing" in report.stderr
    series = kpitui("series", "loud_visits", "--points", "2", "--format", "json", "--config", str(path))
    assert series.returncode == 0, series.stderr
    json.loads(series.stdout)


BAD_INPUTS = """
import time

import kpitui
from kpitui.api import FormulaType, Input


def make(kind):
    class Bad(FormulaType):
        type_name = kind

        def inputs(self):
            if kind == "inputs_none":
                return None
            if kind == "inputs_strings":
                return ["a", 5]
            if kind == "inputs_offset_text":
                return [Input("m", "a", None, "1")]
            if kind == "inputs_hang":
                time.sleep(600)
            raise LookupError("no such table in the warehouse")

        def expression(self, inputs):
            return inputs["m"]

    return Bad


@kpitui.hookimpl
def register_formula_types():
    return [make(kind) for kind in ("inputs_none", "inputs_strings", "inputs_offset_text", "inputs_raise",
                                    "inputs_hang")]
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, said",
    [
        ("inputs_none", "listed its inputs wrongly: expected a list of kpitui.api.Input, got NoneType"),
        ("inputs_strings", "listed its inputs wrongly: item 0 is str 'a', not a kpitui.api.Input"),
        ("inputs_offset_text", "listed its inputs wrongly: item 0 is Input"),
        ("inputs_raise", "failed to list its inputs: LookupError: no such table in the warehouse"),
        ("inputs_hang", "failed to list its inputs: PluginTimeout: did not finish within 2s"),
    ],
)
def test_a_formula_whose_inputs_are_not_inputs_is_one_line_naming_the_plugin(tmp_path, kind, said):
    """Before the fix ``inputs()`` returning ``None`` or a list of strings was a traceback (``TypeError: 'NoneType'
    object is not iterable``, ``AttributeError: 'str' object has no attribute 'ref'``) from every command, one
    that raised was a line naming neither the plugin nor the exception's type, and one that hung held every
    command for good."""
    path = plugin_config(
        tmp_path,
        {"bad_inputs.py": BAD_INPUTS},
        f'[metrics.a]\nsource = "manual"\n[kpis.odd]\nformula = "{kind}"\nwindow = "trailing_7d"\n',
    )
    for command in ("check", "report"):
        result = kpitui(command, "--config", str(path), env={"KPITUI_PLUGIN_TIMEOUT": "2"})
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "[kpis.odd]" in result.stderr and f"formula (plugin bad_inputs) {said}" in result.stderr


SLOW_FORMULA = """
import time

import kpitui
from kpitui.api import FormulaType, Input


class Slow(FormulaType):
    type_name = "slow"

    def inputs(self):
        return [Input("m", "a")]

    def expression(self, inputs):
        time.sleep(600)
        return inputs["m"]


@kpitui.hookimpl
def register_formula_types():
    return [Slow]
"""


@pytest.mark.slow
def test_a_formula_whose_expression_hangs_is_its_kpis_error_not_a_report_that_never_comes(tmp_path):
    """Before the fix a plugin formula whose ``expression()`` hung held the compile of every KPI: ``kpitui report``
    (and the dashboard's first values) never came. Plugin code at compile time now has the plugins' time limit."""
    path = plugin_config(
        tmp_path,
        {"slow_formula.py": SLOW_FORMULA},
        '[metrics.a]\nsource = "manual"\n'
        '[kpis.good]\nformula = "sum"\nmetrics = ["a"]\nwindow = "trailing_7d"\n'
        '[kpis.slow]\nformula = "slow"\nwindow = "trailing_7d"\n',
    )
    env = {"KPITUI_PLUGIN_TIMEOUT": "2"}
    assert kpitui("record", "a", "4", "--config", str(path), env=env).returncode == 0
    started = time.monotonic()
    report = kpitui("report", "--no-collect", "--format", "json", "--config", str(path), env=env, timeout=120)
    assert time.monotonic() - started < 60
    assert report.returncode == 0, report.stderr
    kpis = {k["id"]: k for k in json.loads(report.stdout)["kpis"]}
    assert kpis["good"]["value"] == 4.0
    assert kpis["slow"]["value"] is None
    assert "plugin slow_formula" in json.dumps(kpis["slow"]) and "did not finish within 2s" in json.dumps(kpis["slow"])


SLOW_SOURCE = """
import time

import kpitui
from kpitui.api import FetchResult, MetricSource, readings_frame


class SlowStart(MetricSource):
    type_name = "slow_start"

    def __init__(self, spec, metrics, context):
        super().__init__(spec, metrics, context)
        time.sleep(600)

    def fetch(self, cursor, now):
        return FetchResult(readings_frame([]))


@kpitui.hookimpl
def register_metric_sources():
    return [SlowStart]
"""


@pytest.mark.slow
def test_a_source_whose_constructor_hangs_is_its_error_and_the_others_are_collected(tmp_path):
    """Before the fix a source plugin whose constructor hung held the collector's start: ``kpitui collect`` (and
    the dashboard's polling) never began, for every source."""
    path = plugin_config(
        tmp_path,
        {"slow_source.py": SLOW_SOURCE},
        '[sources.slow]\ntype = "slow_start"\n[metrics.s]\nsource = "slow"\n'
        '[sources.demo]\ntype = "demo"\nhistory_days = 2\n[metrics.d]\nsource = "demo"\npattern = "count"\nbase = 5\n',
    )
    started = time.monotonic()
    result = kpitui("collect", "--once", "--config", str(path), env={"KPITUI_PLUGIN_TIMEOUT": "2"}, timeout=120)
    assert time.monotonic() - started < 60
    assert result.returncode == 1, result.stdout + result.stderr  # a source failed: exit 1, as for any error
    assert "Traceback" not in result.stderr
    assert "slow: error: failed to start (plugin slow_source): PluginTimeout: did not finish within 2s" in (
        result.stderr
    ), result.stderr
    assert re.search(r"demo: [1-9]\d* readings", result.stdout + result.stderr), result.stdout + result.stderr


SLOW_NOTIFIER = """
import time

import kpitui
from kpitui.api import Notifier


class SlowInit(Notifier):
    type_name = "slow_init"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        time.sleep(600)

    def send(self, notification):
        pass


@kpitui.hookimpl
def register_notifiers():
    return [SlowInit]
"""


@pytest.mark.slow
def test_a_notifier_whose_constructor_hangs_is_a_failed_delivery_not_a_command_that_never_ends(tmp_path):
    """Before the fix ``kpitui alerts test pager`` never ended when the notifier plugin's constructor hung (and a
    collector's lane for it stopped for good, never retrying)."""
    path = plugin_config(
        tmp_path,
        {"slow_notifier.py": SLOW_NOTIFIER},
        '[notifiers.pager]\ntype = "slow_init"\n',
    )
    started = time.monotonic()
    result = kpitui("alerts", "test", "pager", "--config", str(path), env={"KPITUI_PLUGIN_TIMEOUT": "2"}, timeout=120)
    assert time.monotonic() - started < 60
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert "pager: FAILED: (plugin slow_notifier) PluginTimeout: did not finish within 2s" in (
        result.stdout + result.stderr
    )


SLOW_CHECKS = """
import time

import kpitui
from kpitui.api import FetchResult, MetricSource, Notifier, readings_frame


class SlowCheckSource(MetricSource):
    type_name = "slow_check_source"

    @classmethod
    def check(cls, options, metrics, context):
        time.sleep(600)

    def fetch(self, cursor, now):
        return FetchResult(readings_frame([]))


class SlowCheckNotifier(Notifier):
    type_name = "slow_check_notifier"

    @classmethod
    def check(cls, options, context):
        time.sleep(600)

    def send(self, notification):
        pass


@kpitui.hookimpl
def register_metric_sources():
    return [SlowCheckSource]


@kpitui.hookimpl
def register_notifiers():
    return [SlowCheckNotifier]
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "table, said",
    [
        (
            '[sources.s]\ntype = "slow_check_source"\n[metrics.m]\nsource = "s"\n',
            "[sources.s] the 'slow_check_source' source (plugin slow_checks) failed to check its options: "
            "PluginTimeout: did not finish within 2s",
        ),
        (
            '[notifiers.n]\ntype = "slow_check_notifier"\n',
            "the 'slow_check_notifier' notifier (plugin slow_checks) failed to check its options: "
            "PluginTimeout: did not finish within 2s",
        ),
    ],
)
def test_a_plugin_check_that_hangs_is_one_line_naming_the_plugin(tmp_path, table, said):
    """Before the fix a source's or notifier's ``check()`` that hung held the config's load, so every command."""
    path = plugin_config(
        tmp_path,
        {"slow_checks.py": SLOW_CHECKS},
        table,
    )
    started = time.monotonic()
    result = kpitui("check", "--config", str(path), env={"KPITUI_PLUGIN_TIMEOUT": "2"}, timeout=120)
    assert time.monotonic() - started < 60
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and said in result.stderr, result.stderr
