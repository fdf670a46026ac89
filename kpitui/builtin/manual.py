"""The ``manual`` source: readings typed in with ``kpitui record`` or the TUI's form.

It fetches nothing: manual readings are written straight to the store. Every
config has a ``manual`` source; a metric without ``source`` uses it.
"""

from __future__ import annotations

import datetime as dt

from kpitui import hookimpl
from kpitui.api import FetchResult, MetricSource, readings_frame


class ManualSource(MetricSource):
    """Numbers you record by hand: memberships sold, webinar attendance."""

    type_name = "manual"
    description = "Readings recorded by hand with `kpitui record` or the TUI's add-reading form."
    mode = "add"
    default_interval = 3600.0
    passive = True

    def fetch(self, cursor: str | None, now: dt.datetime) -> FetchResult:
        return FetchResult(readings_frame([]), cursor=cursor)


@hookimpl
def register_metric_sources() -> list[type[MetricSource]]:
    return [ManualSource]
