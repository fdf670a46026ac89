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


def test_readings_list_columns_line_up_in_terminal_columns(tmp_path):
    """A 売上 metric id and a 円 currency take two columns a character: by len, the Value column stood 2-4 left."""
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ncurrency = "円"\n[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n'
        '[metrics."売上高"]\nunit = "currency"\n[metrics.plain]\nunit = "count"\n[metrics.esc]\nunit = "count"\n',
        encoding="utf-8",
    )
    for metric, value in (("売上高", "1234"), ("plain", "5"), ("esc", "12345678")):
        assert kpitui("record", metric, value, "--config", str(config)).returncode == 0
    done = kpitui("readings", "list", "--config", str(config))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()[:4]
    assert lines[0].startswith("ID") and "円1,234" in done.stdout, done.stdout
    ends = {cell_len(line) for line in lines}  # the Value column right-aligned: every line ends in one column
    assert len(ends) == 1, done.stdout
    assert len({cell_len(line[: line.index(m)]) for line, m in zip(lines, ("Metric", "esc", "plain", "売上高"))}) == 1


def test_plugins_list_descriptions_line_up_in_terminal_columns(tmp_path):
    """A plugin type named in 漢字 took two columns a character: by len its description stood right of the others'."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "wide.py").write_text(
        "import kpitui\nfrom kpitui.api import MetricSource\n\n"
        "class Wide(MetricSource):\n    type_name = '売上'\n    description = 'WIDE: sales.'\n\n"
        "class Narrow(MetricSource):\n    type_name = 'crm'\n    description = 'NARROW: deals.'\n\n"
        "@kpitui.hookimpl\ndef register_metric_sources():\n    return [Wide, Narrow]\n",
        encoding="utf-8",
    )
    config = tmp_path / "kpitui.toml"
    config.write_text('[plugins]\ndirs = ["plugins"]\n[metrics.a]\n', encoding="utf-8")
    done = kpitui("plugins", "--config", str(config))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "WIDE" in line or "NARROW" in line or "formula sum " in line]
    assert len(lines) == 3, done.stdout
    assert len({cell_len(line[: line.index(m)]) for line, m in zip(lines, ("The sum", "WIDE", "NARROW"))}) == 1
