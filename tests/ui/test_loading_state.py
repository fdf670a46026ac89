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
