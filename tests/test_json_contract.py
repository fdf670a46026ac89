"""The JSON kpitui prints matches the schemas documented in docs/json.md, both ways (issue 16)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kpitui.config import BUNDLED_SAMPLE, TARGET_KINDS
from kpitui.model import UNITS, Status

DOC = Path(__file__).resolve().parents[1] / "docs" / "json.md"
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def documented() -> dict[str, dict]:
    return {
        name: json.loads(body) for name, body in re.findall(r"```json schema=(\w+)\n(.*?)\n```", DOC.read_text(), re.S)
    }


def _is(value: Any, kind: str) -> bool:
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, TYPES[kind])


def validate(value: Any, schema: dict, root: dict, where: str = "$") -> list[str]:
    """The subset of JSON Schema docs/json.md uses; every mismatch, with where it is."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    problems: list[str] = []
    if "const" in schema and value != schema["const"]:
        return [f"{where}: {value!r} is not {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, k) for k in kinds):
            return [f"{where}: {value!r} is not {kinds}"]
    if isinstance(value, dict):
        props = schema.get("properties", {})
        problems += [f"{where}: missing {key!r}" for key in schema.get("required", []) if key not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                problems += validate(item, props[key], root, f"{where}.{key}")
            elif extra is False:
                problems.append(f"{where}: {key!r} is printed but not documented")
            elif isinstance(extra, dict):
                problems += validate(item, extra, root, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += validate(item, schema["items"], root, f"{where}[{i}]")
    return problems


def kpitui(*args: str) -> Any:
    script = str(Path(sys.executable).with_name("kpitui"))
    result = subprocess.run([script, *args], capture_output=True, text=True, timeout=180, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    text = BUNDLED_SAMPLE.read_text().replace("history_days = 400", "history_days = 45")
    path = folder / "sample.toml"
    path.write_text(f'[storage]\npath = "{folder / "h.sqlite3"}"\n\n' + text)
    script = str(Path(sys.executable).with_name("kpitui"))
    subprocess.run([script, "collect", "--once", "--config", str(path)], check=True, capture_output=True, timeout=180)
    return path


def test_every_command_with_json_output_is_documented():
    assert set(documented()) >= {"report", "series", "plugins", "readings", "alerts"}


def test_the_documented_enums_are_kpituis_own():
    report = documented()["report"]["$defs"]
    assert report["status"]["enum"] == [s.value for s in Status]
    assert sorted(report["unit"]["enum"]) == sorted(UNITS)
    assert report["kpi"]["properties"]["target"]["properties"]["kind"]["enum"] == list(TARGET_KINDS)


def test_report_json_matches_its_schema(sample):
    data = kpitui("report", "--no-collect", "--format", "json", "--config", str(sample))
    schema = documented()["report"]
    assert validate(data, schema, schema) == []
    assert data["schema"] == 1
    kinds = {k["target"]["kind"] for k in data["kpis"] if k["target"]}
    assert kinds and any(k["series"] for k in data["kpis"])  # the nested parts were really checked


@pytest.mark.parametrize("ident, kind", [("newsletter_signups", "metric"), ("lead_generation", "kpi")])
def test_series_json_matches_its_schema(sample, ident, kind):
    data = kpitui("series", ident, "--points", "5", "--format", "json", "--config", str(sample))
    schema = documented()["series"]
    assert validate(data, schema, schema) == []
    assert data["kind"] == kind and len(data["points"]) == 5


def test_plugins_json_matches_its_schema(sample, tmp_path):
    schema = documented()["plugins"]
    data = kpitui("plugins", "--format", "json", "--config", str(sample))
    assert validate(data, schema, schema) == []
    assert any(t["options"] for p in data["plugins"] for t in p["source_types"])
    broken = tmp_path / "broken.toml"
    broken.write_text("[kpis.x]\nformula = 'nope'\n")
    data = kpitui("plugins", "--format", "json", "--config", str(broken))
    assert validate(data, schema, schema) == [] and "nope" in data["config_error"]


def test_the_validator_catches_an_undocumented_or_missing_field():
    schema = documented()["series"]
    good = {
        "schema": 1,
        "id": "a",
        "kind": "kpi",
        "unit": "count",
        "grain": "day",
        "points": [{"start": "x", "end": "y", "value": 1}],
        "annotations": [],
    }
    assert validate(good, schema, schema) == []
    assert validate({**good, "extra": 1}, schema, schema) == ["$: 'extra' is printed but not documented"]
    assert validate({k: v for k, v in good.items() if k != "grain"}, schema, schema) == ["$: missing 'grain'"]
    assert validate({**good, "points": [{"start": "x", "end": "y", "value": "1"}]}, schema, schema)


def test_readings_json_matches_its_schema(sample):
    script = str(Path(sys.executable).with_name("kpitui"))
    subprocess.run(
        [script, "record", "client_referrals", "3", "--config", str(sample)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    data = kpitui("readings", "list", "--format", "json", "--config", str(sample))
    schema = documented()["readings"]
    assert validate(data, schema, schema) == []
    assert any(r["metric"] == "client_referrals" for r in data["readings"])  # an item was really checked


def test_alerts_json_matches_its_schema(sample, tmp_path):
    config = tmp_path / "alerts.toml"
    config.write_text(
        sample.read_text()
        + '\n[notifiers.team]\ntype = "command"\nargv = ["true"]\n'
        + '\n[alerts.leads_slipping]\nkpi = "lead_generation"\nwhen = "status_worse"\nnotify = ["team"]\n'
        + '\n[alerts.low_leads]\nkpi = "lead_generation"\nwhen = "value < 1e12"\nnotify = ["team"]\n'
        + '\n[digests.morning]\nschedule = "daily 08:00"\nnotify = ["team"]\n'
    )
    script = str(Path(sys.executable).with_name("kpitui"))
    subprocess.run(
        [script, "collect", "--once", "--config", str(config)], check=True, capture_output=True, timeout=180
    )  # evaluates the rules: one fires and is delivered
    data = kpitui("alerts", "--format", "json", "--config", str(config))
    schema = documented()["alerts"]
    assert validate(data, schema, schema) == []
    fired = next(a for a in data["alerts"] if a["id"] == "low_leads")
    assert fired["state"] == "firing" and fired["deliveries"] and data["digests"] and data["notifiers"]
