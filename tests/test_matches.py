"""What an access-log metric's condition matched (issue 17 item 4): kpitui matches, counted by hand
(and checkable with grep) on a real log with rotated files."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.test_cli import run
from tests.test_json_contract import documented, validate


def line(client: str, when: str, target: str, status: int, referrer: str, agent: str) -> str:
    return f'{client} - - [{when} +0000] "GET {target} HTTP/1.1" {status} 12 "{referrer}" "{agent}"\n'


@pytest.fixture
def logged(write_config, tmp_path):
    current = [
        line("1.1.1.1", "10/Mar/2026:10:00:00", "/newsletter/thank-you", 200, "https://google.com/", "Mozilla/5.0"),
        line("1.1.1.2", "10/Mar/2026:11:00:00", "/newsletter/thank-you?utm=x", 200, "https://twitter.com/", "curl/8"),
        line("1.1.1.3", "11/Mar/2026:10:00:00", "/newsletter/thank-you", 200, "https://google.com/", "Mozilla/5.0"),
        line("1.1.1.4", "11/Mar/2026:10:00:00", "/about", 200, "https://google.com/", "Mozilla/5.0"),  # another path
        line("1.1.1.5", "11/Mar/2026:12:00:00", "/newsletter/thank-you", 404, "-", "Mozilla/5.0"),  # an error
        line(
            "1.1.1.6", "16/Mar/2026:12:00:00", "/newsletter/thank-you", 200, "https://late.com/", "Late/1"
        ),  # after --at
    ]
    rotated = [
        line("2.2.2.1", "02/Mar/2026:09:00:00", "/newsletter/thank-you", 200, "https://google.com/", "Safari/17"),
        line("2.2.2.2", "20/Feb/2026:09:00:00", "/newsletter/thank-you", 200, "https://old.com/", "Old/1"),  # February
    ]
    (tmp_path / "access.log").write_text("".join(current))
    with gzip.open(tmp_path / "access.log.1.gz", "wt") as handle:
        handle.write("".join(rotated))
    return write_config(
        """
        [kpitui]
        timezone = "UTC"
        [sources.web]
        type = "access_log"
        path = "access.log"
        [metrics.thanks]
        name = "Thank-you views"
        source = "web"
        trigger = "A visitor viewed the thank-you page"
        condition = 'path == "/newsletter/thank-you" and status < 400'
        [metrics.by_hand]
        name = "Typed"
        """
    )


@pytest.mark.slow
def test_matches_lists_what_the_condition_matched_in_the_period(logged):
    result = run("matches", "thanks", "--at", "2026-03-15T00:00:00+00:00", "--format", "json", "--config", str(logged))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    schema = documented()["matches"]
    assert validate(data, schema, schema) == []
    assert data["lines"] == 4  # 3 in access.log, 1 in access.log.1.gz; not the 404, /about, February or after --at
    assert data["top"]["path"] == [{"value": "/newsletter/thank-you", "count": 4}]
    assert data["top"]["referrer"] == [
        {"value": "https://google.com/", "count": 3}, {"value": "https://twitter.com/", "count": 1},
    ]  # fmt: skip
    assert [(a["value"], a["count"]) for a in data["top"]["agent"]] == [
        ("Mozilla/5.0", 2),
        ("Safari/17", 1),
        ("curl/8", 1),
    ]
    table = run(
        "matches", "thanks", "--at", "2026-03-15T00:00:00+00:00", "--limit", "1", "--config", str(logged)
    ).stdout
    assert "Thank-you views: 4 matching lines" in table and "https://twitter.com/" not in table


def test_matches_refuses_a_metric_without_a_condition(logged):
    result = run("matches", "by_hand", "--config", str(logged))
    assert result.returncode == 2 and "has no trigger condition" in result.stderr and "Traceback" not in result.stderr
    result = run("matches", "thank", "--config", str(logged))
    assert result.returncode == 2 and "did you mean 'thanks'" in result.stderr


@pytest.mark.parametrize("damage", ["truncated", "not gzip"])
def test_a_rotated_log_that_cannot_be_read_is_skipped_with_one_line(logged, tmp_path, damage):
    """A rotated ``.gz`` cut short (logrotate compressing it at that moment, a disk that filled) or not gzip at all
    was an ``EOFError`` / ``BadGzipFile`` traceback from ``kpitui matches`` (and the same error in place of the
    metric view's drill-down), though the other files held the answer. It is skipped, and said so, as the
    collector skips it."""
    (tmp_path / "access.log.1.gz").rename(tmp_path / "access.log.2.gz")
    whole = gzip.compress(
        b"".join(line("3.3.3.3", "03/Mar/2026:09:00:00", "/x", 200, "-", "A").encode() for _ in range(500))
    )
    (tmp_path / "access.log.1.gz").write_bytes(whole[: len(whole) // 2] if damage == "truncated" else b"\x1f\x8b junk")
    result = run("matches", "thanks", "--at", "2026-03-15T00:00:00+00:00", "--format", "json", "--config", str(logged))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout)["lines"] == 4  # what the readable files hold
    said = [text for text in result.stderr.splitlines() if text.strip()]
    assert len(said) == 1 and "access.log.1.gz" in said[0] and "skipped" in said[0], result.stderr
