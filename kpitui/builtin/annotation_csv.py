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
import logging
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
        unreadable: list[int] = []  # rows whose at is no date: skipped, the others kept
        for number, row in enumerate(frame.iter_rows(named=True), start=2):  # the header is row 1
            if not row["at"] or not row["text"]:
                continue
            try:
                at = dt.datetime.fromisoformat(row["at"].strip())
            except ValueError:
                unreadable.append(number)
                continue
            at = at.replace(tzinfo=tz) if at.tzinfo is None else at
            if start <= at <= end:
                notes.append(Note(at, row["text"].strip(), row.get("kpi") or None, row.get("metric") or None))
        if unreadable:
            shown = ", ".join(map(str, unreadable[:5])) + (
                f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else ""
            )
            logging.getLogger("kpitui.annotations").warning(
                "annotation source %s: %s: %d row(s) skipped, their at is not an ISO date or time "
                "(2026-03-12 or 2026-03-12 08:00): row %s (the header is row 1)",
                self.id,
                path,
                len(unreadable),
                shown,
            )
        return notes


@hookimpl
def register_annotation_sources() -> list[type[AnnotationSource]]:
    return [CsvNotes]
