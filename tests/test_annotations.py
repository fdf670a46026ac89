"""Annotations (issue 17): kpitui annotate / annotations list, edit, delete, kept in the history file in a
table of their own, and listed in report and series JSON."""

from __future__ import annotations

import json
import sqlite3

import pytest

from kpitui.api import readings_frame
from kpitui.store import Store
from tests.test_cli import run
from tests.test_explain import CONFIG, t
from tests.test_json_contract import documented, validate


@pytest.fixture
def config(write_config, tmp_path):
    path = write_config('[kpitui]\ntimezone = "UTC"\n' + CONFIG)
    with Store(tmp_path / "history.sqlite3") as store:
        store.write(
            readings_frame(
                [("signups", t(2026, 3, 2), 20.0), ("requests", t(2026, 3, 5), 4.0), ("views", t(2026, 3, 3), 400.0)]
            )
        )
    return path


def ok(*args: str, config) -> str:
    result = run(*args, "--config", str(config))
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(*args: str, config) -> str:
    result = run(*args, "--config", str(config))
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 or lines[0].startswith("usage: ")  # ours: one line; argparse's: usage, then one line
    return lines[-1]


def listed(config, *args: str) -> list[dict]:
    data = json.loads(ok("annotations", "list", *args, "--format", "json", config=config))
    schema = documented()["annotations"]
    assert validate(data, schema, schema) == []
    return data["annotations"]


@pytest.mark.slow
def test_annotate_list_edit_delete_round_trip(config, tmp_path):
    out = ok("annotate", "Launched the webinar ads", "--at", "2026-03-04 09:00", "--kpi", "leads", config=config)
    assert out.strip() == "annotation 1 at 2026-03-04 09:00 UTC about KPI Lead Generation: Launched the webinar ads"
    ok("annotate", "Site down", "--at", "2026-03-10T12:00:00+00:00", "--metric", "views", config=config)
    ok("annotate", "Price change", "--at", "2026-02-01 00:00", config=config)  # about everything (the default)
    notes = listed(config)
    assert [(n["id"], n["text"], n["kpi"], n["metric"]) for n in notes] == [
        (2, "Site down", None, "views"),
        (1, "Launched the webinar ads", "leads", None),
        (3, "Price change", None, None),
    ]  # newest first
    assert notes[0]["at"] == "2026-03-10T12:00:00+00:00"
    assert notes[0]["kpis"] == ["conversion", "squared"]  # the KPIs that read views
    assert [n["id"] for n in listed(config, "--kpi", "leads")] == [1, 3]
    assert [n["id"] for n in listed(config, "--metric", "views")] == [2, 3]
    assert [n["id"] for n in listed(config, "--since", "2026-03-05")] == [2]
    ok("annotations", "edit", "2", "Site down for 20 minutes", "--all", config=config)
    edited = {n["id"]: n for n in listed(config)}[2]
    assert (edited["text"], edited["metric"], edited["at"]) == (
        "Site down for 20 minutes",
        None,
        "2026-03-10T12:00:00+00:00",
    )
    assert "deleted annotation 1: Launched the webinar ads" in ok("annotations", "delete", "1", config=config)
    assert [n["id"] for n in listed(config)] == [2, 3]
    # kept in the history file, in their own table; the readings are untouched
    with sqlite3.connect(tmp_path / "history.sqlite3") as con:
        assert con.execute("SELECT count(*) FROM annotations").fetchone() == (2,)
    with Store(tmp_path / "history.sqlite3", readonly=True) as store:
        assert store.load()[0].height == 3


@pytest.mark.slow
def test_bad_annotations_are_one_line_exit_2(config):
    assert "no kpi 'lead' in the config (did you mean 'leads'?)" in fails(
        "annotate", "x", "--kpi", "lead", config=config
    )
    assert "needs some text" in fails("annotate", "   ", config=config)
    assert "there is no annotation 9" in fails("annotations", "delete", "9", config=config)
    assert "--at:" in fails("annotate", "x", "--at", "yesterday-ish", config=config)
    assert "give new TEXT" in fails("annotations", "edit", "1", config=config)
    assert "not an annotation id" in fails("annotations", "delete", "one", config=config)
    assert "not allowed with argument" in fails("annotate", "x", "--kpi", "leads", "--metric", "views", config=config)


