"""While the history loads (after the first frame), the panes say so instead of showing empty values (issue 20)."""

from __future__ import annotations

import re
import threading

from ui_helpers import make_app, pane_keys, pane_text, wait_for, wait_ready

from kpitui.store import Store


class SlowStore(Store):
    """A real history file whose reads of the readings wait until the test lets them go (a slow, large load)."""

    release = threading.Event()

    def load(self, *args, **kwargs):
        self.release.wait(30)
        return super().load(*args, **kwargs)

    def load_ids(self, *args, **kwargs):
        self.release.wait(30)
        return super().load_ids(*args, **kwargs)

    def load_rows(self, *args, **kwargs):
        self.release.wait(30)
        return super().load_rows(*args, **kwargs)


async def test_the_panes_say_the_history_is_loading_then_show_values(config):
    release = SlowStore.release = threading.Event()
    size = config.storage.path.stat().st_size
    app = make_app(config, store_factory=lambda cfg: SlowStore(cfg.storage.path))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.runtime is not None)  # opened; now reading the readings
        await wait_for(pilot, lambda: "loading the history" in pane_text(app, "kpis"))
        assert app.snapshot is None and pane_keys(app, "kpis") == [] and pane_keys(app, "metrics") == []
        for pane in ("objectives", "kpis", "metrics"):
            text = pane_text(app, pane)
            assert re.search(r"loading the history \(h\.sqlite3, [\d.]+ kB\)…", text), text
            assert "no KPI" not in text and "no objectives" not in text
        kb = float(re.search(r"h\.sqlite3, ([\d.]+) kB", pane_text(app, "kpis")).group(1))
        assert abs(kb - size / 1000) <= 0.1  # the file's size, as Rich writes it (decimal kB)
        await wait_for(
            pilot, lambda: re.search(r"… \d+s", pane_text(app, "kpis")) is not None, timeout=5
        )  # how long so far
        await pilot.press("m")  # keys work meanwhile
        await wait_for(pilot, lambda: app.window == "month_to_date")
        release.set()
        await wait_ready(pilot)
        assert pane_keys(app, "kpis") and "loading" not in pane_text(app, "kpis")
        assert "$" in pane_text(app, "kpis") or re.search(r"\d", pane_text(app, "kpis"))
        assert app._loading_timer is None  # the clock stopped with the first values


async def test_the_sources_start_once_the_first_values_are_in(config):
    """The first values do not wait for the sources: they are built (the demo source brings its log up
    to date in its constructor) and polled after the first evaluation (``Runtime.start_collector``)."""
    from kpitui.ui.messages import CollectorReady, Evaluated, Polled

    release = SlowStore.release = threading.Event()
    messages = []
    app = make_app(config, collect=True, store_factory=lambda cfg: SlowStore(cfg.storage.path))
    async with app.run_test(size=(120, 30), message_hook=messages.append) as pilot:
        try:
            await wait_for(pilot, lambda: app.runtime is not None)  # opened; the first load is held
            await pilot.pause(0.3)
            assert app.snapshot is None
            assert app.runtime.collects and app.runtime.collector is None and app.runtime.sources == []
            assert not [m for m in messages if isinstance(m, (CollectorReady, Polled))]
        finally:
            release.set()
        await wait_for(pilot, lambda: app.snapshot is not None)
        await wait_for(pilot, lambda: any(isinstance(m, Polled) and m.source == "demo" for m in messages))
        assert app.runtime.sources == ["demo"]
        first = next(i for i, m in enumerate(messages) if isinstance(m, Evaluated))
        assert all(i > first for i, m in enumerate(messages) if isinstance(m, (CollectorReady, Polled)))


async def test_the_sources_wait_for_the_first_values_on_screen(config, monkeypatch):
    """Building the sources (the demo source's log brought up to date) and their first polls would compete
    with painting the first values: the app lets them start once those are painted
    (``Lifecycle.first_values_shown``), not when the evaluation finishes."""
    from kpitui.ui.lifecycle import Lifecycle

    shown: list[Lifecycle] = []
    monkeypatch.setattr(Lifecycle, "first_values_shown", lambda self: shown.append(self))
    app = make_app(config, collect=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and bool(shown))  # evaluated, painted, held here
        await pilot.pause(0.3)
        assert app.runtime.evaluated.is_set() and app.runtime.collector is None and app.runtime.sources == []
        shown[0].values_shown.set()
        await wait_for(pilot, lambda: app.runtime.sources == ["demo"])


def test_a_runtime_closed_or_quitting_builds_no_sources(config):
    """``start_collector`` gives up when the worker is cancelled (the app quits) or the runtime was closed."""
    import datetime as dt

    from kpitui.ui.runtime import Runtime

    def now():
        return dt.datetime.now(dt.timezone.utc)

    runtime = Runtime.open(config, collect=True, clock=now, sources_later=True)
    try:
        cancel = threading.Event()
        cancel.set()
        assert runtime.start_collector(cancel=cancel) is None and runtime.collector is None
        runtime.evaluate(window=None, offset=0, force=True)
        assert runtime.start_collector() is not None and runtime.sources == ["demo"]
    finally:
        runtime.close()
    closed = Runtime.open(config, collect=True, clock=now, sources_later=True)
    closed.close()
    assert closed.start_collector(wait=0) is None and closed.collector is None
