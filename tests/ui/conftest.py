"""Fixtures for the terminal UI tests: a small fixed config with known readings."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from pathlib import Path
from typing import Callable

import pytest
from ui_helpers import CONFIG, known_readings

from kpitui.api import readings_frame
from kpitui.config import Config, load_config
from kpitui.store import Store


@pytest.fixture
def make_config(tmp_path) -> Callable[..., Config]:
    """Write the test config (with optional extra tables) and its readings; return the loaded config."""
    return config_maker(tmp_path)


def config_maker(tmp_path: Path) -> Callable[..., Config]:
    """``make_config`` writing into ``tmp_path``."""

    def make(
        extra: str = "",
        extra_sources: str = "",
        extra_metrics: str = "",
        readings: bool = True,
        name: str = "kpitui.toml",
    ) -> Config:
        storage = (tmp_path / "h.sqlite3").as_posix()
        path = tmp_path / name
        path.write_text(
            CONFIG.format(
                storage=storage,
                extra=textwrap.dedent(extra),
                extra_sources=textwrap.dedent(extra_sources),
                extra_metrics=textwrap.dedent(extra_metrics),
            ),
            encoding="utf-8",
        )
        if readings:
            with Store(storage) as store:
                store.write(readings_frame(known_readings()), mode="replace")
        return load_config(path)

    return make


@pytest.fixture
def config(make_config) -> Config:
    return make_config()


@pytest.fixture
def fixed_length_config():
    """The test config in a folder whose path has the same length on every run.

    For snapshots of screens that print the config's path (help): pytest's
    ``tmp_path`` grows with the run number (``pytest-9`` -> ``pytest-201``), and
    a longer path wraps onto one more line, which moves the scrollbar.
    """
    folder = Path(tempfile.mkdtemp(prefix="kpitui-snap-", dir="/tmp"))
    try:
        yield config_maker(folder)()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
