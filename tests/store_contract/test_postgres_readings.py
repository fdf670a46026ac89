"""`kpitui record` and `kpitui readings list/edit/delete` on a real PostgreSQL history: the same
behaviour as on SQLite (tests/test_readings_cli.py, run here against PostgreSQL), with ids kept
per reading across instances."""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import pytest

from kpitui.api import readings_frame
from kpitui.postgres_store import PostgresStore
from tests import test_readings_cli as on_sqlite
from tests.test_cli import run
from tests.test_readings_cli import day_total, kpitui, listed

METRICS = """
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


@pytest.fixture
def pg_config(tmp_path, pg_url, monkeypatch):
    """``pg_config(instance)``: a config of the manual metrics on this test's PostgreSQL history."""
    monkeypatch.setenv("KPITUI_DATABASE_URL", pg_url)

    def make(instance: str = "laptop") -> object:
        path = tmp_path / f"{instance}.toml"
        storage = (
            f'[storage]\nurl = "${{KPITUI_DATABASE_URL}}"\ninstance = "{instance}"\npath = '
            f'"{tmp_path / instance}.side"\n'
        )
        path.write_text(storage + textwrap.dedent(METRICS), encoding="utf-8")
        return path

    return make


@pytest.mark.slow
def test_record_list_edit_delete_round_trip_on_postgres(pg_config):
    on_sqlite.test_record_list_edit_delete_round_trip(pg_config())


def test_recording_the_same_time_again_replaces_and_says_so_on_postgres(pg_config):
    on_sqlite.test_recording_the_same_time_again_replaces_and_says_so(pg_config())


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
        (
            ["readings", "edit", "1", "--at", "2026-03-02 15:00"],
            1,
            "sales already has manual reading 2 at that time; delete it first or pick another time",
        ),
    ],
)
def test_readings_mistakes_are_one_line_on_postgres(pg_config, args, code, message):
    config = pg_config()
    kpitui("record", "sales", "3", "--at", "2026-03-02 09:00", config=config)
    kpitui("record", "sales", "4", "--at", "2026-03-02 15:00", config=config)
    result = run(*args, "--config", str(config))
    assert result.returncode == code and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert day_total(config, "sales", "2026-03-02") == 7  # nothing changed


@pytest.mark.slow
def test_each_instance_keeps_its_own_manual_readings_and_a_correction_stays_in_its_row(pg_config):
    web1, web2 = pg_config("web1"), pg_config("web2")
    assert "as reading 1" in kpitui("record", "sales", "3", "--at", "2026-03-02 09:00", config=web1)
    assert "as reading 2" in kpitui(
        "record", "sales", "4", "--at", "2026-03-02 09:00", config=web2
    )  # same time, other host
    assert day_total(web1, "sales", "2026-03-02") == 7  # viewers see the sum
    assert [(r["id"], r["value"]) for r in listed(web2, "sales")] == [(2, 4.0), (1, 3.0)]
    kpitui("readings", "edit", "1", "10", config=web2)  # corrected from the other host's config: still web1's reading
    assert day_total(web1, "sales", "2026-03-02") == 14
    report = run(
        "series",
        "sales",
        "--at",
        "2026-03-02 23:00",
        "--points",
        "1",
        "--instance",
        "web1",
        "--format",
        "json",
        "--config",
        str(web2),
    )
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["points"][0]["value"] == 10
    kpitui("readings", "edit", "2", "--at", "2026-03-03 09:00", config=web1)
    assert (day_total(web1, "sales", "2026-03-02"), day_total(web1, "sales", "2026-03-03")) == (10, 4)
    kpitui("readings", "delete", "1", config=web2)
    assert day_total(web1, "sales", "2026-03-02") is None
    assert [r["id"] for r in listed(web1)] == [2]


@pytest.mark.slow
def test_readings_stored_before_ids_get_one_when_listed_on_postgres(pg_config, pg_url, tmp_path):
    config = pg_config()
    at = dt.datetime(2026, 3, 2, 14, tzinfo=dt.timezone.utc)
    with PostgresStore(pg_url, instance="laptop", path=tmp_path / "side") as store:  # as an older kpitui left them
        store.write(readings_frame([("sales", at, 2.0), ("sales", at + dt.timedelta(hours=1), 6.0)]))
    rows = listed(config, "sales")
    assert [(r["id"], r["at"], r["value"], r["recorded"]) for r in rows] == [
        (2, "2026-03-02T10:00:00-05:00", 6.0, None),
        (1, "2026-03-02T09:00:00-05:00", 2.0, None),
    ]
    kpitui("readings", "delete", str(rows[0]["id"]), config=config)
    assert day_total(config, "sales", "2026-03-02") == 2
