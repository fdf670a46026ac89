"""The dataclasses' generated methods kept compiled between starts (kpitui.kept_code): the same methods as
without it, from the file when kept, compiled when not, and a bad file only costs the compile."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from dataclasses import InitVar, dataclass, field
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from typing import ClassVar

import pytest

from kpitui import kept_code

REPO = Path(__file__).resolve().parents[1]
METHODS = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__", "__lt__", "__ge__")


def make() -> list[type]:
    """Fresh classes using what dataclasses generates methods for (the same texts on every call)."""

    @dataclass(frozen=True)
    class Frozen:
        name: str
        size: int = 3
        tags: tuple[str, ...] = ()

    @dataclass(order=True)
    class Ordered:
        a: int
        b: list[int] = field(default_factory=list)
        hidden: int = field(default=0, repr=False, compare=False)
        later: int = field(init=False, default=7)
        shared: ClassVar[int] = 1

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Slotted:
        x: float
        y: float = 0.5

    @dataclass(unsafe_hash=True)
    class WithPost:
        raw: InitVar[str]
        value: int = 0

        def __post_init__(self, raw: str) -> None:
            self.value = len(raw)

    @dataclass(eq=False)
    class Plain:
        pass

    return [Frozen, Ordered, Slotted, WithPost, Plain]


def behaviour(classes: list[type]) -> list[object]:
    """What the generated methods do, in plain values."""
    Frozen, Ordered, Slotted, WithPost, Plain = classes
    out: list[object] = []
    f = Frozen("a", tags=("x",))
    out += [repr(f), f == Frozen("a", 3, ("x",)), f != Frozen("b"), hash(f) == hash(Frozen("a", 3, ("x",)))]
    with pytest.raises(dataclasses.FrozenInstanceError) as err:
        f.size = 4  # type: ignore[misc]
    out.append(str(err.value))
    with pytest.raises(dataclasses.FrozenInstanceError):
        del f.name  # type: ignore[misc]
    o = Ordered(2, [1])
    out += [repr(o), o.later, o < Ordered(3), o >= Ordered(2, [0]), o == Ordered(2, [1], hidden=9), Ordered.__hash__]
    s = Slotted(x=1.0)
    out += [repr(s), s == Slotted(x=1.0, y=0.5), hash(s) == hash(Slotted(x=1.0)), hasattr(s, "__dict__")]
    with pytest.raises(TypeError):
        Slotted(1.0)  # type: ignore[misc]  # keyword only
    w = WithPost("four")
    out += [repr(w), w.value, hash(w) == hash(WithPost("abcd"))]
    p = Plain()
    out += [p == p, p == Plain(), repr(p)]
    return out


def codes(classes: list[type]) -> list[object]:
    """The code of every generated method of ``classes``."""
    found = []
    for cls in classes:
        for name in METHODS:
            method = cls.__dict__.get(name)
            found.append((cls.__name__, name, getattr(method, "__code__", None)))
    return found


@pytest.fixture(autouse=True)
def _finished():
    yield
    kept_code.finish(save=False)
    assert "exec" not in vars(dataclasses)


def test_the_methods_are_those_dataclasses_make_compiled_then_from_the_file(tmp_path):
    plain = make()  # no hook: dataclasses' own exec
    kept_code.install(tmp_path)
    assert kept_code.installed() and vars(dataclasses)["exec"] is kept_code._exec
    cold = make()
    assert kept_code.counts() == (0, 25)  # nothing kept yet: every text compiled
    kept_code.finish()
    assert "exec" not in vars(dataclasses) and not kept_code.installed()
    where = kept_code.path(tmp_path)
    assert where is not None and where.read_bytes().startswith(MAGIC_NUMBER)
    assert oct(where.stat().st_mode & 0o777) == "0o600"

    kept_code.install(tmp_path)  # the next start
    warm = make()
    assert kept_code.counts() == (25, 0)  # every text from the file
    assert codes(cold) == codes(plain) == codes(warm)
    assert behaviour(cold) == behaviour(plain) == behaviour(warm)
    for mine, theirs in zip(warm, plain):
        init, own = mine.__dict__["__init__"], theirs.__dict__["__init__"]
        assert init.__code__.co_filename == "<string>" and init.__qualname__ == own.__qualname__


def test_the_file_is_written_only_when_this_start_compiled_a_text(tmp_path):
    kept_code.install(tmp_path)
    make()
    kept_code.finish()
    where = kept_code.path(tmp_path)
    assert where is not None
    before = where.stat()

    def same_file() -> bool:
        return where.stat().st_ino == before.st_ino and where.stat().st_mtime_ns == before.st_mtime_ns

    kept_code.install(tmp_path)  # the same texts: the file stays as it was
    make()
    kept_code.finish()
    assert same_file()
    kept_code.install(tmp_path)  # fewer texts (a start that made fewer classes): the others stay kept
    kept_code.finish()
    assert same_file()

    kept_code.install(tmp_path)  # one new class: written, the kept texts with the new ones

    @dataclass
    class Another:
        q: int

    make()  # the kept ones used again
    kept_code.finish()
    assert not same_file()
    kept_code.install(tmp_path)
    assert len(kept_code._kept) == 25 + 3
    make()
    assert kept_code.counts() == (25, 0)  # Another's texts unused by this start: not written, still kept
    kept_code.finish()
    kept_code.install(tmp_path)
    assert len(kept_code._kept) == 25 + 3
    kept_code.finish()

    kept_code.install(tmp_path)  # a start that uses few of the kept texts and compiles one: only what it used

    @dataclass
    class Third:
        r: int

    kept_code.finish()
    kept_code.install(tmp_path)
    assert len(kept_code._kept) == 3 and all("r" in text for text in kept_code._kept)


def test_a_start_that_does_not_save_leaves_the_file(tmp_path):
    kept_code.install(tmp_path)
    make()
    kept_code.finish(save=False)
    where = kept_code.path(tmp_path)
    assert where is not None and not where.exists()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not marshal at all",
        MAGIC_NUMBER,
        MAGIC_NUMBER + b"\x00\x01\x02",
        b"\x00\x00\r\n" + b"x" * 40,  # another Python's magic number
        MAGIC_NUMBER + __import__("marshal").dumps(["a list"]),
        MAGIC_NUMBER + __import__("marshal").dumps({"def f(): pass": "not code", 3: compile("1", "<s>", "eval")}),
    ],
)
def test_a_damaged_file_costs_only_the_compile(tmp_path, content):
    where = kept_code.path(tmp_path)
    assert where is not None
    where.parent.mkdir()
    where.write_bytes(content)
    plain = make()
    kept_code.install(tmp_path)
    classes = make()
    assert kept_code.counts() == (0, 25)
    assert codes(classes) == codes(plain) and behaviour(classes) == behaviour(plain)
    kept_code.finish()  # replaced by a good one
    kept_code.install(tmp_path)
    make()
    assert kept_code.counts() == (25, 0)


def test_a_text_is_only_ever_run_as_its_own_code(tmp_path):
    # a kept file whose entry for a text holds other code: the text is the key, never its code's source
    kept_code.install(tmp_path)
    make()
    kept_code.finish()
    where = kept_code.path(tmp_path)
    assert where is not None
    import marshal

    kept = marshal.loads(where.read_bytes()[len(MAGIC_NUMBER) :])
    assert all(compile(text, "<string>", "exec", dont_inherit=True) == code for text, code in kept.items())


def test_no_hook_over_another(tmp_path):
    dataclasses.exec = exec  # type: ignore[attr-defined]  # someone else's
    try:
        kept_code.install(tmp_path)
        assert not kept_code.installed() and vars(dataclasses)["exec"] is exec
    finally:
        del dataclasses.exec  # type: ignore[attr-defined]
    kept_code.install(tmp_path)
    kept_code.install(tmp_path / "other")  # once
    assert kept_code._where == kept_code.path(tmp_path)


def test_an_unwritable_data_folder_is_no_error(tmp_path):
    (tmp_path / kept_code.FOLDER).write_text("a file where the folder would be")
    kept_code.install(tmp_path)
    make()
    kept_code.finish()
    assert not kept_code.installed()


# `kpitui tui` through kpitui.cli, headless, twice on one data folder: what the first start compiled, the second reads
WATCH = """
import dataclasses, sys
import kpitui.ui.app as ui
from kpitui import kept_code

