"""Colours that stay readable: every text on screen at least 4.5:1 (WCAG AA) against what is behind it,
as the terminal shows it (16 colours, 256 colours or true colour).

The theme's own colours are kept where they pass. A foreground that does not
reach the ratio against every background it can stand on is moved towards
white (dark themes) or black (light themes) until it does, measured after
the colour is reduced to the terminal's colour system (a colour that passes
in true colour can round to one that does not in 256 colours). For 16
colours the values are chosen from the 16-colour palette itself, so they are
shown exactly as meant (VGA-like values, as Rich and most terminals assume).

The result is a set of CSS variables (:func:`legible_variables`): kpitui's
own (``$kpi-muted``, ``$kpi-cursor-background`` …, used by ``app.tcss`` and
:mod:`kpitui.ui.palette`) and the theme variables Textual's widgets use for
text (``$text-muted``, ``$footer-key-foreground`` …).
"""

from __future__ import annotations

from rich.color import Color as RichColor, ColorSystem, ColorType
from textual.color import Color

MINIMUM = 4.5
#: aimed for, so rounding to the terminal's palette stays above ``MINIMUM``
AIM = 4.7

SYSTEMS = {
    "standard": ColorSystem.STANDARD,
    "windows": ColorSystem.STANDARD,
    "256": ColorSystem.EIGHT_BIT,
    "truecolor": ColorSystem.TRUECOLOR,
}


def shown(color: Color, system: str) -> Color:
    """``color`` as a terminal with ``system`` shows it (Rich's reduction and palettes)."""
    rich = RichColor.from_rgb(color.r, color.g, color.b).downgrade(SYSTEMS.get(system, ColorSystem.TRUECOLOR))
    if rich.type == ColorType.TRUECOLOR:
        return Color(color.r, color.g, color.b)
    r, g, b = rich.get_truecolor()
    return Color(r, g, b)


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(color: Color) -> float:
    return 0.2126 * _linear(color.r) + 0.7152 * _linear(color.g) + 0.0722 * _linear(color.b)


def ratio(a: Color, b: Color) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def worst(fg: Color, backgrounds: list[Color], system: str) -> float:
    seen = shown(fg, system)
    return min(ratio(seen, shown(bg, system)) for bg in backgrounds)


def readable(fg: Color, backgrounds: list[Color], system: str, dark: bool, aim: float = AIM) -> Color:
    """``fg``, or the least change of it towards white (dark) / black (light) that reads on every background."""
    if worst(fg, backgrounds, system) >= aim:
        return fg
    towards = Color(255, 255, 255) if dark else Color(0, 0, 0)
    for step in range(1, 21):
        moved = fg.blend(towards, step / 20)
        if worst(moved, backgrounds, system) >= aim:
            return moved
    return towards


def _parse(value: str | None, fallback: str, under: Color | None = None) -> Color:
    """A concrete colour from a theme variable (``#0178D44C`` is blended over ``under``)."""
    try:
        color = Color.parse(value or fallback)
    except Exception:  # noqa: BLE001 - "auto 87%" and the like
        color = Color.parse(fallback)
    if color.a < 1 and under is not None:
        return under.blend(color.with_alpha(1), color.a)
    return color.with_alpha(1)


#: 16 colours, exactly from the palette: (dark theme, light theme)
STANDARD = {
    "background": ("#000000", "#ffffff"),
    "surface": ("#000000", "#ffffff"),
    "panel": ("#000000", "#ffffff"),
    "text": ("#ffffff", "#000000"),
    "muted": ("#aaaaaa", "#555555"),
    "good": ("#55ff55", "#0000aa"),  # no green reads on white at 16 colours: blue (and the ● shape) says on track
    "warn": ("#ffff55", "#aa5500"),
    "bad": ("#ff5555", "#aa0000"),
    "accent": ("#55ffff", "#aa00aa"),
    "border": ("#aaaaaa", "#555555"),
    "border-focus": ("#55ffff", "#0000aa"),
    "cursor-background": ("#0000aa", "#0000aa"),
    "cursor-foreground": ("#ffffff", "#ffffff"),
    "cursor-blurred-background": ("#555555", "#aaaaaa"),
    "cursor-blurred-foreground": ("#ffffff", "#000000"),
    "banner-background": ("#aa0000", "#aa0000"),
    "banner-foreground": ("#ffffff", "#ffffff"),
}


