"""The dashboard on a full disk says what `kpitui record` says: the disk is full, and what to do.

Before: the banner read "cannot open history file …: disk I/O error" (SQLite's words for the `-shm` file it could
not create), where every command said "… — the disk is full: free some space (or set [storage] path to a file on
another disk) and try again". Real tmpfs (root only), real SQLite, the real app headless.
"""

from __future__ import annotations

from ui_helpers import make_app, wait_for

from kpitui.config import load_config
from tests.reliability.test_history_failures import _config, _fill, small_disk  # noqa: F401 - the fixture
from tests.test_cli import run


async def test_the_dashboard_on_a_full_disk_says_the_disk_is_full(small_disk, tmp_path):  # noqa: F811
    path = _config(tmp_path, small_disk / "h.sqlite3")
    assert run("record", "sales", "1", "--config", str(path)).returncode == 0
    _fill(small_disk)
    app = make_app(load_config(path))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: "store" in app.problems)
        said = app.problems["store"]
    assert str(small_disk / "h.sqlite3") in said and "the disk is full: free some space" in said, said
