"""Plugin isolation: a broken plugin is reported on itself, and everything else keeps working.

Each case loads real plugins (files in a plugins folder, objects, an entry
point) through the real host, and checks both the registry and what
``kpitui plugins`` (table and JSON) shows.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kpitui
from kpitui.api import FormulaType, Input, MetricSource
from kpitui.plugins import load_registry
from kpitui.testing import evaluate

REPO = Path(__file__).resolve().parents[1]
NPS = REPO / "plugins" / "kpitui-nps"

GOOD = """
import kpitui
from kpitui.api import FormulaType, Input

class Twice(FormulaType):
    type_name = "twice"
    description = "Twice a metric."

    def inputs(self):
        return [Input("m", "a")]

    def expression(self, inputs):
        return inputs["m"] * 2

@kpitui.hookimpl
def register_formula_types():
    return [Twice]
"""

BROKEN = {
    "syntax_error": "def register_formula_types(:\n",
    "raises_on_import": "raise RuntimeError('cannot reach the licence server')\n",
    "misspelled": """
        import kpitui

        @kpitui.hookimpl
        def register_metric_source():
            return []
    """,
    "hook_raises": """
        import kpitui

        @kpitui.hookimpl
        def register_metric_sources():
            raise ValueError("no API key configured")
    """,
    "duplicate": """
        import kpitui
        from kpitui.api import FormulaType

        class MySum(FormulaType):
            type_name = "sum"

        @kpitui.hookimpl
        def register_formula_types():
            return [MySum]
    """,
    "garbage_items": """
        import kpitui
        from kpitui.api import MetricSource

        class Nameless(MetricSource):
            type_name = "has space"

        @kpitui.hookimpl
        def register_metric_sources():
            return [42, dict, Nameless]
    """,
    # not a list: a string was taken a character at a time (seven warnings, 'g', 'a', 'r', ...), an endless iterator
    # was listed until the plugin time limit, and its thread went on filling memory after it
    "returns_a_string": """
        import kpitui

        @kpitui.hookimpl
        def register_metric_sources():
            return "garbage"
    """,
    "returns_endless": """
        import itertools

        import kpitui

        @kpitui.hookimpl
        def register_metric_sources():
            return itertools.repeat(42)
    """,
}

EXPECTED = {
    "syntax_error": "failed to load: SyntaxError",
    "raises_on_import": "failed to load: RuntimeError: cannot reach the licence server (raises_on_import.py:1)",
    "misspelled": "unknown hook 'register_metric_source' (did you mean 'register_metric_sources'?)",
    "hook_raises": "register_metric_sources raised ValueError: no API key configured (hook_raises.py:",
    "duplicate": "formula type 'sum' is already registered by builtin:formulas; ignored",
    "garbage_items": "returned 42: not a subclass of kpitui.api.MetricSource",
    "returns_a_string": "register_metric_sources returned 'garbage' (a str), not a list of classes",
    "returns_endless": "register_metric_sources returned more than 1,000 items (repeat(42)), not a list of classes",
}

CONFIG = """
[plugins]
dirs = ["plugdir"]

[metrics.a]

[kpis.leads]
formula = "sum"
metrics = ["a"]

