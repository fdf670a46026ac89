"""The first values' refresh and paint, made cheaper without a different screen: one listing per snapshot, the metrics
a KPI reads kept per engine, the objectives' status symbols built at once, a pane's styles worked out once per paint.
Each checked against the plain computation it replaces."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Region
from textual.widgets import DataTable
from ui_helpers import make_app, wait_ready

from kpitui.formatting import STATUS_SYMBOL
from kpitui.ui.palette import palette_of
from kpitui.ui.panes.base import Pane
from kpitui.ui.panes.objectives import kpi_symbols
from kpitui.ui.screens.listing import Listing


async def test_a_kpis_metrics_are_listed_in_the_snapshots_order(config):
    """``Listing.statuses_of`` and ``loose`` give what a filter over the snapshot's metrics gives, in its order."""
    app = make_app(config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_ready(pilot)
        snapshot, engine = app.snapshot, app.runtime.engine
        listing = Listing(snapshot, app.config, engine.metrics_of, "")
        read: set[str] = set()
        for kid in snapshot.kpis:
            ids = engine.metrics_of(kid)
            read |= ids
            assert listing.statuses_of(kid) == [s for mid, s in snapshot.metrics.items() if mid in ids]
        assert listing.loose() == [s for mid, s in snapshot.metrics.items() if mid not in read]
        # a KPI reading several metrics, listed in the snapshot's order whatever the set's
        assert any(len(listing.statuses_of(kid)) > 1 for kid in snapshot.kpis)


async def test_the_dashboard_lists_from_one_listing_until_something_it_depends_on_changes(config):
    app = make_app(config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_ready(pilot)
        screen = app.screen
        first = screen.listing()
        assert screen.listing() is first
        screen.filter_text = "lead"
        filtered = screen.listing()
        assert filtered is not first and filtered.query == "lead"
        screen.filter_text = ""
        app.snapshot = app.snapshot  # the same snapshot again (a config reload does this): the same objects
        assert screen.listing() is not filtered
        again = screen.listing()
        app.request_evaluate(force=True)
        await pilot.pause()
        await wait_ready(pilot)
        assert screen.listing() is not again  # a new snapshot
        metrics_of = screen.listing().metrics_of
        assert all(metrics_of(kid) == app.runtime.engine.metrics_of(kid) for kid in app.snapshot.kpis)


async def test_the_objectives_status_symbols_are_texts_appends(config):
    app = make_app(config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_ready(pilot)
        colours = palette_of(app)
        for objective in app.snapshot.objectives:
            appended = Text()
            for r in objective.kpis:
                appended.append(
                    "!" if r.error else STATUS_SYMBOL.get(r.status, "?"),
                    style=colours.bad if r.error else colours.status(r.status),
                )
            built = kpi_symbols(objective.kpis, colours)
            assert built == appended and built.spans == appended.spans and len(built) == len(appended)


async def test_a_panes_lines_are_datatables_with_its_styles_worked_out_once_per_paint(config, monkeypatch):
    """The components' styles, the background and the console options kept for a paint give DataTable's own lines
    (header, cursor row, other rows), and are let go after it."""
    app = make_app(config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_ready(pilot)
        for pane in app.screen.query(Pane):
            crop = Region(0, 0, pane.size.width, pane.size.height)
            drawn = []
            for render_lines in (Pane.render_lines, DataTable.render_lines):
                pane._clear_caches()
                pane._styles_cache.clear()
                pane._cell_render_cache.clear()
                pane._row_render_cache.clear()
                drawn.append([list(strip) for strip in render_lines(pane, crop)])
            assert drawn[0] == drawn[1]
            assert any(segment.text.strip() for line in drawn[0] for segment in line)
            assert pane._drawing_style is None  # the style worked out per paint, not kept
            assert pane._drawing_components is None and pane._drawing_background is None
            assert pane._drawing_options is None
        asked: list[tuple[str, ...]] = []
        get = DataTable.get_component_styles

        def counting(self, *names):
            asked.append(names)
            return get(self, *names)

        monkeypatch.setattr(DataTable, "get_component_styles", counting)
        pane = app.screen.query_one("#kpis", Pane)
        pane._clear_caches()
        pane._row_render_cache.clear()
        pane.render_lines(Region(0, 0, pane.size.width, pane.size.height))
        assert asked and len(asked) == len(set(asked))  # each component's styles made once in the paint
