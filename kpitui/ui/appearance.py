"""The config's ``[ui] theme`` and ``[keymap]`` applied to the app; what is wrong with them becomes a problem."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..options import nearest
from . import bindings

if TYPE_CHECKING:
    from ..config import Config
    from .app import KpiApp


def apply_theme(app: KpiApp, config: Config) -> None:
    """Use ``[ui] theme`` (and remember it as the light or dark one ctrl+t toggles to)."""
    name = config.ui.get("theme")
    if not name:
        return
    theme = app.get_theme(name)
    if theme is None:
        hint = nearest(name, app.available_themes)
        app.set_problem("theme", f"[ui] theme: unknown theme {name!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
        return
    app.clear_problem("theme")
    app.theme = theme.name
    if theme.dark:
        app.dark_theme = theme.name
    else:
        app.light_theme = theme.name


def apply_keymap(app: KpiApp, keymap: dict[str, str]) -> None:
    """Apply ``[keymap]``; unknown binding ids are reported, not fatal."""
    known = bindings.all_ids()
    unknown = [k for k in keymap if k not in known]
    good = {k: v for k, v in keymap.items() if k in known}
    app.keymap = good
    try:
        app.set_keymap(good)
    except Exception as exc:  # noqa: BLE001 - a key string Textual rejects
        app.keymap = {}
        app.set_keymap({})
        app.set_problem("keymap", f"[keymap] could not be applied: {exc}")
        return
    if not unknown:
        app.clear_problem("keymap")
        return
    described = []
    for key in unknown:
        hint = nearest(key, known)
        described.append(f"{key!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
    app.set_problem("keymap", f"[keymap] unknown binding id {', '.join(described)}; press ? for the ids")
    app.notify(app.problems["keymap"], severity="warning", timeout=8)
