"""The history's first load runs in a thread started before the UI is imported (kpitui.ui.preload):
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


def test_only_a_large_history_file_is_loaded_beside_the_ui(config, make_config, tmp_path):
    assert not preloading.worth_preloading(config)  # the test history: a few kB
    with open(config.storage.path, "r+b") as history:  # grown (sparse) past the threshold
        history.truncate(preloading.MIN_BYTES)
    assert preloading.worth_preloading(config)
    config.storage.path.unlink()
    assert not preloading.worth_preloading(config)  # no file yet
