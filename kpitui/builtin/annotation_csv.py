"""The built-in ``csv`` annotation source: dated notes from a CSV file (a campaign calendar, a deploy log).

::

    [annotation_sources.campaigns]
    type = "csv"
    path = "campaigns.csv"      # columns: at, text, and optionally kpi, metric

``at`` is an ISO date or time (naive: the config's time zone). Registered
through ``register_annotation_sources``, like a third-party one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kpitui import hookimpl
from kpitui.api import AnnotationSource, Note, OptionError, SourceContext, SourceError, path_warning

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl


@dataclass(frozen=True)
class CsvNotesOptions:
    path: str = field(
        metadata={
            "help": "the CSV file (relative to the config's folder): columns at, text, and optionally kpi, metric"
        }
    )


class CsvNotes(AnnotationSource):
    type_name = "csv"
    description = "Annotations from a CSV file: columns at, text, and optionally kpi, metric."
    Options = CsvNotesOptions

    @classmethod
    def check(cls, options: Any, context: SourceContext) -> None:
        if not options.path.strip():
            raise OptionError("path must name a CSV file", "path")

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"path": "campaigns.csv"}

    def annotations(self, start: dt.datetime, end: dt.datetime) -> list[Note]:
        path = self.context.path(self.options.path)
        problem = path_warning(path)  # missing, a folder, or a FIFO (whose open would block the command for good)
        if problem:
            raise SourceError(problem)
        try:
            frame = pl.read_csv(path, infer_schema=False)
        except FileNotFoundError:
            raise SourceError(f"{path} does not exist") from None
        missing = [c for c in ("at", "text") if c not in frame.columns]
        if missing:
            raise SourceError(
                f"{path} has no {' or '.join(missing)} column (it needs at, text; optionally kpi, metric)"
            )
        tz = ZoneInfo(self.context.timezone)
        notes = []
        for row in frame.iter_rows(named=True):
            if not row["at"] or not row["text"]:
                continue
            at = dt.datetime.fromisoformat(row["at"].strip())
            at = at.replace(tzinfo=tz) if at.tzinfo is None else at
            if start <= at <= end:
                notes.append(Note(at, row["text"].strip(), row.get("kpi") or None, row.get("metric") or None))
        return notes


@hookimpl
def register_annotation_sources() -> list[type[AnnotationSource]]:
    return [CsvNotes]
