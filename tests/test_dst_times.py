"""Times typed without an offset in a non-UTC calendar, around DST changes, as docs/kpis.md says: a skipped wall
time refused with one line, a repeated hour's time its first pass, an offset choosing either, a date alone its
day's first instant (through the real ``kpitui`` script; instants checked against zoneinfo by hand)."""

from __future__ import annotations

import datetime as dt
import json

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


def test_london_spring_forward_and_fall_back(tmp_path):
    path = config(tmp_path, "Europe/London")
    for command in (("record", "a", "1"), ("report", "--no-collect")):
        refused = kpitui(*command, "--at", "2026-03-29 01:30", "--config", str(path))
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "'2026-03-29 01:30' does not exist in Europe/London" in refused.stderr, refused.stderr
    typed = ["2026-03-29T01:30+00:00", "2026-03-29 00:59", "2026-03-29 02:00", "2026-10-25 01:30",
             "2026-10-25T01:30+00:00", "2026-03-29"]  # fmt: skip
    for at in typed:
        done = kpitui("record", "a", "1", "--at", at, "--config", str(path))
        assert done.returncode == 0, done.stderr
    assert stored(path) == sorted(
        [
            "2026-03-29T01:30:00+00:00",  # the offset given: 02:30 BST
            "2026-03-29T00:59:00+00:00",  # GMT still
            "2026-03-29T01:00:00+00:00",  # 02:00 BST, the first instant after the jump
            "2026-10-25T00:30:00+00:00",  # the repeated hour's first pass: 01:30 BST
            "2026-10-25T01:30:00+00:00",  # its second pass, by offset: 01:30 GMT
            "2026-03-29T00:00:00+00:00",  # a date alone
        ]
    )


def test_a_skipped_midnight_date_is_the_days_first_instant(tmp_path):
    path = config(tmp_path, "America/Santiago")  # 2026-09-06 00:00 -> 01:00
    assert kpitui("record", "a", "1", "--at", "2026-09-06", "--config", str(path)).returncode == 0
    refused = kpitui("record", "a", "1", "--at", "2026-09-06 00:30", "--config", str(path))
    assert refused.returncode == 2 and "does not exist in America/Santiago" in refused.stderr
    assert stored(path) == ["2026-09-06T04:00:00+00:00"]  # 01:00 -03
