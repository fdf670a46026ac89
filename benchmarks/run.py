"""The kpitui benchmark suite: every figure, its budget, and reference points, in one run.

    python -m benchmarks            # the full run (10M readings, 2M log lines): ~10 minutes
    python -m benchmarks --quick    # 1M readings, 200k log lines: a smoke test (budgets do not apply)
    python -m benchmarks --only access_log,collector --lines 100000 --runs 2   # some figures, small

``--only`` picks groups of figures (memory, engine, startup, serve, access_log,
collector, postgres); a run with ``--quick``, ``--only`` or smaller sizes
prints its table and writes ``RESULTS.md`` only when ``--out`` says where.

Generates its own data (see :mod:`benchmarks.data`), measures, prints a table
(figure, budget, measured, reference, pass/fail) and writes
``benchmarks/RESULTS.md`` with the command and the machine. Needs ``tmux``
for the start-up figures and ``goaccess`` for the access-log reference
(skipped when missing); pandas and DuckDB for the evaluation references
(``pip install -e .[bench]``). Timings are wall-clock; the machine may be
shared, so each figure is a median (or best, where noted) of several runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import bench_postgres, bench_serve, bench_startup, bench_states, data  # noqa: E402
from kpitui.history import History  # noqa: E402
from kpitui.store import Store  # noqa: E402


@dataclass
class Figure:
    group: str
    name: str
    budget: str
    measured: str
    reference: str = ""
    ok: bool | None = None  # None: no budget (information)
    note: str = ""
    spread: str = ""  # how the runs behind ``measured`` varied (or that it is one run)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- machine


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    versions = {}
    for module in ("polars", "textual", "pandas", "duckdb"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001
            versions[module] = "not installed"
    goaccess = shutil.which("goaccess")
    if goaccess:
        out = subprocess.run([goaccess, "--version"], capture_output=True, text=True).stdout.splitlines()
        versions["goaccess"] = out[0].strip() if out else "?"
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **versions,
        "load average at start": load,
    }


# ---------------------------------------------------------------------------------- store + data


def build_store(path: Path, config_path: Path, rows: int) -> tuple[list[Figure], dict]:
    """Write the generated history into a new store; measure durable write throughput."""
    figures: list[Figure] = []
    t0 = time.perf_counter()
    frame = data.history(rows)
    generated = time.perf_counter() - t0
    log(f"generated {frame.height:,} readings in {generated:.1f}s")
    store = Store(path, page_size=65536)  # a bulk-built file: large pages import faster (kpitui.store._PAGE_SIZE)
    batch = 100_000
    t0 = time.perf_counter()
    for offset in range(0, frame.height, batch):
        store.write(frame.slice(offset, batch))
    bulk = time.perf_counter() - t0
    rate = frame.height / bulk
    log(f"stored {frame.height:,} readings in {bulk:.1f}s ({rate:,.0f}/s)")
    bulk_figure = Figure(
        "4 store",
        f"durable writes, {frame.height:,} readings in {batch:,}-row transactions",
        "≥ 200,000 /s",
        f"{rate:,.0f} /s",
        ok=rate >= 200_000,
        note=f"{bulk:.1f} s; WAL, synchronous=NORMAL, each transaction committed",
        spread=f"one import of {-(-frame.height // batch):,} transactions",
    )
    figures.append(bulk_figure)
    # a collector's polls: 1,000 readings per transaction, at the newest end of the history
    polls, t0 = 50, time.perf_counter()
    for i in range(polls):
        start = data.NOW - dt.timedelta(hours=1) + dt.timedelta(seconds=i)
        store.write(
            data.new_readings(
                1000, metrics=[data.metric_id(k) for k in range(50)], start=start, seconds=1, seed=500 + i
            )
        )
    poll_rate = polls * 1000 / (time.perf_counter() - t0)
    figures.append(
        Figure(
            "4 store",
            "durable writes, 1,000-reading transactions (a poll each)",
            "",
            f"{poll_rate:,.0f} /s",
            note="information",
            reference=f"{batch:,}-row transactions: {rate:,.0f} /s",
            spread=f"one run of {polls} transactions",
        )
    )
    bulk_figure.reference = f"1,000-reading transactions: {poll_rate:,.0f} /s"
    t0 = time.perf_counter()
    store.snapshot()  # what the previous viewer session leaves behind: the columnar snapshot,
    snapshot = time.perf_counter() - t0
    viewer = History(store, index_cache=True)  # and its index cache (kpitui.index_cache), as of the same rows
    viewer.refresh()
    if viewer.saving is not None:
        viewer.saving.join()
    tail = bench_states.write_tail(store)  # then a collector's polls: every figure below sees this state
    log(f"wrote {tail['tail_rows']:,} readings since the snapshot in {tail['tail_polls']} polls")
    store.close()
    return figures, {
        "generated_s": generated,
        "bulk_s": bulk,
        "snapshot_s": snapshot,
        "rows": frame.height + tail["tail_rows"],
        **tail,
    }


# ---------------------------------------------------------------------------------- engine


def engine_figures(store: Path, config: Path, *, quick: bool) -> tuple[list[Figure], dict]:
    log("engine: load, full evaluation, incremental refresh, references (own process)")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_engine",
            str(store),
            str(config),
            "3" if quick else "7",
            "20" if quick else "60",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench_engine failed:\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    rows = f"{r['rows']:,}"
    refs = []
    for name in ("pandas", "duckdb"):
        ref = r.get(name, {})
        if "error" in ref:
            refs.append(f"{name}: {ref['error']}")
        else:
            agree = "same values" if ref["disagree"] == 0 else f"{ref['disagree']} values differ"
            refs.append(
                f"{'pandas/numpy' if name == 'pandas' else 'DuckDB'} {ms(ref['answer_s'])} "
                f"(+{secs(ref['prepare_s'])} prep; {agree})"
            )
    full = r["full"]
    figures = [
        Figure(
            "1 KPIs",
            f"full evaluation: {r['kpis']} KPIs × value, comparisons, sparkline; {rows} readings, 1,000 metrics",
            "≤ 100 ms",
            f"{ms(full['median'])} median",
            ok=full["median"] <= 0.100,
            reference=f"same roll-up ({r['roll_up_requests']:,} metric-periods): kpitui {ms(r['roll_up_engine_s'])}; "
            + "; ".join(refs),
            note=f"best {ms(full['best'])}, max {ms(full['max'])} of {full['n']}",
            spread=f"{ms(full['best'])} to {ms(full['max'])} of {full['n']}",
        ),
    ]
    whole = f"a full re-evaluation (nothing carried over): {ms(full['median'])} median"
    scenarios = (
        ("incremental_same_instant", "1,000 new readings (10 metrics), same clock instant"),
        ("incremental_clock_moves", "1,000 new readings (10 metrics), clock 5 s later (the TUI's case)"),
        ("incremental_every_metric", "1,000 new readings over every metric, clock 5 s later"),
    )
    for key, label in scenarios:
        s = r[key]
        total, refresh, evaluate = s["total"], s["refresh"], s["evaluate"]
        budget = "≤ 20 ms" if key != "incremental_every_metric" else ""
        figures.append(
            Figure(
                "1 KPIs",
                f"refresh + re-evaluation: {label}",
                budget,
                f"{ms(total['median'])} median",
                ok=(total["median"] <= 0.020) if budget else None,
                reference=whole,
                spread=f"p90 {ms(total['p90'])}, max {ms(total['max'])} of {total['n']}",
                note=f"refresh {ms(refresh['median'])} + evaluate {ms(evaluate['median'])} (medians); p90 "
                f"{ms(total['p90'])}; "
                f"mean {ms(total['mean'])} incl. {s['folds']} fold(s), max {ms(total['max'])}; "
                f"{total['n']} rounds",
            )
        )
    tail = (
        f"{bench_states.POLLS * bench_states.PER_POLL:,} of them written since the snapshot in "
        f"{bench_states.POLLS} polls"
    )
    figures.append(
        Figure(
            "2 start-up",
            f"load the history ({rows} readings, {tail}) into the viewer's index",
            "≤ 2 s",
            secs(r["load_s"]),
            ok=r["load_s"] <= 2.0,
            reference="; ".join(
                (
                    f"{'pandas (sort, running sums)' if n == 'pandas' else 'DuckDB (table, sorted)'} from the "
                    f"readings in memory {secs(r[n]['prepare_s'])}"
                )
                for n in ("pandas", "duckdb")
                if "prepare_s" in r.get(n, {})
            ),
            note="History.refresh from empty: snapshot + tail merged in order, index build; load average "
            f"{r.get('load_average', '?')}",
        )
    )
    figures.append(
        Figure(
            "4 store",
            f"peak resident memory loading and evaluating {rows} readings ({tail})",
            "≤ 600 MB",
            f"{r['peak_mb']:,.0f} MB",
            ok=r["peak_mb"] <= 600,
            reference=f"steady state {r['rss_mb']:,.0f} MB",
            note=f"VmHWM of the benchmark process; {r['peak_after_load_mb']:,.0f} MB after the load; load "
            f"average {r.get('load_average', '?')}",
        )
    )
    figures.append(
        Figure(
            "4 store",
            f"resident memory, {rows} readings loaded and evaluated",
            "≤ 600 MB",
            f"{r['rss_mb']:,.0f} MB",
            ok=r["rss_mb"] <= 600,
            reference=f"the index itself (key, value, running total: 24 bytes a reading) {r['rows'] * 24 / 1e6:,.0f} "
            "MB",
            note=f"peak {r['peak_mb']:,.0f} MB while loading; {r['python_rss_start_mb']:.0f} MB before",
        )
    )
    return figures, r


# ---------------------------------------------------------------------------------- start-up


def _cached_rows(folder: Path) -> int:
    """Rows in the index cache of the history in ``folder``: the cache its store names (kpitui.index_cache:
    the store takes the token after the files are written); 0 while there is none."""
    for store in folder.glob("*.sqlite3"):
        try:
            with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as con:
                row = con.execute("SELECT value FROM meta WHERE key = 'index_cache'").fetchone()
            if row is None or row[0] is None:
                continue
            header = store.with_name(store.name + "-index") / f"{int(row[0]):016x}.json"
            return int(json.loads(header.read_text(encoding="utf-8"))["rows"])
        except (OSError, ValueError, KeyError, sqlite3.Error):
            continue
    return 0


def startup_figures(big_config: Path, data_dir: Path, *, runs: int, readings: int) -> tuple[list[Figure], dict]:
    """First painted frame and first values, from kpitui installed as users get it (issue 18 item 6).

    ``pip install`` of this checkout into a new virtual environment (a wheel, not editable) and
    ``compileall`` over it (:func:`benchmarks.bench_startup.installed`); its console script runs in
    a tmux pane with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` unset), as an installed copy
    runs. Reference: the floor, a one-widget Textual app in the same environment and pane, with
    and without ``import polars``.
    """
    if not bench_startup.tmux_available():
        return [Figure("2 start-up", "first frame and first values", "", "tmux not installed: not measured")], {}
    log("start-up: installing kpitui (pip install ., not editable; compileall) into a new virtual environment")
    command = str(bench_startup.installed(ROOT, data_dir / "installed"))
    sample = ROOT / "kpitui" / "sample_config.toml"
    results: dict = {"command": command}
    figures: list[Figure] = []
    big = (
        f"{readings / 1e6:g}M readings ({bench_states.POLLS * bench_states.PER_POLL:,} since the snapshot), 300 "
        "KPIs, 1,000 metrics"
    )
    floor = bench_startup.floors(Path(command).with_name("python"), runs)
    results["floor"] = floor
    reference = (f"floor (one-widget Textual app, same venv and pty): {secs(statistics.median(floor['textual']))}; "
                 f"with import polars {secs(statistics.median(floor['polars']))}")  # fmt: skip
    # The sample's demo source fills 400 days of history on its first poll, after the first values: the timed
    # starts find what a user's first session leaves, once, untimed: kpitui started on the empty history, kept
    # open until the back-fill is read and saved as the history's index cache (with all ~90,000 readings), then
    # closed. (Until 2026-12-03 the history was filled by `kpitui collect --once`, which leaves no index cache:
    # the first timed start loaded every reading and saved the cache, a state no user's second start is in.)
    # The very first start is shown for information, measured apart in its own folder.
    sample_env = {"KPITUI_DATA_DIR": str(data_dir / "sample")}
    first_ever = bench_startup.measure(command, sample, {"KPITUI_DATA_DIR": str(data_dir / "sample-first")}, 1)
    bench_startup.session(
        f"{command} --config {sample}",
        {**sample_env, "PYTHONDONTWRITEBYTECODE": ""},
        lambda: _cached_rows(data_dir / "sample") >= 80_000,
    )
    how = "pip install (not editable) + compileall, bytecode cached; tmux pty 160x45"
    # each 10M start from the state the figure names: a start killed late, in its fold, could save a new cache
    restore = bench_states.saved_state(data_dir / "history.sqlite3", data_dir / "startup-state")
    for label, config, env, frame_budget, values_budget, before_each in (
        ("sample_config.toml", sample, sample_env, 0.6, 0.8, None),
        (big, big_config, {}, 1.0, 1.0, restore),
    ):
        log(f"start-up: {label}, {runs} starts")
        measured = bench_startup.measure(command, config, env, runs, before_each)
        results[label] = measured
        for kind, budget, what in (
            ("frame", frame_budget, "first painted frame"),
            ("values", values_budget, "first values (objective scores shown)"),
        ):
            times = measured[kind]
            median = statistics.median(times)
            note = (
                f"{how}; median of {runs}: "
                + ", ".join(f"{t:.2f}" for t in times)
                + f"; load average {measured['load']}"
            )
            if config == sample and kind == "values":
                note += (
                    f"; the very first start (empty history, demo back-fill running): {first_ever['values'][0]:.2f} s"
                )
            figures.append(
                Figure(
                    "2 start-up",
                    f"{what}, {label}",
                    f"≤ {budget} s",
                    secs(median),
                    reference=reference,
                    ok=median <= budget,
                    note=note,
                    spread=f"{secs(min(times))} to {secs(max(times))} of {runs}",
                )
            )
    # where the time goes (in-process timestamps), for the big config, from the same state
    restore()
    out = data_dir / "probe.json"
    tmux = ["tmux", "-L", f"kpitui-probe-{os.getpid()}"]  # a private server: this process's environment
    subprocess.run([*tmux, "new-session", "-d", "-s", "probe", "-x", "160", "-y", "45", "sleep 3600"], check=True)
    try:
        t0 = time.time()
        subprocess.run(
            [
                *tmux,
                "respawn-pane",
                "-k",
                "-t",
                "probe",
                (
                    f"cd {ROOT} && env PYTHONDONTWRITEBYTECODE= KPITUI_BENCH_T0={t0} {sys.executable} -m "
                    f"benchmarks.bench_startup {big_config} {out} 2>/dev/null"
                ),
            ],
            check=True,
        )
        deadline = time.time() + 60
        while not out.exists() and time.time() < deadline:
            time.sleep(0.1)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    results["probe"] = json.loads(out.read_text()) if out.exists() else {}
    restore()  # the memory figures next: the same state again
    shutil.rmtree(data_dir / "startup-state")
    return figures, results


# ---------------------------------------------------------------------------------- memory


def memory_figures(config: Path, data_dir: Path, *, runs: int, readings: int) -> tuple[list[Figure], dict]:
    """Peak resident memory (VmHWM from ``/proc``) of a one-shot ``kpitui report`` and of a TUI start
    until its first values and the fold after them, over the store as :func:`build_store` leaves it
    (issue 18 item 2: budget 600 MB peak). Measured before the engine figures write more rows (the
    start-up figures write none): the snapshot and the index cache hold all but the 150,000 rows since.
    The kpitui installed as users get it (:func:`benchmarks.bench_startup.installed`)."""
    command = str(bench_startup.installed(ROOT, data_dir / "installed"))
    env = {"PYTHONDONTWRITEBYTECODE": ""}
    since = f"{bench_states.POLLS * bench_states.PER_POLL:,}"
    big = f"{readings / 1e6:g}M readings ({since} since the snapshot and the index cache)"
    figures: list[Figure] = []
    log(f"memory: kpitui report, {runs} runs")
    reports = [bench_startup.peak_command([command, "--config", str(config), "report"], env) for _ in range(runs)]
    peaks = [r["peak_mb"] for r in reports]
    figures.append(
        Figure(
            "4 store",
            f"peak resident memory of a one-shot `kpitui report`, {big}",
            "≤ 600 MB",
            f"{max(peaks):,.0f} MB",
            ok=max(peaks) <= 600,
            spread=f"{min(peaks):,.0f} to {max(peaks):,.0f} MB of {runs}",
            reference=f"wall {statistics.median(r['wall_s'] for r in reports):.2f} s median",
            note="VmHWM of the kpitui process (the whole command: imports, the index from the index cache's mapped "
            "columns with the rows since in its delta, one evaluation, the table printed; a store without a usable "
            "cache is loaded in full, as in the engine's load-and-evaluate peak); the largest of "
            f"{runs}: " + ", ".join(f"{p:,.0f}" for p in peaks) + f" MB; load average {bench_states.load_average()}",
        )
    )
    if not bench_startup.tmux_available():
        figures.append(Figure("4 store", "peak resident memory of a TUI start", "", "tmux not installed: not measured"))
        return figures, {"report": reports}
    log(f"memory: TUI start through the fold, {runs} runs")
    restore = bench_states.saved_state(data_dir / "history.sqlite3", data_dir / "memory-state")
    starts = []
    for _ in range(runs):  # each from the same state: a start's fold saves a new index cache (kpitui.history)
        restore()
        starts.append(bench_startup.peak_tui(f"{command} --config {config}", env))
    restore()
    shutil.rmtree(data_dir / "memory-state")
    peaks = [r["peak_mb"] for r in starts]
    figures.append(
        Figure(
            "4 store",
            f"peak resident memory of a TUI start to its first values and the fold after them, {big}",
            "≤ 600 MB",
            f"{max(peaks):,.0f} MB",
            ok=max(peaks) <= 600,
            spread=f"{min(peaks):,.0f} to {max(peaks):,.0f} MB of {runs}",
            reference="at the first values "
            + ", ".join(f"{r['peak_at_values_mb']:,.0f}" for r in starts)
            + " MB; settled "
            + ", ".join(f"{r['rss_mb']:,.0f}" for r in starts)
            + " MB",
            note="VmHWM of the kpitui process itself (/proc/PID/status, not tmux's) from its start in a tmux pane "
            "until its first values and then 3 s without CPU (the fold of the rows since into the index read from "
            f"the cache runs after the first values); the largest of {runs}: "
            + ", ".join(f"{p:,.0f}" for p in peaks)
            + f" MB; load average {bench_states.load_average()}",
        )
    )
    return figures, {"report": reports, "tui": starts}


# ---------------------------------------------------------------------------------- browser


def serve_figures(data_dir: Path, *, runs: int) -> tuple[list[Figure], dict]:
    """``kpitui serve`` on the sample: opening the printed link to the first KPI value on the page."""
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        return [
            Figure("2 start-up", "browser: link to first values", "≤ 1.5 s", "not measured (pip install -e .[serve])")
        ], {}
    sample = ROOT / "kpitui" / "sample_config.toml"
    env = {"KPITUI_DATA_DIR": str(data_dir / "sample"), "PYTHONDONTWRITEBYTECODE": ""}
    subprocess.run(
        [sys.executable, "-m", "kpitui", "collect", "--once", "--config", str(sample)],
        env={**os.environ, **env},
        capture_output=True,
        check=True,
    )
    log("serve: opening the link in a browser until the first values show")
    result = bench_serve.measure(sample, env, runs=runs)
    times, mode = result["times"], result["mode"]
    median = statistics.median(times)
    note = f"{mode}; median of {runs} after a warm-up: " + ", ".join(f"{t:.2f}" for t in times)
    if result["canvas"]:
        note += "; xterm.js canvas renderer rasterising in software (no GPU): " + ", ".join(
            f"{t:.2f}" for t in result["canvas"]
        )
    figure = Figure(
        "2 start-up",
        "browser (kpitui serve): printed link opened to the first KPI value, sample_config.toml",
        "≤ 1.5 s",
        secs(median),
        ok=median <= 1.5,
        note=note,
        spread=f"{secs(min(times))} to {secs(max(times))} of {runs}",
        reference="the terminal UI in a pty: see first values, sample_config.toml",
    )
    return [figure], {"times": times, "mode": mode, "canvas": result["canvas"]}


# ---------------------------------------------------------------------------------- access log


#: `kpitui collect --once` runs of the backlog figure (each a fresh history): the median is the figure
BACKLOG_RUNS = 3


def access_log_figures(lines: int, append: int, repeat: int) -> tuple[list[Figure], dict]:
    try:
        from benchmarks.bench_access_log import Cursor, collect_once_runs, generate, make_source, timed
    except ImportError as exc:
        return [Figure("3 access log", "access-log ingest", "", f"not measured ({exc})")], {}
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="kpitui-bench-log-") as tmp:
        path = Path(tmp) / "access.log"
        raw = generate(lines)
        path.write_bytes(raw)
        log(f"access log: {lines:,} lines ({len(raw) / 2**20:.0f} MiB)")
        full = make_source(path, cap=1 << 62)
        best, median, cpu, (readings, bad) = timed(lambda: full._count(raw, Cursor()), repeat)  # type: ignore[misc]
        counted = int(readings["value"].sum())
        results.update(full_best=best, full_median=median, full_cpu=cpu, counted=counted, malformed=bad)
        reference = ""
        goaccess = shutil.which("goaccess")
        if goaccess:
            t0 = time.perf_counter()
            done = subprocess.run(
                [
                    goaccess,
                    str(path),
                    "--log-format=COMBINED",
                    "--no-global-config",
                    "--no-progress",
                    "-o",
                    str(Path(tmp) / "report.json"),
                ],
                capture_output=True,
                text=True,
            )
            ga = time.perf_counter() - t0
            results["goaccess_s"] = ga if done.returncode == 0 else None
            reference = (
                f"GoAccess {secs(ga)} (JSON report of the same file)"
                if done.returncode == 0
                else f"GoAccess failed: {done.stderr[-200:]}"
            )
        # a backlog: the whole file through one installed `kpitui collect --once`, against grep -c (median of 3)
        once = collect_once_runs(path, BACKLOG_RUNS)
        results["collect_once"] = once
        reference = "; ".join(r for r in (reference, f"grep -c of the same file {secs(once['grep_s'])}") if r)
        # incremental: the source catches up from its cursor, then polls appended lines
        source, cursor = make_source(path), None
        while True:
            result = source.fetch(cursor, dt.datetime.now(dt.timezone.utc))
            if result.cursor == cursor or result.readings.height == 0:
                break
            cursor = result.cursor
        extra = generate(append, seed=2, start=dt.datetime(2024, 3, 8, tzinfo=dt.timezone.utc), days=0.1)
        polls = []
        for _ in range(repeat):
            with path.open("ab") as handle:
                handle.write(extra)
            t0 = time.perf_counter()
            result = source.fetch(cursor, dt.datetime.now(dt.timezone.utc))
            polls.append(time.perf_counter() - t0)
            cursor = result.cursor
        results["poll"] = polls
    poll = statistics.median(polls)
    figures = [
        Figure(
            "3 access log",
            f"{lines:,}-line combined log → trigger counts for 10 metrics",
            "≤ 1.5 s",
            f"{secs(median)} median",
            ok=median <= 1.5,
            reference=reference,
            note=f"best {secs(best)}; {lines / best / 1e6:.2f} M lines/s",
            spread=f"best {secs(best)} of {repeat}",
        ),
        Figure(
            "3 access log",
            f"backlog: the {lines:,}-line log by one `kpitui collect --once`",
            "≤ 1.5 s, ≤ 10× grep -c",
            f"{secs(once['poll_s'])} polling, median",
            ok=once["poll_s"] <= 1.5 and once["poll_s"] <= 10 * once["grep_s"],
            reference=f"grep -c {secs(once['grep_s'])} ({once['poll_s'] / once['grep_s']:.1f}×)",
            note=f"{once['chunks']} chunks (the first up to 16 MiB, then up to 64 MiB), each committed; "
            f"process {secs(once['wall_s'])} (the median run); "
            f"5xx stored {once['stored_count']:,} = grep {once['grep_count']:,} in each run",
            spread=f"{secs(min(once['poll_runs']))} to {secs(max(once['poll_runs']))} of {len(once['poll_runs'])}",
        ),
        Figure(
            "3 access log",
            f"incremental poll of {append:,} new lines",
            "≤ 50 ms",
            f"{ms(poll)} median",
            ok=poll <= 0.050,
            note=f"of {repeat}: " + ", ".join(f"{p * 1000:.0f}" for p in polls),
            spread=f"{ms(min(polls))} to {ms(max(polls))} of {repeat}",
            reference=f"the whole log counted at once: {secs(median)} for {lines:,} lines",
        ),
    ]
    return figures, results


# ---------------------------------------------------------------------------------- report


def collector_figure(disk: dict) -> Figure:
    name = "a collector's disk writes: kpitui collect on the sample (demo every 30 s, web every 10 s), per day"
    if "error" in disk:
        return Figure("4 store", name, "≤ 50 MB/day", f"not measured: {disk['error']}")
    mb = disk["mb_per_day"]
    return Figure(
        "4 store",
        name,
        "≤ 50 MB/day",
        f"{mb:,.0f} MB/day",
        ok=mb <= 50,
        note=f"{disk['bytes_per_poll'] / 1024:.1f} KiB per poll over {disk['polls']} polls run "
        f"{disk['speed']:g}x "
        f"as often ({disk['polls_a_day']:,.0f} polls a day; /proc/PID/io write_bytes), "
        f"{disk['page_size']}-byte pages; the -v log to a "
        + (
            "file (counted)"
            if disk.get("log") == "file"
            else f"pipe as to the journal, not counted: {disk.get('log_bytes_per_day', 0) / 1e6:.1f} MB/day of text"
        )
        + f"; load average {disk['load']}",
        spread=f"mean of {disk['polls']} polls",
    )


def table(figures: list[Figure]) -> str:
    head = "| | figure | budget | measured | spread | reference | |\n|---|---|---|---|---|---|---|\n"
    lines = []
    for f in figures:
        verdict = "" if f.ok is None else ("pass" if f.ok else "**FAIL**")
        lines.append(
            f"| {f.group} | {f.name} | {f.budget or 'none (information)'} | {f.measured} | "
            f"{f.spread or 'one run'} | {f.reference or '—'} | {verdict} |"
        )
    return head + "\n".join(lines)


def console(figures: list[Figure]) -> str:
    out = []
    for f in figures:
        verdict = "" if f.ok is None else ("PASS" if f.ok else "FAIL")
        out.append(f"{verdict:4}  {f.measured:>16}  {f.budget:>13}  {f.name}")
        out.append(f"{'':4}  {'':>16}  {'':>13}    spread: {f.spread or 'one run'}")
        if f.reference:
            out.append(f"{'':4}  {'':>16}  {'':>13}    ref: {f.reference}")
        if f.note:
            out.append(f"{'':4}  {'':>16}  {'':>13}    {f.note}")
    return "\n".join(out)


def write_results(path: Path, command: str, info: dict, figures: list[Figure], extra: dict, quick: bool) -> None:
    probe = extra.get("startup", {}).get("probe", {})
    steps = ""
    if probe:
        previous = 0.0
        for name, at in probe.items():
            steps += f"| {name} | {at:.3f} s | +{(at - previous) * 1000:.0f} ms |\n"
            previous = at
    text = f"""# kpitui benchmark results

Generated by `{command}` on {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}\
{" (a partial or smaller run: budgets are for the full one)" if quick else ""}.
Regenerate with the same command; see `benchmarks/run.py` for what each figure measures.

## Machine

{chr(10).join(f"- {k}: {v}" for k, v in info.items())}

## Figures

{table(figures)}

Notes per figure:

{chr(10).join(f"- *{f.name}*: {f.note}" for f in figures if f.note)}

## Start-up, step by step (the large history, in-process probe: `python -m benchmarks.bench_startup CONFIG OUT`)

| step | since spawn | step took |
|---|---|---|
{steps}
{NOTES}
"""
    path.write_text(text, encoding="utf-8")


NOTES = (
    (Path(__file__).with_name("NOTES.md")).read_text(encoding="utf-8")
    if Path(__file__).with_name("NOTES.md").exists()
    else ""
)


GROUPS = ("memory", "engine", "startup", "serve", "access_log", "collector", "postgres")


def attempt(group: str, what: str, measure) -> tuple[list[Figure], dict]:
    """``measure()``'s figures; when it fails (a tool missing, a server gone), one figure saying so and the other groups
    still run."""
    try:
        return measure()
    except Exception as exc:  # noqa: BLE001 - one group failing must not lose the others
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log(f"{what}: not measured: {first}")
        return [Figure(group, what, "", f"not measured: {first[:160]}")], {"error": str(exc)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="small data: a smoke test of the suite (budgets do not apply)"
    )
    parser.add_argument(
        "--only",
        metavar="GROUPS",
        help=f"comma-separated groups of figures to measure: {', '.join(GROUPS)} (default: all)",
    )
    parser.add_argument(
        "--readings", type=int, help="readings in the generated history (default 10,000,000; --quick 1,000,000)"
    )
    parser.add_argument(
        "--lines", type=int, help="lines in the generated access log (default 2,000,000; --quick 200,000)"
    )
    parser.add_argument("--runs", type=int, help="runs per timed figure (default 5; --quick 3)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the results (default benchmarks/RESULTS.md for a full run; a partial run writes "
        "nothing unless told)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated data in this folder")
    args = parser.parse_args(argv)
    only = set(GROUPS) if not args.only else {g.strip() for g in args.only.split(",") if g.strip()}
    if only - set(GROUPS):
        parser.error(f"--only: unknown group {', '.join(sorted(only - set(GROUPS)))} (groups: {', '.join(GROUPS)})")
    readings, lines, runs = (1_000_000, 200_000, 3) if args.quick else (10_000_000, 2_000_000, 5)
    readings, lines, runs = args.readings or readings, args.lines or lines, args.runs or runs
    partial = args.quick or only != set(GROUPS) or (readings, lines, runs) != (10_000_000, 2_000_000, 5)
    out = args.out if args.out is not None else (None if partial else Path(__file__).with_name("RESULTS.md"))
    command = "python -m benchmarks" + (" " + " ".join(argv if argv is not None else sys.argv[1:]) if partial else "")
    info = machine()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="kpitui-bench-")) if args.keep is None else args.keep
    tmp.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    extra: dict = {}
    try:
        store = tmp / "history.sqlite3"
        config = tmp / "kpitui.toml"
        store_figures: list[Figure] = []
        engine: list[Figure] = []
        startup: list[Figure] = []
        served: list[Figure] = []
        access: list[Figure] = []
        postgres: list[Figure] = []
        if only & {"memory", "engine", "startup"}:
            for stale in tmp.glob("history.sqlite3*"):  # the store, its WAL and its index cache's folder
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
            config.write_text(data.config_text(store), encoding="utf-8")
            store_figures, extra["store"] = build_store(store, config, readings)
            # the ~0.9 GB just written goes to the disk now, not during the timed starts that follow (the kernel
            # writes dirty pages back after 30 s): a user's store was written long before kpitui starts
            os.sync()
        # the start-up figures first: the engine's refresh rounds write ~140,000 more readings into the
        # store, and after them 290,000 were written since the viewer's index cache, past its
        # REUSE_ROWS (kpitui.index_cache): every start then loaded the whole history, not the state
        # the figure names (150,000 since); the start-ups write nothing to the store
        if "startup" in only:
            startup, extra["startup"] = attempt(
                "2 start-up",
                "start-up",
                lambda: startup_figures(config, tmp, runs=runs, readings=extra["store"]["rows"]),
            )
        memory: list[Figure] = []
        if "memory" in only:  # before the engine's as well: the store as built, 150,000 rows since the cache
            memory, extra["memory"] = attempt(
                "4 store",
                "peak resident memory of kpitui report and a TUI start",
                lambda: memory_figures(config, tmp, runs=3, readings=extra["store"]["rows"]),
            )
        if "engine" in only:
            engine, extra["engine"] = attempt(
                "1 KPIs",
                "KPI evaluation",
                lambda: engine_figures(store, config, quick=args.quick or readings < 10_000_000),
            )
        if "serve" in only:
            served, extra["serve"] = attempt(
                "2 start-up", "browser (kpitui serve)", lambda: serve_figures(tmp, runs=runs)
            )
        if "access_log" in only:
            access, extra["access_log"] = attempt(
                "3 access log", "access log", lambda: access_log_figures(lines, 10_000, runs)
            )
        if "collector" in only:
            disk = extra["collector_disk"] = bench_states.collector_disk(
                bench_states.kpitui_command(), tmp / "collector"
            )
            store_figures.append(collector_figure(disk))
        if "postgres" in only:
            postgres, extra["postgres"] = bench_postgres.figures(readings, Figure)
        figures = engine[:4] + startup + served + engine[4:5] + access + store_figures + engine[5:] + memory + postgres
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(console(figures))
    info["suite wall time"] = f"{time.perf_counter() - started:.0f} s"
    if out is not None:
        write_results(out, command, info, figures, extra, partial)
        (out.with_suffix(".json")).write_text(
            json.dumps({"machine": info, "raw": extra}, indent=1, default=str), encoding="utf-8"
        )
        log(f"wrote {out}")
    return 0 if all(f.ok is not False for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
