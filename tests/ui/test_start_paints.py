"""What the main thread draws between the first frame and the first values: each pane laid out once for the
terminal's size, the footer composed once, the panes' lines drawn as DataTable draws them, no whole-screen repaint
for the header's sub-title."""

from __future__ import annotations

import pytest
from textual.geometry import Region, Size
from textual.widgets import DataTable
from ui_helpers import make_app, wait_ready

from kpitui.ui.panes.base import Pane
from kpitui.ui.screens.base import breakpoint_classes
from kpitui.ui.widgets.footer import KeysFooter


@pytest.mark.slow
@pytest.mark.parametrize("size", [(160, 45), (80, 24), (200, 50), (149, 31), (150, 32)])
async def test_the_dashboard_is_laid_out_for_the_terminal_from_its_first_layout(config, monkeypatch, size):
    """The breakpoint classes are the screen's before its first layout (Textual sets them on the first Resize,
    after laying the screen out): no pane is rebuilt for a layout the terminal does not have."""
    rebuilt: list[tuple[str | None, int]] = []
    rebuild = Pane._rebuild

    def recording(self: Pane) -> None:
        rebuilt.append((self.id, self.scrollable_content_region.width))
        rebuild(self)

    monkeypatch.setattr(Pane, "_rebuild", recording)
    app = make_app(config)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot)
        screen = app.screen
        wanted = {name for name, on in breakpoint_classes(app, Size(*size)).items() if on}
        assert wanted == {name for _, name in app.HORIZONTAL_BREAKPOINTS + app.VERTICAL_BREAKPOINTS} & screen.classes
        widths = {pane.id: pane.scrollable_content_region.width for pane in screen.query(Pane)}
        # each pane drawn at 0 (mounted, not laid out yet) or at its width in the terminal's layout, never another
        assert {(pane, width) for pane, width in rebuilt if width} <= set(widths.items()), (rebuilt, widths)


@pytest.mark.slow
@pytest.mark.parametrize("width", [0, 80, 149, 150, 220])
@pytest.mark.parametrize("height", [0, 24, 31, 32, 60])
async def test_the_breakpoint_classes_are_textuals(config, width, height):
    """:func:`breakpoint_classes` gives the classes Textual sets on a screen of that size."""
    app = make_app(config)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.resize_terminal(max(width, 1), max(height, 1))
        await pilot.pause()
        names = {name for _, name in app.HORIZONTAL_BREAKPOINTS + app.VERTICAL_BREAKPOINTS}
        expected = {name for name, on in breakpoint_classes(app, Size(max(width, 1), max(height, 1))).items() if on}
        assert app.screen.classes & names == expected


