"""The words around the numbers: the header's sub-title, the status line, the loading message.

Pure functions of the app's state (:class:`~kpitui.ui.app.KpiApp`); the app
puts their results in reactives that the screens watch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.text import Text

from . import bindings
from .palette import palette_of
from .state import ALL_INSTANCES

if TYPE_CHECKING:
    from ..config import Config
    from .app import KpiApp


def instance_words(app: KpiApp) -> str | None:
    """``all instances`` or ``instance web1`` for a history shared by collector instances, else ``None``."""
    instance = app.view.instance
    if instance is not None:
        return f"instance {instance}"
    runtime = app.runtime
    return ALL_INSTANCES if runtime is not None and runtime.instances else None


def subtitle(app: KpiApp) -> str:
    """``kpitui.toml · own windows · instance web1 · as of 14:05 EST``: what every number on screen covers."""
    view = app.view
    parts = [app.config.path.name]
    parts.append(bindings.WINDOWS.get(view.window, view.window.replace("_", " ")) if view.window else "own windows")
    if view.offset:
        parts.append(f"{view.offset} period{'s' if view.offset > 1 else ''} back")
    instance = instance_words(app)
    if instance:
        parts.append(instance)
    if app.snapshot is not None:
        local = app.snapshot.at.astimezone(ZoneInfo(app.config.settings.timezone))
        parts.append(f"as of {local:%H:%M %Z}")  # the zone: an operator on a UTC server must not misread it
    if app.alerting is not None and app.alerting.firing:
        parts.append(app.alerting.header())
    return " · ".join(parts)


def status_text(app: KpiApp) -> Text:
    """The status line: each source's last poll (or its backlog's progress), then the window keys."""
    colours = palette_of(app)
    poller = app.poller
    text = Text(no_wrap=True, overflow="ellipsis")
    if app.read_only:
        text.append("read-only ", style=colours.muted)
    if not app.collect:
        text.append("viewing only (not collecting) ", style=colours.muted)
    elif app.runtime is not None:
        for source in app.runtime.sources:
            result = poller.last.get(source)
            doing = poller.progress.text(source)
            if doing is not None:  # a backlog: "web: importing access.log.3.gz, 41%, 1m 10s left"
                text.append(f"◌ {source}: {doing} ", style=colours.muted)
            elif source in poller.polling and result is None:
                text.append(f"◌ {source} ", style=colours.muted)
            elif result is None:
                text.append(f"· {source} ", style=colours.muted)
            elif result.error:
                text.append(f"✖ {source} ", style=colours.bad)
            else:
                text.append(f"● {source} ", style=colours.good)
    text.append(f"· {window_hint(app)}", style=colours.muted)
    return text


def window_hint(app: KpiApp) -> str:
    """``w m u y t 0 window  [ ] period``, with the user's keys (and ``i instance`` on a shared history)."""

    def keys(category: str) -> str:
        out = []
        for binding in bindings.APP:
            if bindings.CATEGORY.get(binding.id or "") == category:
                key = bindings.effective_keys(binding, app.keymap).split(",")[0]
                default = binding.key_display and key == binding.key.split(",")[0]
                out.append(binding.key_display if default else app.get_key_display(binding.with_key(key)))
        return " ".join(out)

    hint = f"{keys('window')} window  {keys('period')} period"
    if app.runtime is not None and app.runtime.instances:
        hint += f"  {keys('instance')} instance"
    return hint


def history_words(config: Config) -> str:
    """``h.sqlite3, 412.3 MB`` (the history file and its size) or ``PostgreSQL``: what is being opened or read."""
    storage = config.storage
    if storage.url is not None:
        return "PostgreSQL"
    try:
        size = storage.path.stat().st_size
    except OSError:
        return storage.path.name
    from rich.filesize import decimal

    return f"{storage.path.name}, {decimal(size)}"
