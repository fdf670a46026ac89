"""Shared fixtures: configs written to real files, a real store, a fixed clock."""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from pathlib import Path

import pytest

from kpitui.plugins import Registry, load_registry

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "kpitui" / "sample_config.toml"


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run the tests marked slow (soaks, stress runs, tests that wait out a real timeout); "
        "with -m slow: only those",
    )


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` are skipped unless asked for: ``--run-slow``, ``KPITUI_RUN_SLOW=1``, or a ``-m``
    expression naming the mark (``-m slow`` runs the slow set alone; CI's .ci/run runs it after the default suite)."""
    if config.getoption("--run-slow") or os.environ.get("KPITUI_RUN_SLOW") or "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow (or -m slow for the slow set alone)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Never touch the real user's config or history."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("KPITUI_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "share"))


@pytest.fixture(scope="session")
def builtin_registry() -> Registry:
    return load_registry(load_installed=False)


@pytest.fixture
def write_config(tmp_path):
    """Write a TOML config (dedented) to tmp_path/kpitui.toml and return its path."""

    def write(text: str, name: str = "kpitui.toml") -> Path:
        path = tmp_path / name
        body = textwrap.dedent(text)
        if "[storage]" not in body:
            body = f'[storage]\npath = "{(tmp_path / "history.sqlite3").as_posix()}"\n\n' + body
        path.write_text(body, encoding="utf-8")
        return path

    return write


@pytest.fixture
def utc():
    def make(*args) -> dt.datetime:
        return dt.datetime(*args, tzinfo=dt.timezone.utc)

    return make
