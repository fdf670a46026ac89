"""Text typed on a terminal that is not UTF-8 (Latin-1, a pasted binary) reaches ``argv`` as bytes Python keeps as
lone surrogates. ``kpitui annotate`` passed them to SQLite: a ``UnicodeEncodeError`` traceback, exit 1. Now one
line naming the bytes, exit 2, nothing stored; an edit the same."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .conftest import KPITUI, REPO, kpitui_env


def run(*args: str | bytes) -> subprocess.CompletedProcess[str]:
    argv = [os.fsencode(a) if isinstance(a, str) else a for a in (*KPITUI, *args)]
    return subprocess.run(argv, capture_output=True, text=True, env=kpitui_env(), cwd=REPO, timeout=60)


def test_an_annotation_that_is_not_utf8_is_one_line_and_nothing_is_stored(tmp_path: Path):
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[metrics.a]\n'
        '[kpis.k]\nformula = "sum"\nmetrics = ["a"]\n',
        encoding="utf-8",
    )
    bad = run("annotate", b"caf\xe9 \xff\xfe opened", "--kpi", "k", "--config", str(config))
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.splitlines() == [
        "kpitui: an annotation must be UTF-8 text; it holds the bytes b'\\xe9' at character 4 "
        "(set your terminal or file to UTF-8)"
    ], bad.stderr
    listed = run("annotations", "list", "--config", str(config))
    assert listed.returncode == 0 and "no annotations" in listed.stdout, listed.stdout
    good = run("annotate", "café opened", "--kpi", "k", "--config", str(config))
    assert good.returncode == 0, good.stderr
    edit = run("annotations", "edit", "1", b"x\xff", "--config", str(config))
    assert edit.returncode == 2 and "Traceback" not in edit.stderr, edit.stderr
    assert "b'\\xff' at character 2" in edit.stderr, edit.stderr
    listed = run("annotations", "list", "--config", str(config))
    assert "café opened" in listed.stdout, listed.stdout
