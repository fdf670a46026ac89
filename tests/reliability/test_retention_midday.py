"""Day down-sampling keeps to-date comparisons cut at a time of day exact to the hour (issue 19 item 13), through the
CLI.

A to-date window's previous period and the same period last year end at the
current time of day; daily rows cannot be cut there, so ``downsample_to =
"day"`` changed the live "vs last year". Readings inside the hourly horizon
(13 months, more for long trailing windows) now become hourly rows.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kpitui import retention
from kpitui.api import readings_frame
from kpitui.config import load_config
from kpitui.store import Store

from .conftest import run_kpitui

UTC = dt.timezone.utc
TZ = "Europe/Berlin"
WINDOWS = {
    "s_mtd": ("sum", "s", "month_to_date"),
    "s_ytd": ("sum", "s", "year_to_date"),
    "m_qtd": ("mean", "m", "quarter_to_date"),
    "s_t30": ("sum", "s", "trailing_30d"),
    "s_wtd": ("sum", "s", "week_to_date"),
}


def write(tmp_path: Path) -> Path:
    text = (
        f'[kpitui]\ntimezone = "{TZ}"\n\n[storage]\npath = '
        f'"{(tmp_path / "h.sqlite3").as_posix()}"\nraw_retention_days = 30\ndownsample_to = "day"\n\n'
    )
    text += (
        '[metrics.s]\nunit = "number"\naggregation = "sum"\n\n[metrics.m]\nunit = "number"\naggregation = "mean"\n\n'
    )
    for kid, (formula, metric, window) in WINDOWS.items():
        text += f'[kpis.{kid}]\nformula = "{formula}"\nmetrics = ["{metric}"]\nwindow = "{window}"\n\n'
    config = tmp_path / "kpitui.toml"
    config.write_text(text)
    return config


def values(config: Path, moments: list[str]) -> dict[tuple[str, str, str], float | None]:
    out = {}
    for at in moments:
        result = run_kpitui("report", "--format", "json", "--at", at, "--config", str(config))
        assert result.returncode == 0, result.stderr
        for kpi in json.loads(result.stdout)["kpis"]:
            for key in ("value", "previous", "last_year"):
                out[(at, kpi["id"], key)] = kpi[key]
    return out


@pytest.mark.slow
def test_to_date_comparisons_cut_on_the_hour_mid_day_do_not_move(tmp_path, figures):
    config = write(tmp_path)
    now = dt.datetime.now(UTC)
    rng = random.Random(13)
    span = 800 * 24 * 3600
    rows = [
        (m, now - dt.timedelta(seconds=rng.randrange(span)), float(rng.randint(1, 50)))
        for m in ("s", "m")
        for _ in range(6000)
    ]
    with Store(tmp_path / "h.sqlite3") as store:
        store.write(readings_frame(rows))
    # moments within the last day, on whole local hours (report --at never collects); a cut inside an
    # hour gains or loses the rest of that hour (documented), a daily row the rest of its day
    moments = [
        (now - dt.timedelta(hours=h)).astimezone(ZoneInfo(TZ)).replace(minute=0, second=0, microsecond=0).isoformat()
        for h in (1, 5, 9, 14, 20)
    ]
    before = values(config, moments)
    dry = run_kpitui("compact", "--dry-run", "--config", str(config))
    assert dry.returncode == 0, dry.stderr
    done = run_kpitui("compact", "--config", str(config))
    assert done.returncode == 0 and "replaced" in done.stdout, done.stdout
    after = values(config, moments)
    moved = [
        f"{k}: {before[k]} -> {after[k]}"
        for k in before
        if before[k] != after[k] and not (before[k] and after[k] and abs(before[k] - after[k]) < 1e-9 * abs(before[k]))
    ]
    assert not moved, moved[:10]
    assert "hourly and daily rows" in dry.stdout and "for the last 397 days the to-date comparisons" in dry.stdout
    with Store(tmp_path / "h.sqlite3", readonly=True) as store:
        assert store.load()[0].height < len(rows)  # it did compact: daily rows far back, hourly within the horizon
    figures(values_compared=len(before), moments=len(moments), readings=len(rows))


def test_the_horizon_grows_with_the_configs_trailing_windows(tmp_path):
    config = write(tmp_path)
    assert retention.hourly_horizon(load_config(config)) == 397
    config.write_text(config.read_text() + '[kpis.long]\nformula = "sum"\nmetrics = ["s"]\nwindow = "trailing_300d"\n')
    assert retention.hourly_horizon(load_config(config)) == 667  # the same 300 days last year start 666 days back