@pytest.mark.slow
def test_report_and_series_json_list_the_annotations_about_what_they_show(config):
    ok("annotate", "Launched the webinar ads", "--at", "2026-03-04 09:00", "--kpi", "leads", config=config)
    ok("annotate", "Ad views campaign", "--at", "2026-03-06 09:00", "--metric", "views", config=config)
    ok("annotate", "Long ago", "--at", "2025-01-01 00:00", config=config)  # before anything shown
    report = json.loads(
        ok("report", "--format", "json", "--no-collect", "--at", "2026-03-15T12:00:00+00:00", config=config)
    )
    schema = documented()["report"]
    assert validate(report, schema, schema) == []
    assert [(n["text"], n["kpis"]) for n in report["annotations"]] == [
        ("Launched the webinar ads", ["leads"]), ("Ad views campaign", ["conversion", "squared"]),
    ]  # fmt: skip
    series = json.loads(ok("series", "leads", "--at", "2026-03-15T12:00:00+00:00", "--format", "json", config=config))
    schema = documented()["series"]
    assert validate(series, schema, schema) == []
    assert [n["text"] for n in series["annotations"]] == ["Launched the webinar ads"]
    series = json.loads(ok("series", "views", "--at", "2026-03-15T12:00:00+00:00", "--format", "json", config=config))
    assert [n["text"] for n in series["annotations"]] == ["Ad views campaign"]
    table = ok(
        "report", "--explain", "--no-collect", "--at", "2026-03-15T12:00:00+00:00", "--width", "0", config=config
    )
    assert "2026-03-04 09:00  Launched the webinar ads  (Lead Generation)" in table


# -- annotation sources (the register_annotation_sources hook) ----------------------------------

DEPLOYS_PLUGIN = """
import datetime as dt

import kpitui
from dataclasses import dataclass
from kpitui.api import AnnotationSource, Note


@dataclass(frozen=True)
class DeployOptions:
    service: str


class Deploys(AnnotationSource):
    type_name = "deploys"
    description = "one deploy a day at 10:00"
    Options = DeployOptions

    def annotations(self, start, end):
        day = start.replace(hour=10, minute=0, second=0, microsecond=0)
        out = []
        while day <= end:
            if day >= start:
                out.append(Note(day.replace(tzinfo=None), f"deployed {self.options.service}", metric="signups"))
            day += dt.timedelta(days=1)
        return out


class Broken(AnnotationSource):
    type_name = "broken"

    def annotations(self, start, end):
        raise RuntimeError("the deploy API is down")


@kpitui.hookimpl
def register_annotation_sources():
    return [Deploys, Broken]
"""


@pytest.fixture
def with_sources(write_config, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "deploys.py").write_text(DEPLOYS_PLUGIN)
    (tmp_path / "campaigns.csv").write_text(
        "at,text,kpi\n2026-03-12 08:00,Spring campaign,leads\n2025-06-01,Long ago,\n"
    )
    path = write_config(
        f'[plugins]\ndirs = ["{plugins.as_posix()}"]\n[kpitui]\ntimezone = "UTC"\n'
        + CONFIG
        + '\n[annotation_sources.web]\ntype = "deploys"\nservice = "web"\n'
        + '\n[annotation_sources.down]\ntype = "broken"\n'
        + '\n[annotation_sources.campaigns]\ntype = "csv"\npath = "campaigns.csv"\n'
    )
    with Store(tmp_path / "history.sqlite3") as store:
        store.write(readings_frame([("signups", t(2026, 3, 2), 20.0)]))
    return path


def three_days_of_leads(config):
    """``kpitui series leads`` as JSON: three daily buckets to 14 Mar 12:00 UTC, with their annotations."""
    return run(
        "series", "leads", "--at", "2026-03-14T12:00:00+00:00", "--points", "3", "--format", "json",
        "--config", str(config),
    )  # fmt: skip


