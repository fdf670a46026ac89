"""``kpitui serve``: the dashboard in web browsers (textual-serve + aiohttp). See :mod:`.server`."""

from .server import run

__all__ = ["run"]
