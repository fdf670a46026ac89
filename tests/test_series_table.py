"""``kpitui series`` as text says what its numbers are (name, unit, grain, as of when), shows the comparison
``--compare`` asks for (it was silently left out of the table and the CSV), and marks a bucket still running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KPITUI = str(Path(sys.executable).with_name("kpitui"))


def kpitui(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([KPITUI, *args], capture_output=True, text=True, env=env, timeout=120)


def test_series_text_and_csv_say_what_they_show_and_keep_the_comparison(tmp_path):
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        '[metrics.fees]\nname = "Fees"\nunit = "currency"\naggregation = "sum"\n'
    )
    for value, at in (("70", "2026-03-01 09:00"), ("30", "2026-03-02 10:00"), ("50", "2026-03-03 08:00")):
        assert kpitui("record", "fees", value, "--at", at, "--config", str(config)).returncode == 0
    args = ("series", "fees", "--grain", "day", "--points", "2", "--at", "2026-03-03 12:00", "--config", str(config))
    table = kpitui(*args, "--compare", "previous").stdout.splitlines()
    assert table[0] == "Fees (currency) per day, as of 2026-03-03 12:00 UTC; vs the same day a day earlier"
    assert table[1].split() == ["day", "starting", "value", "a", "day", "earlier", "difference"]
    assert table[2].split() == ["2026-03-02", "00:00", "UTC", "$30.00", "$70.00", "-$40.00"]
    assert table[3].split() == [
        "2026-03-03",
        "00:00",
        "UTC",
        "$50.00",
        "$30.00",
        "+$20.00",
        "(so",
        "far:",
        "to",
        "12:00",
        "UTC)",
    ]
    plain = kpitui(*args).stdout.splitlines()
    assert plain[0] == "Fees (currency) per day, as of 2026-03-03 12:00 UTC" and len(plain[2].split()) == 4
    csv = kpitui(*args, "--compare", "previous", "--format", "csv").stdout.splitlines()
    assert csv == [
        "start,value,compare,difference",
        "2026-03-02T00:00:00+00:00,30.0,70.0,-40.0",
        "2026-03-03T00:00:00+00:00,50.0,30.0,20.0",
    ]