@pytest.mark.slow
def test_annotation_sources_supply_annotations_beside_the_stored_ones(with_sources):
    ok("annotate", "Typed by hand", "--at", "2026-03-13 09:00", "--kpi", "leads", config=with_sources)
    result = three_days_of_leads(with_sources)
    assert result.returncode == 0, result.stderr
    notes = json.loads(result.stdout)["annotations"]
    # three daily buckets from 12 Mar: a deploy each day at 10:00 (about signups, behind leads), the CSV's campaign,
    # the typed one; the broken source is logged and skipped
    assert [(n["at"][:16], n["text"], n["source"], n["id"]) for n in notes] == [
        ("2026-03-12T08:00", "Spring campaign", "campaigns", None),
        ("2026-03-12T10:00", "deployed web", "web", None),
        ("2026-03-13T09:00", "Typed by hand", None, 1),
        ("2026-03-13T10:00", "deployed web", "web", None),
        ("2026-03-14T10:00", "deployed web", "web", None),
    ]
    assert "annotation source down: RuntimeError: the deploy API is down" in result.stderr
    plugins = json.loads(ok("plugins", "--format", "json", config=with_sources))
    assert any(p["annotation_sources"] == ["deploys", "broken"] for p in plugins["plugins"])
    assert any(p["annotation_sources"] == ["csv"] for p in plugins["plugins"])


def test_a_bad_annotation_source_table_is_a_config_error(write_config):
    path = write_config(CONFIG + '\n[annotation_sources.x]\ntype = "csvv"\n')
    result = run("check", "--config", str(path))
    assert result.returncode == 2 and "annotation_sources.x" in result.stderr and "csv" in result.stderr


def test_series_compares_each_bucket_with_the_same_bucket_a_year_earlier(config, tmp_path):
    with Store(tmp_path / "history.sqlite3") as store:
        store.write(readings_frame([("signups", t(2025, 3, 2), 5.0), ("signups", t(2025, 3, 3), 7.0)]))
    result = run(
        "series",
        "signups",
        "--at",
        "2026-03-03T12:00:00+00:00",
        "--points",
        "2",
        "--compare",
        "last_year",
        "--format",
        "json",
        "--config",
        str(config),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    schema = documented()["series"]
    assert validate(data, schema, schema) == []
    assert [(p["start"][:10], p["value"], p["compare"], p["difference"]) for p in data["points"]] == [
        ("2026-03-02", 20.0, 5.0, 15.0), ("2026-03-03", 0.0, 7.0, -7.0),
    ]  # fmt: skip


def test_copy_annotations_keeps_ids_and_times_and_refuses_a_different_one_under_the_same_id(tmp_path):
    import datetime as dt

    from kpitui.annotations import AnnotationError, AnnotationStore, copy_annotations, read

    at = dt.datetime(2026, 3, 1, 9, tzinfo=dt.timezone.utc)
    source, target = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    with AnnotationStore(source) as notes:
        notes.add("launched the ads", at, metric="signups")
        notes.add("a typo", at)
        notes.add("site down", at + dt.timedelta(hours=2), kpi="leads")
        notes.delete([3])
    assert copy_annotations(source, source) == 2  # the same file: already there
    assert copy_annotations(source, target) == 2
    assert copy_annotations(source, target) == 2  # again: nothing doubled
    assert read(target) == read(source)
    with AnnotationStore(target) as notes:
        assert notes.add("next", at).id == 4  # 3 was handed out in the source
        notes.edit(1, text="something else")
    with pytest.raises(AnnotationError, match="already has an annotation 1 that is not"):
        copy_annotations(source, target)


def test_a_csv_row_whose_at_is_no_date_is_skipped_and_named_and_the_others_kept(with_sources, tmp_path):
    """One bad ``at`` in an annotation CSV used to drop every note of the file (the source's one error)."""
    (tmp_path / "campaigns.csv").write_text(
        "at,text,kpi\n2026-03-12 08:00,Spring campaign,leads\nnext tuesday,Typo,leads\n2026-03-13,Second wave,\n"
    )
    result = three_days_of_leads(with_sources)
    assert result.returncode == 0, result.stderr
    notes = [(n["at"][:16], n["text"]) for n in json.loads(result.stdout)["annotations"] if n["source"] == "campaigns"]
    assert notes == [("2026-03-12T08:00", "Spring campaign"), ("2026-03-13T00:00", "Second wave")]
    assert "annotation source campaigns" in result.stderr and "1 row(s) skipped" in result.stderr
    assert "row 3 (the header is row 1)" in result.stderr
