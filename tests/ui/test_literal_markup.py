"""Names, filters, toasts and alert texts are shown as typed: never Textual markup, never escape sequences.

Before the fix an objective title ``O [/x]`` crashed the dashboard on its first frame (``MarkupError`` in the
KPI pane's border title), so did typing ``[/x]`` into the filter, and ``[@click=app.quit]`` in a toast was an
action. An ESC in a name reached the terminal.
"""

from __future__ import annotations

import json

from ui_helpers import make_app, pane_keys, wait_ready

EVIL = "[bold]B[/bold] [@click=app.quit]C[/] [/x]\x1b]0;pwned\x07\x1b[31mZ"


def title_of(app, pane: str) -> str:
    """The border title as drawn (``border_title`` itself reads back as markup)."""
    return app.screen.query_one(pane)._border_title.plain


async def test_markup_and_escapes_in_names_filter_and_toasts_show_literally(make_config):
    config = make_config(
        extra=f"""
[kpis.evil]
name = {json.dumps("K" + EVIL)}
formula = "sum"
metrics = ["signups"]

[objectives.evil]
title = {json.dumps("O" + EVIL)}
kpis = ["evil"]
"""
    )
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_ready(pilot)
        assert app.is_running
        objectives = app.screen.query_one("#objectives")
        objectives.focus()
        while app.screen.objective_id != "evil":
            await pilot.press("down")
            await pilot.pause()
        assert pane_keys(app, "kpis") == ["evil"]
        kpis_title = title_of(app, "#kpis")
        assert "[bold]B[/bold] [@click=app.quit]C[/] [/x]" in kpis_title  # as typed
        assert "\x1b" not in kpis_title and "\\u001b]0;pwned" in kpis_title  # the escape written out
        metrics_title = title_of(app, "#metrics")
        assert "[@click=app.quit]C[/]" in metrics_title and "\x1b" not in metrics_title
        await pilot.press("slash", *"[/x]")
        await pilot.pause()
        assert app.is_running and app.screen.filter_text == "[/x]"
        assert "[/x]" in title_of(app, "#kpis")
        await pilot.press("escape")
        app.notify("[@click=app.quit]quit[/] [/x]\x1b[2J", title="[b]t")  # markup=True is Textual's default
        await pilot.pause(0.2)
        (note,) = [n for n in app._notifications if "quit" in n.message]
        assert not note.markup  # the toast draws Content(message), not Content.from_markup(message)
        shown = note.message
        assert "[@click=app.quit]quit[/] [/x]\\u001b[2J" in shown and "\x1b" not in shown
        assert app.is_running
