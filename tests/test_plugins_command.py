"""``kpitui plugins`` and ``check`` for plugin authors and CI (issue 16): --strict, broken configs, distributions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def kpitui(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    script = str(Path(sys.executable).with_name("kpitui"))
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=os.environ.copy())


@pytest.fixture
def folder(tmp_path) -> Path:
    plugins = tmp_path / "my plugins"
    plugins.mkdir()
    (plugins / "crm.py").write_text(
        "import kpitui\nfrom kpitui.api import MetricSource\n\n"
        "class Deals(MetricSource):\n    type_name = 'crm_deals'\n    description = 'Deals won.'\n\n"
        "@kpitui.hookimpl\ndef register_metric_sources():\n    return [Deals]\n"
    )
    return plugins


def config(tmp_path: Path, plugins: Path, body: str = "[metrics.a]\n") -> Path:
    path = tmp_path / "kpitui.toml"
    path.write_text(f'[storage]\npath = "{tmp_path / "h.sqlite3"}"\n[plugins]\ndirs = ["{plugins.name}"]\n{body}')
    return path


@pytest.mark.slow
def test_strict_makes_a_plugin_error_a_failure_for_plugins_and_check(tmp_path, folder):
    path = config(tmp_path, folder)
    assert kpitui("plugins", "--strict", "--config", str(path)).returncode == 0
    assert kpitui("check", "--strict", "--config", str(path)).returncode == 0
    (folder / "broken.py").write_text("import kpitui_missing_dependency\n")
    for command in ("plugins", "check"):
        lenient = kpitui(command, "--config", str(path))
        assert lenient.returncode == 0, lenient.stderr
        strict = kpitui(command, "--strict", "--config", str(path))
        assert strict.returncode == 1, (command, strict.stdout, strict.stderr)
        assert "broken" in strict.stdout + strict.stderr
        assert "Traceback" not in strict.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "body, error",
    [
        ("[kpis.x]\nformula = 'nope'\n", "'nope'"),  # found after the plugins loaded
        ("[kpis.x\n", "invalid TOML"),  # found before: the folders are read leniently
        ("[kpitui]\ntimezone = 'Mars/Olympus'\n", "Mars/Olympus"),
    ],
)
def test_plugins_lists_the_configs_folder_plugins_even_when_the_config_is_broken(tmp_path, folder, body, error):
    path = config(tmp_path, folder, body)
    listing = kpitui("plugins", "--config", str(path), cwd=tmp_path.parent)
    assert listing.returncode == 0
    assert "crm  (plugins dir) — ok" in listing.stdout and "source  crm_deals" in listing.stdout
    assert "config error" in listing.stderr and error in listing.stderr
    data = json.loads(kpitui("plugins", "--format", "json", "--config", str(path)).stdout)
    assert "crm" in {p["name"] for p in data["plugins"]} and error in data["config_error"]
    assert kpitui("plugins", "--strict", "--config", str(path)).returncode == 1


def test_an_installed_plugin_shows_its_distribution():
    # kpitui-nps is installed into the test environment (pip install -e plugins/kpitui-nps).
    listing = kpitui("plugins")
    assert "kpitui-nps 0.1.0 (entry point nps) — ok" in listing.stdout
    data = json.loads(kpitui("plugins", "--format", "json").stdout)
    nps = next(p for p in data["plugins"] if p["name"] == "nps")
    assert nps["distribution"] == "kpitui-nps" and nps["version"] == "0.1.0"
