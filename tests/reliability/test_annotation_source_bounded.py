"""An annotation source plugin is read under the plugins' time limit, like every other plugin call.

Before: one whose ``annotations()`` hung held ``kpitui report`` for good (seen: still running at 40 s), and one
raising ``KeyboardInterrupt`` or ``SystemExit(4)`` ended the report with exit 130 or 4 and no output at all.
Now each is one warning line naming the source, and the report comes with its numbers.
"""

from __future__ import annotations

import json

import pytest

from .conftest import kpitui_env, run_kpitui

PLUGIN = """
import itertools
import time
from dataclasses import dataclass

import kpitui
from kpitui.api import AnnotationSource

@dataclass(frozen=True)
class Options:
    kind: str = "hang"

class Notes(AnnotationSource):
    type_name = "odd_notes"
    Options = Options

    def annotations(self, start, end):
        if self.options.kind == "hang":
            time.sleep(600)
        if self.options.kind == "spin":
            while True:
                pass
        if self.options.kind == "ctrlc":
            raise KeyboardInterrupt
        if self.options.kind == "exit":
            raise SystemExit(4)
        if self.options.kind == "endless":
            return itertools.repeat(None)
        return []

@kpitui.hookimpl
def register_annotation_sources():
    return [Notes]
"""

SAID = {
    "hang": "annotation source n: PluginTimeout: did not finish within 2s",
    "spin": "annotation source n: PluginTimeout: did not finish within 2s",
    "ctrlc": "annotation source n: BaseExceptionRaised: KeyboardInterrupt",
    "exit": "annotation source n: BaseExceptionRaised: SystemExit: 4",
}


def _report_beside(tmp_path, kind: str, *, timeout: int):
    """``kpitui report`` over one recorded reading (a = 7) beside the plugin's annotation source of ``kind``, its
    time limit ``timeout`` seconds: the run (exit 0, the KPI's value 7 whatever the source did) and the lines
    of its standard error naming the source."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "notes.py").write_text(PLUGIN, encoding="utf-8")
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[plugins]\ndirs = ["plugins"]\n'
        '[metrics.a]\n[kpis.k]\nformula = "sum"\nmetrics = ["a"]\n'
        f'[annotation_sources.n]\ntype = "odd_notes"\nkind = "{kind}"\n',
        encoding="utf-8",
    )
    assert run_kpitui("record", "a", "7", "--config", str(config)).returncode == 0
    env = kpitui_env(KPITUI_PLUGIN_TIMEOUT=str(timeout))
    done = run_kpitui("report", "--no-collect", "--format", "json", "--config", str(config), env=env, timeout=90)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert [k["value"] for k in json.loads(done.stdout)["kpis"]] == [7.0]
    return done, [line for line in done.stderr.splitlines() if "annotation source n" in line]


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(SAID))
def test_a_stuck_or_exiting_annotation_source_is_one_warning_and_the_report_comes(tmp_path, kind):
    done, said = _report_beside(tmp_path, kind, timeout=2)
    assert len(said) == 1 and SAID[kind] in said[0], done.stderr
    assert "Traceback" not in done.stderr


def test_an_annotation_source_returning_an_endless_iterator_is_one_warning(tmp_path):
    """``annotations()`` returning an endless iterator was listed by ``list()``, in C, holding the GIL: the plugin
    time limit never fired and ``kpitui report`` grew until the OOM killer ended it (exit -9, no output; the
    machine's 24 GB gone). Now it is listed 100,000 deep and skipped with one warning."""
    done, said = _report_beside(tmp_path, "endless", timeout=1)
    assert len(said) == 1 and "more than 100,000 annotations" in said[0], done.stderr
