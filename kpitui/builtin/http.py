"""The ``http`` source: numbers read from a JSON API.

Each metric picks one number out of a JSON document with a small path
(``data.visitors``, ``results[0].count``, ``$.totals["page views"]``). Metrics
sharing a URL share one request per poll. The value is stamped with the start
of the current ``bucket`` (``hour`` or ``day``), so polling again during that
bucket replaces it.

Connection errors, timeouts and 5xx answers are retried ``retries`` times with
exponential ``backoff``, all within the source's ``timeout``; a 4xx answer,
a body that is not JSON, a missing path or a value that is not a number fail
at once with a message naming the metric. Header values are secrets
(``Authorization = "Bearer ${ANALYTICS_TOKEN}"``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kpitui import hookimpl
from kpitui.api import FetchResult, MetricSource, Secret, SourceError, readings_frame
from kpitui.model import Metric

from ._sourcekit import (
    Bucket,
    Deadline,
    JsonPath,
    as_number,
    check_retries,
    check_url,
    collect_errors,
    reveal,
    truncate,
)


@dataclass(frozen=True)
class HttpOptions:
    """``url``: the JSON endpoint. ``headers``: request headers (secrets: use ``${ENV}``).
    ``retries``: extra attempts after a connection error or 5xx. ``backoff``: seconds before
    the first retry, doubled each time."""

    url: Secret  # may hold ${ENV} references (an API key in the query string)
    headers: dict[str, Secret] = field(default_factory=dict)
    retries: int = 2
    backoff: float = 0.5

    def validate(self) -> None:
        check_url(self.url.template, "url")
        check_retries(self.retries, self.backoff)


@dataclass(frozen=True)
class HttpMetricOptions:
    """``path``: where the number is in the JSON (``data.visitors``, ``results[0].count``).
    ``url``: this metric's own endpoint (default: the source's). ``bucket``: ``hour`` or ``day``."""

    path: str
    url: Secret | None = None
    bucket: Bucket = "hour"

    def validate(self) -> None:
        JsonPath.compile(self.path, "path")
        if self.url is not None:
            check_url(self.url.template, "url")


class HttpSource(MetricSource):
    type_name = "http"
    description = "Numbers from a JSON API (GET), picked out with a path like data.visitors."
    Options = HttpOptions
    MetricOptions = HttpMetricOptions
    mode = "replace"
    default_interval = 300.0
    default_timeout = 10.0

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {
            "source": {
                "url": "https://analytics.example.com/api/stats?period=day",
                "headers": {"Authorization": "Bearer ${ANALYTICS_TOKEN}"},
            },
            "metric": {"path": "data.visitors"},
        }

    def fetch(self, cursor: str | None, now: dt.datetime) -> FetchResult:
        deadline = Deadline(self.spec.timeout)
        by_url: dict[Secret, list[Metric]] = {}
        for metric in self.metrics:
            by_url.setdefault(metric.options.url or self.options.url, []).append(metric)
        rows: list[tuple[str, dt.datetime, float]] = []
        errors: list[str] = []
        from ._webclient import get_json  # http.client and ssl: imported by the first fetch, not at start-up

        for url, metrics in by_url.items():
            ids = ", ".join(m.id for m in metrics)
            try:
                document = get_json(
                    reveal(url),
                    headers=self.options.headers,
                    deadline=deadline,
                    retries=self.options.retries,
                    backoff=self.options.backoff,
                )
            except SourceError as exc:
                errors.append(f"metric {ids}: {exc}")
                continue
            for metric in metrics:
                where = f"metric {metric.id}"
                try:
                    value = JsonPath.compile(metric.options.path).find(document, where)
                    number = as_number(value, f"{where}: the value at {metric.options.path!r}")
                except SourceError as exc:
                    errors.append(str(exc))
                    continue
                rows.append((metric.id, truncate(now, metric.options.bucket, self.context.timezone), number))
        collect_errors(errors)
        return FetchResult(readings_frame(rows), cursor)


@hookimpl
def register_metric_sources() -> list[type[MetricSource]]:
    return [HttpSource]
