"""The ``prometheus`` source: metrics from PromQL queries (HTTP API v1).

Without ``range``, a metric is an **instant query** evaluated at the poll
time (``/api/v1/query``), stamped with the start of the current ``bucket``
(``hour`` or ``day``) so later polls in that bucket replace it.

With ``range`` and ``step`` (``range = "1h"``, ``step = "5m"``), a metric is
a **range query** (``/api/v1/query_range``): the first poll reads the last
``range``; later polls read from the previous poll's end (one step earlier,
so the last point is refreshed) to now, at most 11,000 steps back (the
server's limit). Points fall on multiples of ``step`` and are stored at those
times: pair ``step`` with a query such as ``increase(signups_total[5m])`` to
get counts per step.

A query returning several series is combined per time with ``aggregate``:
``sum`` adds them; ``first`` keeps the series whose labels sort first. NaN
and infinite samples are skipped. Header values are secrets.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Literal

from kpitui import hookimpl
from kpitui.api import FetchResult, MetricSource, OptionError, Secret, SourceError, readings_frame
from kpitui.model import Metric

from ._sourcekit import (
    Bucket,
    Deadline,
    check_retries,
    check_url,
    collect_errors,
    fail,
    parse_duration,
    truncate,
    utc,
)

MAX_POINTS = 11_000  # Prometheus refuses range queries with more points per series


@dataclass(frozen=True)
class PrometheusOptions:
    """``url``: the server (``http://127.0.0.1:9090``, or a path prefix behind a proxy).
    ``headers``: request headers (secrets). ``retries`` / ``backoff``: as for ``http``."""

    url: str
    headers: dict[str, Secret] = field(default_factory=dict)
    retries: int = 2
    backoff: float = 0.5

    def validate(self) -> None:
        check_url(self.url, "url")
        check_retries(self.retries, self.backoff)


@dataclass(frozen=True)
class PrometheusMetricOptions:
    """``query``: PromQL. ``range`` + ``step``: read a series (``"1h"``, ``"5m"``) instead of
    one value. ``aggregate``: ``sum`` or ``first`` when the query returns several series.
    ``bucket``: ``hour`` or ``day``, for instant queries."""

    query: str
    range: str | None = None
    step: str | None = None
    aggregate: Literal["sum", "first"] = "sum"
    bucket: Bucket = "hour"

    def validate(self) -> None:
        if not self.query.strip():
            raise OptionError("query must not be empty", "query")
        if self.range is None and self.step is not None:
            raise OptionError('step needs range (for example range = "1h", step = "5m")', "step")
        if self.range is not None:
            if self.step is None:
                raise OptionError('range needs step (for example step = "5m")', "step")
            window = parse_duration(self.range, "range")
            step = parse_duration(self.step, "step")
            if step > window:
                raise OptionError(f"step ({self.step}) must not be longer than range ({self.range})", "step")


def _sample(pair: Any, where: str) -> tuple[float, float | None]:
    """``[unix_time, "value"]`` as (time, value); non-finite values are ``None``."""
    try:
        at, text = float(pair[0]), str(pair[1])
    except (TypeError, ValueError, IndexError, KeyError):
        raise fail(f"{where}: unexpected sample {json.dumps(pair)[:80]}") from None
    try:
        value = float(text)
    except ValueError:
        raise fail(f"{where}: sample value {text!r} is not a number") from None
    return at, value if math.isfinite(value) else None


class PrometheusSource(MetricSource):
    type_name = "prometheus"
    description = "Metrics from PromQL queries: an instant value per poll, or a range of points per step."
    Options = PrometheusOptions
    MetricOptions = PrometheusMetricOptions
    mode = "replace"
    default_interval = 60.0
    default_timeout = 15.0

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {
            "source": {"url": "http://127.0.0.1:9090"},
            "metric": {
                "query": 'sum(increase(http_requests_total{path="/signup",code="200"}[5m]))',
                "range": "1h",
                "step": "5m",
            },
        }

    def fetch(self, cursor: str | None, now: dt.datetime) -> FetchResult:
        deadline = Deadline(self.spec.timeout)
        now = utc(now)
        try:
            positions: dict[str, float] = dict(json.loads(cursor)) if cursor else {}
        except (ValueError, TypeError):
            positions = {}
        rows: list[tuple[str, dt.datetime, float]] = []
        errors: list[str] = []
        skipped = 0
        new_positions = dict(positions)
        for metric in self.metrics:
            try:
                if metric.options.range is None:
                    points, bad = self._instant(metric, now, deadline)
                else:
                    points, bad, end = self._range(metric, now, positions.get(metric.id), deadline)
                    new_positions[metric.id] = end
            except SourceError as exc:
                errors.append(f"metric {metric.id}: {exc}")
                continue
            skipped += bad
            rows.extend((metric.id, at, value) for at, value in points)
        collect_errors(errors)
        new_cursor = json.dumps(new_positions, sort_keys=True) if new_positions else cursor
        return FetchResult(readings_frame(rows), new_cursor, skipped)

    # -- queries ------------------------------------------------------------------------------

    def _get(self, endpoint: str, params: dict[str, str], deadline: Deadline) -> Any:
        from ._webclient import (
            HttpStatusError,
            get_json,
        )  # http.client and ssl: imported by the first fetch, not at start-up

        params = {**params, "timeout": f"{max(1, int(deadline.remaining() * 1000))}ms"}
        url = f"{self.options.url.rstrip('/')}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
        try:
            body = get_json(
                url,
                headers=self.options.headers,
                deadline=deadline,
                retries=self.options.retries,
                backoff=self.options.backoff,
            )
        except HttpStatusError as exc:
            if isinstance(exc.body, dict) and exc.body.get("status") == "error":
                kind = exc.body.get("errorType", exc.status)
                raise fail(f"Prometheus rejected the query ({kind}): {exc.body.get('error', '')}") from None
            raise
        if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), dict):
            detail = body.get("error") if isinstance(body, dict) else None
            raise fail(f"not a Prometheus API answer from {self.options.url}" + (f": {detail}" if detail else ""))
        return body["data"]

    def _instant(
        self, metric: Metric, now: dt.datetime, deadline: Deadline
    ) -> tuple[list[tuple[dt.datetime, float]], int]:
        data = self._get("query", {"query": metric.options.query, "time": f"{now.timestamp():.3f}"}, deadline)
        series, bad = self._series(data)
        values = self._combine(series, metric.options.aggregate)
        at = truncate(now, metric.options.bucket, self.context.timezone)
        # An instant query has one time: keep its value, whatever timestamp the server put on it.
        return [(at, value) for value in values.values()][:1], bad

    def _range(
        self, metric: Metric, now: dt.datetime, since: float | None, deadline: Deadline
    ) -> tuple[list[tuple[dt.datetime, float]], int, float]:
        opts: PrometheusMetricOptions = metric.options
        step = parse_duration(opts.step or "", "step").total_seconds()
        window = parse_duration(opts.range or "", "range").total_seconds()
        end = math.floor(now.timestamp() / step) * step
        start = (since - step) if since is not None else (end - window)
        start = min(end, max(start, end - (MAX_POINTS - 1) * step))
        start = math.floor(start / step) * step
        data = self._get(
            "query_range",
            {"query": opts.query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}s"},
            deadline,
        )
        series, bad = self._series(data)
        values = self._combine(series, opts.aggregate)
        points = [(dt.datetime.fromtimestamp(at, dt.timezone.utc), value) for at, value in sorted(values.items())]
        return points, bad, end

    # -- results ------------------------------------------------------------------------------

    @staticmethod
    def _series(data: dict[str, Any]) -> tuple[list[tuple[str, dict[float, float]]], int]:
        """Each series as (sorted labels, {time: value}), and how many samples were not finite."""
        kind, result = data.get("resultType"), data.get("result")
        bad = 0
        out: list[tuple[str, dict[float, float]]] = []

        def points(pairs: list[Any], where: str) -> dict[float, float]:
            nonlocal bad
            kept: dict[float, float] = {}
            for pair in pairs:
                at, value = _sample(pair, where)
                if value is None:
                    bad += 1
                else:
                    kept[at] = value
            return kept

        if kind == "scalar":
            return [("", points([result], "scalar result"))], bad
        if kind not in ("vector", "matrix") or not isinstance(result, list):
            raise fail(f"the query returned a {kind} result; use a query that returns numbers")
        for item in result:
            labels = json.dumps(item.get("metric", {}), sort_keys=True)
            pairs = [item.get("value")] if kind == "vector" else item.get("values", [])
            out.append((labels, points(pairs, f"series {labels}")))
        return out, bad

    @staticmethod
    def _combine(series: list[tuple[str, dict[float, float]]], aggregate: str) -> dict[float, float]:
        """One value per time: the sum of the series, or the series with the first labels."""
        if aggregate == "first":
            return min(series, key=lambda s: s[0])[1] if series else {}
        total: dict[float, float] = {}
        for _, values in series:
            for at, value in values.items():
                total[at] = total.get(at, 0.0) + value
        return total


@hookimpl
def register_metric_sources() -> list[type[MetricSource]]:
    return [PrometheusSource]
