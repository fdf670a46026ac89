"""WCAG contrast of what is on screen, cell by cell, as a terminal with a given colour system shows it.

The screen is rendered by Textual's compositor (the same strips it writes to the
terminal, after its line filters); each cell's foreground and background are
then reduced to the colour system as Rich does when it writes them (the nearest
of the 16 ANSI colours, of the 256-colour palette, or the colour as it is), and
turned back into RGB with the palette Rich assumes for the 16 ANSI colours
(VGA-like: colour 7 is #aaaaaa, 8 is #555555).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich._palettes import EIGHT_BIT_PALETTE, STANDARD_PALETTE
from rich.color import Color, ColorSystem, ColorType
from rich.color_triplet import ColorTriplet
from rich.style import Style

SYSTEMS = {"standard": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT, "truecolor": ColorSystem.TRUECOLOR}

#: characters that show no ink: their colours do not matter
BLANK = {" ", "\u2800", "\u00a0", ""}


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb: ColorTriplet) -> float:
    r, g, b = rgb
    return 0.2126 * _linear(r) + 0.7152 * _linear(g) + 0.0722 * _linear(b)


def ratio(a: ColorTriplet, b: ColorTriplet) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def shown(color: Color | None, system: ColorSystem, default: ColorTriplet) -> ColorTriplet:
    """The RGB a terminal with ``system`` shows for ``color`` (``None``: the terminal's default)."""
    if color is None or color.type == ColorType.DEFAULT:
        return default
    color = color.downgrade(system)
    if color.type == ColorType.STANDARD:
        return STANDARD_PALETTE[color.number]  # type: ignore[index]
    if color.type == ColorType.EIGHT_BIT:
        return EIGHT_BIT_PALETTE[color.number]  # type: ignore[index]
    assert color.triplet is not None
    return color.triplet


def _blend(a: ColorTriplet, b: ColorTriplet, factor: float) -> ColorTriplet:
    return ColorTriplet(*(round(x + (y - x) * factor) for x, y in zip(a, b)))


@dataclass(frozen=True)
class Cell:
    x: int
    y: int
    char: str
    fg: ColorTriplet
    bg: ColorTriplet
    ratio: float
    line: str


def cells(strips, system: ColorSystem, dark: bool) -> list[Cell]:
    """Every inked cell of ``strips`` (Textual ``Strip``s, one per screen line) with its contrast."""
    default_fg = ColorTriplet(255, 255, 255) if dark else ColorTriplet(0, 0, 0)
    default_bg = ColorTriplet(0, 0, 0) if dark else ColorTriplet(255, 255, 255)
    out = []
    for y, strip in enumerate(strips):
        segments = list(strip)
        line = "".join(s.text for s in segments)
        x = 0
        for segment in segments:
            style: Style = segment.style or Style()
            fg = shown(style.color, system, default_fg)
            bg = shown(style.bgcolor, system, default_bg)
            if style.reverse:
                fg, bg = bg, fg
            if style.dim:
                fg = _blend(fg, bg, 0.5)
            r = ratio(fg, bg)
            for char in segment.text:
                if char not in BLANK:
                    out.append(Cell(x, y, char, fg, bg, r, line))
                x += 1
    return out


def screen_strips(app) -> list:
    """The strips of the whole screen (modal screens over the screens below them), as written to the terminal."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    from textual.strip import Strip

    return [Strip.join(list(chops)) for chops in update.strips]


def failures(app, system: str, minimum: float = 4.5) -> list[str]:
    """One line per run of cells below ``minimum``: where, what and the ratio."""
    dark = app.current_theme.dark
    bad = [c for c in cells(screen_strips(app), SYSTEMS[system], dark) if c.ratio < minimum]
    lines: dict[tuple[int, str, str], list[Cell]] = {}
    for c in bad:
        lines.setdefault((c.y, c.fg.hex, c.bg.hex), []).append(c)
    return [
        f"row {y}: {''.join(c.char for c in group)!r} {fg} on {bg} = {group[0].ratio:.2f}:1"
        for (y, fg, bg), group in sorted(lines.items())
    ]
