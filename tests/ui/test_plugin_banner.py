"""A plugin that failed to load is shown in the TUI's banner, with its name and why (issue 16)."""

from __future__ import annotations

from ui_helpers import make_app, wait_for

from kpitui.config import load_config
from kpitui.plugins import load_registry


async def test_a_plugin_load_error_is_a_banner(config, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken_crm.py").write_text("import not_installed_crm_sdk\n")
    registry = load_registry([plugins])
    app = make_app(load_config(config.path, registry=registry))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: "plugins" in app.problems)
        assert "plugin 'broken_crm' failed to load" in app.problems["plugins"]
        assert "not_installed_crm_sdk" in app.problems["plugins"]
        assert app.screen.query_one("#banner").display
