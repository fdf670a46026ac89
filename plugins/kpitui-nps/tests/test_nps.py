"""kpitui-nps against a real kpitui, with the fixtures of ``kpitui.testing``."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import kpitui_nps
import pytest

from kpitui.api import SourceError
from kpitui.config import ConfigError, load_config
from kpitui.plugins import load_registry
from kpitui.testing import collect, evaluate, fetch_source

EXAMPLE = Path(__file__).resolve().parents[1] / "example"
UTC = dt.timezone.utc

CONFIG = """
[kpitui]
timezone = "America/New_York"

[sources.survey]
type = "survey_csv"
path = "survey.csv"

[metrics.promoters]
source = "survey"
category = "promoters"
[metrics.passives]
source = "survey"
category = "passives"
[metrics.detractors]
source = "survey"
category = "detractors"
[metrics.responses]
source = "survey"
category = "responses"

[kpis.nps]
formula = "nps"
promoters = "promoters"
detractors = "detractors"
responses = "responses"
window = "month_to_date"

[kpis.nps_from_passives]
formula = "nps"
promoters = "promoters"
detractors = "detractors"
passives = "passives"
window = "month_to_date"
"""

ANSWERS = """submitted_at,score
2026-03-01 23:30,10
2026-03-02 00:10,9
2026-03-02T08:00:00,7
2026-03-02 12:00,3
yesterday,5
2026-03-03 10:00,11
2026-03-03 10:00,8.5
2026-03-03,
"""


@pytest.fixture
def survey(tmp_path):
    def write(text: str = ANSWERS) -> Path:
        path = tmp_path / "survey.csv"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def config(kpitui_config, survey):
    survey()
    return kpitui_config(CONFIG, plugins=[kpitui_nps], installed=False)


def counts(result) -> dict[tuple[str, dt.datetime], float]:
    return {(m, at): v for m, at, v in result.readings.iter_rows()}


def test_counts_answers_per_local_day_by_category(config):
    result = fetch_source(config, "survey", now="2026-03-04T00:00")
    mar1, mar2 = dt.datetime(2026, 3, 1, 5, tzinfo=UTC), dt.datetime(2026, 3, 2, 5, tzinfo=UTC)  # New York midnight
    assert counts(result) == {
        ("promoters", mar1): 1,
        ("passives", mar1): 0,
        ("detractors", mar1): 0,
        ("responses", mar1): 1,
        ("promoters", mar2): 1,
        ("passives", mar2): 1,
        ("detractors", mar2): 1,
        ("responses", mar2): 3,
    }
    assert result.skipped == 4  # no time, a score of 11, a score of 8.5, no score


def test_an_unchanged_file_is_not_read_again(config, survey):
    first = fetch_source(config, "survey")
    again = fetch_source(config, "survey", cursor=first.cursor)
    assert again.readings.height == 0 and again.cursor == first.cursor
    survey(ANSWERS + "2026-03-05 09:00,0\n")
    grown = fetch_source(config, "survey", cursor=first.cursor)
    assert grown.cursor != first.cursor
    assert counts(grown)[("detractors", dt.datetime(2026, 3, 5, 5, tzinfo=UTC))] == 1


def test_missing_file_or_column_is_a_clear_source_error(config, survey, tmp_path):
    (tmp_path / "survey.csv").unlink()
    with pytest.raises(SourceError, match="survey file not found"):
        fetch_source(config, "survey")
    survey("when,rating\n2026-03-01,9\n")
    with pytest.raises(SourceError, match="no column 'submitted_at'; its columns: when, rating"):
        fetch_source(config, "survey")


def test_config_mistakes_are_caught_at_load(kpitui_config, survey):
    survey()
    with pytest.raises(ConfigError, match="category must be one of .* \\(did you mean 'promoters'\\?\\)"):
        kpitui_config(CONFIG.replace('category = "promoters"', 'category = "promoter"'), plugins=[kpitui_nps])
    with pytest.raises(ConfigError, match="needs aggregation = 'sum'"):
        kpitui_config(
            CONFIG.replace('category = "passives"', 'category = "passives"\naggregation = "last"'), plugins=[kpitui_nps]
        )
    with pytest.raises(ConfigError, match="give responses .* or passives"):
        kpitui_config(CONFIG.replace('passives = "passives"\n', ""), plugins=[kpitui_nps])


def test_nps_is_promoters_minus_detractors_over_responses(config):
    history = [
        ("promoters", "2026-03-02T12:00", 6),
        ("passives", "2026-03-02T12:00", 2),
        ("detractors", "2026-03-02T12:00", 2),
        ("responses", "2026-03-02T12:00", 10),
        ("promoters", "2026-02-02T12:00", 1),
        ("detractors", "2026-02-02T12:00", 0),
        ("responses", "2026-02-02T12:00", 3),  # February: no passives recorded
    ]
    snap = evaluate(config, history, now="2026-03-10T12:00")
    assert snap.kpis["nps"].value == pytest.approx((6 - 2) / 10 * 100)
    assert snap.kpis["nps_from_passives"].value == pytest.approx(40)
    assert snap.kpis["nps"].previous == pytest.approx((1 - 0) / 3 * 100)
    assert snap.kpis["nps_from_passives"].previous is None  # passives had no reading yet: no data
    april = evaluate(config, history, now="2026-04-02T12:00")
    assert april.kpis["nps"].value is None  # no responses in April: never a division by zero
    # every input has data (April's sums are 0): undefined, with the plugin's reason, not "no data"
    assert april.kpis["nps"].status.value == "undefined"
    assert april.kpis["nps"].undefined == "÷ 0: no responses"
    assert snap.kpis["nps_from_passives"].status.value != "undefined"


def test_promoters_beyond_the_largest_float_say_overflow_not_no_responses(config):
    """A plugin formula (run on its own thread, over the wide frame): 2 x 1e308 promoters sum to inf, so the
    NPS has no number; with 5 responses that is an overflow, not the plugin's '÷ 0: no responses'."""
    history = [
        ("promoters", "2026-03-02T12:00", 1e308),
        ("promoters", "2026-03-03T12:00", 1e308),
        ("detractors", "2026-03-03T12:00", 1),
        ("responses", "2026-03-03T12:00", 5),
    ]
    snap = evaluate(config, history, now="2026-03-10T12:00")
    assert snap.kpis["nps"].status.value == "undefined"
    assert snap.kpis["nps"].undefined.startswith("overflow: "), snap.kpis["nps"].undefined


