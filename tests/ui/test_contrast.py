"""Every text on screen reads at 4.5:1 or better (WCAG AA), measured from the rendered screens.

For each theme (dark, light) and colour system (16 colours, 256 colours, true
colour) one app is driven through its screens; on each, every inked cell's
foreground and background are reduced to the colour system as the terminal
shows them and their contrast is computed (tests/ui/contrast.py). Selected
rows, borders, headers, the footer, the help and the form included.
"""

from __future__ import annotations

import datetime as dt

import pytest
import textual.constants
from contrast import failures
from ui_helpers import NOW, make_app, wait_for, wait_ready

from kpitui.store import Store

#: (what the screen is, keys that lead to it from the previous one)
SCREENS = [
    ("dashboard, KPIs focused", []),
    ("metrics focused (a source in error)", ["tab"]),
    ("objectives focused", ["tab"]),
    ("filter typed", ["slash", "o"]),
    ("filter without a match", ["z", "z"]),
    ("dashboard again", ["escape"]),
    ("KPI detail", ["enter"]),
    ("help", ["question_mark"]),
    ("add-reading form (a count metric)", ["escape", "escape", "a"]),
    ("add-reading form at 100×34 (all its fields)", ["resize"]),
    ("metric detail (a source in error)", ["escape", "shift+tab", "j", "tab", "enter"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
@pytest.mark.parametrize("system", ["standard", "256", "truecolor"])
async def test_every_text_reaches_4_5_to_1(config, monkeypatch, system, theme):
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", system)
    with Store(config.storage.path) as store:
        store.record_health(
            "demo", ok=False, error="timed out after 5s", at=NOW, next_attempt=NOW + dt.timedelta(minutes=2)
        )
    app = make_app(config)
    found = {}
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = theme
        await wait_ready(pilot)
        for name, keys in SCREENS:
            for key in keys:
                if key == "resize":
                    await pilot.resize_terminal(100, 34)
                else:
                    await pilot.press(key)
            await pilot.pause()
            await wait_ready(pilot)
            if name.endswith("detail"):
                await wait_for(pilot, lambda: app.screen.query_one("#chart").spec is not None)
            await pilot.pause()
            bad = failures(app, system)
            if bad:
                found[name] = bad[:8]
    assert not found, "\n".join(f"{name}:\n  " + "\n  ".join(lines) for name, lines in found.items())


def test_the_measure_sees_what_the_issue_reported():
    """The measure itself: colour 15 on colour 15 is 1:1, the highlighted target of old 1.02:1 in 256 colours."""
    from contrast import SYSTEMS, ratio, shown
    from rich.color import Color

    white = shown(Color.parse("#fafafa"), SYSTEMS["standard"], None)
    assert ratio(white, shown(Color.parse("#d8d8d8"), SYSTEMS["standard"], None)) == 1.0
    muted, cursor = (
        shown(Color.parse("#838383"), SYSTEMS["256"], None),
        shown(Color.parse("#0178d4"), SYSTEMS["256"], None),
    )
    assert round(ratio(muted, cursor), 2) == 1.02
