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


def palette_of(app: App) -> Palette:
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
