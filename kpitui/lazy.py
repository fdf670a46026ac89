"""polars, imported when first used: ``from kpitui.lazy import polars as pl``.

kpitui's first frame (and ``kpitui check``) needs the config checked, and checking a
config runs every plugin's option checks: the built-in plugins, the plugin API and the
expression compiler all use polars, but only when they read or compute something. A
module on that path imports polars under ``TYPE_CHECKING`` (for the type checker) and
this stand-in otherwise::

    if TYPE_CHECKING:
        import polars as pl
    else:
        from kpitui.lazy import polars as pl

The first attribute asked of it (``pl.col``) imports polars (about 0.13 s); each
attribute is then kept on the stand-in, so later uses cost a plain attribute lookup.
``tests/ui/test_startup_imports.py`` checks that polars stays out of the first frame.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """A module imported at the first attribute asked of it."""

    def __init__(self, name: str) -> None:
        self.__name = name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(importlib.import_module(self.__name), attribute)
        setattr(self, attribute, value)
        return value

    def __repr__(self) -> str:
        return f"<module {self.__name!r}, imported when first used>"


polars = LazyModule("polars")
