"""A source's error clears on its next successful poll: in the history's source health, in `report`, through the CLI.

The user fixes what was wrong (the export is back at its path) and asks again:
`report` must poll the failing source instead of showing its old error until
the source's interval has passed since its last success.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from test_cli import kpitui_script, run

from kpitui.store import Store


def setup(tmp_path: Path) -> tuple[Path, Path]:
    export = tmp_path / "export.csv"
    export.write_text("time,amount\n2026-03-01T10:00:00Z,5\n")
    cfg = tmp_path / "kpitui.toml"
    cfg.write_text(
        f"""
[storage]
path = "{tmp_path / "h.sqlite3"}"

[sources.shop]
type = "file"
path = "export.csv"
time_column = "time"
interval = 3600

[metrics.revenue]
source = "shop"
value_column = "amount"
"""
    )
    return cfg, export


def error_in_report(cfg: Path, *args: str) -> str | None:
    result = run("report", "--format", "json", *args, "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    (metric,) = json.loads(result.stdout)["metrics"]
    return metric["error"]


def health(tmp_path: Path):
    with Store(tmp_path / "h.sqlite3", readonly=True) as store:
        return store.health()["shop"]


@pytest.mark.slow
def test_an_error_clears_on_the_next_successful_poll(tmp_path: Path) -> None:
    cfg, export = setup(tmp_path)
    assert run("collect", "--once", "--config", str(cfg)).returncode == 0
    export.rename(tmp_path / "away.csv")  # the path breaks...
    assert run("collect", "--once", "--config", str(cfg)).returncode == 1
    assert "no such file" in (error_in_report(cfg, "--no-collect") or "")
    assert health(tmp_path).error is not None and health(tmp_path).failures == 1
    (tmp_path / "away.csv").rename(export)  # ...and is fixed: the next report polls it and shows no error
    assert error_in_report(cfg) is None
    state = health(tmp_path)
    assert state.error is None and state.failures == 0 and state.last_success is not None


@pytest.mark.slow
def test_collect_clears_it_too(tmp_path: Path) -> None:
    cfg, export = setup(tmp_path)
    export.rename(tmp_path / "away.csv")
    assert run("collect", "--once", "--config", str(cfg)).returncode == 1
    assert health(tmp_path).error is not None
    (tmp_path / "away.csv").rename(export)
    assert run("collect", "--once", "--config", str(cfg)).returncode == 0
    assert health(tmp_path).error is None
    assert error_in_report(cfg, "--no-collect") is None


@pytest.mark.slow
def test_collect_every_retries_a_failing_source_at_its_own_pace(tmp_path: Path) -> None:
    """`collect --every 0.5` backs a failing source off from 0.5 s, not from its 1-hour interval: a fix shows in
    seconds."""
    cfg, export = setup(tmp_path)
    export.rename(tmp_path / "away.csv")
    process = subprocess.Popen([kpitui_script(), "collect", "--every", "0.5", "--config", str(cfg)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())  # fmt: skip
    try:

        def failures() -> int:
            try:
                return health(tmp_path).failures
            except Exception:  # noqa: BLE001 - the collector is still creating the history
                return 0

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and failures() < 2:
            time.sleep(0.2)
        assert failures() >= 2
        (tmp_path / "away.csv").rename(export)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and health(tmp_path).error is not None:
            time.sleep(0.2)
        assert health(tmp_path).error is None
    finally:
        process.terminate()
        process.wait(timeout=10)
