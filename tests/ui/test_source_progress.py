"""The TUI shows a source's backlog import in its status line (issue 20): what, how far, time left; keys keep
working."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from test_access_log_rotation_cli import master_lines  # noqa: E402
from test_backlog import PLUGIN  # noqa: E402
from ui_helpers import make_app, pane_keys, pane_text, wait_for  # noqa: E402


@pytest.mark.slow
async def test_the_status_line_shows_a_backlogs_progress(make_config, tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "small_chunks.py").write_text(PLUGIN)  # 64 KiB per poll: a backlog of ~70 chunks
    log = tmp_path / "access.log"
    log.write_text("".join(master_lines(45_000, seed=41)))
    config = make_config(
        extra='[plugins]\ndirs = ["plugins"]\n',
        extra_sources='[sources.web]\ntype = "small_chunk_log"\npath = "access.log"\n',
        extra_metrics='[metrics.hits]\nname = "Hits"\nsource = "web"\ncondition = \'status < 400\'\n',
    )
    app = make_app(config, collect=True)
    seen: list[str] = []
    async with app.run_test(size=(160, 40)) as pilot:

        def importing() -> bool:
            text = app.status_text().plain
            if "web: reading access.log" in text:
                seen.append(text)
            return bool(seen) and "%" in seen[-1] and "left" in seen[-1]

        await wait_for(pilot, importing, timeout=60)
        await pilot.press("m")  # the keys still work meanwhile (month to date)
        await wait_for(pilot, lambda: app.window == "month_to_date", timeout=10)
        await wait_for(pilot, lambda: "● web" in app.status_text().plain, timeout=120)  # caught up
        assert "reading access.log" not in app.status_text().plain
    assert "web: reading access.log" in seen[-1]


@pytest.mark.slow
async def test_the_metrics_pane_shows_a_backlog_import_on_its_sources_rows(make_config, tmp_path):
    import gzip

    (tmp_path / "plugins").mkdir()
    # 8 KiB per poll: the import must still be running once the keys have reached the metrics (at 64 KiB
    # per poll the whole backlog was in before the metrics pane showed its rows, and nothing was seen)
    (tmp_path / "plugins" / "small_chunks.py").write_text(PLUGIN.replace("64 * 1024", "8 * 1024"))
    lines = master_lines(60_000, seed=43)
    with gzip.open(tmp_path / "access.log.1.gz", "wt") as handle:  # a rotated, compressed backlog
        handle.write("".join(lines[:50_000]))
    (tmp_path / "access.log").write_text("".join(lines[50_000:]))
    config = make_config(
        extra='[plugins]\ndirs = ["plugins"]\n',
        extra_sources='[sources.web]\ntype = "small_chunk_log"\npath = "access.log"\n',
        extra_metrics='[metrics.hits]\nname = "Hits"\nsource = "web"\ncondition = \'status < 400\'\n',
    )
    app = make_app(config, collect=True)
    seen: list[str] = []
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, timeout=60)
        await pilot.press("shift+tab")  # the objectives pane
        await pilot.press("end")  # its last row: the metrics no KPI reads (hits)
        await wait_for(pilot, lambda: "hits" in pane_keys(app, "metrics"), timeout=10)

        def importing() -> bool:
            text = pane_text(app, "metrics")
            if "importing access.log.1.gz" in text:
                seen.append(text)
            return bool(seen) and "left" in seen[-1]

        await wait_for(pilot, importing, timeout=60)
        row = next(line for line in seen[-1].splitlines() if "Hits" in line)
        cells = [c.strip() for c in row.split(" | ")]
        assert re.fullmatch(r"◌ \d+%, (\d+m )?\d+s left", cells[1]), cells  # in the Newest column: how far, time left
        # beside: what (the Trigger column may end the time left with its ellipsis)
        assert re.search(r"◌ web: importing access\.log\.1\.gz, \d+%, (\d+m )?\d+s? ?(left|le…|l…|…)", row), row
        assert "Revenue" not in seen[-1]  # only the source's own metrics
        await pilot.press("m")  # the keys still work meanwhile (month to date)
        await wait_for(pilot, lambda: app.window == "month_to_date", timeout=10)
        await wait_for(pilot, lambda: "● web" in app.status_text().plain, timeout=180)  # caught up
        await wait_for(
            pilot,
            lambda: "importing" not in pane_text(app, "metrics") and "%" not in pane_text(app, "metrics"),
            timeout=10,
        )
        row = next(line for line in pane_text(app, "metrics").splitlines() if "Hits" in line)
        assert re.search(r"\d", row.split(" | ")[1]), row  # the newest reading again
