"""The ``http`` source against a real local HTTP server (ThreadingHTTPServer on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from kpitui.api import READINGS_SCHEMA, OptionError, SourceError
from kpitui.builtin import http as http_module
from kpitui.builtin._sourcekit import JsonPath
from kpitui.builtin.http import HttpSource

from .conftest import Reply

NOW = dt.datetime(2024, 3, 5, 14, 37, 12, tzinfo=dt.timezone.utc)
HOUR = dt.datetime(2024, 3, 5, 14, tzinfo=dt.timezone.utc)
STATS = {
    "data": {"visitors": 1204, "bounce": "0.42", "pages": {"page views": 3100}},
    "results": [{"count": 7}, {"count": 9}],
}


def readings(result) -> dict[tuple[str, dt.datetime], float]:
    assert dict(result.readings.schema) == READINGS_SCHEMA
    return {(m, at): v for m, at, v in result.readings.iter_rows()}


def test_registers_through_the_hook():
    assert http_module.register_metric_sources() == [HttpSource]
    assert HttpSource.type_name == "http" and HttpSource.mode == "replace"


def test_paths_pick_numbers_and_metrics_sharing_a_url_share_a_request(json_server, make_source):
    url = json_server.route("/stats", STATS)
    json_server.route("/other", {"total": 5.5})
    source = make_source(
        HttpSource,
        {"url": url},
        {
            "visitors": {"path": "data.visitors"},
            "bounce": {"path": "$.data.bounce"},  # numeric strings are numbers
            "first": {"path": "results[0].count"},
            "last": {"path": "results[-1].count"},
            "views": {"path": 'data.pages["page views"]', "bucket": "day"},
            "other": {"path": "total", "url": json_server.url + "/other"},
        },
    )
    result = source.fetch(None, NOW)
    assert readings(result) == {
        ("visitors", HOUR): 1204.0,
        ("bounce", HOUR): 0.42,
        ("first", HOUR): 7.0,
        ("last", HOUR): 9.0,
        ("views", dt.datetime(2024, 3, 5, tzinfo=dt.timezone.utc)): 3100.0,
        ("other", HOUR): 5.5,
    }
    assert json_server.hits("/stats") == 1 and json_server.hits("/other") == 1


def test_secret_headers_are_sent_and_never_shown(json_server, make_source, monkeypatch):
    monkeypatch.setenv("KPITUI_TEST_API_TOKEN", "tok-5ecret-value")
    url = json_server.route("/stats", STATS)
    source = make_source(
        HttpSource,
        {"url": url, "headers": {"Authorization": "Bearer ${KPITUI_TEST_API_TOKEN}"}},
        {"v": {"path": "data.visitors"}},
    )
    assert "tok-5ecret-value" not in repr(source.options)
    source.fetch(None, NOW)
    ((_, headers),) = json_server.requests
    assert headers["Authorization"] == "Bearer tok-5ecret-value"

    # an API that echoes the credential in its error body
    json_server.route("/stats", Reply(401, {"error": "token tok-5ecret-value is expired"}))
    with pytest.raises(SourceError, match=r"HTTP 401 Unauthorized from .*: token \*\*\* is expired") as caught:
        source.fetch(None, NOW)
    assert "tok-5ecret-value" not in str(caught.value)


def test_5xx_is_retried_with_backoff_then_succeeds(json_server, make_source):
    url = json_server.route(
        "/stats", Reply(503, {"error": "warming up"}), Reply(500, b"oops", content_type="text/plain"), STATS
    )
    source = make_source(HttpSource, {"url": url, "retries": 2, "backoff": 0.05}, {"v": {"path": "data.visitors"}})
    started = time.monotonic()
    assert readings(source.fetch(None, NOW)) == {("v", HOUR): 1204.0}
    assert json_server.hits("/stats") == 3
    assert time.monotonic() - started >= 0.05 + 0.1  # waited backoff, then twice the backoff


def test_5xx_fails_after_the_retries(json_server, make_source):
    url = json_server.route("/stats", Reply(500, {"error": "database is down"}))
    source = make_source(HttpSource, {"url": url, "retries": 1, "backoff": 0.01}, {"v": {"path": "data.visitors"}})
    with pytest.raises(
        SourceError,
        match=r"metric v: HTTP 500 Internal Server Error from .*/stats: database is down \(after 2 attempts\)",
    ):
        source.fetch(None, NOW)
    assert json_server.hits("/stats") == 2


def test_4xx_is_not_retried(json_server, make_source):
    url = json_server.route("/stats", Reply(404, {"message": "no such site"}))
    source = make_source(HttpSource, {"url": url, "retries": 3, "backoff": 0.01}, {"v": {"path": "data.visitors"}})
    with pytest.raises(SourceError, match="HTTP 404 Not Found from .*: no such site"):
        source.fetch(None, NOW)
    assert json_server.hits("/stats") == 1


def test_a_slow_server_times_out_within_the_source_timeout(json_server, make_source):
    url = json_server.route("/stats", Reply(body=STATS, delay=3))
    source = make_source(
        HttpSource, {"url": url, "retries": 2, "backoff": 0.01}, {"v": {"path": "data.visitors"}}, timeout=0.5
    )
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"no answer from .*/stats within 0.5s"):
        source.fetch(None, NOW)
    assert time.monotonic() - started < 1.5  # retries never run past the source's timeout


def test_connection_refused_is_retried_then_reported(closed_port_url, make_source):
    source = make_source(
        HttpSource, {"url": closed_port_url + "/x", "retries": 2, "backoff": 0.01}, {"v": {"path": "a"}}
    )
    with pytest.raises(SourceError, match=r"cannot reach http://127.0.0.1:\d+/x: .*refused.* \(after 3 attempts\)"):
        source.fetch(None, NOW)


@pytest.mark.parametrize(
    ("reply", "path", "message"),
    [
        (
            Reply(body=b"<html>maintenance</html>", content_type="text/html"),
            "a",
            r"\(text/html\) is not JSON: '<html>maintenance</html>'",
        ),
        (
            Reply(body=STATS),
            "data.visitor",
            r"path 'data.visitor': data has no key 'visitor' \(keys: bounce, pages, visitors\)",
        ),
        (Reply(body=STATS), "results[5].count", r"results has 2 items, no \[5\]"),
        (Reply(body=STATS), "data.visitors.total", r"data.visitors is not an object"),
        (Reply(body=STATS), "data", r"the value at 'data' is an object .*, not a number"),
        (Reply(body={"v": "n/a"}), "v", r"the value at 'v' is the string 'n/a', not a number"),
        (Reply(body={"v": None}), "v", r"the value at 'v' is null, not a number"),
        (Reply(body={"v": True}), "v", r"is true, not a number"),
    ],
)
def test_bad_answers_fail_clearly(json_server, make_source, reply, path, message):
    url = json_server.route("/api", reply)
    source = make_source(HttpSource, {"url": url}, {"m": {"path": path}})
    with pytest.raises(SourceError, match="metric m: " + ".*" + message):
        source.fetch(None, NOW)


def test_every_failing_metric_is_named(json_server, make_source):
    url = json_server.route("/stats", STATS)
    source = make_source(
        HttpSource, {"url": url}, {"ok": {"path": "data.visitors"}, "a": {"path": "x"}, "b": {"path": "y"}}
    )
    with pytest.raises(SourceError, match=r"2 metrics failed: metric a: .*; metric b: "):
        source.fetch(None, NOW)


@pytest.mark.parametrize(
    ("source", "metric", "message"),
    [
        (
            {"url": "ftp://example.com/x"},
            {"path": "a"},
            "url must be an absolute URL starting with http:// or https://",
        ),
        ({"url": "https://example.com", "retries": -1}, {"path": "a"}, "retries must be between 0 and 10"),
        ({"url": "https://example.com", "backoff": -1}, {"path": "a"}, "backoff must be zero or more"),
        ({"url": "https://example.com"}, {"path": "a..b"}, "is not a JSON path"),
        ({"url": "https://example.com"}, {"path": "a[x]"}, "is not a JSON path"),
        ({"url": "https://example.com"}, {"path": "a", "url": "/relative"}, "url must be an absolute URL"),
        ({"url": "https://example.com", "headers": {"X": 1}}, {"path": "a"}, "headers.X must be a string"),
    ],
)
def test_bad_options_are_rejected_at_load(make_source, source, metric, message):
    with pytest.raises(OptionError, match=message):
        make_source(HttpSource, source, {"m": metric})


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("data.visitors", ("data", "visitors")),
        ("$.a.b", ("a", "b")),
        ("$", ()),
        ("results[0].count", ("results", 0, "count")),
        ("[1][-1]", (1, -1)),
        ("a['x y'].b", ("a", "x y", "b")),
        ("kebab-case.key_2", ("kebab-case", "key_2")),
    ],
)
def test_json_path_syntax(path, steps):
    assert JsonPath.compile(path).steps == steps


def test_example_tables_are_valid(make_source):
    example = HttpSource.example()
    make_source(HttpSource, example["source"], {"m": example["metric"]})


def test_an_api_key_in_the_url_comes_from_the_environment_and_is_never_shown(json_server, make_source, monkeypatch):
    monkeypatch.setenv("KPITUI_TEST_URL_KEY", "k3y-in-the-query")
    json_server.route("/stats", STATS)
    source = make_source(
        HttpSource, {"url": json_server.url + "/stats?key=${KPITUI_TEST_URL_KEY}"}, {"v": {"path": "data.visitors"}}
    )
    assert "k3y-in-the-query" not in repr(source.options)
    assert readings(source.fetch(None, NOW)) == {("v", HOUR): 1204.0}
    ((path, _),) = json_server.requests
    assert path == "/stats?key=k3y-in-the-query"

    json_server.route("/stats", Reply(404, {"error": "no stats for key k3y-in-the-query"}))
    with pytest.raises(SourceError) as caught:
        source.fetch(None, NOW)
    assert "k3y-in-the-query" not in str(caught.value)