def _standard(dark: bool) -> dict[str, Color]:
    return {name: Color.parse(pair[0 if dark else 1]) for name, pair in STANDARD.items()}


def _computed(v: dict[str, str], dark: bool, system: str) -> dict[str, Color]:
    background = _parse(v.get("background"), "#121212" if dark else "#e0e0e0")
    surface = _parse(v.get("surface"), "#1e1e1e" if dark else "#d8d8d8", background)
    panel = _parse(v.get("panel"), "#242f38" if dark else "#d0d0d0", background)
    primary = _parse(v.get("primary"), "#0178d4" if dark else "#004578", background)
    error = _parse(v.get("error"), "#b93c5b", background)
    # the selected row: the primary colour toned down to the surface, one colour on it (bold)
    cursor = surface.blend(primary, 0.45 if dark else 0.25)
    blurred = surface.blend(primary, 0.2 if dark else 0.12)
    banner = background.blend(error, 0.25)
    grounds = [background, surface, panel]
    everywhere = grounds + [banner]
    text = readable(
        _parse(v.get("foreground"), "#e0e0e0" if dark else "#1f1f1f", surface),
        everywhere + [cursor, blurred],
        system,
        dark,
    )
    out = {
        "background": background,
        "surface": surface,
        "panel": panel,
        "text": text,
        "muted": readable(text.blend(surface, 0.4), everywhere, system, dark),
        "good": readable(_parse(v.get("text-success"), "#4ebf71", surface), grounds, system, dark),
        "warn": readable(_parse(v.get("text-warning"), "#fea62b", surface), grounds, system, dark),
        "bad": readable(_parse(v.get("text-error"), "#b93c5b", surface), everywhere, system, dark),
        "accent": readable(_parse(v.get("text-primary"), "#57a5e2", surface), grounds, system, dark),
        "border": readable(text.blend(surface, 0.5), grounds, system, dark),
        "border-focus": readable(primary, grounds, system, dark),
        "cursor-background": cursor,
        "cursor-foreground": readable(text, [cursor], system, dark),
        "cursor-blurred-background": blurred,
        "cursor-blurred-foreground": readable(text, [blurred], system, dark),
        "banner-background": banner,
        "banner-foreground": text,
    }
    return out


def legible(variables: dict[str, str], dark: bool, system: str) -> dict[str, Color]:
    """kpitui's colour roles for the theme ``variables`` on a terminal with colour ``system``."""
    if SYSTEMS.get(system) == ColorSystem.STANDARD:
        return _standard(dark)
    return _computed(variables, dark, system)


def legible_variables(variables: dict[str, str], dark: bool, system: str) -> dict[str, str]:
    """CSS variables: ``kpi-<role>`` for every role, and the theme's text variables Textual's widgets use."""
    roles = {name: color.hex for name, color in legible(variables, dark, system).items()}
    out = {f"kpi-{name}": value for name, value in roles.items()}
    out.update(
        {
            "background": roles["background"],
            "surface": roles["surface"],
            "panel": roles["panel"],
            "foreground": roles["text"],
            "text": roles["text"],
            "text-muted": roles["muted"],
            "foreground-muted": roles["muted"],
            "text-disabled": roles["muted"],
            "text-success": roles["good"],
            "text-warning": roles["warn"],
            "text-error": roles["bad"],
            "text-primary": roles["accent"],
            "text-accent": roles["warn"],
            "text-secondary": roles["accent"],
            "footer-background": roles["panel"],
            "footer-foreground": roles["text"],
            "footer-description-foreground": roles["text"],
            "footer-key-foreground": roles["warn"],
            "block-cursor-background": roles["cursor-background"],
            "block-cursor-foreground": roles["cursor-foreground"],
            "block-cursor-blurred-background": roles["cursor-blurred-background"],
            "block-cursor-blurred-foreground": roles["cursor-blurred-foreground"],
            "border": roles["border-focus"],
            "border-blurred": roles["border"],
            "input-cursor-background": roles["text"],
            "input-cursor-foreground": roles["surface"],
            "button-foreground": roles["text"],
            "scrollbar": roles["border"],
            "scrollbar-hover": roles["border-focus"],
            "scrollbar-active": roles["border-focus"],
            "scrollbar-background": roles["surface"],
            "scrollbar-background-hover": roles["surface"],
            "scrollbar-background-active": roles["surface"],
            "scrollbar-corner-color": roles["surface"],
        }
    )
    return out
