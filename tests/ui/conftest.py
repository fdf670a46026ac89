"""Fixtures for the terminal UI tests: a small fixed config with known readings."""

from __future__ import annotations

import textwrap
from typing import Callable

import pytest
from ui_helpers import CONFIG, known_readings

from kpitui.api import readings_frame
from kpitui.config import Config, load_config
from kpitui.store import Store


@pytest.fixture
def make_config(tmp_path) -> Callable[..., Config]:
    """Write the test config (with optional extra tables) and its readings; return the loaded config."""

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
