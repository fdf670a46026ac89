"""kpitui.sourcekit, the public source toolkit (issue 16): bucketing, time parsing, files, HTTP with retries."""

from __future__ import annotations

import datetime as dt
import http.server
import inspect
import json
import threading
from zoneinfo import ZoneInfo

import polars as pl
import pytest

import kpitui.sourcekit as sk
from kpitui.api import SourceError


def test_every_public_name_is_documented_and_is_what_the_builtins_use():
    import kpitui.builtin._sourcekit as private

    for name in sk.__all__:
        obj = getattr(sk, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert (obj.__doc__ or "").strip(), f"kpitui.sourcekit.{name} has no docstring"
        if hasattr(private, name):
            assert getattr(private, name) is obj  # one implementation, no copy to drift


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/London", "Asia/Kolkata", "America/Santiago", "Australia/Lord_Howe"]
)
@pytest.mark.parametrize("bucket", ["hour", "day"])
def test_bucket_start_matches_local_wall_clock_arithmetic(zone, bucket):
    tz = ZoneInfo(zone)
    # every 37 minutes across a year: both DST changes of each zone
    times = [
        dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=37 * i)
        for i in range(0, 365 * 24 * 60 // 37, 7)
    ]
    frame = pl.DataFrame({"at": pl.Series(times, dtype=pl.Datetime("us", "UTC"))})
    got = frame.select(sk.bucket_start(pl.col("at"), bucket, zone)).to_series().to_list()
    for at, start in zip(times, got):
        local = at.astimezone(tz)
        assert start <= at, (at, start)
        assert start.astimezone(tz).date() == local.date() or start.astimezone(tz) < local
        if bucket == "day":
            # no instant between the start and `at` is on an earlier local day, and the start is the first such instant
            assert start.astimezone(tz).date() == local.date()
            assert (start - dt.timedelta(minutes=1)).astimezone(tz).date() < local.date()
        else:
            assert at - start < dt.timedelta(hours=1)
            assert start.astimezone(tz).minute == 0 or zone in ("Asia/Kolkata", "Australia/Lord_Howe")


def test_parse_times_reads_local_offset_z_and_epoch_and_nulls_the_rest():
    frame = pl.DataFrame(
        {
            "t": [
                "2026-03-18 13:30",
                "2026-03-18T13:30:05.25+01:00",
                "2026-03-18T12:30:05Z",
                "1773840605",
                "2026-03-18",
                "soon",
                "2026-03-08 02:30",
                "2026-11-01 01:30",
            ]
        }
    )
    got = frame.select(sk.parse_times(pl.col("t"), "America/New_York")).to_series().to_list()
    utc = dt.timezone.utc
    assert got == [
        dt.datetime(2026, 3, 18, 17, 30, tzinfo=utc),
        dt.datetime(2026, 3, 18, 12, 30, 5, 250000, tzinfo=utc),
        dt.datetime(2026, 3, 18, 12, 30, 5, tzinfo=utc),
        dt.datetime.fromtimestamp(1773840605, utc),
        dt.datetime(2026, 3, 18, 4, 0, tzinfo=utc),
        None,  # not a time
        None,  # skipped by the spring-forward gap
        dt.datetime(2026, 11, 1, 5, 30, tzinfo=utc),  # the repeated hour: the earlier instant (EDT)
    ]
    assert frame.select(sk.parse_times(pl.col("t"), epoch=None)).to_series()[3] is None


def test_read_table_reads_each_format_and_names_the_file_on_errors(tmp_path):
    (tmp_path / "a.csv").write_text("when,score\n2026-03-01,9\n")
    (tmp_path / "a.json").write_text(json.dumps({"rows": [{"when": "2026-03-01", "score": 9}]}))
    (tmp_path / "a.ndjson").write_text('{"when": "2026-03-01", "score": 9}\n')
    pl.DataFrame({"when": ["2026-03-01"], "score": [9]}).write_parquet(tmp_path / "a.parquet")
    for name in ("a.csv", "a.json", "a.ndjson", "a.parquet"):
        frame = sk.read_table(tmp_path / name)
        assert frame.columns == ["when", "score"] and frame.height == 1, name
    assert sk.read_table(tmp_path / "a.csv").schema["score"] == pl.String  # CSV as text: you choose the parsing
    with pytest.raises(SourceError, match="file not found: .*missing.csv"):
        sk.read_table(tmp_path / "missing.csv")
    (tmp_path / "bad.json").write_text('{"rows": [1, 2')
    with pytest.raises(SourceError, match=r"bad.json is not valid JSON: .* line 1"):
        sk.read_json(tmp_path / "bad.json")
    with pytest.raises(SourceError, match="cannot tell the format"):
        sk.read_table(tmp_path / "a.xlsx")


def test_get_json_retries_a_5xx_then_succeeds_and_gives_up_on_a_4xx():
    answers = [(503, b"busy"), (200, b'{"data": {"visitors": 42}}'), (404, b"nope")]
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            status, body = answers.pop(0)
            seen.append(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/stats"
        data = sk.get_json(url, deadline=sk.Deadline(10), retries=2, backoff=0.01)
        assert sk.JsonPath.compile("data.visitors").find(data, "stats") == 42 and len(seen) == 2
        with pytest.raises(SourceError, match="404"):
            sk.get_json(url, deadline=sk.Deadline(10), retries=2, backoff=0.01)
        assert len(seen) == 3  # a 4xx is not retried
    finally:
        server.shutdown()
