"""An unknown key reads the same in every table of a config, kpitui's own and plugins' alike:
``file: [table] unknown key 'typo' (did you mean 'key'?)``, one line, exit 2, through ``kpitui check``."""

from __future__ import annotations

import pytest

from tests.test_cli import run

#: one config that uses every table kind; each case adds a misspelt key to one of them
TABLES = {
    "kpitui": 'timezone = "UTC"',
    "storage": "raw_retention_days = 90",
    "plugins": "dirs = []",
    "ui": 'theme = "textual-dark"',
    "logging": 'file = "kpitui.log"',
    "sources.shop": 'type = "demo"\nhistory_days = 5',
    "metrics.orders": 'source = "shop"',
    "kpis.leads": 'formula = "sum"\nmetrics = ["orders"]',
    "kpis.leads.target": "value = 10",
    "kpis.leads.thresholds": "on_track = 0.8",
    "objectives.grow": 'kpis = ["leads"]',
    "objectives.grow.thresholds": "at_risk = 0.3",
    "notifiers.team": 'type = "webhook"\nurl = "https://example.com/hook"',
    "alerts.drop": 'kpi = "leads"\nwhen = "status_worse"\nnotify = ["team"]',
    "digests.morning": 'schedule = "daily 08:00"\nnotify = ["team"]',
    "serve": 'token = "${KPITUI_SERVE_TOKEN}"',
    "annotation_sources.campaigns": 'type = "csv"\npath = "campaigns.csv"',
}


def write(tmp_path, table: str | None = None, line: str = ""):
    parts = [f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n' + TABLES["storage"]]
    parts += [
        f"[{name}]\n{body}" + (f"\n{line}" if name == table else "")
        for name, body in TABLES.items()
        if name != "storage"
    ]
    if table == "storage":
        parts[0] += f"\n{line}"
    path = tmp_path / "kpitui.toml"
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path


def test_the_config_with_every_table_is_valid(tmp_path):
    result = run("check", "--config", str(write(tmp_path)))
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "table, typo, meant",
    [
        ("kpitui", "timezne", "timezone"),
        ("storage", "downsample_too", "downsample_to"),
        ("plugins", "dir", "dirs"),
        ("ui", "refresh_second", "refresh_seconds"),
        ("logging", "max_mbs", "max_mb"),
        ("sources.shop", "intervall", "interval"),  # kpitui's key of a source table
        ("sources.shop", "history_dayz", "history_days"),  # the demo source's own option
        ("metrics.orders", "agregation", "aggregation"),
        ("kpis.leads", "weigth", "weight"),
        ("kpis.leads.target", "baseline_", "baseline"),
        ("kpis.leads.thresholds", "on_trak", "on_track"),
        ("objectives.grow", "titel", "title"),
        ("objectives.grow.thresholds", "at_rsk", "at_risk"),
        ("notifiers.team", "quiet_hour", "quiet_hours"),  # kpitui's key of a notifier table
        ("notifiers.team", "urll", "url"),  # the webhook's own option
        ("alerts.drop", "repaet", "repeat"),
        ("digests.morning", "titl", "title"),
        ("serve", "tokens", "token"),
        ("annotation_sources.campaigns", "pth", "path"),
    ],
)
def test_a_misspelt_key_reads_the_same_in_every_table(tmp_path, table, typo, meant):
    result = run("check", "--config", str(write(tmp_path, table, f"{typo} = 1")))
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    assert f"kpitui.toml: [{table}] unknown key '{typo}' (did you mean '{meant}'?)" in result.stderr


@pytest.mark.parametrize("table", ["kpitui", "alerts.drop", "serve", "kpis.leads", "kpis.leads.thresholds"])
def test_a_key_like_no_other_lists_the_valid_ones(tmp_path, table):
    result = run("check", "--config", str(write(tmp_path, table, "zzzzqqq = 1")))
    assert result.returncode == 2
    assert f"[{table}] unknown key 'zzzzqqq'; valid keys: " in result.stderr, result.stderr
    listed = result.stderr.split("valid keys: ", 1)[1].strip().split(", ")
    assert len(listed) == len(set(listed)), f"a key listed twice: {listed}"
