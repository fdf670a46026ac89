"""The pane widget shared by objectives, KPIs and metrics: a row-cursor table whose
columns fit the width it gets (optional columns drop out on narrow terminals).

Each pane module has a pure ``rows(...)`` function (state -> rows of Rich
``Text``) and a thin :class:`Pane` subclass that shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Union, cast

from rich.console import ConsoleOptions
from rich.containers import Lines
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.color import Color
from textual.css.styles import RenderStyles
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable

from .. import bindings

MESSAGE_KEY = "__message__"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int  # the minimum width
    grow: int = 0  # 0: fixed; otherwise spare width goes to lower numbers first, up to ``max``
    max: int | None = None  # None with grow: takes whatever is left
    drop: int = 0  # 0: always shown; otherwise the higher the sooner it is dropped when narrow
    right: bool = False


Cell = Union[Text, str, Callable[[int], Text]]


@dataclass(frozen=True)
class Row:
    key: str
    cells: dict[str, Cell] = field(default_factory=dict)


def fit_columns(columns: tuple[Column, ...], width: int, padding: int = 1) -> list[tuple[Column, int]]:
    """The columns that fit ``width`` cells and their widths; spare width goes to growing columns."""
    shown = list(columns)
    while True:
        used = sum(c.width for c in shown) + 2 * padding * len(shown)
        droppable = [c for c in shown if c.drop]
        if used <= width or not droppable:
            break
        shown.remove(max(droppable, key=lambda c: c.drop))
    widths = {c.key: c.width for c in shown}
    rest = max(0, width - used)
    for c in sorted((c for c in shown if c.grow), key=lambda c: c.grow):
        extra = rest if c.max is None else min(rest, max(0, c.max - c.width))
        widths[c.key] += extra
        rest -= extra
    return [(c, widths[c.key]) for c in shown]


def fit(cell: Cell, width: int, right: bool = False) -> Text:
    if callable(cell):
        cell = cell(width)
    t = Text(cell) if isinstance(cell, str) else cell.copy()
    t.no_wrap = True
    if t.cell_len > width:
        t.truncate(width, overflow="ellipsis")
    if right and t.cell_len < width:
        t.pad_left(width - t.cell_len)
    return t


class _DrawnComponent:
    """A component's styles while a pane's lines are drawn: its Rich style worked out once, the rest read through."""

    __slots__ = ("rich_style", "styles")

    def __init__(self, styles: RenderStyles) -> None:
        self.styles = styles
        self.rich_style = styles.rich_style

    def __getattr__(self, name: str) -> Any:
        return getattr(self.styles, name)


class Pane(DataTable, can_focus=True):
    """A table of rows with a cursor; ``show(rows)`` keeps the cursor on the same key."""

    BINDINGS = bindings.PANE
    COLUMNS: tuple[Column, ...] = ()
    TITLE = ""
    SHOW_HEADER = True
    #: cells drawn by :meth:`_one_line_cell`; False once reading DataTable's private state failed
    _cells_drawn_here: ClassVar[bool] = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id,
            cursor_type="row",
            zebra_stripes=False,
            cursor_foreground_priority="css",  # the selected row in one legible colour on the cursor
            show_row_labels=False,
            show_header=self.SHOW_HEADER,
        )
        self.border_title = self.TITLE
        self._rows: list[Row] = []
        self._message: str | None = "loading…"
        self._layout: list[tuple[Column, int]] = []
        self._drawing_style: Style | None = None
        self._drawing_background: tuple[Color, Color] | None = None
        self._drawing_components: dict[tuple[str, ...], _DrawnComponent] | None = None
        self._drawing_options: ConsoleOptions | None = None

    @property
    def rich_style(self) -> Style:
        """While the lines are drawn, the style worked out once for all of them: ``DataTable.render_line`` asks for
        it for every line, each time walking the styles of every ancestor (a third of drawing the panes)."""
        return self._drawing_style if self._drawing_style is not None else super().rich_style

    @property
    def background_colors(self) -> tuple[Color, Color]:
        """While the lines are drawn, worked out once: DataTable asks for them for every row (an ancestors' walk)."""
        return self._drawing_background if self._drawing_background is not None else super().background_colors

    def get_component_styles(self, *names: str) -> RenderStyles:
        """While the lines are drawn, each component's styles (the header's, a row's) made once, with their Rich
        style worked out once: DataTable asks for the header's for every line, each a new styles object whose
        ``rich_style`` walks the styles of every ancestor."""
        drawn = self._drawing_components
        if drawn is None:
            return super().get_component_styles(*names)
        found = drawn.get(names)
        if found is None:
            found = drawn[names] = _DrawnComponent(super().get_component_styles(*names))
        return cast(RenderStyles, found)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._end_drawing()
        self._drawing_style = self.rich_style
        self._drawing_background = self.background_colors
        self._drawing_options = self.app.console_options
        self._drawing_components = {}
        try:
            return super().render_lines(crop)
        finally:
            self._end_drawing()

    def _end_drawing(self) -> None:
        self._drawing_style = self._drawing_background = self._drawing_options = self._drawing_components = None

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """DataTable's, for a pane's cells without its general layout (:meth:`_one_line_cell`): in a profile of the
        first values' paint most of drawing the panes. It reads DataTable's private state (Textual 8); were that to
        change, tests/ui/test_start_paints.py compares every cell with DataTable's own, and here a Textual
        release whose private state this no longer fits (an error reading it) makes every pane fall back to
        DataTable's own drawing for the rest of the session, instead of failing the paint."""
        lines = None
        if Pane._cells_drawn_here:
            try:
                lines = self._one_line_cell(row_index, column_index, base_style, width, cursor, hover)
            except Exception:  # noqa: BLE001 - DataTable's private state changed shape: draw as DataTable does
                Pane._cells_drawn_here = False
        if lines is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)  # type: ignore[no-any-return]
        return lines

    def _one_line_cell(
        self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool, hover: bool
    ) -> list[list[Segment]] | None:
        """A cell of a pane (one line of Text that fits its column, :func:`fit`) as DataTable draws it, without
        Rich's general layout of a renderable (``Styled(Padding(cell))`` through two ``render_lines``, a wrap
        and a crop): its text, the spaces to its width, the padding either side, every segment in the row's
        style under the cell's and the cursor's over it. ``None``: anything else (DataTable draws it)."""
        if column_index < 0 or self.fixed_rows or self.fixed_columns:
            return None
        header = row_index == -1
        row_key = self._header_row_key if header else self._row_locations.get_key(row_index)
        if row_key is None or (self.header_height if header else self.rows[row_key].height) != 1:
            return None
        key = (
            row_key,
            self._column_locations.get_key(column_index),
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._cell_render_cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        cell = self._get_row_renderables(row_index)[1][column_index]
        pad = self.cell_padding
        inner = width - 2 * pad
        if type(cell) is not Text or inner < 0 or "\n" in cell.plain or "\t" in cell.plain:
            return None
        if cell.cell_len > inner:
            return None
        console = self.app.console
        options = self._drawing_options or self.app.console_options  # each a new object, the terminal's size read
        justify = cell.justify or options.justify or "default"
        if justify != "default":  # as Text.wrap: justified to the width (spaces in the text, in its style)
            lines = Lines([cell.copy()])
            lines.justify(console, inner, justify=justify, overflow=cell.overflow or options.overflow or "fold")
            cell = lines[0]
        component_style, post_style = self._get_styles_to_render_cell(
            header, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css",
        )  # fmt: skip
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        blank = Style.null()
        segments = [Segment(" " * pad, blank)] if pad else []
        segments.extend(s for s in Text("\n").join([cell]).render(console) if s.text)
        if cell.cell_len < inner:  # as Rich pads a line to its width: spaces in no style
            segments.append(Segment(" " * (inner - cell.cell_len), blank))
        if pad:
            segments.append(Segment(" " * pad, blank))
        lines = [
            [Segment(text, (pre + style + post_style) if style else (pre + post_style)) for text, style, _ in segments]
        ]
        self._cell_render_cache[key] = lines
        return lines

    def on_mount(self) -> None:
        self._rebuild()

    def on_resize(self, event: events.Resize) -> None:
        if self._fit() != self._layout:
            self._rebuild()

    def _fit(self) -> list[tuple[Column, int]]:
        width = max(20, self.scrollable_content_region.width)
        return fit_columns(self.COLUMNS, width, self.cell_padding)

    # -- what is shown --------------------------------------------------------

    @property
    def highlighted_key(self) -> str | None:
        if not self._rows or self.row_count == 0:
            return None
        row = min(max(self.cursor_row, 0), len(self._rows) - 1)
        return self._rows[row].key

    def show(self, rows: list[Row], message: str | None = None, select: str | None = None) -> None:
        """Show ``rows`` (or ``message`` when there are none), keeping the cursor on its key."""
        keep = select or self.highlighted_key
        same_shape = (
            [r.key for r in rows] == [r.key for r in self._rows]
            and message == self._message
            and self._layout == self._fit()
        )
        self._rows, self._message = rows, (message if not rows else None)
        if same_shape and rows:
            self._update_cells()
        else:
            self._rebuild()
        if keep is not None:
            self.select_key(keep)

    def select_key(self, key: str) -> bool:
        for index, row in enumerate(self._rows):
            if row.key == key:
                if self.cursor_row != index:
                    self.move_cursor(row=index, animate=False, scroll=True)
                return True
        return False

    def _cells(self, row: Row) -> list[Text]:
        return [fit(row.cells.get(col.key, Text("")), width, col.right) for col, width in self._layout]

    def _update_cells(self) -> None:
        for row in self._rows:
            for (col, _), cell in zip(self._layout, self._cells(row)):
                self.update_cell(row.key, col.key, cell)

    def _rebuild(self) -> None:
        cursor = self.cursor_row
        self._layout = self._fit()
        self.clear(columns=True)
        for col, width in self._layout:
            label = Text(col.label, justify="right" if col.right else "left")
            self.add_column(fit(label, width, col.right), width=width, key=col.key)
        if self._rows:
            for row in self._rows:
                self.add_row(*self._cells(row), key=row.key)
            self.move_cursor(row=min(max(cursor, 0), len(self._rows) - 1), animate=False)
        elif self._message:
            self._show_message()

    def _show_message(self) -> None:
        """The message in one column as wide as the pane (it is not cut at a column's edge)."""
        width = sum(w for _, w in self._layout) + 2 * self.cell_padding * (len(self._layout) - 1)
        self.clear(columns=True)
        self.add_column(Text(""), width=width, key=MESSAGE_KEY)
        self.add_row(fit(Text(self._message or "", style="italic"), width), key=MESSAGE_KEY)
