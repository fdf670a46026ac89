"""Annotation sources (the ``register_annotation_sources`` hook): :class:`AnnotationSource` and its :class:`Note`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar

from ..options import NoOptions
from .sources import SourceContext


@dataclass(frozen=True)
class Note:
    """One annotation an :class:`AnnotationSource` supplies: ``at`` (naive: the config's time zone),
    ``text``, and what it is about: a ``kpi`` id, a ``metric`` id, or neither (everything)."""

    at: dt.datetime
    text: str
    kpi: str | None = None
    metric: str | None = None


class AnnotationSource:
    """Supplies annotations read when they are shown, never stored: deploys from a command's
    output, a CSV of campaigns.

    Subclasses set the class attributes and implement :meth:`annotations`. One
    instance serves one ``[annotation_sources.ID]`` table (``self.options``
    holds its validated ``Options``). kpitui calls :meth:`annotations` for the
    span it shows (a report, a series, a detail chart), guarded: a source that
    raises is logged and skipped, and the others are shown.
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions

    def __init__(self, source_id: str, options: Any, context: SourceContext):
        self.id = source_id
        self.options: Any = options
        self.context = context

    @classmethod
    def check(cls, options: Any, context: SourceContext) -> None:
        """Cross-check the options when the config loads; raise :class:`OptionError` to reject them."""

    @classmethod
    def example(cls) -> dict[str, Any]:
        """Example ``[annotation_sources.ID]`` keys (besides ``type``) for ``kpitui init``."""
        return {}

    def annotations(self, start: dt.datetime, end: dt.datetime) -> list[Note]:
        """The annotations with ``start <= at <= end`` (aware UTC datetimes); keep it quick and local."""
        raise NotImplementedError
