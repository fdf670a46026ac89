"""`kpitui check` warns about source paths that do not exist or cannot be read; `--strict` makes that an error.

The warning comes from each source type's ``preflight`` (a documented, optional
classmethod of ``MetricSource``), so a third-party source warns the same way.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from test_cli import run

PLUGIN = """
from dataclasses import dataclass
from kpitui import hookimpl
from kpitui.api import FetchResult, MetricSource, path_warning, readings_frame


@dataclass(frozen=True)
class SpoolOptions:
    folder: str


class Spool(MetricSource):
    type_name = "spool"
    description = "counts files in a folder"
    Options = SpoolOptions

    @classmethod
    def preflight(cls, options, metrics, context):
        problem = path_warning(context.path(options.folder), kind="folder")
        return [problem] if problem else []

    def fetch(self, cursor, now):
        return FetchResult(readings_frame([]))


class Grumpy(MetricSource):
    type_name = "grumpy"
    description = "a preflight that raises"

    @classmethod
    def preflight(cls, options, metrics, context):
        raise RuntimeError("boom")

    def fetch(self, cursor, now):
        return FetchResult(readings_frame([]))


@hookimpl
def register_metric_sources():
    return [Spool, Grumpy]
"""


def write_config(tmp_path: Path, log: str, export: str = "export.csv", extra: str = "") -> Path:
    path = tmp_path / "kpitui.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [storage]
            path = "{tmp_path / "h.sqlite3"}"

            [sources.web]
            type = "access_log"
            path = "{log}"

            [sources.shop]
            type = "file"
            path = "{export}"
            time_column = "time"

            [metrics.signups]
            source = "web"
            condition = 'path == "/newsletter/thank-you"'

            [metrics.revenue]
            source = "shop"
            value_column = "amount"
            """
        )
        + extra
    )
    return path


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "access.log").write_text("")
    (tmp_path / "export.csv").write_text("time,amount\n2026-01-01,5\n")
    return tmp_path


def test_existing_paths_pass_quietly_also_under_strict(files: Path) -> None:
    cfg = write_config(files, "access.log")
    for args in ((), ("--strict",)):
        result = run("check", *args, "--config", str(cfg))
        assert result.returncode == 0, result.stderr
        assert "warning" not in result.stderr and "OK" in result.stdout


def test_a_missing_log_is_a_warning_naming_source_metric_and_path(files: Path) -> None:
    cfg = write_config(files, "acess.log")
    result = run("check", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1, result.stderr
    assert "source web" in lines[0] and "signups" in lines[0]
    assert str(files / "acess.log") in lines[0] and "does not exist" in lines[0]
    assert "did you mean access.log" in lines[0]
    assert "OK" in result.stdout
    strict = run("check", "--strict", "--config", str(cfg))
    assert strict.returncode == 2, strict.stderr
    assert "acess.log" in strict.stderr and "Traceback" not in strict.stderr


def test_a_missing_export_and_a_missing_folder_are_warnings(files: Path) -> None:
    cfg = write_config(files, "/nonexistent-kpitui/nginx/access.log", export="exports/missing.csv")
    result = run("check", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    stderr = result.stderr
    assert "source web" in stderr and "/nonexistent-kpitui/nginx/access.log" in stderr
    assert "source shop" in stderr and "revenue" in stderr and str(files / "exports" / "missing.csv") in stderr
    assert run("check", "--strict", "--config", str(cfg)).returncode == 2


def test_a_folder_given_as_a_log_is_a_warning(files: Path) -> None:
    (files / "logs").mkdir()
    result = run("check", "--config", str(write_config(files, "logs")))
    assert result.returncode == 0
    assert "is a folder, not a file" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_log_is_a_warning(files: Path) -> None:
    (files / "access.log").chmod(0)
    result = run("check", "--config", str(write_config(files, "access.log")))
    assert result.returncode == 0
    assert "cannot be read" in result.stderr


def test_a_third_party_source_warns_through_the_same_hook(files: Path) -> None:
    plugins = files / "plugins"
    plugins.mkdir()
    (plugins / "spool.py").write_text(PLUGIN)
    extra = textwrap.dedent(
        """
        [plugins]
        dirs = ["plugins"]

        [sources.inbox]
        type = "spool"
        folder = "inbox"

        [sources.odd]
        type = "grumpy"

        [metrics.mail]
        source = "inbox"

        [metrics.odd]
        source = "odd"
        """
    )
    cfg = write_config(files, "access.log", extra=extra)
    result = run("check", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert (
        "source inbox" in result.stderr and str(files / "inbox") in result.stderr and "does not exist" in result.stderr
    )
    assert "source odd" in result.stderr and "boom" in result.stderr and "Traceback" not in result.stderr
    (files / "inbox").mkdir()
    result = run("check", "--config", str(cfg))
    assert "source inbox" not in result.stderr
