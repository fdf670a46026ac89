"""``kpitui collect`` stopped by SIGTERM or SIGINT (a service manager, Ctrl+C) at random moments while it catches
up a backlog and a log grows: it ends promptly, and the store holds exactly the lines before its committed
cursor; after a last ``collect --once`` the counts equal the log's, line for line (the SIGKILL rounds are in
test_crash_safety.py; a signal's own path, the graceful stop, is this one)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest

from .conftest import KPITUI, REPO, kpitui_env, run_kpitui
from .logkit import Appender, GrowingLog, source_toml
from .test_crash_safety import check


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_mid_collection_loses_and_double_counts_nothing(tmp_path, figures, signum):
    rng = random.Random(int(signum))
    log = GrowingLog(tmp_path / "access.log", "web", int(signum))
    history = tmp_path / "history.sqlite3"
    config = tmp_path / "kpitui.toml"
    config.write_text(f'[storage]\npath = "{history.as_posix()}"\n\n' + source_toml("web", log.path), encoding="utf-8")
    stored: dict = {}
    stops, slowest = 0, 0.0
    for round_ in range(6):
        log.append(rng.choice([500, 5000, 40000]))
        once = round_ % 2 == 0
        command = [*KPITUI, "collect", *(["--once"] if once else ["--every", "0.2"]), "--config", str(config)]
        appender = Appender(log)
        proc = subprocess.Popen(
            command, cwd=REPO, env=kpitui_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        appender.start()
        try:
            time.sleep(rng.uniform(0.3, 2.0))
            sent = time.monotonic()
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=60)
            slowest = max(slowest, time.monotonic() - sent)
        finally:
            appender.stop()
            if proc.poll() is None:
                proc.kill()
        assert "Traceback" not in err, err
        assert proc.returncode in (0, 1, 130, -signum, 128 + signum), (proc.returncode, err)
        stops += 1
        stored, _ = check(history, log, stored)
    log.finish()
    done = run_kpitui("collect", "--once", "--config", str(config), timeout=120)
    assert done.returncode == 0, done.stderr
    final, offset = check(history, log, stored)
    assert offset == log.size and final == log.counts()
    figures(signal=signal.Signals(signum).name, stops=stops, lines=log.complete_lines, slowest_stop_s=round(slowest, 1))


#: ``kpitui`` run by ``cli.main`` with a real SIGINT (a Ctrl+C) delivered at one of start-up's steps: parsing the
#: command line, setting up logging, or importing the config loader (~0.1-0.3 s after the start, longer on a busy
#: machine), each before the command's own Ctrl+C handling
EARLY_CTRL_C = """
import os, signal, sys
from kpitui import cli, logs

step = sys.argv[1]


def interrupted(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    raise AssertionError("SIGINT not delivered")


if step == "logging":
    logs.setup = interrupted
elif step == "config import":
    import builtins

    real_import = builtins.__import__

    def importing(name, *args, **kwargs):
        if name == "config" or name == "kpitui.config":
            interrupted()
        return real_import(name, *args, **kwargs)

    builtins.__import__ = importing
else:
    cli._parse_tui = interrupted
sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.mark.parametrize("step", ["command line", "logging", "config import"])
def test_a_ctrl_c_during_start_up_ends_quietly(tmp_path, step):
    """A Ctrl+C in the first few hundred milliseconds, before the command runs, printed a KeyboardInterrupt
    traceback (from the import of the config loader, or logging's set-up) and exited -2: one a user pressing Ctrl+C
    at once saw, and the stop rounds above met when their signal came early on a loaded machine."""
    done = subprocess.run(
        [sys.executable, "-c", EARLY_CTRL_C, step, "report", "--config", str(tmp_path / "kpitui.toml")],
        cwd=REPO,
        env=kpitui_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr and "AssertionError" not in done.stderr, done.stderr
    assert done.returncode == 130, (done.returncode, done.stderr)
    assert done.stdout == "" and done.stderr == ""
