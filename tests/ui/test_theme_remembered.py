"""The theme picked in the TUI is remembered for the next run; a [ui] theme in the config wins (issue 16)."""

from __future__ import annotations

import pytest
from ui_helpers import make_app, wait_for

from kpitui.config import load_config


@pytest.mark.slow
async def test_a_theme_picked_in_the_tui_is_used_next_time(config):
    first = make_app(config)
    async with first.run_test() as pilot:
        start = first.theme
        first.action_toggle_theme()  # the key's action (its key is remappable)
        await pilot.pause()
        picked = first.theme
        assert picked != start
        first.theme = "nord"  # as the palette's "Change theme" does
        await pilot.pause(0.2)
    second = make_app(config)
    async with second.run_test() as pilot:
        await wait_for(pilot, lambda: second.theme == "nord")


async def test_the_configs_theme_wins_over_the_remembered_one(make_config):
    config = make_config()
    app = make_app(config)
    async with app.run_test() as pilot:
        app.theme = "nord"
        await pilot.pause(0.2)
    text = config.path.read_text().replace("[storage]", '[ui]\ntheme = "gruvbox"\n\n[storage]', 1)
    config.path.write_text(text)
    app = make_app(load_config(config.path))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "gruvbox"


async def test_the_readmes_ui_and_keymap_example_applies_cleanly(make_config):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("### The dashboard: theme and keys", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    config = make_config()
    config.path.write_text(example + "\n" + config.path.read_text())
    app = make_app(load_config(config.path))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "nord"
        assert not {"theme", "keymap"} & set(app.problems), app.problems
        await pilot.press("f5")  # the remapped refresh key
