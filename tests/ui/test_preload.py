"""The history's first load runs in a thread started once the UI is imported (kpitui.ui.preload):
the runtime takes that store and history, and the first values equal those of a start without it."""

from __future__ import annotations

from ui_helpers import make_app, wait_ready

from kpitui.ui import preload as preloading
from kpitui.ui.preload import Preload


async def test_the_runtime_takes_the_preloaded_history_and_shows_the_same_values(config):
    app = make_app(config)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_ready(pilot)
        plain = app.snapshot
    preload = Preload(config)
    app = make_app(config, preload=preload)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_ready(pilot)
        assert app.preload is None and preload.take(config) is None  # taken once, by the runtime
        assert app.runtime.history.height > 0
        assert app.runtime.reader is app.runtime.history.store
        assert {k: r.value for k, r in app.snapshot.kpis.items()} == {k: r.value for k, r in plain.kpis.items()}


def test_a_preload_for_another_config_is_not_taken(config, make_config):
    preload = Preload(config)
    assert preload.take(make_config()) is None
    assert preload.take(config) is None  # once only
    fresh = Preload(config)
    taken = fresh.take(config)
    assert taken is not None and taken[1].height > 0
    taken[0].close()


def test_only_a_large_history_file_is_loaded_beside_the_first_frame(config):
    assert not preloading.worth_preloading(config)  # the test history: a few kB
    with open(config.storage.path, "r+b") as history:  # grown (sparse) past the threshold
        history.truncate(preloading.MIN_BYTES)
    assert preloading.worth_preloading(config)
    config.storage.path.unlink()
    assert not preloading.worth_preloading(config)  # no file yet


def test_a_postgresql_history_is_not_preloaded(config):
    import dataclasses

    from kpitui.options import Secret

    with open(config.storage.path, "r+b") as history:
        history.truncate(preloading.MIN_BYTES)
    assert preloading.worth_preloading(config)
    config.storage = dataclasses.replace(config.storage, url=Secret("postgresql://kpitui@localhost/none"))
    assert not preloading.worth_preloading(config)  # the runtime opens it after the first frame, as before


def test_the_preload_starts_after_the_ui_is_imported(config, tmp_path):
    """``kpitui`` imports Textual and the UI before it starts the preload's thread (whose polars import would
    compete with them for the GIL: kpitui.ui.preload)."""
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import importlib.machinery
        import sys
        import kpitui.ui.preload as preload

        class Seen(Exception):
            pass

        class RunNot:  # kpitui.ui.app's run, replaced once imported: no app runs without a preload either
            def find_spec(self, name, path, target=None):
                if name != "kpitui.ui.app":
                    return None
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                execute = spec.loader.exec_module

                def exec_module(module):
                    execute(module)
                    module.run = lambda *args, **kwargs: print("ran") or 0

                spec.loader.exec_module = exec_module
                return spec

        sys.meta_path.insert(0, RunNot())

        class Recorded(preload.Preload):
            def __init__(self, config):
                print("textual.app" in sys.modules, "kpitui.ui.app" in sys.modules, "polars" in sys.modules)
                raise Seen

        preload.Preload = Recorded
        from kpitui.cli import main
        try:
            main(["--no-collect", "--config", {str(config.path)!r}])
        except Seen:
            print("preloaded")
        """
    )
    with open(config.storage.path, "r+b") as history:  # grown (sparse) past the threshold: preloaded
        history.truncate(preloading.MIN_BYTES)
    env = {**os.environ, "KPITUI_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path
    )
    assert result.stdout.split() == ["True", "True", "False", "preloaded"], result.stderr[-2000:]


def test_the_first_evaluation_runs_before_the_fold_it_makes_due(config):
    """The preload and the runtime's evaluations read without folding; the fold a large delta is due
    starts after the evaluation (``Runtime.fold_due``), not beside it, and changes no value."""
    import datetime as dt

    from kpitui.api import readings_frame
    from kpitui.history import History
    from kpitui.store import Store
    from kpitui.ui.runtime import Runtime

    def now():
        return dt.datetime(2026, 3, 15, 12, tzinfo=dt.timezone.utc)

    preload = Preload(config)
    store, history = preload.take(config)
    with Store(config.storage.path) as writer:
        start = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
        writer.write(readings_frame([("signups", start + dt.timedelta(minutes=i), 1.0) for i in range(40)]))
    runtime = Runtime.open(config, collect=False, clock=now, preloaded=(store, history))
    try:
        runtime.history.fold_rows = 10
        first = runtime.evaluate(window=None, offset=0, force=True)
        assert runtime.history.view().changes.height == 40 and not runtime.history.folding
        runtime.fold_due()
        runtime.history.wait()
        assert runtime.evaluate(window=None, offset=0, force=True) == first
        assert runtime.history.view().changes.height == 0  # the fold was adopted by that refresh
        fresh = History(store)
        fresh.refresh()
        assert sorted(runtime.history.frame.rows()) == sorted(fresh.frame.rows())
    finally:
        runtime.close()


async def test_the_first_fold_starts_once_the_first_values_are_painted(config, monkeypatch):
    """The fold the first evaluation leaves due runs after the first values are on screen, not beside their
    painting (kpitui.ui.evaluating, Lifecycle.first_values_shown); later evaluations still start it themselves."""
    from kpitui.ui.runtime import Runtime

    calls = []
    fold_due = Runtime.fold_due

    def recorded(self, instance=None):
        calls.append((app.lifecycle.values_shown.is_set(), app.snapshot is not None))
        fold_due(self, instance)

    monkeypatch.setattr(Runtime, "fold_due", recorded)
    app = make_app(config)
    shown_at = []
    first_values_shown = app.lifecycle.first_values_shown

    def shown():
        shown_at.append(len(calls))  # no fold asked for before this
        first_values_shown()

    app.lifecycle.first_values_shown = shown  # type: ignore[method-assign]
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_ready(pilot)
        await pilot.pause(0.1)
        assert shown_at == [0]
        assert calls and calls[0] == (True, True)
        app.request_evaluate(force=True)
        await wait_ready(pilot)
        await pilot.pause(0.1)
        assert len(calls) >= 2 and all(call == (True, True) for call in calls)