[kpis.doubled]
formula = "twice"
"""


@pytest.fixture
def plugdir(tmp_path):
    folder = tmp_path / "plugdir"
    folder.mkdir()
    (folder / "good.py").write_text(GOOD, encoding="utf-8")
    for name, body in BROKEN.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    yield folder
    for name in [*BROKEN, "good"]:
        sys.modules.pop(f"kpitui_plugin_{name}", None)


def test_each_broken_plugin_is_reported_on_itself(plugdir):
    registry = load_registry([plugdir])
    infos = {p.name: p for p in registry.plugins}
    for name, message in EXPECTED.items():
        assert infos[name].origin == "plugins dir"
        assert any(message in e for e in infos[name].errors), (name, infos[name].errors)
        assert name != "returns_a_string" or len(infos[name].errors) == 1, infos[name].errors
    assert infos["good"].ok and infos["good"].formulas == ["twice"]
    assert infos["builtin:formulas"].ok and infos["builtin:analytics"].ok
    assert registry.formulas["sum"].__module__ == "kpitui.builtin.formulas"  # the duplicate did not win


def test_garbage_items_are_each_reported(plugdir):
    registry = load_registry([plugdir])
    errors = next(p for p in registry.plugins if p.name == "garbage_items").errors
    assert len(errors) == 3
    assert "not a subclass of kpitui.api.MetricSource" in errors[1]  # a class, but not a source
    assert "type_name must be a non-empty identifier" in errors[2]
    assert "has space" not in registry.sources


def test_kpis_of_working_plugins_evaluate_beside_broken_ones(plugdir, kpitui_config):
    config = kpitui_config(CONFIG, plugins_dirs=[plugdir])
    snap = evaluate(config, [("a", "2026-03-02T00:00", 5)], now="2026-03-15T12:00")
    assert snap.kpis["doubled"].value == 10 and snap.kpis["leads"].value == 5


def test_kpitui_plugins_shows_every_error(plugdir, kpitui_cli, kpitui_config):
    config = kpitui_config(CONFIG, plugins_dirs=[plugdir])
    table = kpitui_cli("plugins", "--config", config.path)
    assert table.exit_code == 0, table.stderr
    assert "good  (plugins dir) — ok" in table.stdout and "formula twice" in table.stdout
    for name, message in EXPECTED.items():
        assert f"{name}  (plugins dir) — ERROR" in table.stdout
        assert message in table.stdout
    data = {p["name"]: p for p in kpitui_cli("plugins", "--config", config.path, "--format", "json").json()["plugins"]}
    for name, message in EXPECTED.items():
        assert any(message in e for e in data[name]["errors"]), name
    assert data["good"]["errors"] == [] and data["good"]["formula_types"][0]["type"] == "twice"
    check = kpitui_cli("check", "--config", config.path)
    assert check.exit_code == 0 and "warning: plugin raises_on_import: failed to load" in check.stderr


@pytest.mark.parametrize(
    "result, message",
    [
        ("42", "TypeError: 'int' object is not iterable"),
        ("(1 / 0 for _ in [1])", "ZeroDivisionError: division by zero"),
    ],
)
def test_a_hook_returning_a_non_list_is_reported(result, message):
    namespace: dict = {}
    exec(
        textwrap.dedent(
            f"""
            import kpitui

            class Plugin:
                __name__ = "not_a_list"

                @kpitui.hookimpl
                def register_formula_types(self):
                    return {result}
            """
        ),
        namespace,
    )
    registry = load_registry(load_installed=False, extra=[namespace["Plugin"]()])
    info = next(p for p in registry.plugins if p.name == "not_a_list")
    assert len(info.errors) == 1 and info.errors[0].startswith(f"register_formula_types raised {message}")
    assert "sum" in registry.formulas and "growth" in registry.formulas


class _Source(MetricSource):
    type_name = "object_source"


class _Formula(FormulaType):
    type_name = "object_formula"

    def inputs(self):
        return [Input("a", "a")]

    def expression(self, inputs):
        return inputs["a"]


class _ObjectPlugin:
    """A plugin handed in as an object (how kpitui.testing registers plugins under test)."""

    __name__ = "object_plugin"

    @kpitui.hookimpl
    def register_metric_sources(self):
        return [_Source]

    @kpitui.hookimpl
    def register_formula_types(self):
        return [_Formula]


def test_both_hooks_through_an_object_plugin():
    registry = load_registry(load_installed=False, extra=[_ObjectPlugin()])
    info = next(p for p in registry.plugins if p.name == "object_plugin")
    assert (info.origin, info.sources, info.formulas, info.ok) == (
        "registered",
        ["object_source"],
        ["object_formula"],
        True,
    )
    assert registry.owner("source", "object_source") == "object_plugin"


class _TakesSum:
    __name__ = "takes_sum"

    @kpitui.hookimpl
    def register_formula_types(self):
        return [type("MySum", (_Formula,), {"type_name": "sum"}), type("Twice2", (_Formula,), {"type_name": "twice"})]


def test_a_duplicate_type_name_is_reported_on_the_later_plugin(plugdir):
    registry = load_registry([plugdir], extra=[_TakesSum()])
    infos = {p.name: p for p in registry.plugins}
    assert registry.formulas["sum"].__module__ == "kpitui.builtin.formulas"
    assert infos["builtin:formulas"].ok and infos["good"].ok
    assert infos["takes_sum"].errors == [
        "formula type 'sum' is already registered by builtin:formulas; ignored",
        "formula type 'twice' is already registered by good; ignored",
    ]


# -- installed plugins: an entry point, with its version ----------------------------------------


@pytest.fixture
def installed_nps(tmp_path, monkeypatch):
    """kpitui-nps as installed: its package importable and a dist-info with its entry point."""
    site = tmp_path / "site"
    dist = site / "kpitui_nps-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kpitui-nps\nVersion: 0.1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[kpitui]\nnps = kpitui_nps\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(NPS))
    monkeypatch.syspath_prepend(str(site))
    return site


def test_an_entry_point_plugin_is_listed_with_its_version(installed_nps, kpitui_cli, tmp_path):
    registry = load_registry()
    nps = next(p for p in registry.plugins if p.name == "nps")
    assert (nps.origin, nps.version, nps.sources, nps.formulas, nps.ok) == (
        "entry point",
        "0.1.0",
        ["survey_csv"],
        ["nps"],
        True,
    )
    listing = kpitui_cli("plugins")
    assert "kpitui-nps 0.1.0 (entry point nps) — ok" in listing.stdout
    assert "source  survey_csv" in listing.stdout and "formula nps" in listing.stdout
    example = tmp_path / "example"
    shutil.copytree(NPS / "example", example, ignore=shutil.ignore_patterns("*.sqlite3*"))
    report = kpitui_cli("report", "--config", example / "kpitui.toml")  # collects the survey first
    assert report.exit_code == 0, report.stderr
    assert "Net Promoter Score" in report.stdout and "error" not in report.stderr


def test_kpitui_load_plugins_chooses_installed_plugins(installed_nps, plugdir, monkeypatch):
    monkeypatch.setenv("KPITUI_LOAD_PLUGINS", "nps, good")
    names = {p.name for p in load_registry([plugdir]).plugins}
    assert {"nps", "good"} <= names and not names & set(BROKEN)
    monkeypatch.setenv("KPITUI_LOAD_PLUGINS", "")
    registry = load_registry([plugdir])
    assert {p.origin for p in registry.plugins} == {"builtin"} and "sum" in registry.formulas


def test_the_builtin_type_list_is_what_their_hooks_register():
    """kpitui.builtin.TYPES (what a config and `kpitui plugins` know before a built-in is imported) against
    what each built-in module's hooks return, called as a plugin's are."""
    import importlib

    import kpitui.builtin as builtin
    from kpitui.plugins import builtin_name

    hooks = {
        "register_metric_sources": "source",
        "register_formula_types": "formula",
        "register_notifiers": "notifier",
        "register_annotation_sources": "annotation source",
    }
    assert list(builtin.TYPES) == list(builtin.MODULES)
    for module_name in builtin.MODULES:
        module = importlib.import_module(module_name)
        registered = {
            kind: tuple(cls.type_name for cls in getattr(module, hook)())
            for hook, kind in hooks.items()
            if hasattr(module, hook)
        }
        assert registered == builtin.TYPES[module_name], builtin_name(module_name)


def test_a_builtin_is_imported_when_one_of_its_types_is_first_asked_for():
    """Loading the registry imports no built-in; asking for a type imports its module (through the hooks), and
    listing a kind, or `kpitui plugins` (load_all), imports the rest, each plugin with its types."""
    code = (
        "import sys\n"
        "from kpitui.plugins import load_registry\n"
        "r = load_registry(load_installed=False)\n"
        "loaded = lambda: sorted(m.rsplit('.', 1)[-1] for m in sys.modules if m.count('.') == 2 and "
        "m.startswith('kpitui.builtin.') and not m.rsplit('.', 1)[-1].startswith('_'))\n"
        "print(loaded())\n"
        "print('sql' in r.sources, r.owner('notifier', 'email'), loaded())\n"
        "print(r.sources['sql'].type_name, r.owner('source', 'sql'), [p.sources for p in r.plugins if p.name == "
        "'builtin:sql'], loaded())\n"
        "print(r.formulas.get('growth').type_name, 'nope' in r.formulas, r.sources.get('nope'))\n"
        "r.load_all()\n"
        "print(len(loaded()), sorted(r.notifiers), r.errors)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[]",
        "True builtin:notifiers ['sql']",
        "sql builtin:sql [['sql']] ['sql']",
        "growth False None",
        "13 ['apprise', 'command', 'email', 'webhook'] []",
    ]
