"""``[storage] path`` pointed at something that is not a kpitui history: one line saying what it is, and the file
left byte for byte as it was (through the real ``kpitui`` script)."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest

from tests.test_plugin_guards import kpitui


def config(tmp_path, store):
    path = tmp_path / "kpitui.toml"
    path.write_text(f'[storage]\npath = "{store.as_posix()}"\n[metrics.a]\nname = "A"\n')
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def another_programs(path, table: str, columns: str) -> None:
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE {table} ({columns})")
    con.commit()
    con.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("readings", "id INTEGER PRIMARY KEY, sensor TEXT, temp REAL"),  # was: "table readings already exists"
        ("metrics", "id INTEGER PRIMARY KEY, label TEXT"),
        ("manual_readings", "x, y"),  # a table only a later schema adds cannot be in an unversioned file
    ],
)
def test_another_programs_sqlite_with_a_table_of_our_names(tmp_path, table, columns):
    store = tmp_path / "their.db"
    another_programs(store, table, columns)
    before = digest(store)
    for command in (("check",), ("report", "--no-collect"), ("record", "a", "5")):
        result = kpitui(*command, "--config", str(config(tmp_path, store)))
        assert result.returncode != 0
        assert "is an SQLite database of another program, not a kpitui history" in result.stderr, result.stderr
        assert f"its table '{table}'" in result.stderr and "Traceback" not in result.stderr
        assert "already exists" not in result.stderr
    assert digest(store) == before  # not even switched to WAL
    assert not os.path.exists(f"{store}-wal")


@pytest.mark.slow
@pytest.mark.parametrize("content", [os.urandom(5000), b"hello, I am a text file\n", b"\x00" * 100])
def test_a_file_that_is_not_sqlite_at_all(tmp_path, content):
    store = tmp_path / "notes.txt"
    store.write_bytes(content)
    for command in (("check",), ("report", "--no-collect"), ("record", "a", "5")):
        result = kpitui(*command, "--config", str(config(tmp_path, store)))
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "is not an SQLite database" in result.stderr and "damaged" not in result.stderr, result.stderr
    assert store.read_bytes() == content


def test_a_folder(tmp_path):
    store = tmp_path / "folder.db"
    store.mkdir()
    for command in (("check",), ("record", "a", "5")):
        result = kpitui(*command, "--config", str(config(tmp_path, store)))
        assert result.returncode != 0 and "is a folder, not a file" in result.stderr, result.stderr
    assert list(store.iterdir()) == []


def test_an_empty_file_and_a_new_path_become_histories(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    for store in (empty, tmp_path / "new.db"):
        result = kpitui("record", "a", "5", "--config", str(config(tmp_path, store)))
        assert result.returncode == 0, result.stderr
