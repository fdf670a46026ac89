"""Names, filters, toasts and alert texts are shown as typed: never Textual markup, never escape sequences.

Before the fix an objective title ``O [/x]`` crashed the dashboard on its first frame (``MarkupError`` in the
KPI pane's border title), so did typing ``[/x]`` into the filter, and ``[@click=app.quit]`` in a toast was an
action. An ESC in a name reached the terminal.
"""

from __future__ import annotations

import json

import pytest
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


@pytest.mark.slow
async def test_a_keymap_key_and_a_kpi_name_with_markup_in_help_and_the_palette(make_config):
    """Before the fix ``[keymap] refresh = "[/x]"`` crashed the help screen (a Rich table cell) and the command
    palette's search (its help line), and a KPI named ``[/x]`` crashed the palette (its prompt)."""
    config = make_config(
        extra="""
[keymap]
refresh = "[/x]"

[kpis.evil]
name = "Zq [/x] [@click=app.quit]"
formula = "sum"
metrics = ["signups"]
"""
    )
    app = make_app(config)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        assert app.is_running and type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape", "ctrl+p")
        await pilot.pause(0.3)
        for key in ["r", "e", "f"]:  # the refresh command, whose help line names the key "[/x]"
            await pilot.press(key)
        await pilot.pause(0.5)
        await pilot.press(*["backspace"] * 3, "z", "q")  # the KPI named with markup
        await pilot.pause(0.5)
        assert app.is_running
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running


async def test_a_crash_prints_no_local_variables_and_masks_secrets(config, capsys):
    """Textual's crash report shows each frame's local variables (``show_locals=True``): a revealed token held in
    a local was printed to the terminal, unmasked."""
    from kpitui.secrets import remember

    token = "tok-" + "Zx9" * 8
    remember(token)

    class Boom(Exception):
        pass

    app = make_app(config)

    def explode() -> None:
        revealed = token  # a local variable, as a source's fetch holds its revealed URL
        raise Boom(f"the server refused {revealed}")

    with pytest.raises(Boom):
        async with app.run_test() as pilot:
            await wait_ready(pilot)
            app.call_later(explode)
            await pilot.pause(0.5)
    shown = capsys.readouterr().err  # Textual prints the crash on its error console when the app has closed
    assert "Boom" in shown and "the server refused ***" in shown, shown[-500:]

    assert token not in shown and "revealed = 'tok" not in shown
