"""Choices the TUI remembers between runs (the theme picked with a key or the palette).

Kept in ``ui-state.json`` in kpitui's data folder (``KPITUI_DATA_DIR``). A
``[ui] theme`` in the config wins over the remembered one. A file that cannot
be read or written is ignored: remembering is a convenience, never an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE = "ui-state.json"


def _path() -> Path:
    from ..location import data_dir

    return data_dir() / FILE


def load() -> dict:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember(**values: object) -> None:
    path = _path()
    data = {**load(), **values}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{FILE}.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass


def restore_theme(app, save: bool = True) -> None:
    """Use the remembered theme unless ``[ui] theme`` names one; remember each change from now on (unless not
    ``save``)."""
    if not app.config.ui.get("theme"):
        name = load().get("theme")
        if isinstance(name, str) and app.get_theme(name) is not None:
            app.theme = name
    if not save:
        return

    def changed(theme) -> None:
        if load().get("theme") != theme.name:
            remember(theme=theme.name)

    app.theme_changed_signal.subscribe(app, changed)
