"""The ``prometheus`` source against a real Prometheus scraping itself on loopback."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
import urllib.request

import pytest

from kpitui.api import READINGS_SCHEMA, OptionError, SourceError
from kpitui.builtin import prometheus as prometheus_module
from kpitui.builtin.prometheus import PrometheusSource

from .conftest import Reply

TWO_SERIES = 'label_replace(vector(2), "a", "x", "", "") or label_replace(vector(3), "a", "y", "", "")'


def readings(result) -> dict[tuple[str, dt.datetime], float]:
    assert dict(result.readings.schema) == READINGS_SCHEMA
    return {(m, at): v for m, at, v in result.readings.iter_rows()}


def settled_now() -> dt.datetime:
    """A few seconds ago: late samples can no longer change what a query sees at this time."""
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=3)


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="session")
def warm_prom(prom_url) -> str:
    """The server, once it holds at least 10 s of self-scrapes (a fresh CI server may have one)."""
    query = urllib.parse.urlencode({"query": 'count_over_time(up{job="prometheus"}[1m])'})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{prom_url}/api/v1/query?{query}", timeout=5) as response:
            result = json.load(response)["data"]["result"]
        if result and float(result[0]["value"][1]) >= 10:
            return prom_url
        time.sleep(0.5)
    pytest.fail("Prometheus collected fewer than 10 scrapes of itself in 30 s")


def test_registers_through_the_hook():
    assert prometheus_module.register_metric_sources() == [PrometheusSource]
    assert PrometheusSource.type_name == "prometheus" and PrometheusSource.mode == "replace"


@pytest.mark.prometheus
def test_instant_queries_read_one_value_per_metric(warm_prom, make_source):
    now = settled_now()
    source = make_source(
        PrometheusSource,
        {"url": warm_prom},
        {
            "build": {"query": "prometheus_build_info"},
            "up": {"query": 'up{job="prometheus"}', "aggregate": "first"},
            "scalar": {"query": "scalar(vector(4))"},
            "daily": {"query": "vector(1.5)", "bucket": "day"},
        },
    )
    result = source.fetch(None, now)
    assert readings(result) == {
        ("build", hour_of(now)): 1.0,
        ("up", hour_of(now)): 1.0,
        ("scalar", hour_of(now)): 4.0,
        ("daily", now.replace(hour=0, minute=0, second=0, microsecond=0)): 1.5,
    }
    assert result.cursor is None  # instant queries keep no position


@pytest.mark.prometheus
def test_several_series_are_summed_or_the_first_is_kept(warm_prom, make_source):
    now = settled_now()
    source = make_source(
        PrometheusSource,
        {"url": warm_prom},
        {
            "sum": {"query": TWO_SERIES},
            "first": {"query": TWO_SERIES, "aggregate": "first"},
            "requests": {"query": "prometheus_http_requests_total"},
            "server_sum": {"query": "sum(prometheus_http_requests_total)"},
        },
    )
    got = readings(source.fetch(None, now))
    assert got[("sum", hour_of(now))] == 5.0
    assert got[("first", hour_of(now))] == 2.0  # labels {a="x"} sort before {a="y"}
    assert got[("requests", hour_of(now))] == got[("server_sum", hour_of(now))] > 0


@pytest.mark.slow
@pytest.mark.prometheus
def test_range_query_reads_points_per_step_since_the_cursor(warm_prom, make_source):
    source = make_source(
        PrometheusSource, {"url": warm_prom}, {"up": {"query": 'up{job="prometheus"}', "range": "1m", "step": "2s"}}
    )
    first = source.fetch(None, settled_now())
    points = first.readings["at"].to_list()
    assert len(points) >= 2
    assert set(first.readings["value"]) == {1.0}
    assert all(p.timestamp() % 2 == 0 for p in points)
    end = json.loads(first.cursor)["up"]
    assert max(points).timestamp() == end

    time.sleep(4.5)
    second = source.fetch(first.cursor, settled_now())
    again = second.readings["at"].to_list()
    # the next poll starts one step before the last one ended, so the last point is refreshed
    assert min(again).timestamp() == end - 2
    assert json.loads(second.cursor)["up"] >= end + 4
    assert set(second.readings["value"]) == {1.0}


@pytest.mark.prometheus
def test_an_old_cursor_is_clamped_to_what_the_server_allows(warm_prom, make_source):
    source = make_source(PrometheusSource, {"url": warm_prom}, {"up": {"query": "up", "range": "1m", "step": "1s"}})
    # from 1970 at 1s steps is far past Prometheus's 11,000-points limit: it must not be asked for
    result = source.fetch(json.dumps({"up": 0}), settled_now())
    assert len(result.readings) >= 1


@pytest.mark.prometheus
def test_an_empty_result_is_no_reading_and_nan_is_skipped(warm_prom, make_source):
    source = make_source(
        PrometheusSource,
        {"url": warm_prom},
        {"none": {"query": 'up{job="no-such-job"}'}, "nan": {"query": "vector(0) / 0"}},
    )
    result = source.fetch(None, settled_now())
    assert result.readings.is_empty()
    assert result.skipped == 1


@pytest.mark.prometheus
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sum(", r"Prometheus rejected the query \(bad_data\): .*parse error"),
        ('"hello"', "the query returned a string result"),
    ],
)
def test_bad_queries_fail_clearly(warm_prom, make_source, query, message):
    source = make_source(PrometheusSource, {"url": warm_prom}, {"m": {"query": query}})
    with pytest.raises(SourceError, match="metric m: " + message):
        source.fetch(None, settled_now())


def test_unreachable_server(closed_port_url, make_source):
    source = make_source(
        PrometheusSource, {"url": closed_port_url, "retries": 1, "backoff": 0.01}, {"m": {"query": "up"}}
    )
    with pytest.raises(SourceError, match=r"metric m: cannot reach .*/api/v1/query.*refused"):
        source.fetch(None, settled_now())


def test_a_slow_server_times_out(json_server, make_source):
    json_server.route(
        "/api/v1/query",
        Reply(body={"status": "success", "data": {"resultType": "scalar", "result": [0, "1"]}}, delay=3),
    )
    source = make_source(PrometheusSource, {"url": json_server.url}, {"m": {"query": "up"}}, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SourceError, match="within 0.5s"):
        source.fetch(None, settled_now())
    assert time.monotonic() - started < 1.5
    path, _ = json_server.requests[0]
    assert "timeout=" in path  # the server is told the budget too


def test_not_a_prometheus_answer(json_server, make_source):
    json_server.route("/api/v1/query", {"hello": "world"})
    source = make_source(PrometheusSource, {"url": json_server.url}, {"m": {"query": "up"}})
    with pytest.raises(SourceError, match="not a Prometheus API answer"):
        source.fetch(None, settled_now())


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({"query": "up", "range": "1h"}, "range needs step"),
        ({"query": "up", "step": "5m"}, "step needs range"),
        ({"query": "up", "range": "1 hour", "step": "5m"}, "range must be a duration"),
        ({"query": "up", "range": "5m", "step": "1h"}, "must not be longer than range"),
        ({"query": "up", "aggregate": "avg"}, "aggregate must be one of 'sum', 'first'"),
        ({"query": " "}, "query must not be empty"),
    ],
)
def test_bad_options_are_rejected_at_load(make_source, metric, message):
    with pytest.raises(OptionError, match=message):
        make_source(PrometheusSource, {"url": "http://127.0.0.1:9090"}, {"m": metric})


def test_example_tables_are_valid(make_source):
    example = PrometheusSource.example()
    make_source(PrometheusSource, example["source"], {"m": example["metric"]})
