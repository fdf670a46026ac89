"""TUI start-up: time to the first painted dashboard frame, measured in a real terminal.

``first_frame`` starts ``kpitui --config X`` in a tmux pane (a real
pseudo-terminal, 160x45) and polls the screen every 5 ms until the dashboard
frame is on it (its "Objectives" pane and its footer). The clock starts just
before tmux respawns the pane with the command, so the figure includes
Python's start-up, imports, config loading and Textual's first paint.

``python -m benchmarks.bench_startup CONFIG OUT.json`` is the *probe*: the
same start-up in-process with timestamps at each step (imports, config,
mount, first frame, store opened, first values shown), for finding what
delays the first frame. The store opens after the first frame (in a worker),
so the last two steps show how soon values fill in. It quits once values are
shown.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DASHBOARD_MARKS = ("Objectives", "Quit")
_servers = itertools.count()


def tmux_available() -> bool:
    return shutil.which("tmux") is not None


def first_frame(command: str, env: dict[str, str], *, marks=DASHBOARD_MARKS, timeout: float = 30.0) -> tuple[float | None, str]:
    """Seconds from spawning ``command`` in a fresh pane until every one of ``marks`` is on screen.

    Each call runs its own tmux server (a private socket): the pane gets this
    process's environment, not that of some other tmux server already running,
    and no call races the previous one's server shutting down.
    """
    tmux = ["tmux", "-L", f"kpitui-bench-{os.getpid()}-{next(_servers)}"]
    subprocess.run([*tmux, "new-session", "-d", "-s", "bench", "-x", "160", "-y", "45", "sleep 3600"], check=True)
    socket = subprocess.run([*tmux, "display-message", "-p", "#{socket_path}"], capture_output=True, text=True).stdout.strip()
    screen = ""
    try:
        assignments = " ".join(f"{k}={v}" for k, v in env.items())
        start = time.perf_counter()
        subprocess.run([*tmux, "respawn-pane", "-k", "-t", "bench", f"env {assignments} {command}"], check=True)
        while time.perf_counter() - start < timeout:
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "bench"], capture_output=True, text=True).stdout
            if all(mark in screen for mark in marks):
                return time.perf_counter() - start, screen
            time.sleep(0.005)
        return None, screen
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        if socket:
            Path(socket).unlink(missing_ok=True)


def probe(config_path: str, out: str) -> None:
    """Start the app in-process, note when each step finishes, quit when values are shown."""
    t0 = float(os.environ.get("KPITUI_BENCH_T0", time.time()))
    marks: dict[str, float] = {"interpreter ready": time.time() - t0}

    def mark(name: str) -> None:
        marks.setdefault(name, time.time() - t0)

    from kpitui.config import load_config

    mark("import kpitui core (polars comes with kpitui.api)")
    config = load_config(Path(config_path))
    mark("config loaded (TOML, plugins, validation)")
    from kpitui.ui.app import KpiApp

    mark("import Textual and kpitui.ui")

    class Probe(KpiApp):
        def on_mount(self) -> None:
            mark("app mounted")
            super().on_mount()
            self.set_interval(0.005, self._watch)

        def on_ready(self) -> None:
            mark("first frame painted (dashboard and footer)")
            super().on_ready()  # opens the store in a worker

        def _watch(self) -> None:
            if self.runtime is not None:
                mark("store opened (runtime ready)")
            if self.snapshot is not None:
                mark("first values shown (history loaded, evaluated)")
                self.exit(0)

    app = Probe(config, collect=False, watch_config=False)
    app.run()
    Path(out).write_text(json.dumps(marks))


if __name__ == "__main__":
    probe(sys.argv[1], sys.argv[2])
