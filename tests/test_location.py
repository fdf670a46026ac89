"""Where each config's history lives (issue 11 item 1), through the real ``kpitui`` command.

Configs without ``[storage] path`` used to share one ``history.sqlite3``: two
folders recording ``sales`` both reported the last value written by either.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from pathlib import Path

import pytest
from test_cli import run

from kpitui.api import readings_frame
from kpitui.location import own_history_path
from kpitui.store import Store

CONFIG = """\
[kpitui]
timezone = "UTC"

[metrics.sales]
unit = "count"
aggregation = "sum"
{extra}
[kpis.total_sales]
formula = "sum"
metrics = ["sales"]
window = "today"
"""

AT = "2026-03-02T10:00:00"


def folder(tmp_path: Path, name: str, extra: str = "") -> Path:
    path = tmp_path / name
    path.mkdir()
    (path / "kpitui.toml").write_text(CONFIG.format(extra=extra), encoding="utf-8")
    return path


def sales_on_the_day(cwd: Path) -> float | None:
    result = run(
        "series", "sales", "--grain", "day", "--points", "1", "--at", "2026-03-02T23:00:00", "--format", "json", cwd=cwd
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["points"][0]["value"]


def data() -> Path:
    return Path(os.environ["KPITUI_DATA_DIR"])


@pytest.mark.slow
def test_two_folders_each_keep_their_own_history(tmp_path):
    shop, office = folder(tmp_path, "shop"), folder(tmp_path, "office")
    assert run("record", "sales", "5", "--at", AT, cwd=shop).returncode == 0
    assert run("record", "sales", "7", "--at", AT, cwd=office).returncode == 0
    assert sales_on_the_day(shop) == 5
    assert sales_on_the_day(office) == 7
    files = sorted(p.name for p in data().glob("*.sqlite3"))
    assert len(files) == 2 and files[0].startswith("office-") and files[1].startswith("shop-")


@pytest.mark.slow
def test_check_names_the_file_and_why(tmp_path):
    shop = folder(tmp_path, "shop")
    result = run("check", cwd=shop)
    assert result.returncode == 0, result.stderr
    own = own_history_path(shop / "kpitui.toml")
    assert f"history at {own} (this config's own" in result.stdout
    assert not own.exists(), "check creates nothing"
    chosen = shop / "mine.sqlite3"
    (shop / "kpitui.toml").write_text(f'[storage]\npath = "{chosen}"\n' + CONFIG.format(extra=""), encoding="utf-8")
    assert f"history at {chosen} ([storage] path)" in run("check", cwd=shop).stdout


def test_the_bundled_sample_keeps_its_own_file(tmp_path):
    result = run("check", cwd=tmp_path)
    assert f"history at {data() / 'sample.sqlite3'} (the bundled sample's own)" in result.stdout


def shared_history(*rows: tuple[str, str, float]) -> Path:
    path = data() / "history.sqlite3"
    with Store(path) as store:
        store.write(readings_frame([(m, dt.datetime.fromisoformat(t + "+00:00"), v) for m, t, v in rows]))
    return path


@pytest.mark.slow
def test_the_first_config_whose_metrics_match_adopts_the_shared_history(tmp_path):
    shared = shared_history(("sales", "2026-03-02T08:00:00", 3.0))
    shop, office = folder(tmp_path, "shop"), folder(tmp_path, "office")
    check = run("check", cwd=shop)
    assert f"its first use adopts the shared history {shared}" in check.stdout and shared.exists()

    first = run("record", "sales", "5", "--at", AT, cwd=shop)
    assert first.returncode == 0, first.stderr
    own = own_history_path(shop / "kpitui.toml")
    assert f"now keeps its own history at {own}: it adopted" in first.stderr and str(shared) in first.stderr
    assert not shared.exists() and own.exists()
    assert sales_on_the_day(shop) == 8  # the 3 from before, nothing lost

    again = run("record", "sales", "1", "--at", "2026-03-02T11:00:00", cwd=shop)
    assert "adopted" not in again.stderr and "history" not in again.stderr  # one-time notice

    other = run("record", "sales", "7", "--at", AT, cwd=office)
    assert other.returncode == 0, other.stderr
    assert "starting empty" in other.stderr and f"adopted by {(shop / 'kpitui.toml').resolve()}" in other.stderr
    assert sales_on_the_day(office) == 7 and sales_on_the_day(shop) == 9


@pytest.mark.slow
def test_a_shared_history_with_other_metrics_is_left_in_place_with_a_notice(tmp_path):
    shared = shared_history(("sales", "2026-03-02T08:00:00", 3.0), ("refunds", "2026-03-02T08:00:00", 1.0))
    shop = folder(tmp_path, "shop")
    result = run("record", "sales", "5", "--at", AT, cwd=shop)
    assert result.returncode == 0, result.stderr
    assert f"left at {shared} (it holds metrics this config does not have: refunds)" in result.stderr
    assert f'set [storage] path = "{shared}"' in result.stderr
    assert shared.exists() and sales_on_the_day(shop) == 5
    assert "left at" not in run("record", "sales", "1", "--at", AT, cwd=shop).stderr
    # following the notice reads the shared history again
    (shop / "kpitui.toml").write_text(f'[storage]\npath = "{shared}"\n' + CONFIG.format(extra=""), encoding="utf-8")
    assert sales_on_the_day(shop) == 3


def test_a_shared_history_in_use_is_not_moved(tmp_path):
    shared = shared_history(("sales", "2026-03-02T08:00:00", 3.0))
    shop = folder(tmp_path, "shop")
    holder = sqlite3.connect(shared)  # another process (an older kpitui collector) has it open
    try:
        holder.execute("SELECT count(*) FROM readings").fetchone()
        result = run("record", "sales", "5", "--at", AT, cwd=shop)
    finally:
        holder.close()
    assert result.returncode == 0, result.stderr
    assert "another process has it open" in result.stderr
    assert shared.exists() and sales_on_the_day(shop) == 5
    with Store(shared) as store:
        assert store.load()[0].height == 1


@pytest.mark.parametrize("name, stem", [("kpitui.toml", "shop"), ("north wing.toml", "north-wing")])
def test_the_file_name_is_readable_and_follows_the_absolute_path(tmp_path, name, stem):
    path = tmp_path / "shop" / name
    own = own_history_path(path)
    assert own.parent == data() and own.name.startswith(stem + "-") and own.suffix == ".sqlite3"
    assert own_history_path(tmp_path / "shop" / "." / name) == own
    assert own_history_path(tmp_path / "other" / name) != own