async def test_the_footer_is_composed_once_at_start(config, monkeypatch):
    """The footer composed with the screen's keys is not composed again when the KPIs pane takes the focus:
    the panes' keys are hidden ones."""
    composed = []
    compose = KeysFooter.compose

    def counting(self: KeysFooter):
        composed.append(self)
        return compose(self)

    monkeypatch.setattr(KeysFooter, "compose", counting)
    app = make_app(config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_ready(pilot)
        await pilot.pause(0.1)
        assert len(composed) == 1
        footer = app.screen.query_one(KeysFooter)
        assert "Quit" in " ".join(str(key.description) for key in footer.query("FooterKey"))
        await pilot.press("tab")  # objectives -> metrics... the keys shown stay the same: still once
        await pilot.pause(0.1)
        assert len(composed) == 1


async def test_a_new_sub_title_repaints_the_header_not_the_screen(config, monkeypatch):
    app = make_app(config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_ready(pilot)
        screen = app.screen
        repaints = []
        refresh = type(screen).refresh

        def recording(self, *args, **kwargs):
            repaints.append((args, kwargs))
            return refresh(self, *args, **kwargs)

        monkeypatch.setattr(type(screen), "refresh", recording)
        app.sub_title = "a new sub-title"
        await pilot.pause(0.1)
        assert repaints == []
        assert "a new sub-title" in str(screen.query_one("HeaderTitle").render())


@pytest.mark.parametrize("size", [(160, 45), (80, 24)])
async def test_a_panes_cells_are_drawn_as_datatable_draws_them(config, size):
    """:meth:`Pane._render_cell` (one line of Text, drawn without Rich's general layout) gives DataTable's segments,
    for every cell and the header's, on and off the cursor, hovered or not, focused or not."""
    app = make_app(config)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot)
        drawn = 0
        for focus in ("#kpis", "#objectives"):
            app.screen.set_focus(app.screen.query_one(focus))
            await pilot.pause()
            for pane in app.screen.query(Pane):
                pane._pseudo_class_state = pane.get_pseudo_class_state()
                base = pane.rich_style
                for row in range(-1 if pane.show_header else 0, pane.row_count):
                    for column, col in enumerate(pane.ordered_columns):
                        for cursor in (False, True):
                            for hover in (False, True):
                                ours = pane._one_line_cell(row, column, base, col.get_render_width(pane), cursor, hover)
                                pane._cell_render_cache.clear()
                                theirs = DataTable._render_cell(
                                    pane, row, column, base, col.get_render_width(pane), cursor, hover
                                )
                                pane._cell_render_cache.clear()
                                assert ours is not None, (pane.id, row, column)
                                assert ours == theirs, (pane.id, row, column, cursor, hover)
                                drawn += 1
        assert drawn > 100


async def test_a_textual_whose_datatable_state_changed_falls_back_to_datatables_drawing(config, monkeypatch):
    """Were a Textual 8 release to change the private state :meth:`Pane._one_line_cell` reads, the panes are drawn
    by DataTable's own ``_render_cell`` (the same screen) rather than the paint failing."""
    monkeypatch.setattr(Pane, "_cells_drawn_here", True)
    app = make_app(config)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_ready(pilot)
        before = app.screen.query_one("#kpis", Pane).render_lines(Region(0, 0, 120, 12))

        def changed(self, *args):
            raise AttributeError("'Pane' object has no attribute '_row_locations'")

        monkeypatch.setattr(Pane, "_one_line_cell", changed)
        for pane in app.screen.query(Pane):
            pane._cell_render_cache.clear()
            pane._line_cache.clear()
            pane.refresh()
        await pilot.pause()
        after = app.screen.query_one("#kpis", Pane).render_lines(Region(0, 0, 120, 12))
        assert Pane._cells_drawn_here is False
        assert [strip.text for strip in after] == [strip.text for strip in before]


async def test_no_worker_is_described_by_the_repr_of_what_it_runs(config, monkeypatch):
    """Textual describes a worker by ``repr(work)`` unless given a description: for kpitui's partials over the config
    or the runtime that is a repr of every KPI and metric (5-7 ms of the main thread for 300 KPIs and 1,000 metrics),
    before the runtime's opening and the first evaluation could start. Every worker of a start that collects (open,
    evaluate, start sources, keep code, fold, polls) is described by its name."""
    from textual.worker_manager import WorkerManager
    from ui_helpers import wait_for

    described: list[tuple[str | None, str]] = []
    new_worker = WorkerManager._new_worker

    def recording(self, work, node, **kwargs):
        described.append((kwargs.get("name"), kwargs.get("description", "")))
        return new_worker(self, work, node, **kwargs)

    monkeypatch.setattr(WorkerManager, "_new_worker", recording)
    reprs: list[str] = []
    runtime_repr = type(config).__repr__

    def counted(self):
        reprs.append(type(self).__name__)
        return runtime_repr(self)

    monkeypatch.setattr(type(config), "__repr__", counted)
    app = make_app(config, collect=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_ready(pilot)
        await wait_for(pilot, lambda: any(name and name.startswith("poll ") for name, _ in described))
    names = {name for name, _ in described}
    assert {"open runtime", "evaluate", "start sources", "fold"} <= names, names
    assert all(description == name for name, description in described), described
    assert reprs == []  # nothing printed the config (inside the runtime's repr too)