def test_collect_then_report_through_the_cli(config, kpitui_store, kpitui_cli):
    results = collect(config, kpitui_store, now="2026-03-04T00:00")
    assert [(r.source, r.error, r.skipped) for r in results] == [("survey", None, 4)]
    out = kpitui_cli(
        "report", "--config", config.path, "--at", "2026-03-04T00:00", "--format", "json", plugins=[kpitui_nps]
    )
    assert out.exit_code == 0, out.stderr
    nps = next(k for k in out.json()["kpis"] if k["id"] == "nps")
    assert nps["value"] == pytest.approx((2 - 1) / 4 * 100)  # Mar 1-3: 2 promoters, 1 detractor, 4 answers


def test_the_plugin_registers_its_types_with_its_version():
    registry = load_registry(load_installed=False, extra=[kpitui_nps])
    info = next(p for p in registry.plugins if p.name == "kpitui_nps")
    assert info.ok, info.errors
    assert (info.sources, info.formulas, info.version) == (["survey_csv"], ["nps"], kpitui_nps.__version__)


def test_the_example_config_loads_and_reads_its_survey(kpitui_env):
    registry = load_registry(load_installed=False, extra=[kpitui_nps])
    config = load_config(EXAMPLE / "kpitui.toml", registry=registry)
    assert config.kpis["nps"].formula == "nps"
    result = fetch_source(config, "survey", now="2026-11-24T00:00")
    assert result.readings.height > 100 and result.skipped == 1


def test_loading_a_config_with_the_plugin_does_not_import_polars():
    # kpitui loads every installed plugin with the config, before the TUI's first frame; polars (~0.1-0.2 s to
    # import) comes after it, when the history is first read: the plugin's modules import it when first used
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import kpitui_nps\n"
        "from kpitui.config import load_config\n"
        "from kpitui.plugins import load_registry\n"
        "registry = load_registry(load_installed=False, extra=[kpitui_nps])\n"
        f"config = load_config(Path({str(EXAMPLE / 'kpitui.toml')!r}), registry=registry)\n"
        "assert config.kpis['nps'].formula == 'nps'\n"
        "print('polars' in sys.modules)\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_a_day_a_corrected_export_no_longer_has_counts_zero(config, survey):
    """Replacing each day's count left a day whose answers were all removed from the export (test answers
    deleted, a row moved to another day) at its old count: the NPS kept a detractor nobody gave."""
    first = fetch_source(config, "survey", now="2026-03-04T00:00")
    mar1, mar2 = dt.datetime(2026, 3, 1, 5, tzinfo=UTC), dt.datetime(2026, 3, 2, 5, tzinfo=UTC)
    assert counts(first)[("detractors", mar2)] == 1
    survey(ANSWERS.replace("2026-03-01 23:30,10\n", "").replace("2026-03-02 12:00,3\n", "2026-03-02 12:00,9\n"))
    corrected = fetch_source(config, "survey", cursor=first.cursor, now="2026-03-04T00:00")
    assert counts(corrected) == {
        ("promoters", mar1): 0,
        ("passives", mar1): 0,
        ("detractors", mar1): 0,
        ("responses", mar1): 0,
        ("promoters", mar2): 2,
        ("passives", mar2): 1,
        ("detractors", mar2): 0,
        ("responses", mar2): 3,
    }
    # read once more unchanged: nothing; the day gone stays out of the next cursor's days
    assert fetch_source(config, "survey", cursor=corrected.cursor).readings.height == 0
    survey(ANSWERS.replace("2026-03-01 23:30,10\n", "") + "2026-03-05 09:00,0\n")
    grown = fetch_source(config, "survey", cursor=corrected.cursor, now="2026-03-06T00:00")
    assert ("responses", mar1) not in counts(grown)


def test_the_nps_follows_a_corrected_export_through_collect_and_report(config, survey, kpitui_store, kpitui_cli):
    collect(config, kpitui_store, now="2026-03-04T00:00")
    survey(ANSWERS.replace("2026-03-01 23:30,10\n", ""))  # Mar 1's one answer was a test answer
    results = collect(config, kpitui_store, now="2026-03-04T00:05")
    assert [(r.source, r.error) for r in results] == [("survey", None)]
    out = kpitui_cli(
        "report", "--config", config.path, "--at", "2026-03-04T00:00", "--format", "json", plugins=[kpitui_nps]
    )
    assert out.exit_code == 0, out.stderr
    nps = next(k for k in out.json()["kpis"] if k["id"] == "nps")
    assert nps["value"] == pytest.approx(0.0)  # Mar 1-3: a promoter, a passive, a detractor (33.3 with Mar 1's)
