"""The SIGKILL crash test and the collectors-plus-viewer test, against SQLite and a real PostgreSQL.

Both run the installed ``kpitui`` console script over growing access logs
(``tests/reliability/logkit``) and read the stored numbers back only through
the CLI (``series`` / ``report --format json``), never through store
internals; the expected numbers come from ``grep -c`` over the log files.

- SIGKILL: ``kpitui collect --every 0.2`` is killed with SIGKILL at random
  moments while the log grows, and restarted, ~20 times; after a final
  ``collect --once`` every hour's hits and errors equal ``grep -c`` of that
  hour's lines (nothing lost, nothing counted twice).
- Concurrency: two collectors (two configs, two instance names, two logs)
  run while a viewer keeps running ``kpitui report --format json``: no
  process reports an error, the viewer's total never goes down and never
  exceeds the final total, and the final total equals ``grep -c`` of both
  logs added.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import KPITUI, REPO, kpitui_env, run_kpitui
from tests.reliability.logkit import Appender, GrowingLog, source_toml


@pytest.fixture
def figures(request):
    """``figures(kills=20, ...)``: print what this test proved (``-s`` shows it)."""
    return lambda **values: print(f"FIGURES {request.node.nodeid}: {values}")


def storage_toml(backend: str, location: str, tmp_path: Path, instance: str) -> str:
    """``[storage]`` for this backend: the SQLite file, or the PostgreSQL URL (with a side file of its own)."""
    if backend == "sqlite":
        return f'[storage]\npath = "{location}"\ninstance = "{instance}"\n\n'
    side = tmp_path / f"{instance}-side.sqlite3"
    return f'[storage]\nurl = "{location}"\ninstance = "{instance}"\npath = "{side.as_posix()}"\n\n'


def problems(text: str) -> list[str]:
    """Lines of a collector's output that report a fault (the metric ``web_errors`` is not one)."""
    return [
        line
        for line in text.splitlines()
        if re.search(r"traceback|error|locked|failed|lost", line.replace("_errors", ""), re.I)
    ]


def written(text: str) -> int:
    """Polls a ``collect -v`` said it wrote readings in."""
    return len(re.findall(r": [1-9][0-9]* readings in", text))


def grep_count(pattern: str, *logs: Path) -> int:
    total = 0
    for log in logs:
        found = subprocess.run(["grep", "-c", pattern, str(log)], capture_output=True, text=True)
        assert found.returncode in (0, 1), found.stderr
        total += int(found.stdout.strip() or 0)
    return total


def hours_in(log: Path) -> list[dt.datetime]:
    """Every hour (UTC) some line of the log falls in, from the stamps in the file itself."""
    found = subprocess.run(
        ["grep", "-o", r"\[[0-9][0-9]/[A-Za-z]*/[0-9]*:[0-9][0-9]:[^]]*\]", str(log)], capture_output=True, text=True
    )
    hours = (
        {
            dt.datetime.strptime(stamp.strip("[]"), "%d/%b/%Y:%H:%M:%S %z")
            .astimezone(dt.timezone.utc)
            .replace(minute=0, second=0)
            for stamp in found.stdout.splitlines()
            if stamp.startswith("[")
        }
        if found.stdout
        else set()
    )
    return sorted(hours)


def grep_hour(hour_utc: dt.datetime, log: Path, *, errors: bool = False) -> int:
    """``grep -c`` of the lines stamped in this UTC hour (the log writes -05:00, a whole-hour offset)."""
    local = hour_utc.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    pattern = local.strftime(r"\[%d/%b/%Y:%H:")
    if errors:
        pattern += r'.*HTTP/1.1" 5[0-9][0-9] '
    return grep_count(pattern, log)


