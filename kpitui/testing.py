"""Test helpers for kpitui plugin authors: a real config, store, engine, source and CLI.

Installed as a pytest plugin (entry point ``pytest11``), so these fixtures
are there in any test once kpitui is installed; nothing here is autouse and
nothing runs until a test asks for a fixture.

Fixtures
--------
``kpitui_config(text, *, plugins=(), installed=True, plugins_dirs=())``
    Write a TOML config (dedented) to ``tmp_path/kpitui.toml`` and load it
    with the real loader, the installed plugins and ``plugins_dirs``
    (``installed=False``: built-ins only) and ``plugins``: your plugin
    modules or objects, registered as if installed. The history goes to
    ``tmp_path``.
``kpitui_store``
    A real SQLite :class:`~kpitui.store.Store` at the path the configs
    above use, closed after the test.
``kpitui_engine(config)``
    An :class:`~kpitui.engine.Engine` for a config.
``kpitui_cli(*args)``
    Run the real ``kpitui`` command (``main(args)``) in ``tmp_path`` and
    return a :class:`CliResult` with ``exit_code``, ``stdout``, ``stderr``.
``kpitui_env``
    Keeps kpitui away from the real user's config, plugins and history (the
    other fixtures use it).

Functions (import them: ``from kpitui.testing import evaluate``)
-----------------------------------------------------------------
``readings(rows)``, ``evaluate(config, readings, now)``,
``fetch_source(config, source_id, now)``, ``collect(config, store, now)``.

Example::

    from kpitui.testing import evaluate, fetch_source
    import my_plugin

    def test_my_source(kpitui_config, tmp_path):
        config = kpitui_config('''
            [sources.shop]
            type = "my_platform"
            [metrics.orders]
            source = "shop"
        ''', plugins=[my_plugin])
        result = fetch_source(config, "shop", now="2026-03-15T12:00")
        assert result.readings.height == 3
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:  # the heavy modules load when a fixture is used, not when pytest starts
    import polars as pl

    from kpitui.api import FetchResult, SourceContext
    from kpitui.collector import PollResult
    from kpitui.config import Config
    from kpitui.engine import Engine
    from kpitui.model import Snapshot
    from kpitui.store import Store

__all__ = [
    "CliResult",
    "collect",
    "evaluate",
    "fetch_source",
    "kpitui_cli",
    "kpitui_config",
    "kpitui_engine",
    "kpitui_env",
    "kpitui_store",
    "load_test_config",
    "readings",
    "utc",
]

HISTORY_NAME = "history.sqlite3"
CONFIG_NAME = "kpitui.toml"


# -- plain functions -------------------------------------------------------------------------


def utc(value: dt.datetime | str | None = None) -> dt.datetime:
    """An aware datetime: ISO text or a datetime; naive values are UTC; ``None`` is now."""
    if value is None:
        return dt.datetime.now(dt.timezone.utc)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def readings(rows: pl.DataFrame | Iterable[tuple[str, dt.datetime | str, float]]) -> pl.DataFrame:
    """A readings frame from ``(metric, at, value)`` rows (ISO text or datetimes; naive = UTC)."""
    import polars as pl

    from kpitui.api import readings_frame

    if isinstance(rows, pl.DataFrame):
        return rows
    return readings_frame([(metric, utc(at), float(value)) for metric, at, value in rows])


def load_test_config(
    text: str,
    directory: Path,
    *,
    plugins: Sequence[object] = (),
    installed: bool = True,
    plugins_dirs: Sequence[str | os.PathLike[str]] = (),
    name: str = CONFIG_NAME,
) -> Config:
    """Write ``text`` (dedented) to ``directory/name`` and load it like ``kpitui`` does.

    The registry holds the built-ins, the installed plugins and the ``.py``
    files in ``plugins_dirs`` (both skipped with ``installed=False``), then
    the ``plugins`` objects; the user's own plugins folder is never read.
    Without a ``[storage]`` table the history is ``directory/history.sqlite3``.
    """
    from kpitui.config import load_config
    from kpitui.plugins import load_registry

    directory = Path(directory)
    body = textwrap.dedent(text)
    if "[storage]" not in body:
        body = f'[storage]\npath = "{(directory / HISTORY_NAME).as_posix()}"\n\n' + body
    path = directory / name
    path.write_text(body, encoding="utf-8")
    dirs = [Path(d) if Path(d).is_absolute() else directory / d for d in plugins_dirs]
    registry = load_registry(dirs, load_installed=installed, extra=plugins)
    return load_config(path, registry=registry)


def evaluate(
    config: Config,
    history: pl.DataFrame | Iterable[tuple[str, dt.datetime | str, float]] = (),
    now: dt.datetime | str | None = None,
    **kwargs: Any,
) -> Snapshot:
    """Evaluate every KPI of ``config`` over ``history`` as of ``now`` (see :meth:`Engine.evaluate`)."""
    from kpitui.engine import Engine

    return Engine(config).evaluate(readings(history), utc(now), **kwargs)


def _context(config: Config) -> SourceContext:
    from kpitui.api import SourceContext

    return SourceContext(
        config_dir=config.files_dir, timezone=config.settings.timezone, history_path=config.storage.path
    )


def fetch_source(
    config: Config, source_id: str, now: dt.datetime | str | None = None, cursor: str | None = None
) -> FetchResult:
    """Make source ``source_id`` as the collector does, fetch once from ``cursor`` and close it.

    Returns the :class:`~kpitui.api.FetchResult` with its readings normalised
    to :data:`~kpitui.api.READINGS_SCHEMA` (an error in ``fetch`` propagates,
    so ``pytest.raises(SourceError)`` works).
    """
    from dataclasses import replace

    from kpitui.api import FetchResult, normalise_readings

    if source_id not in config.sources:
        raise KeyError(f"no source {source_id!r} in the config; sources: {', '.join(config.sources)}")
    spec = config.sources[source_id]
    cls = config.registry.sources[spec.type]
    source = cls(spec, config.metrics_of(source_id), _context(config))
    try:
        result = source.fetch(cursor, utc(now))
    finally:
        source.close()
    assert isinstance(result, FetchResult), f"fetch must return a FetchResult, not {type(result).__name__}"
    return replace(result, readings=normalise_readings(result.readings))


def collect(config: Config, store: Store, now: dt.datetime | str | None = None) -> list[PollResult]:
    """Poll every enabled source of ``config`` once into ``store`` with the real collector (clock fixed at ``now``)."""
    from kpitui.collector import Collector

    moment = utc(now)
    collector = Collector(config, store, clock=lambda: moment)
    try:
        return collector.run_once()
    finally:
        collector.close()


@dataclass(frozen=True)
class CliResult:
    """What one ``kpitui`` command did."""

    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def kpitui_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point kpitui's user config, plugins folder and data folder into a temporary home."""
    home = tmp_path_factory.mktemp("kpitui-home")
    monkeypatch.setenv("KPITUI_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "share"))
    return home


@pytest.fixture
def kpitui_config(tmp_path: Path, kpitui_env: Path) -> Callable[..., Config]:
    """``kpitui_config(text, *, plugins=(), installed=True, plugins_dirs=(), name="kpitui.toml")`` -> a loaded
    Config."""

    def make(text: str, **kwargs: Any) -> Config:
        return load_test_config(text, tmp_path, **kwargs)

    return make


@pytest.fixture
def kpitui_store(tmp_path: Path, kpitui_env: Path) -> Iterator[Store]:
    """A real history store at ``tmp_path/history.sqlite3`` (where ``kpitui_config`` configs write)."""
    from kpitui.store import Store

    store = Store(tmp_path / HISTORY_NAME)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def kpitui_engine() -> Callable[[Config], Engine]:
    """``kpitui_engine(config)`` -> an Engine."""
    from kpitui.engine import Engine

    return Engine


@pytest.fixture
def kpitui_cli(tmp_path: Path, kpitui_env: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """``kpitui_cli("report", "--config", path, "--format", "json", plugins=[my_plugin])`` -> CliResult.

    Runs the real ``kpitui`` command in ``tmp_path``. ``plugins``: plugin
    modules or objects loaded as if installed (for a plugin not installed in
    the test environment).
    """
    from kpitui import plugins as plugins_module
    from kpitui.cli import main
    from kpitui.config import loader as config_loader

    monkeypatch.chdir(tmp_path)

    def run(*args: str | os.PathLike[str], plugins: Sequence[object] = ()) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        with monkeypatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if plugins:
                real = plugins_module.load_registry

                def with_extra(*a: Any, **kw: Any) -> Any:
                    kw["extra"] = [*kw.get("extra", ()), *plugins]
                    return real(*a, **kw)

                patch.setattr(config_loader, "load_registry", with_extra)
                patch.setattr(plugins_module, "load_registry", with_extra)
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse: --help, usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run
