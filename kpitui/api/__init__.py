"""Base classes for plugin authors: metric sources and KPI formula types.

A plugin returns subclasses of these from the hooks in :mod:`kpitui.hookspecs`.
Built-in sources and formulas (``kpitui.builtin``) use exactly this API.

Options are plain dataclasses (see :mod:`kpitui.options`): kpitui validates
the TOML against them before anything runs, so ``__init__`` and ``fetch``
receive checked, typed values.

The package, one module per kind of plugin: ``sources`` (:class:`MetricSource`,
:class:`FetchResult`, :class:`SourceContext`), ``readings`` (the frame a
source returns), ``formulas`` (:class:`FormulaType`, :class:`Input`),
``annotations`` (:class:`AnnotationSource`) and ``notifiers``
(:class:`Notifier`). Import from ``kpitui.api``: the names below are the
public API, wherever they are defined.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..model import NO_NUMBER, Metric as Metric, SourceSpec as SourceSpec
from ..options import NoOptions, OptionError, Secret, nearest as nearest
from .annotations import AnnotationSource, Note
from .formulas import CannotDecompose, FormulaType, Input, safe_div, shapley_split
from .notifiers import Notification, Notifier, NotifierError
from .readings import normalise_readings as normalise_readings, readings_frame
from .sources import (
    FetchResult,
    MetricSource,
    SourceContext,
    SourceError,
    _fetch as _fetch,
    _run_fetch as _run_fetch,
    fetch_cancelled,
    path_warning,
)

if TYPE_CHECKING:
    from .readings import READINGS_SCHEMA
else:

    def __getattr__(name: str) -> Any:  # READINGS_SCHEMA holds polars dtypes: polars loads when it is first used
        if name == "READINGS_SCHEMA":
            from .readings import readings_schema

            return readings_schema()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NO_NUMBER",
    "READINGS_SCHEMA",
    "AnnotationSource",
    "Note",
    "CannotDecompose",
    "FetchResult",
    "FormulaType",
    "Input",
    "MetricSource",
    "NoOptions",
    "Notification",
    "Notifier",
    "NotifierError",
    "OptionError",
    "Secret",
    "SourceContext",
    "SourceError",
    "fetch_cancelled",
    "path_warning",
    "readings_frame",
    "safe_div",
    "shapley_split",
]
