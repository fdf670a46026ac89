"""Every command, not only ``check``, on generated and mutated configs: exit 0, 1 or 2, never a traceback; a
usage or config mistake (2) is one ``kpitui: ...`` line.

The generators are those of :mod:`test_bad_input` (random tables from kpitui's vocabulary and junk; line and
byte mutations of the bundled sample, here with 5 days of demo history so a poll stays short). Each example
runs one command drawn from ``report`` (table, JSON, Markdown, HTML, ``--explain``), ``series``,
``collect --once``, ``alerts``, ``matches``, ``readings``, ``annotations`` and ``compact --dry-run``,
in-process. A few examples run by default; ``--run-slow`` (or ``KPITUI_RUN_SLOW=1``) runs the soak
(``KPITUI_FUZZ_EXAMPLES``, default 600, per generator).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from kpitui import cli

from . import test_bad_input as gen

SAMPLE = gen.SAMPLE.replace("history_days = 400", "history_days = 5")
COMMANDS = [
    ["report", "--no-collect"],
    ["report", "--no-collect", "--format", "json"],
    ["report", "--no-collect", "--format", "html"],
    ["report", "--no-collect", "--format", "markdown"],
    ["report", "--no-collect", "--explain"],
    ["report"],
    ["series", "lead_generation", "--format", "json"],
    ["series", "newsletter_signups"],
    ["collect", "--once"],
    ["alerts"],
    ["alerts", "--format", "json"],
    ["matches", "newsletter_signups"],
    ["readings", "list"],
    ["annotations", "list"],
    ["compact", "--dry-run"],
]
TRIED: Counter = Counter()


def run(data: bytes, command: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kpitui.toml"
        if b"[storage]" not in data:  # never the user's real history
            data = f'[storage]\npath = "{(Path(tmp) / "h.sqlite3").as_posix()}"\n'.encode() + data
        path.write_bytes(data)
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                code = cli.main([*command, "--config", str(path)])
            except SystemExit as exc:  # argparse only
                code = exc.code
    stderr = err.getvalue()
    assert code in (0, 1, 2), f"{command}: exit {code}\n{stderr}\n{data[:400]!r}"
    assert "Traceback" not in stderr, f"{command}:\n{stderr}\n{data[:400]!r}"
    if code == 2:
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("kpitui: "), f"{command}: not one line:\n{stderr}"
    TRIED[f"{command[0]}_exit_{code}"] += 1


def _settings(examples: int):
    return settings(
        deadline=None,
        max_examples=examples,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )


SOAK = int(os.environ.get("KPITUI_FUZZ_EXAMPLES", "600"))


@pytest.fixture(autouse=True)
def _mild_sample(monkeypatch):
    monkeypatch.setattr(gen, "SAMPLE", SAMPLE)


@_settings(12)
@given(data=gen.mutated_sample(), command=st.sampled_from(COMMANDS))
def test_commands_on_mutated_samples(data, command):
    run(data, command)


@_settings(12)
@given(document=gen.CONFIGS, command=st.sampled_from(COMMANDS))
def test_commands_on_random_configs(document, command):
    run(gen.toml_document(document).encode("utf-8"), command)


@pytest.mark.slow
@_settings(SOAK)
@given(data=gen.mutated_sample(), document=gen.CONFIGS, command=st.sampled_from(COMMANDS))
def test_command_fuzz_soak(data, document, command):
    run(data, command)
    run(gen.toml_document(document).encode("utf-8"), command)


def test_command_fuzz_figures(figures):
    """What the command fuzzers above tried in this run."""
    figures(**dict(TRIED))
