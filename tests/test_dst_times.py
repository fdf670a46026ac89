"""Times typed without an offset in a non-UTC calendar, around DST changes, as docs/kpis.md says: a skipped wall
time the jump's length later (as the acceptance tests' oracle reads ``report --at``), a repeated hour's time its
first pass, an offset choosing either, a date alone its day's first instant (through the real ``kpitui`` script;
the instants worked out by hand)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.test_plugin_guards import kpitui


def config(tmp_path, zone: str):
    path = tmp_path / "kpitui.toml"
    store = (tmp_path / "h.db").as_posix()
    path.write_text(f'[kpitui]\ntimezone = "{zone}"\n[storage]\npath = "{store}"\n[metrics.a]\nname = "A"\n')
    return path


def stored(path) -> list[str]:
    result = kpitui("readings", "--format", "json", "--config", str(path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    rows = data["readings"] if isinstance(data, dict) else data
    return sorted(dt.datetime.fromisoformat(r["at"]).astimezone(dt.timezone.utc).isoformat() for r in rows)


@pytest.mark.slow
def test_london_spring_forward_and_fall_back(tmp_path):
    path = config(tmp_path, "Europe/London")
    skipped = kpitui("record", "a", "1", "--at", "2026-03-29 01:30", "--config", str(path))
    assert skipped.returncode == 0 and "at 2026-03-29 02:30:00 BST" in skipped.stdout, skipped.stdout
    typed = ["2026-03-29T00:30+01:00", "2026-03-29 00:59", "2026-03-29 02:00", "2026-10-25 01:30",
             "2026-10-25T01:30+00:00", "2026-03-29"]  # fmt: skip
    for at in typed:
        done = kpitui("record", "a", "1", "--at", at, "--config", str(path))
        assert done.returncode == 0, done.stderr
    assert stored(path) == sorted(
        [
            "2026-03-29T01:30:00+00:00",  # the skipped 01:30: 02:30 BST
            "2026-03-28T23:30:00+00:00",  # an offset given: that instant
            "2026-03-29T00:59:00+00:00",  # GMT still
            "2026-03-29T01:00:00+00:00",  # 02:00 BST, the first instant after the jump
            "2026-10-25T00:30:00+00:00",  # the repeated hour's first pass: 01:30 BST
            "2026-10-25T01:30:00+00:00",  # its second pass, by offset: 01:30 GMT
            "2026-03-29T00:00:00+00:00",  # a date alone
        ]
    )


def test_a_skipped_midnight(tmp_path):
    path = config(tmp_path, "America/Santiago")  # 2026-09-06 00:00 -> 01:00
    assert kpitui("record", "a", "1", "--at", "2026-09-06", "--config", str(path)).returncode == 0
    assert kpitui("record", "a", "2", "--at", "2026-09-06 00:30", "--config", str(path)).returncode == 0
    assert stored(path) == ["2026-09-06T04:00:00+00:00", "2026-09-06T04:30:00+00:00"]  # 01:00 and 01:30 -03