def series_by_hour(config: Path, metric: str, hours: list[dt.datetime]) -> dict[dt.datetime, int]:
    end = hours[-1]
    result = run_kpitui(
        "series",
        metric,
        "--grain",
        "hour",
        "--points",
        str(len(hours) + 2 + int((end - hours[0]).total_seconds() // 3600)),
        "--at",
        (end + dt.timedelta(minutes=30)).isoformat(),
        "--format",
        "json",
        "--config",
        str(config),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = {}
    for point in json.loads(result.stdout)["points"]:
        if point["value"]:
            out[dt.datetime.fromisoformat(point["start"]).astimezone(dt.timezone.utc)] = int(point["value"])
    return out


# -- SIGKILL at random moments ------------------------------------------------------------


def sigkill_rounds(backend: str, location: str, tmp_path: Path, kills: int, budget: float, seed: int) -> dict:
    rng = random.Random(seed)
    log = GrowingLog(tmp_path / "access.log", "web", seed)
    log.append(2000)
    config = tmp_path / "kpitui.toml"
    config.write_text(
        storage_toml(backend, location, tmp_path, "web1") + source_toml("web", log.path), encoding="utf-8"
    )
    appender = Appender(log, lines=(5, 120), pause=(0.02, 0.08))
    appender.start()
    stats = {"backend": backend, "kills": 0, "polls_reported_before_a_kill": 0}
    deadline = time.monotonic() + budget
    try:
        while stats["kills"] < kills and time.monotonic() < deadline:
            err = tmp_path / f"round{stats['kills']}.out"
            with err.open("w") as handle:
                proc = subprocess.Popen(
                    [*KPITUI, "collect", "-v", "--every", "0.2", "--config", str(config)],
                    cwd=REPO,
                    env=kpitui_env(),
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
                try:
                    if rng.random() < 0.5:
                        # half the kills land at any moment from the spawn (start-up, the first poll) ...
                        time.sleep(rng.uniform(0.2, 3.0))
                    else:
                        # ... half once the collector has written a poll, however long a loaded machine takes to
                        # get it there, so that kills mid-stream are tested too (not only start-ups)
                        ready = time.monotonic() + 30
                        while time.monotonic() < ready and proc.poll() is None:
                            if written(err.read_text(errors="replace")):
                                break
                            time.sleep(0.05)
                        time.sleep(rng.uniform(0.0, 1.5))
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=20)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait(timeout=20)
            text = err.read_text(errors="replace")
            assert proc.returncode == -signal.SIGKILL, (
                f"collector exited by itself ({proc.returncode}):\n{text[-2000:]}"
            )
            assert not problems(text), text[-2000:]
            stats["kills"] += 1
            stats["polls_reported_before_a_kill"] += written(text)
    finally:
        appender.stop()
    log.finish()
    done = run_kpitui("collect", "--once", "--config", str(config), timeout=120)
    assert done.returncode == 0, done.stderr
    hours = hours_in(log.path)
    hits = series_by_hour(config, "web_hits", hours)
    errors = series_by_hour(config, "web_errors", hours)
    want_hits = {h: n for h in hours if (n := grep_hour(h, log.path))}
    want_errors = {h: n for h in hours if (n := grep_hour(h, log.path, errors=True))}
    assert hits == want_hits, {
        h: (hits.get(h), want_hits.get(h)) for h in set(hits) | set(want_hits) if hits.get(h) != want_hits.get(h)
    }
    assert errors == want_errors, {
        h: (errors.get(h), want_errors.get(h))
        for h in set(errors) | set(want_errors)
        if errors.get(h) != want_errors.get(h)
    }
    lines = grep_count('HTTP/1.1"', log.path)
    assert sum(hits.values()) == lines == log.complete_lines
    stats.update(lines_checked=lines, error_lines=sum(want_errors.values()), hours_checked=len(hours))
    return stats


@pytest.mark.slow  # a soak: 20 kills in up to 50 s per backend (README, Reliability suite)
def test_sigkilled_collector_loses_and_double_counts_nothing(backend, history_location, tmp_path, figures):
    stats = sigkill_rounds(backend, history_location, tmp_path, kills=20, budget=50, seed=20261202)
    assert stats["kills"] >= 10 and stats["polls_reported_before_a_kill"] >= 5, stats
    figures(**stats)


@pytest.mark.slow
def test_sigkill_soak_60_kills(backend, history_location, tmp_path, figures):
    stats = sigkill_rounds(backend, history_location, tmp_path, kills=60, budget=240, seed=60)
    assert stats["kills"] >= 40, stats
    figures(**stats)


# -- two collectors and a viewer ------------------------------------------------------------


def report_total(config: Path, *extra: str) -> tuple[float, str]:
    result = run_kpitui("report", "--no-collect", "--format", "json", "--config", str(config), *extra, timeout=120)
    assert result.returncode == 0, result.stderr
    kpi = {k["id"]: k for k in json.loads(result.stdout)["kpis"]}["all_hits"]
    return float(kpi["value"] or 0.0), result.stderr


def collectors_and_viewer(backend: str, location: str, tmp_path: Path, seconds: float) -> dict:
    # PostgreSQL: two hosts with the same source and metric, their counts add up by instance;
    # SQLite keeps one instance's cursors per source id, so there the two logs are two sources
    sids = ("web", "web") if backend == "postgres" else ("web_a", "web_b")
    logs = [GrowingLog(tmp_path / f"host{i}.log", sid, f"host{i}") for i, sid in enumerate(sids, 1)]
    configs = []
    for i, log in enumerate(logs, 1):
        log.append(1500)
        config = tmp_path / f"host{i}.toml"
        config.write_text(
            storage_toml(backend, location, tmp_path, f"web{i}") + source_toml(log.sid, log.path, interval=0.1),
            encoding="utf-8",
        )
        configs.append(config)
    metrics = sorted({f"{sid}_hits" for sid in sids})
    viewer = tmp_path / "viewer.toml"
    text = storage_toml(backend, location, tmp_path, "viewer")
    for sid in sorted(set(sids)):
        text += source_toml(sid, next(log.path for log in logs if log.sid == sid), interval=3600)
    text += f'[kpis.all_hits]\nformula = "sum"\nmetrics = {json.dumps(metrics)}\nwindow = "trailing_3660d"\n'
    viewer.write_text(text, encoding="utf-8")

    appenders = [Appender(log, lines=(5, 100), pause=(0.02, 0.08)) for log in logs]
    outs = [tmp_path / f"collector{i}.out" for i in (1, 2)]
    collectors = [
        subprocess.Popen(
            [*KPITUI, "collect", "-v", "--every", "0.1", "--config", str(c)],
            cwd=REPO,
            env=kpitui_env(),
            stdout=out.open("w"),
            stderr=subprocess.STDOUT,
        )
        for c, out in zip(configs, outs)
    ]
    for appender in appenders:
        appender.start()
    seen: list[float] = []
    viewer_stderr: list[str] = []
    try:
        # at least `seconds`, and on until the viewer has read 5 times (a loaded machine: each read takes
        # seconds), at most 6 x `seconds`
        start = time.monotonic()
        deadline, cap = start + seconds, start + 6 * seconds
        while time.monotonic() < deadline or (len(seen) < 5 and time.monotonic() < cap):
            value, err = report_total(viewer)
            seen.append(value)
            if err.strip():
                viewer_stderr.append(err)
    finally:
        for appender in appenders:
            appender.stop()
        for proc in collectors:
            proc.send_signal(signal.SIGTERM)
        for proc in collectors:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    for out, proc in zip(outs, collectors):
        text = out.read_text(errors="replace")
        assert proc.returncode == 0 and not problems(text), f"{out.name} ({proc.returncode}):\n{text[-2000:]}"
    assert not viewer_stderr, viewer_stderr[:3]
    for log in logs:
        log.finish()
    for config in configs:
        done = run_kpitui("collect", "--once", "--config", str(config), timeout=120)
        assert done.returncode == 0, done.stderr
    final, _ = report_total(viewer)
    lines = grep_count('HTTP/1.1"', *(log.path for log in logs))
    assert final == lines == sum(log.complete_lines for log in logs), (final, lines)
    if backend == "postgres":  # each instance alone: its own log's lines
        for i, log in enumerate(logs, 1):
            alone, _ = report_total(viewer, "--instance", f"web{i}")
            assert alone == grep_count('HTTP/1.1"', log.path), (f"web{i}", alone)
    downs = [(a, b) for a, b in zip(seen, seen[1:]) if b < a]
    assert not downs, f"the viewer's total went down: {downs[:5]}"
    assert max(seen) <= final, (max(seen), final)
    polls = sum(written(out.read_text()) for out in outs)
    return {
        "backend": backend,
        "seconds": seconds,
        "viewer_reads": len(seen),
        "distinct_totals_seen": len(set(seen)),
        "polls_written": polls,
        "lines_checked": lines,
        "final_total": final,
    }


@pytest.mark.slow  # a soak: 30 s of two collectors and a viewer per backend
def test_two_collectors_and_a_viewer_agree_with_grep(backend, history_location, tmp_path, figures):
    stats = collectors_and_viewer(backend, history_location, tmp_path, seconds=30)
    assert stats["viewer_reads"] >= 5 and stats["distinct_totals_seen"] >= 3 and stats["polls_written"] >= 10, stats
    figures(**stats)


@pytest.mark.slow
def test_two_collectors_and_a_viewer_long(backend, history_location, tmp_path, figures):
    stats = collectors_and_viewer(backend, history_location, tmp_path, seconds=120)
    figures(**stats)
