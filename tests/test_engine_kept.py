"""A large config's compiled program kept between starts (kpitui.engine.kept): the same program and values as
a compile, used only for what it was compiled from."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import kpitui
from benchmarks import data
from kpitui.api import FormulaType, Input
from kpitui.config import load_config
from kpitui.engine import Compiler, Engine, Program, kept
from kpitui.plugins import load_registry

NOW = data.NOW - dt.timedelta(hours=5)
METRICS = 40
KPIS = 66  # six of each of the benchmark's eleven formula types, past kept.MIN_KPIS


@pytest.fixture(scope="module")
def history():
    return data.history(30_000, metrics=METRICS, days=120)


@pytest.fixture
def write(tmp_path):
    path = tmp_path / "kpitui.toml"

    def write(text: str | None = None, registry=None):
        path.write_text(
            text if text is not None else data.config_text(tmp_path / "h.sqlite3", metrics=METRICS, kpis=KPIS)
        )
        return load_config(path, registry=registry or load_registry(load_installed=False))

    return write


@pytest.fixture
def compiles(monkeypatch):
    """How many times a config was compiled (not read back from a kept program)."""
    calls = []
    compile_ = Compiler.compile

    def counted(self):
        calls.append(1)
        return compile_(self)

    monkeypatch.setattr(Compiler, "compile", counted)
    return calls


def same_program(a: Program, b: Program) -> None:
    assert list(a.kpis) == list(b.kpis)
    for kid, one in a.kpis.items():
        other = b.kpis[kid]
        fields = ("exprs", "names", "parts", "reads", "steps", "metrics", "projectable")
        assert [getattr(one, f) for f in fields] == [getattr(other, f) for f in fields], kid
        assert one.shape is not None and other.shape is not None
        assert one.shape.key == other.shape.key, kid
        assert [e.meta.serialize() for e in other.shape.exprs] == list(one.shape.key[1]), kid
    assert a.readers == b.readers


def test_a_kept_program_is_the_compiled_one(write, history, compiles):
    config = write()
    first = Engine(config, keep_program=True)
    fresh = first.program
    assert len(compiles) == 1
    assert list((kept._file(config.path)).parent.iterdir()) == [kept._file(config.path)]
    again = Engine(write(), keep_program=True)  # the next start: the config loaded again
    same_program(fresh, again.program)
    assert len(compiles) == 1  # read back, not compiled
    # a real difference in the expressions fails the comparison (the check can fail)
    with pytest.raises(AssertionError):
        same_program(fresh, Engine(write(data.config_text(Path("h"), metrics=METRICS, kpis=KPIS, seed=8))).program)
    # and the values: exactly those of an engine that compiled
    assert again.evaluate(history, NOW) == Engine(write()).evaluate(history, NOW)
    assert again.evaluate(history, NOW + dt.timedelta(days=1)) == Engine(write()).evaluate(
        history, NOW + dt.timedelta(days=1)
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda text: text.replace("* 100", "* 10", 1),  # an expression's constant
        lambda text: text.replace('aggregation = "sum"', 'aggregation = "max"', 1),  # a metric's rule
        lambda text: text.replace("percent = true", "percent = false", 1),  # a formula's option
        lambda text: text.replace('formula = "mean"', 'formula = "sum"', 1),  # a formula type
    ],
)
def test_a_changed_config_is_compiled_again(write, history, compiles, change):
    text = data.config_text(Path("h.sqlite3"), metrics=METRICS, kpis=KPIS)
    Engine(write(text), keep_program=True).program
    changed = change(text)
    assert changed != text
    engine = Engine(write(changed), keep_program=True)
    program = engine.program
    assert len(compiles) == 2
    same_program(Engine(write(changed)).program, program)
    assert engine.evaluate(history, NOW) == Engine(write(changed)).evaluate(history, NOW)
    before = len(compiles)
    Engine(write(changed), keep_program=True).program  # kept now: the changed one's
    assert len(compiles) == before


@pytest.mark.parametrize("what", ["kpitui", "polars", "sources"])
def test_another_kpitui_or_polars_compiles_again(write, compiles, monkeypatch, what):
    Engine(write(), keep_program=True).program
    if what == "kpitui":
        monkeypatch.setattr(kept, "__version__", kpitui.__version__ + ".1")
    elif what == "polars":
        monkeypatch.setattr(kept.pl, "__version__", "0.0.1")
    else:  # an edited checkout: a source file's size or time differs
        sources = kept._sources()
        monkeypatch.setattr(kept, "_sources", lambda: ((sources[0][0], sources[0][1] + 1, sources[0][2]), *sources[1:]))
    Engine(write(), keep_program=True).program
    assert len(compiles) == 2


@pytest.mark.parametrize("damage", [b"", b"{", b"[]", b'{"format": 1}', None])
def test_a_damaged_kept_program_is_compiled_again(write, history, compiles, damage):
    config = write()
    Engine(config, keep_program=True).program
    where = kept._file(config.path)
    if damage is None:  # right format and digest, a shape's bytes cut short
        text = where.read_text()
        at = text.index('"shapes": [[') + len('"shapes": [[')
        at = text.index('"', at) + 1
        where.write_text(text[:at] + text[at + 8 :])
    else:
        where.write_bytes(damage)
    engine = Engine(write(), keep_program=True)
    assert engine.evaluate(history, NOW) == Engine(write()).evaluate(history, NOW)
    assert len(compiles) == 3


class PlusOne(FormulaType):
    type_name = "plus_one"

    def inputs(self):
        return [Input("a", "m0001")]

    def expression(self, inputs):
        return inputs["a"] + 1


class _PlusOnePlugin:
    __name__ = "plus_one_plugin"

    @kpitui.hookimpl
    def register_formula_types(self):
        return [PlusOne]


def test_a_plugin_formula_or_a_small_config_is_not_kept(write, tmp_path):
    text = data.config_text(Path("h.sqlite3"), metrics=METRICS, kpis=KPIS)
    plugin = text + '\n[kpis.plus]\nformula = "plus_one"\n'
    config = write(plugin, registry=load_registry(load_installed=False, extra=[_PlusOnePlugin()]))
    program = Engine(config, keep_program=True).program
    assert "plus" in program.kpis and program.kpis["plus"].shape is None
    assert not kept._file(config.path).exists()
    small = data.config_text(Path("h.sqlite3"), metrics=METRICS, kpis=kept.MIN_KPIS - 1)
    config = write(small)
    Engine(config, keep_program=True).program
    assert not kept._file(config.path).exists()


def test_an_unwritable_data_folder_only_costs_the_compile(write, history, compiles, monkeypatch, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("KPITUI_DATA_DIR", str(blocked / "data"))  # a folder under a file: cannot be made
    engine = Engine(write(), keep_program=True)
    assert engine.evaluate(history, NOW) == Engine(write()).evaluate(history, NOW)
    Engine(write(), keep_program=True).program
    assert len(compiles) == 3
