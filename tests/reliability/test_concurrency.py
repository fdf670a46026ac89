"""Concurrency: two collectors, a compactor and a viewer on one store; nothing locked, nothing lost.

Fast variant: two ``kpitui collect --every 0.1`` processes poll the same two
growing access logs (so they race for every poll and must never count a line
twice), a third process runs ``kpitui compact`` in a loop (down-sampling the
hours the collectors keep adding to into days), and a viewer process loops
``History.refresh()`` + ``Engine.evaluate``. Afterwards: no process printed
or raised "database is locked" (or any error), the viewer's lead KPI never
went down, and the per-day totals equal the logs' line counts exactly.

Slow variant: the same with the real TUI in tmux instead of the viewer
process (the TUI also collects, so three collectors), its screen captured
every half second and searched for errors.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from kpitui.store import Store

from .conftest import KPITUI, REPO, kpitui_env, run_kpitui
from .logkit import Appender, GrowingLog, source_toml, stored_counts

VIEWER = """
    import datetime as dt, json, sys, time
    from kpitui.config import load_config
    from kpitui.engine import Engine
    from kpitui.history import History
    from kpitui.store import Store

    config = load_config(sys.argv[1])
    seconds = float(sys.argv[2])
    store = Store(config.storage.path)
    history, engine = History(store), Engine(config)
    errors, loops, values, decreases = [], 0, [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            history.refresh()
            source = history.view() if hasattr(history, "view") else history.frame
            snap = engine.evaluate(source, dt.datetime.now(dt.timezone.utc))
            value = snap.kpis["all_hits"].value or 0.0
            problems = [r.error for r in snap.kpis.values() if r.error]
            if problems:
                errors.append(problems[0])
            if values and value < values[-1]:
                decreases.append((values[-1], value))
            values.append(value)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        loops += 1
    print(json.dumps({"loops": loops, "errors": errors[:20], "error_count": len(errors),
                      "decreases": decreases[:20], "last": values[-1] if values else None}))
"""

COMPACTOR = """
    import sys, time
    from kpitui import cli
    deadline = time.monotonic() + float(sys.argv[2])
    runs = 0
    while time.monotonic() < deadline:
        code = cli.main(["compact", "--config", sys.argv[1]])
        if code != 0:
            sys.exit(code)
        runs += 1
        time.sleep(0.05)
    print(f"compactions={runs}", file=sys.stderr)
"""


def write_config(tmp_path: Path, logs: list[GrowingLog]) -> Path:
    history = tmp_path / "history.sqlite3"
    text = f'[storage]\npath = "{history.as_posix()}"\nraw_retention_days = 1\ndownsample_to = "day"\n\n'
    for log in logs:
        text += source_toml(log.sid, log.path, interval=0.1)
    hits = ", ".join(f'"{log.sid}_hits"' for log in logs)
    text += f'[kpis.all_hits]\nformula = "sum"\nmetrics = [{hits}]\nwindow = "trailing_3660d"\n'
    config = tmp_path / "kpitui.toml"
    config.write_text(text, encoding="utf-8")
    return config


def daily(counts: dict[tuple[str, int], int]) -> Counter:
    out: Counter = Counter()
    day = 86_400_000_000
    for (metric, hour), value in counts.items():
        out[(metric, hour // day)] += value
    return out


def stored_daily(path: Path) -> Counter:
    out: Counter = Counter()
    with Store(path) as store:
        assert store.integrity_check() == "ok"
        frame = store.load()[0]
    day = 86_400_000_000
    for metric, at, value in frame.select("metric", "at", "value").iter_rows():
        if value:
            out[(metric, int(at.timestamp()) * 1_000_000 // day)] += int(value)
    return out


def start(args: list[str], log_to: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=REPO, env=kpitui_env(), stdout=open(log_to, "w"), stderr=subprocess.STDOUT, text=True
    )


def soak(tmp_path: Path, seconds: float, viewer: str) -> dict:
    logs = [GrowingLog(tmp_path / f"{sid}.log", sid, sid) for sid in ("web_a", "web_b")]
    for log in logs:
        log.append(3000)
    config = write_config(tmp_path, logs)
    appenders = [Appender(log, lines=(10, 200), pause=(0.01, 0.05)) for log in logs]
    collectors = [
        start([*KPITUI, "collect", "--every", "0.1", "--config", str(config)], tmp_path / f"collector{i}.out")
        for i in (1, 2)
    ]
    compactor = start(
        [sys.executable, "-c", textwrap.dedent(COMPACTOR), str(config), str(seconds)], tmp_path / "compactor.out"
    )
    for appender in appenders:
        appender.start()
    stats: dict = {"seconds": seconds}
    try:
        if viewer == "process":
            done = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(VIEWER), str(config), str(seconds)],
                cwd=REPO,
                env=kpitui_env(),
                capture_output=True,
                text=True,
                timeout=seconds + 120,
            )
            assert done.returncode == 0, done.stderr
            result = json.loads(done.stdout.strip().splitlines()[-1])
            stats.update(viewer_loops=result["loops"], viewer_errors=result["error_count"])
            assert result["error_count"] == 0, result["errors"]
            assert not result["decreases"], f"the viewer saw the lead KPI go down: {result['decreases']}"
        else:
            stats.update(tui_soak(tmp_path, config, seconds))
    finally:
        for appender in appenders:
            appender.stop()
        compactor.wait(timeout=seconds + 60)
        for proc in collectors:
            proc.send_signal(signal.SIGTERM)
        for proc in collectors:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    outputs = {p.name: p.read_text() for p in tmp_path.glob("*.out")}
    for name, text in outputs.items():
        assert "locked" not in text.lower() and "error" not in text.lower() and "Traceback" not in text, (
            f"{name}:\n{text[-2000:]}"
        )
    assert compactor.returncode == 0, outputs["compactor.out"]
    assert all(p.returncode == 0 for p in collectors), [p.returncode for p in collectors]
    for log in logs:
        log.finish()
    caught_up = run_kpitui("collect", "--once", "--config", str(config), timeout=120)
    # `collect --once` exits 0 when one of several sources fails: a failed catch-up poll would
    # leave that log's tail uncounted and look like readings the store lost
    said = caught_up.stdout + caught_up.stderr
    assert caught_up.returncode == 0 and "error" not in said.lower(), said
    history = Path(json_path(config))
    unread = read_to(history, logs)
    assert not unread, f"the catch-up did not read every log to its end (sid: offset, size): {unread}\n{said}"
    expected: Counter = Counter()
    for log in logs:
        expected.update(daily(log.counts()))
    got = stored_daily(history)
    differ = {key: (got[key], expected[key]) for key in sorted(set(got) | set(expected)) if got[key] != expected[key]}
    assert not differ, (
        f"{len(differ)} (metric, day) totals differ (stored, in the logs): {differ}; "
        f"per hour: {hourly_differences(history, logs)}"
    )
    polls = sum(text.count(" readings") for name, text in outputs.items() if name.startswith("collector"))
    compactions = outputs["compactor.out"].count("replaced")
    stats.update(
        collectors=2,
        lines=sum(log.complete_lines for log in logs),
        polls_written=polls,
        compactions_that_replaced=compactions,
        day_totals_checked=len(expected),
    )
    return stats


def read_to(history: Path, logs: list[GrowingLog]) -> dict[str, tuple[int | None, int]]:
    """The logs whose stored cursor is not at their end: sid -> (cursor offset, log size)."""
    with Store(history) as store:
        cursors = {log.sid: store.cursor(log.sid) for log in logs}
    offsets = {sid: (json.loads(text or "{}").get("file") or {}).get("offset") for sid, text in cursors.items()}
    return {log.sid: (offsets[log.sid], log.size) for log in logs if offsets[log.sid] != log.size}


def hourly_differences(history: Path, logs: list[GrowingLog]) -> dict[tuple[str, str], tuple[int, int]]:
    """(metric, UTC hour) -> (stored, in the logs) where they differ, to tell a lost poll (a few hours of one
    source) from a lost head or tail of a log."""
    with Store(history) as store:
        stored = stored_counts(store.load()[0])
    expected: dict[tuple[str, int], int] = {}
    for log in logs:
        expected.update(log.counts())
    hours = sorted(set(stored) | set(expected))
    name = {at: dt.datetime.fromtimestamp(at // 1_000_000, dt.timezone.utc).strftime("%d %H:00") for _, at in hours}
    return {
        (metric, name[at]): (stored.get((metric, at), 0), expected.get((metric, at), 0))
        for metric, at in hours
        if stored.get((metric, at), 0) != expected.get((metric, at), 0)
    }


def json_path(config: Path) -> str:
    for line in config.read_text().splitlines():
        if line.startswith("path = ") and line.endswith('.sqlite3"'):
            return line.split('"')[1]
    raise AssertionError("no storage path")


@pytest.mark.slow
def test_two_collectors_a_compactor_and_a_viewer_share_one_store(tmp_path, figures):
    stats = soak(tmp_path, seconds=6, viewer="process")
    assert stats["viewer_loops"] >= 10 and stats["polls_written"] >= 10, stats
    figures(**stats)


# -- slow: the real TUI in tmux -----------------------------------------------------------


def tui_soak(tmp_path: Path, config: Path, seconds: float) -> dict:
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    session = f"kpitui-soak-{os.getpid()}"
    env_args = [
        arg
        for key in ("KPITUI_DATA_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME")
        for arg in ("-e", f"{key}={os.environ[key]}")
    ]
    command = " ".join([*KPITUI, "--config", str(config)])
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "140", "-y", "40", *env_args, command], check=True
    )
    captures, shown, bad = 0, 0, []
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.5)
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
            captures += 1
            shown += "All hits" in screen  # the dashboard is up, with the lead KPI
            lowered = screen.lower()
            if "locked" in lowered or "traceback" in lowered or "error" in lowered:
                bad.append(screen)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"])
        time.sleep(1)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert not bad, f"{len(bad)} of {captures} screens showed an error:\n{bad[0]}"
    assert shown >= captures - 4, f"the dashboard was on only {shown} of {captures} screens"
    return {"tui_captures": captures, "tui_screens_with_the_dashboard": shown, "tui_screens_with_errors": len(bad)}


@pytest.mark.slow
def test_soak_with_the_real_tui_in_tmux(tmp_path, figures):
    stats = soak(tmp_path, seconds=60, viewer="tui")
    assert stats["tui_captures"] >= 60, stats
    figures(**stats)


@pytest.mark.slow
def test_long_soak_with_a_viewer_process(tmp_path, figures):
    stats = soak(tmp_path, seconds=120, viewer="process")
    figures(**stats)


def test_a_compaction_between_a_viewers_two_reads_never_double_counts(tmp_path, builtin_registry, figures):
    """History reads the generation, then the new rows: a compaction (or deletion) in between must not mix states.

    Found by this suite: the viewer showed 19 for a total of 10 until its next refresh.
    """
    from kpitui import retention
    from kpitui.api import readings_frame
    from kpitui.history import History

    from .test_retention import NOW, make_config

    config = make_config(tmp_path, "UTC", "hour", days=10, registry=builtin_registry)
    hour = dt.datetime(2026, 1, 5, 10, tzinfo=dt.timezone.utc)
    races = 0
    with Store(config.storage.path) as writer, Store(config.storage.path) as reader:
        history = History(reader)
        for round_ in range(5):
            # events (mode "add"): the compacted past is closed to replace-mode writes
            writer.write(
                readings_frame([("s", hour + dt.timedelta(days=round_, minutes=k), 1.0) for k in range(10)]), mode="add"
            )
            history.refresh()
            real = reader.generation

            def generation_then_compact():
                seen = real()
                reader.generation = real  # once
                retention.compact(writer, config, now=NOW)
                return seen

            reader.generation = generation_then_compact
            history.refresh()
            races += 1
            total = history.frame["value"].sum()
            assert total == 10.0 * (round_ + 1), (
                f"round {round_}: the viewer saw {total}, the store holds {10.0 * (round_ + 1)}"
            )
    figures(compactions_between_reads=races)
