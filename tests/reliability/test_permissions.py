"""The history is private to its user, and ``init`` never writes through a dangling link (issue 19 item 11)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kpitui.api import readings_frame
from kpitui.location import own_history_path
from kpitui.store import Store

from .conftest import run_kpitui


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_history_files_are_0600_and_the_data_folder_0700(tmp_path, figures):
    old = os.umask(0o022)  # the usual umask, which gave 0644 and 0755
    try:
        config = tmp_path / "shop" / "kpitui.toml"
        config.parent.mkdir()
        config.write_text('[metrics.sales]\nunit = "count"\naggregation = "sum"\n')
        result = run_kpitui("record", "sales", "5", "--config", str(config))
        assert result.returncode == 0, result.stderr
        history = own_history_path(config)
        data = Path(os.environ["KPITUI_DATA_DIR"])
        assert history.parent == data
        assert mode(data) == 0o700 and mode(history) == 0o600
        with Store(history) as store:  # while a writer has it open, its -wal and -shm exist
            store.write(store_rows())
            wal, shm = Path(f"{history}-wal"), Path(f"{history}-shm")
            assert wal.exists() and shm.exists()
            assert mode(wal) == 0o600 and mode(shm) == 0o600
        # a [storage] path in folders that do not exist yet: each created folder is 0700
        nested = tmp_path / "a" / "b" / "h.sqlite3"
        with Store(nested):
            pass
        assert mode(nested) == 0o600 and mode(tmp_path / "a") == 0o700 and mode(tmp_path / "a" / "b") == 0o700
    finally:
        os.umask(old)
    figures(files_checked=4, folders_checked=3)


def store_rows():
    import datetime as dt

    return readings_frame([("sales", dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), 1.0)])


def test_an_existing_folder_keeps_its_permissions(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    with Store(folder / "h.sqlite3"):
        pass
    assert mode(folder) == 0o755 and mode(folder / "h.sqlite3") == 0o600


def test_init_refuses_to_write_through_a_dangling_symlink(tmp_path):
    target = tmp_path / "elsewhere" / "victim.toml"
    link = tmp_path / "kpitui.toml"
    link.symlink_to(target)
    for args in (("init", str(link)), ("init", str(link), "--force")):
        result = run_kpitui(*args)
        assert result.returncode == 2, result.stderr
        assert "symbolic link" in result.stderr and "refusing to write through it" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not target.exists() and not target.parent.exists()
    # a plain new path still works
    fresh = tmp_path / "new.toml"
    assert run_kpitui("init", str(fresh)).returncode == 0 and fresh.is_file()
