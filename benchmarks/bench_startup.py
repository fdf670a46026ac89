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

``installed(ROOT, DEST)`` makes the copy the suite's start-up figures run, as
users get it: a new virtual environment, ``pip install ROOT`` (a wheel built
from the checkout, not an editable install) and ``python -m compileall`` over
its site-packages with ``PYTHONDONTWRITEBYTECODE`` unset (these machines set
it; without cached bytecode every module compiles on every start). The runs
unset it too. ``start(command, env)`` times both the first painted frame and
the first values (the objectives' scores, worked out from the history) in
one tmux pane.

``python -m benchmarks.bench_startup installed CONFIG [RUNS] [DATA_DIR]``
measures one config that way (the venv is made under
``$TMPDIR/kpitui-bench-installed`` and kept for the next call).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

DASHBOARD_MARKS = ("Objectives", "Quit")
#: on screen once the first evaluation is shown: an objective's score (the panes say "loading" before)
VALUE_MARKS = ("score ",)
_servers = itertools.count()


def tmux_available() -> bool:
    return shutil.which("tmux") is not None


class _Control:
    """A tmux control-mode client (``tmux -C``) on the bench session: each capture of the pane is one command
    written to its pipe (~0.1 ms of CPU), not a tmux client process started for each poll (~3.7 ms of CPU
    between it and this process, measured: at a capture every 5 ms, a third of a core taken from the start
    being timed on a 2-core machine). The same screen text as ``tmux capture-pane -p``. Its size is ignored
    (``ignore-size``): the pane keeps the session's 160x45."""

    def __init__(self, tmux: list[str]) -> None:
        self.process = subprocess.Popen(
            [*tmux, "-C", "attach-session", "-f", "ignore-size,no-output", "-t", "bench"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        token = f"kpitui-bench-ready-{os.getpid()}"  # the replies before it (the attach's own) are skipped
        self._send(f"display-message -p {token}")
        while token not in self._reply():
            pass

    def _send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def _reply(self) -> str:
        """The next command's output (between ``%begin`` and ``%end``; notifications outside them skipped)."""
        assert self.process.stdout is not None
        lines: list[str] | None = None
        for line in self.process.stdout:
            if lines is None:
                if line.startswith("%begin "):
                    lines = []
            elif line.startswith(("%end ", "%error ")):
                return "".join(lines)
            else:
                lines.append(line)
        raise RuntimeError("the tmux control client ended")

    def capture(self) -> str:
        self._send("capture-pane -p -t bench")
        return self._reply()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def _pane(command: str, env: dict[str, str]) -> Iterator[tuple[list[str], float, _Control]]:
    """``command`` (with ``env``) spawned in a fresh 160x45 pane: the tmux command line that reaches it, the
    ``time.perf_counter()`` instant it was spawned, and a control client that captures the pane
    (:class:`_Control`, attached before the spawn). Each call runs its own tmux server (a private socket),
    killed on the way out: the pane gets this process's environment, not that of some other tmux server
    already running, and no call races the previous one's server shutting down."""
    tmux = ["tmux", "-L", f"kpitui-bench-{os.getpid()}-{next(_servers)}"]
    subprocess.run([*tmux, "new-session", "-d", "-s", "bench", "-x", "160", "-y", "45", "sleep 3600"], check=True)
    socket = subprocess.run(
        [*tmux, "display-message", "-p", "#{socket_path}"], capture_output=True, text=True
    ).stdout.strip()
    control = None
    try:
        control = _Control(tmux)
        assignments = " ".join(f"{k}={v}" for k, v in env.items())
        spawned = time.perf_counter()
        subprocess.run([*tmux, "respawn-pane", "-k", "-t", "bench", f"env {assignments} {command}"], check=True)
        yield tmux, spawned, control
    finally:
        if control is not None:
            control.close()
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        if socket:
            Path(socket).unlink(missing_ok=True)


def first_frame(
    command: str, env: dict[str, str], *, marks=DASHBOARD_MARKS, timeout: float = 30.0
) -> tuple[float | None, str]:
    """Seconds from spawning ``command`` in a fresh pane (:func:`_pane`) until every one of ``marks`` is on
    screen."""
    screen = ""
    with _pane(command, env) as (_, start, control):
        while time.perf_counter() - start < timeout:
            screen = control.capture()
            if all(mark in screen for mark in marks):
                return time.perf_counter() - start, screen
            time.sleep(0.005)
        return None, screen


def start(
    command: str, env: dict[str, str], *, marks=DASHBOARD_MARKS, values=VALUE_MARKS, timeout: float = 60.0
) -> tuple[float | None, float | None, str]:
    """Seconds from spawning ``command`` to the first painted frame (``marks`` on screen) and to
    the first values (``values`` on screen as well), in one fresh tmux pane; ``None`` if not seen."""
    screen, frame = "", None
    with _pane(command, env) as (_, begin, control):
        while time.perf_counter() - begin < timeout:
            screen = control.capture()
            now = time.perf_counter() - begin
            if all(mark in screen for mark in marks):
                frame = now if frame is None else frame
                if all(mark in screen for mark in values):
                    return frame, now, screen
            time.sleep(0.005)
        return frame, None, screen


def session(command: str, env: dict[str, str], done, *, timeout: float = 180.0) -> float:
    """Run ``command`` in a fresh pane until its first values are shown and ``done()`` is true (checked
    every 0.1 s), then close the pane, as a user closes the terminal; the seconds it ran. For a session
    whose work after the first values a later start finds (the sample's first session: its demo source's
    back-fill, read, folded and saved as the history's index cache)."""
    screen = ""
    with _pane(command, env) as (tmux, begin, control):
        shown = False
        while time.perf_counter() - begin < timeout:
            if not shown:
                screen = control.capture()
                shown = all(mark in screen for mark in (*DASHBOARD_MARKS, *VALUE_MARKS))
            if shown and done():
                return time.perf_counter() - begin
            time.sleep(0.1)
        raise RuntimeError(f"the session did not finish its work in {timeout:.0f} s:\n{screen}")


def _status_kb(pid: int, field: str) -> int | None:
    """A ``kB`` field of ``/proc/PID/status`` (``VmHWM:``, ``VmRSS:``), or ``None`` once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _cpu_ticks(pid: int) -> int | None:
    """User + system CPU of every thread of ``pid`` so far (clock ticks), or ``None`` once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def _kpitui_process(pid: int) -> int | None:
    """``pid`` or the first of its descendants that is Python running kpitui (the pane's shell and
    ``env`` may run it as a child rather than exec it): the process whose memory counts, not tmux's."""
    todo = [pid]
    while todo:
        here = todo.pop(0)
        try:
            python = Path(os.readlink(f"/proc/{here}/exe")).name.startswith("python")
            if python and b"kpitui" in Path(f"/proc/{here}/cmdline").read_bytes():
                return here
            for task in Path(f"/proc/{here}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return None


def peak_tui(command: str, env: dict[str, str], *, quiet: float = 3.0, timeout: float = 120.0) -> dict[str, float]:
    """The TUI's peak resident memory (VmHWM of the kpitui process itself, from ``/proc``) from its
    start until its first values are shown and then until it has been idle for ``quiet`` seconds (less
    than 0.05 s of CPU in that time, all threads): the fold of the rows since that follows the first
    values runs in a background thread of the same process. MB (2**20 bytes), seconds."""
    with _pane(command, env) as (tmux, begin, control):
        pane = int(
            subprocess.run(
                [*tmux, "display-message", "-p", "-t", "bench", "#{pane_pid}"], capture_output=True, text=True
            ).stdout.strip()
        )
        pid, shown, at_values, screen = None, None, None, ""
        ticks: list[tuple[float, int]] = []  # (when, CPU ticks) since the first values
        per_second = os.sysconf("SC_CLK_TCK")
        while time.perf_counter() - begin < timeout:
            now = time.perf_counter() - begin
            pid = pid or _kpitui_process(pane)
            if pid is not None and shown is None:
                screen = control.capture()
                if all(mark in screen for mark in (*DASHBOARD_MARKS, *VALUE_MARKS)):
                    shown, at_values = now, _status_kb(pid, "VmHWM:")
            if shown is not None and pid is not None:
                cpu = _cpu_ticks(pid)
                if cpu is None:
                    break
                ticks.append((now, cpu))
                past = [c for t, c in ticks if t <= now - quiet]
                if past and (cpu - past[-1]) / per_second < 0.05:
                    peak = _status_kb(pid, "VmHWM:")
                    if peak is None or at_values is None:
                        break
                    return {
                        "values_s": shown,
                        "settled_s": now,
                        "peak_at_values_mb": at_values / 1024,
                        "peak_mb": peak / 1024,
                        "rss_mb": (_status_kb(pid, "VmRSS:") or 0) / 1024,
                    }
            time.sleep(0.02)
        raise RuntimeError(f"the TUI did not show values and settle in {timeout:.0f} s:\n{screen}")


def peak_command(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """Peak resident memory (VmHWM, read from ``/proc`` every 10 ms: monotonic, so exact once read
    after the peak) and wall time of one run of ``argv``, output discarded. Not ``ru_maxrss``: a
    forked child starts with its parent's resident pages counted. MB (2**20 bytes), seconds."""
    begin = time.perf_counter()
    process = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _status_kb(process.pid, "VmHWM:") or 0)
        time.sleep(0.01)
    wall = time.perf_counter() - begin
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}: {stderr[-2000:]}")
    return {"peak_mb": peak / 1024, "wall_s": wall}


FLOOR_APP = """
import sys
if "polars" in sys.argv:
    import polars
from textual.app import App
from textual.widgets import Static

class Floor(App):
    def compose(self):
        yield Static("Objectives  score 0%  Quit")

Floor().run()
"""


def floors(python: Path, runs: int) -> dict[str, list[float]]:
    """The floor of a first frame in this pane: a one-widget Textual app run by ``python`` (seconds
    to its frame), without and with ``import polars`` first."""
    out: dict[str, list[float]] = {"textual": [], "polars": []}
    for _ in range(runs):
        for kind in out:
            _, shown, screen = start(f"{python} -c '{FLOOR_APP}' {kind}", {"PYTHONDONTWRITEBYTECODE": ""})
            if shown is None:
                raise RuntimeError(f"the floor app drew nothing:\n{screen}")
            out[kind].append(shown)
    return out


def installed(root: Path, dest: Path) -> Path:
    """``dest``: a virtual environment with kpitui from ``root`` installed as users get it (pip, not
    editable; bytecode compiled). Made once (a ``kpitui`` script there is reused). Its script."""
    script = dest / "bin" / "kpitui"
    if script.exists():
        return script
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(dest)], check=True)
    python = dest / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(root)], check=True, env=env, cwd=dest)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", site], check=True, env=env, capture_output=True)
    # the ~235 MB just written go to the disk now, not during the timed starts that follow (the kernel writes
    # dirty pages back after 30 s: they landed on the 10M store's starts); a user's kpitui was installed before
    os.sync()
    return script


