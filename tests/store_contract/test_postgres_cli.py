"""`[storage] url`: the CLI on a real PostgreSQL history, and its one-line errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import kpitui_script

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "kpitui" / "sample_config.toml"
#: inside the demo's history and well before the pro-rated current hour (which moves between two collects)
AT = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=5)).replace(minute=0, second=0, microsecond=0).isoformat()


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [kpitui_script(), *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def sample_config(tmp_path: Path, storage: str, name: str = "kpitui.toml") -> Path:
    text = SAMPLE.read_text().replace("history_days = 400", "history_days = 30")
    path = tmp_path / name
    path.write_text(f"[storage]\n{storage}\n\n" + text)
    return path


@pytest.mark.slow
def test_collect_and_report_on_postgres_match_sqlite(tmp_path, pg_url):
    on_file = sample_config(tmp_path, f'path = "{tmp_path / "h.sqlite3"}"', "file.toml")
    on_pg = sample_config(tmp_path, 'url = "${KPITUI_DATABASE_URL}"\ninstance = "web1"', "pg.toml")
    env = {"KPITUI_DATABASE_URL": pg_url}
    reports = []
    for config in (on_file, on_pg):
        collect = run("collect", "--once", "--config", str(config), env=env)
        assert collect.returncode == 0, collect.stderr
        report = run("report", "--no-collect", "--format", "json", "--at", AT, "--config", str(config), env=env)
        assert report.returncode == 0, report.stderr
        reports.append(json.loads(report.stdout))
    assert reports[0]["kpis"] == reports[1]["kpis"]
    again = run("collect", "--once", "--config", str(on_pg), env=env)  # idempotent
    assert again.returncode == 0, again.stderr
    report = run("report", "--no-collect", "--format", "json", "--at", AT, "--config", str(on_pg), env=env)
    assert json.loads(report.stdout)["kpis"] == reports[0]["kpis"]
    mine = run(
        "report", "--no-collect", "--format", "json", "--at", AT, "--instance", "web1", "--config", str(on_pg), env=env
    )
    assert json.loads(mine.stdout)["kpis"] == reports[0]["kpis"]
    other = run(
        "report", "--no-collect", "--format", "json", "--at", AT, "--instance", "web9", "--config", str(on_pg), env=env
    )
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout)["kpis"] != reports[0]["kpis"]  # nothing was collected as web9
    assert "--instance web9: no collector has written to" in other.stderr and "(its instances: web1)" in other.stderr
    assert "--instance" not in mine.stderr


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path):
    config = sample_config(tmp_path, 'url = "${KPITUI_DATABASE_URL}"')
    url = "postgresql://kpitui:s3cretpass@127.0.0.1:1/nowhere"
    result = run("report", "--no-collect", "--config", str(config), env={"KPITUI_DATABASE_URL": url})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot connect to the PostgreSQL history postgresql://kpitui@127.0.0.1:1/nowhere" in lines[0]
    assert "s3cretpass" not in result.stderr + result.stdout


def test_the_missing_extra_is_named(tmp_path):
    config = sample_config(tmp_path, 'url = "postgresql://kpitui@127.0.0.1:1/db"')
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from kpitui.cli import main\n"
        f"sys.exit(main(['report', '--no-collect', '--config', {str(config)!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "kpitui: PostgreSQL history needs psycopg: pip install 'kpitui[postgres]'"
    ] or ("pip install 'kpitui[postgres]'" in result.stderr and len(result.stderr.strip().splitlines()) == 1), (
        result.stderr
    )


def test_a_url_that_is_not_postgres_is_a_config_error(tmp_path):
    config = sample_config(tmp_path, 'url = "mysql://x@y/z"')
    result = run("check", "--config", str(config))
    assert result.returncode == 2
    assert "[storage] url must be a PostgreSQL URL" in result.stderr


def test_instance_on_an_sqlite_history_is_refused(tmp_path):
    config = sample_config(tmp_path, f'path = "{tmp_path / "h.sqlite3"}"')
    result = run("report", "--no-collect", "--instance", "web1", "--config", str(config))
    assert result.returncode == 1
    assert "instances are kept apart in a PostgreSQL history" in result.stderr


def test_collectors_starting_together_on_an_empty_database_all_open_it(pg_url, tmp_path):
    """The first opens race to create the tables: one creates them, the others wait and use them."""
    import threading

    from kpitui.postgres_store import SCHEMA_VERSION, PostgresStore

    errors: list[BaseException] = []

    def open_one(name: str) -> None:
        try:
            with PostgresStore(pg_url, instance=name, path=tmp_path / "s") as store:
                assert store.schema_version() == SCHEMA_VERSION
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(f"web{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_check_names_the_postgresql_history_not_a_file(tmp_path):
    config = sample_config(tmp_path, 'url = "${KPITUI_DATABASE_URL}"\ninstance = "web1"')
    result = run(
        "check",
        "--config",
        str(config),
        env={"KPITUI_DATABASE_URL": "postgresql://kpitui:s3cretpass@db.example.com/kpitui"},
    )
    assert result.returncode == 0, result.stderr
    assert "history in postgresql://kpitui@db.example.com/kpitui ([storage] url, as instance web1)" in result.stdout
    assert "sqlite3" not in result.stdout and "s3cretpass" not in result.stdout


def test_file_level_history_commands_on_a_postgres_history_say_what_to_use(tmp_path):
    # history backup/check/recover read SQLite pages; on a PostgreSQL history they were an AttributeError traceback
    config = sample_config(tmp_path, 'url = "${KPITUI_DATABASE_URL}"')
    env = {"KPITUI_DATABASE_URL": "postgresql://kpitui@127.0.0.1:1/nowhere"}
    for args in (["backup", str(tmp_path / "copy.sqlite3")], ["check"], ["recover", str(tmp_path / "new.sqlite3")]):
        result = run("history", *args, "--config", str(config), env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
        assert f"history {args[0]} works on an SQLite history file" in result.stderr and "pg_dump" in result.stderr