class Watched(ui.KpiApp):
    def on_mount(self):
        shown = self.lifecycle.first_values_shown
        def painted():
            print("values", kept_code.installed(), kept_code.counts())
            shown()
            self.set_interval(0.02, self._saved)
        self.lifecycle.first_values_shown = painted
    def _saved(self):
        if not kept_code.installed():
            self.exit(0)
    def run(self, **kwargs):
        return super().run(headless=True)

ui.KpiApp = Watched
from kpitui.cli import main
code = main(["tui", "--no-collect", "--config", "sample_config.toml"])
print("returned", "exec" in vars(dataclasses))
sys.exit(code)
"""


@pytest.mark.slow
def test_the_tui_keeps_what_its_start_compiled_for_the_next_start(tmp_path):
    env = {**os.environ, "KPITUI_LOAD_PLUGINS": "", "KPITUI_DATA_DIR": str(tmp_path)}
    seen = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-c", WATCH], capture_output=True, text=True, cwd=REPO, timeout=180, env=env
        )
        assert result.returncode == 0, result.stdout + result.stderr
        seen.append([line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith(("values", "ret"))])
    first, second = seen
    compiled = eval(first[0][1].split(" ", 1)[1])  # noqa: S307 - our own print of a tuple
    kept = eval(second[0][1].split(" ", 1)[1])  # noqa: S307
    assert first[0][1].startswith("True") and second[0][1].startswith("True")
    assert compiled[0] == 0 and compiled[1] > 100  # the first start compiled every text (Textual's, polars', ours)
    assert kept == (compiled[1], 0)  # the second read every one of them back
    assert first[1] == second[1] == ["returned", "False"]