def measure(command: str, config: Path, env: dict[str, str], runs: int, before_each=None) -> dict:
    """``runs`` starts of ``command --config config``: first frames and first values (seconds);
    ``before_each()`` (when given) runs before each start, untimed."""
    frames, values = [], []
    for _ in range(runs):
        if before_each is not None:
            before_each()
        frame, shown, screen = start(f"{command} --config {config}", {**env, "PYTHONDONTWRITEBYTECODE": ""})
        if frame is None or shown is None:
            raise RuntimeError(
                f"no dashboard values for {config} ({'no frame' if frame is None else 'frame, no values'}):\n{screen}"
            )
        frames.append(frame)
        values.append(shown)
    return {
        "frame": frames,
        "values": values,
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "n/a",
    }


def probe(config_path: str, out: str) -> None:
    """Start the app in-process, note when each step finishes (wall since the spawn, and the
    process's CPU), quit once the first values are painted. ``OUT``: ``{step: wall seconds}``;
    stderr: the table with CPU. Run it as users get kpitui: a plugin installed in this venv
    but not in theirs (``plugins/kpitui-nps``) is loaded with the config; ``KPITUI_LOAD_PLUGINS=``
    (empty) loads the built-ins only."""
    t0 = float(os.environ.get("KPITUI_BENCH_T0", time.time()))
    marks: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def mark(name: str) -> None:
        if name not in marks:
            marks[name], cpu[name] = time.time() - t0, time.process_time()

    mark("interpreter ready")
    from kpitui import kept_code
    from kpitui.location import data_dir
    from kpitui.ui import gc_pause

    # as kpitui.cli.cmd_tui starts the TUI: the garbage collector paused until the first values are painted
    # (kpitui.ui.gc_pause) and the dataclasses' kept code (kpitui.kept_code). Without the pause the probe ran
    # collections the TUI does not: on the 10M store they fell between the snapshot posted and painted (+118 ms in
    # the probe against ~35-40 ms of main-thread CPU for that step in kpitui itself; NOTES, paint13).
    gc_pause.pause()
    kept_code.install(data_dir())
    from kpitui.config import load_config

    mark("import kpitui.config (no polars: it comes with the runtime, after the first frame)")
    config = load_config(Path(config_path))
    mark(
        f"config loaded (TOML, plugins, validation){'; polars imported by a plugin' if 'polars' in sys.modules else ''}"
    )
    from kpitui.ui.app import KpiApp

    mark("import Textual and kpitui.ui")
    from kpitui.ui.preload import Preload, worth_preloading

    # as kpitui.cli starts the TUI: the history loads beside the mount and the first frame, after the UI's imports
    preload = Preload(config) if worth_preloading(config) else None

    # Textual calls every class's handler down the MRO (KpiApp's on_mount and on_ready run after these):
    # calling super() here as well opened the runtime twice, the second loading the history again
    class Probe(KpiApp):
        def on_mount(self) -> None:
            mark("app mounted")

        def on_ready(self) -> None:
            mark("first frame painted (dashboard and footer)")  # then KpiApp.on_ready opens the store

    app = Probe(config, collect=False, watch_config=False, preload=preload)
    # the steps between, on this app's own objects (kpitui.ui.lifecycle, kpitui.ui.evaluating)
    lifecycle, evaluations = app.lifecycle, app.evaluations
    open_runtime, evaluate, shown = lifecycle._open, evaluations._evaluate, lifecycle.first_values_shown
    arrived = evaluations.arrived

    def arriving(message):
        # on the main thread, as the snapshot is taken to be shown (until 2026-12-04 a 5 ms timer looked for it:
        # ~50 ticks of the main thread beside the history's load, which kpitui itself does not run; NOTES, start16)
        snapshot = arrived(message)
        if snapshot is not None:
            mark("first snapshot set (history loaded, evaluated)")
        return snapshot

    def opening(*args, **kwargs):
        mark("runtime worker started")
        import kpitui.ui.runtime  # noqa: F401 - what the worker imports first

        mark("runtime's modules imported (polars with them unless imported before)")
        open_runtime(*args, **kwargs)
        mark("store opened (runtime ready)")

    def evaluating(*args, **kwargs):
        mark("first evaluation started")
        evaluate(*args, **kwargs)
        mark("first evaluation done (snapshot posted)")

    def painted() -> None:
        mark("first values painted")
        shown()
        app.exit(0)

    lifecycle._open, evaluations._evaluate, lifecycle.first_values_shown = opening, evaluating, painted  # type: ignore[method-assign]
    evaluations.arrived = arriving  # type: ignore[method-assign]
    try:
        app.run()
    finally:
        kept_code.finish(save=False)
        gc_pause.resume()
    order = sorted(marks, key=marks.__getitem__)
    Path(out).write_text(json.dumps({name: marks[name] for name in order}))
    for name in order:
        print(f"{marks[name]:7.3f} s  {cpu[name]:7.3f} s CPU  {name}", file=sys.stderr)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "installed":
        import statistics
        import tempfile

        config = Path(argv[1]).resolve()
        runs = int(argv[2]) if len(argv) > 2 else 5
        data_dir = Path(argv[3]) if len(argv) > 3 else Path(tempfile.gettempdir()) / "kpitui-bench-installed-data"
        root = Path(__file__).resolve().parents[1]
        script = installed(root, Path(tempfile.gettempdir()) / "kpitui-bench-installed")
        env = {"KPITUI_DATA_DIR": str(data_dir)}
        subprocess.run(
            [str(script), "collect", "--once", "--config", str(config)],
            env={**os.environ, **env},
            capture_output=True,
            check=False,
        )
        result = measure(str(script), config, env, runs)
        for name in ("frame", "values"):
            print(
                f"first {name}: median {statistics.median(result[name]):.2f} s of",
                ", ".join(f"{t:.2f}" for t in result[name]),
            )
        print(f"load average {result['load']}; {script} (pip install, not editable; compileall)")
        return 0
    probe(argv[0], argv[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
