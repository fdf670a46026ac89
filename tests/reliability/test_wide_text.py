"""``kpitui report``'s tables line up on a terminal whatever the names hold: 漢字 and 😀 take two columns each, a
combining accent or a zero-width space none, and a control character is shown written out (``\\u001b``, six).

Before: widths were ``len``: a row with a wide name pushed every later column right of its header (2 columns per
wide character), a name with an escape character pulled them 5 columns left once it was written out.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.cells import cell_len  # an independent measure of terminal columns

from .test_literal_text import kpitui

NAMES = {
    "wide": "売上高😀😀",
    "accents": "Cafe\u0301 cre\u0300me\u200b",
    "escape": "K\x1b[31mred",
    "plain": "plain KPI",
}


def write_config(tmp_path: Path) -> Path:
    text = f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n'
    for key, name in NAMES.items():
        text += f"[metrics.m_{key}]\nname = {json.dumps('M ' + name, ensure_ascii=False)}\n"
        text += (
            f'[kpis.k_{key}]\nname = {json.dumps(name, ensure_ascii=False)}\nformula = "sum"\n'
            f'metrics = ["m_{key}"]\nwindow = "trailing_7d"\n'
        )
    path = tmp_path / "kpitui.toml"
    path.write_text(text, encoding="utf-8")
    return path


def starts(lines: list[str], header: str, heading: str, marker: str) -> set[int]:
    """The terminal columns where ``heading`` starts on the header line (the one starting with ``header``) and
    ``marker`` on every row holding it: one value when the column lines up."""
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith(header + " "))
    found = {cell_len(lines[at][: lines[at].index(heading)])}
    for line in lines[at + 1 :]:
        if not line.strip():
            break  # the table's end
        found.add(cell_len(line[: line.index(marker)]))
    return found


def test_report_columns_line_up_in_terminal_columns(tmp_path):
    config = write_config(tmp_path)
    for key in NAMES:
        assert kpitui("record", f"m_{key}", "5", "--config", str(config)).returncode == 0
    for width in (0, 100):
        done = kpitui("report", "--no-collect", "--width", str(width), "--config", str(config))
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert sum("last 7 days" in line for line in lines) == len(NAMES), done.stdout
        assert len(starts(lines, "KPI", "Period", "last 7 days")) == 1, done.stdout
        assert len(starts(lines, "Metric", "Newest reading", "just now")) == 1, done.stdout
        assert "K\\u001b[31mred" in done.stdout
        if width:
            assert all(cell_len(line) <= width for line in lines), [x for x in lines if cell_len(x) > width]
