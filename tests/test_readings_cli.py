"""Manual readings through the real console script: record gives an id, readings list/edit/delete use it;
a negative count is an explicit choice (issue 11 item 19)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from kpitui.api import readings_frame
from kpitui.store import Store
from tests.test_cli import run
from tests.test_json_contract import documented, validate


@pytest.fixture
def manual(write_config, tmp_path):
    return write_config(
        """
        [kpitui]
        timezone = "America/New_York"

        [metrics.sales]
        unit = "count"

        [metrics.refunds]
        unit = "count"
        allow_negative = true

        [metrics.profit]
        unit = "currency"

        [metrics.onboarding_time]
        unit = "duration"
        """
    )


def kpitui(*args: str, config) -> str:
    result = run(*args, "--config", str(config))
    assert result.returncode == 0, result.stderr
    return result.stdout


def day_total(config, metric: str, day: str) -> float | None:
    data = json.loads(
        kpitui("series", metric, "--at", f"{day} 23:00", "--points", "1", "--format", "json", config=config)
    )
    return data["points"][0]["value"]


def listed(config, *args: str) -> list[dict]:
    data = json.loads(kpitui("readings", "list", *args, "--format", "json", config=config))
    schema = documented()["readings"]
    assert validate(data, schema, schema) == []
    return data["readings"]


@pytest.mark.slow
def test_record_list_edit_delete_round_trip(manual):
    first = kpitui("record", "sales", "3", "--at", "2026-03-02 09:00", config=manual)
    assert "recorded Sales = 3 at 2026-03-02 09:00:00 EST as reading 1" in first
    kpitui("record", "sales", "4", "--at", "2026-03-02 15:00", config=manual)
    kpitui("record", "onboarding_time", "4h 30m", "--at", "2026-03-02 10:00", config=manual)
    assert day_total(manual, "sales", "2026-03-02") == 7

    table = kpitui("readings", config=manual)  # `list` is the default
    lines = table.splitlines()
    assert lines[0].split() == ["ID", "Time", "Metric", "Value"]
    assert lines[1].split() == ["2", "2026-03-02", "15:00", "EST", "sales", "4"]
    assert lines[2].split() == ["3", "2026-03-02", "10:00", "EST", "onboarding_time", "4h", "30m"]
    assert [r["id"] for r in listed(manual, "sales")] == [2, 1]
    assert listed(manual, "onboarding_time")[0] | {"recorded": None} == {
        "id": 3, "metric": "onboarding_time", "name": "Onboarding time", "unit": "duration",
        "at": "2026-03-02T10:00:00-05:00", "value": 16200.0, "shown": "4h 30m", "recorded": None,
    }  # fmt: skip

    edited = kpitui("readings", "edit", "1", "5", config=manual)
    assert "corrected reading 1: Sales = 3 at 2026-03-02 09:00 EST -> 5 at 2026-03-02 09:00 EST" in edited
    assert day_total(manual, "sales", "2026-03-02") == 9

    moved = kpitui("readings", "edit", "1", "--at", "2026-03-03 09:00", config=manual)
    assert "-> 5 at 2026-03-03 09:00 EST" in moved
    assert (day_total(manual, "sales", "2026-03-02"), day_total(manual, "sales", "2026-03-03")) == (4, 5)
    assert [r["id"] for r in listed(manual, "sales")] == [1, 2]  # the id stays with the reading

    kpitui("readings", "edit", "3", "90m", config=manual)
    assert day_total(manual, "onboarding_time", "2026-03-02") == 5400

    deleted = kpitui("readings", "delete", "1", "2", config=manual)
    assert "deleted reading 1: Sales = 5 at 2026-03-03 09:00 EST" in deleted and "deleted reading 2" in deleted
    assert (day_total(manual, "sales", "2026-03-02"), day_total(manual, "sales", "2026-03-03")) == (
        None,
        None,
    )  # no reading left
    assert listed(manual, "sales") == []
    again = kpitui("record", "sales", "1", "--at", "2026-03-04 09:00", config=manual)
    assert "as reading 4" in again  # ids are never handed out twice


@pytest.mark.slow
def test_recording_the_same_time_again_replaces_and_says_so(manual):
    kpitui("record", "sales", "3", "--at", "2026-03-02 09:00", config=manual)
    out = kpitui("record", "sales", "8", "--at", "2026-03-02 09:00", config=manual)
    assert "as reading 1; it replaces 3 recorded for that time" in out
    assert day_total(manual, "sales", "2026-03-02") == 8


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, code, message",
    [
        (["readings", "edit", "42", "1"], 2, "there is no manual reading 42 (`kpitui readings list` shows their ids)"),
        (
            ["readings", "delete", "1", "42"],
            2,
            "there is no manual reading 42 (`kpitui readings list` shows their ids); nothing was deleted",
        ),
        (["readings", "edit", "1"], 2, "readings edit: give a new VALUE, --at TIME, or both"),
        (["readings", "edit", "1", "lots"], 2, "value: 'lots' is not a number"),
        (["readings", "edit", "1", "-2"], 2, "sales is a count, so -2 is refused as a mistake"),
        (
            ["readings", "edit", "1", "--at", "2026-03-02 15:00"],
            1,
            "sales already has manual reading 2 at that time; delete it first or pick another time",
        ),
        (["readings", "list", "sale"], 2, "unknown metric 'sale' (did you mean 'sales'?)"),
    ],
)
def test_readings_mistakes_are_one_line(manual, tmp_path, args, code, message):
    with Store(tmp_path / "history.sqlite3") as store:
        for hour, value in ((14, 3), (20, 4)):  # 09:00 and 15:00 in New York
            store.record_manual("sales", dt.datetime(2026, 3, 2, hour, tzinfo=dt.timezone.utc), value)
    result = run(*args, "--config", str(manual))
    assert result.returncode == code and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert day_total(manual, "sales", "2026-03-02") == 7  # nothing changed


@pytest.mark.slow
def test_a_negative_count_is_an_explicit_choice(manual):
    refused = run("record", "sales", "-5", "--config", str(manual))
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "kpitui: sales is a count, so -5 is refused as a mistake; to record a correction pass --allow-negative "
        "(or set allow_negative = true in [metrics.sales])"
    )
    assert run("record", "onboarding_time", "--", "-2h", "--config", str(manual)).returncode == 2
    kpitui("record", "sales", "-5", "--allow-negative", "--at", "2026-03-02 09:00", config=manual)
    kpitui("record", "refunds", "-2", "--at", "2026-03-02 09:00", config=manual)  # allow_negative = true
    kpitui("record", "profit", "-120", "--at", "2026-03-02 09:00", config=manual)  # currency can be negative
    assert (day_total(manual, "sales", "2026-03-02"), day_total(manual, "refunds", "2026-03-02")) == (-5, -2)
    assert day_total(manual, "profit", "2026-03-02") == -120


@pytest.mark.slow
def test_readings_stored_before_ids_get_one_when_listed(manual, tmp_path):
    at = dt.datetime(2026, 3, 2, 14, tzinfo=dt.timezone.utc)
    with Store(tmp_path / "history.sqlite3") as store:  # as an older kpitui (or another writer) left them
        store.write(readings_frame([("sales", at, 2.0), ("sales", at + dt.timedelta(hours=1), 6.0)]))
    rows = listed(manual, "sales")
    assert [(r["at"], r["value"], r["recorded"]) for r in rows] == [
        ("2026-03-02T10:00:00-05:00", 6.0, None),
        ("2026-03-02T09:00:00-05:00", 2.0, None),
    ]
    kpitui("readings", "delete", str(rows[0]["id"]), config=manual)
    assert day_total(manual, "sales", "2026-03-02") == 2


@pytest.mark.slow
def test_a_reading_down_sampled_by_retention_is_no_longer_listed_or_changed_alone(write_config):
    config = write_config(
        '[storage]\npath = "h.sqlite3"\nraw_retention_days = "1d"\n\n[metrics.sales]\nunit = "count"\n'
    )
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)).replace(minute=10, second=0, microsecond=0)
    for minutes, value in ((0, 3), (20, 4)):
        kpitui("record", "sales", str(value), "--at", (old + dt.timedelta(minutes=minutes)).isoformat(), config=config)
    kpitui("record", "sales", "5", config=config)
    kpitui("compact", config=config)
    assert [r["value"] for r in listed(config, "sales")] == [5]
    refused = run("readings", "edit", "1", "9", "--config", str(config))
    assert (
        refused.returncode == 2 and "manual reading 1 was down-sampled into its bucket by retention" in refused.stderr
    )


def test_record_into_a_source_fed_metric_says_what_the_reading_does(tmp_path):
    """The TUI's form offers manual metrics only; `record` into a metric a source feeds is kept for scripts,
    and says that the reading is combined with the source's and how to remove it."""
    from test_cli import run

    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "h.sqlite3"}"\n\n[sources.demo]\ntype = "demo"\nhistory_days = 0\n\n'
        '[metrics.typed]\nname = "Typed"\n\n[metrics.fed]\nname = "Fed"\nsource = "demo"\n',
        encoding="utf-8",
    )
    fed = run("record", "--config", str(config), "fed", "5")
    assert fed.returncode == 0, fed.stderr
    assert "Fed is fed by the source demo" in fed.stderr and "kpitui readings delete 1" in fed.stderr
    typed = run("record", "--config", str(config), "typed", "5")
    assert typed.returncode == 0 and "fed by the source" not in typed.stderr


def test_a_metric_of_a_manual_source_with_its_own_id_is_recorded_by_hand(tmp_path):
    """``[sources.hand] type = "manual"``: its metrics are recorded by hand, as those with no source. `record` told
    them they were "fed by the source hand ... combined with the source's by the metric's aggregation (last: a sum
    adds it to the count)": the id was compared with "manual", not the source's type."""
    from test_cli import run

    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "h.sqlite3"}"\n\n[sources.hand]\ntype = "manual"\n\n'
        '[metrics.temp]\nname = "Temp"\nsource = "hand"\naggregation = "last"\n',
        encoding="utf-8",
    )
    done = run("record", "--config", str(config), "temp", "21")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "recorded Temp = 21" in done.stdout
