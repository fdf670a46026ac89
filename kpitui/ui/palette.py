"""Concrete colours for renderables built in Python (table cells, the chart), taken from the theme.

Styles in ``.tcss`` files use theme variables directly; Rich ``Text`` needs
concrete colours, so they are read from the active theme here and re-read
when the theme changes. Textual down-converts them for 16-colour terminals.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App
from textual.color import Color

from ..model import Status


@dataclass(frozen=True)
class Palette:
    good: str
    warn: str
    bad: str
    accent: str
    muted: str
    text: str

    def status(self, status: Status) -> str:
        return {
            Status.ON_TRACK: self.good,
            Status.AT_RISK: self.warn,
            Status.OFF_TRACK: self.bad,
        }.get(status, self.muted)


def _hex(value: str, fallback: str) -> str:
    try:
        return Color.parse(value).hex
    except Exception:  # noqa: BLE001 - "auto 60%" and friends are not concrete colours
        return fallback


#: For 16-colour terminals (``TEXTUAL_COLOR_SYSTEM=standard``, many SSH sessions) the theme's
#: pastel text colours would all round to white, so use exactly the 16-colour palette's values
#: (bright on dark themes, normal on light ones): each maps to itself.
STANDARD_DARK = Palette(good="#55ff55", warn="#ffff55", bad="#ff5555", accent="#55ffff", muted="#aaaaaa", text="#ffffff")
STANDARD_LIGHT = Palette(good="#00aa00", warn="#aa5500", bad="#aa0000", accent="#0000aa", muted="#555555", text="#000000")


def palette_of(app: App) -> Palette:
    if getattr(app.console, "color_system", None) in ("standard", "windows"):
        return STANDARD_DARK if app.current_theme.dark else STANDARD_LIGHT
    v = app.theme_variables
    fg = _hex(v.get("foreground", "#e0e0e0"), "#e0e0e0")
    bg = _hex(v.get("background", "#121212"), "#121212")
    muted = Color.parse(fg).blend(Color.parse(bg), 0.45).hex
    return Palette(
        good=_hex(v.get("text-success", "green"), "#4ebf71"),
        warn=_hex(v.get("text-warning", "yellow"), "#fea62b"),
        bad=_hex(v.get("text-error", "red"), "#b93c5b"),
        accent=_hex(v.get("text-primary", "blue"), "#57a5e2"),
        muted=muted,
        text=fg,
    )
