"""`kpitui init` shows each installed plugin's example() for its sources, metrics and formulas (issue 16)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from kpitui import options as opts
from kpitui.plugins import load_registry
from kpitui.starter import starter_config


def kpitui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("kpitui")), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def test_init_shows_an_example_metric_and_kpi_for_every_installed_type(tmp_path):
    target = tmp_path / "kpitui.toml"
    assert kpitui("init", str(target)).returncode == 0
    text = target.read_text()
    registry = load_registry()
    for type_name in registry.sources:
        if type_name not in ("demo", "manual"):
            assert f"[sources.my_{type_name}]" in text and f"# [metrics.my_{type_name}_metric]" in text, type_name
    for type_name in registry.formulas:
        assert f'formula = "{type_name}"' in text, type_name
    assert '# category = "promoters"' in text  # kpitui-nps's own example, from the installed plugin


def test_every_example_metric_is_valid_when_uncommented(tmp_path):
    text = starter_config()
    block = text.split("--- examples from the installed plugins", 1)[1].split("# --- alerts", 1)[0]
    metrics = block.split("# [kpis.", 1)[0]
    uncommented = "\n".join(line[2:] if line.startswith("# ") else "" for line in metrics.splitlines()[4:])
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        + text.split("\n", 1)[1].split("\n# --- examples", 1)[0]
        + "\n"
        + uncommented
    )
    check = kpitui("check", "--config", str(config))
    assert check.returncode == 0, check.stderr
    assert len(re.findall(r"^\[metrics\.my_", uncommented, re.M)) >= 7


def test_every_example_kpis_options_parse():
    registry = load_registry()
    for type_name, cls in registry.formulas.items():
        example = cls.example() or {}
        keys = {k: v for k, v in example.items() if k not in ("window", "unit", "name", "target")}
        opts.parse(cls.Options, keys, extra_known=("window", "unit", "name", "target"))
