"""Logging (issue 16): --verbose/--quiet, collect logs a poll only when something happened (errors and
recoveries always), and an optional rotating [logging] file. A real collector process, a real command source."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = str(Path(sys.executable).with_name("kpitui"))


def write_config(tmp_path: Path, logging_table: str = "") -> tuple[Path, Path]:
    value = tmp_path / "value.txt"
    value.write_text("1\n")
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "h.sqlite3"}"\n{logging_table}\n'
        '[sources.scripts]\ntype = "command"\n\n'
        f'[metrics.attendance]\nsource = "scripts"\naggregation = "last"\ncommand = "cat {value}"\n'
    )
    return config, value


def wait_for(out: Path, pattern: str | None, timeout: float = 30) -> None:
    """Until ``out`` holds ``pattern`` (None: until ``out`` exists)."""
    deadline = time.monotonic() + timeout
    while not (out.exists() if pattern is None else re.search(pattern, out.read_text())):
        assert time.monotonic() < deadline, f"no {pattern!r} in {out.read_text()!r}"
        time.sleep(0.05)


def stored_readings(path: Path) -> int:
    """Readings a viewer loads (a poll's few readings are staged beside ``readings`` until folded in)."""
    from kpitui.store import Store, StoreError

    try:
        with Store(path, readonly=True) as store:
            return store.load()[0].height
    except StoreError:
        return 0


def collect_for(config: Path, *extra: str, during=None, seconds: float = 4.0) -> str:
    out = config.parent / "collect.out"
    with out.open("w") as handle:
        proc = subprocess.Popen(
            [SCRIPT, "collect", "--every", "0.2", "--config", str(config), *extra],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        try:
            if "--quiet" not in extra:
                wait_for(out, "collecting")
            if during:
                during(out)
            else:
                time.sleep(seconds)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    assert proc.returncode == 0, out.read_text()[-2000:]
    return out.read_text()


@pytest.mark.slow
def test_collect_every_logs_only_polls_that_did_something_and_always_errors_and_recoveries(tmp_path):
    config, value = write_config(tmp_path)

    def story(out):
        wait_for(out, "scripts: 1 readings")  # the first poll stores 1 reading
        time.sleep(1.0)  # the next ones store nothing
        value.unlink()  # cat fails: errors
        wait_for(out, "scripts: error:")
        time.sleep(1.0)
        value.write_text("7\n")  # back: a recovery that stores the new value
        wait_for(out, "recovered after")
        time.sleep(0.5)

    text = collect_for(config, during=story)
    lines = [line for line in text.splitlines() if " scripts: " in line]
    assert "0 readings" not in text, text  # about 17k such lines a day before
    assert re.search(r"scripts: 1 readings in", lines[0]), lines
    errors = [line for line in lines if "scripts: error:" in line]
    assert errors and "No such file" in errors[0]
    recovered = [line for line in lines if "recovered after" in line]
    assert len(recovered) == 1 and "1 readings" in recovered[0], lines
    assert all(re.match(r"^\d\d:\d\d:\d\d \S+ ", line) for line in lines)  # on the config's clock


@pytest.mark.slow
def test_verbose_shows_every_poll_and_quiet_hides_the_summaries(tmp_path):
    config, _ = write_config(tmp_path)
    verbose = collect_for(config, "-v", during=lambda out: wait_for(out, r"(scripts: 0 readings[^\n]*\n[\s\S]*){3}"))
    assert verbose.count("scripts: 0 readings") >= 3, verbose

    fresh = tmp_path / "quiet"  # its own history: the first reading stored says this collector is polling
    fresh.mkdir()
    config, _ = write_config(fresh)

    def polled_a_while(out):
        deadline = time.monotonic() + 60
        while not stored_readings(fresh / "h.sqlite3"):  # the first poll is done: collecting is under way
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(1.0)

    quiet = collect_for(config, "--quiet", during=polled_a_while)
    assert "readings" not in quiet and "collecting" not in quiet, quiet


def test_quiet_still_logs_errors(tmp_path):
    config, value = write_config(tmp_path)
    value.unlink()
    once = subprocess.run(
        [SCRIPT, "-q", "collect", "--once", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert "scripts: error:" in once.stderr and once.stdout == ""


@pytest.mark.slow
def test_a_log_file_rotates(tmp_path):
    log = tmp_path / "logs" / "collect.log"
    config, _ = write_config(tmp_path, f'[logging]\nfile = "{log}"\nmax_mb = 0.0005\nbackups = 2\n')
    collect_for(config, "-v", seconds=3.0)
    assert log.exists() and (tmp_path / "logs" / "collect.log.1").exists()
    assert not (tmp_path / "logs" / "collect.log.3").exists()
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ (INFO|DEBUG) ", log.read_text().splitlines()[0])
    assert all(p.stat().st_size <= 600 for p in (tmp_path / "logs").iterdir())


def test_a_bad_logging_table_is_a_config_error(tmp_path):
    config, _ = write_config(tmp_path, "[logging]\nmax_mb = 5\n")
    check = subprocess.run([SCRIPT, "check", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 2 and "[logging] missing key 'file'" in check.stderr


def test_report_json_stays_clean_while_sources_fail(tmp_path):
    config, value = write_config(tmp_path)
    value.unlink()
    report = subprocess.run(
        [SCRIPT, "-v", "report", "--format", "json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    json.loads(report.stdout)
    assert "source scripts:" in report.stderr
