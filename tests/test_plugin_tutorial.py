"""The plugin guide's tutorial, followed verbatim from a scratch folder (issue 16).

Every ``File `path`:`` block of plugins/README.md is written as it stands; the
package is made importable with PYTHONPATH and registered by a dist-info (what
``pip install -e`` would write; no network); then the tutorial's own tests and
commands run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "plugins" / "README.md"
SCRIPT = str(Path(sys.executable).with_name("kpitui"))


def tutorial_files() -> dict[str, str]:
    return dict(re.findall(r"^File `([^`]+)`:\n\n```\w+\n(.*?)\n```", GUIDE.read_text(), re.S | re.M))


@pytest.mark.slow
def test_the_tutorial_runs_verbatim(tmp_path):
    files = tutorial_files()
    assert {
        "kpitui-contracts/pyproject.toml",
        "kpitui-contracts/kpitui_contracts/__init__.py",
        "kpitui-contracts/tests/test_contracts.py",
        "demo/kpitui.toml",
    } <= set(files)
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")

    project = tomllib.loads(files["kpitui-contracts/pyproject.toml"])["project"]
    ((entry, module),) = project["entry-points"]["kpitui"].items()
    site = tmp_path / "site"
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text(f"[kpitui]\n{entry} = {module}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "kpitui-contracts"), str(site)])}

    # step 3: kpitui plugins lists it, as the guide shows
    listing = subprocess.run([SCRIPT, "plugins", "--strict"], capture_output=True, text=True, timeout=120, env=env)
    shown = re.search(r"^```\n(kpitui-contracts .*?)\n```", GUIDE.read_text(), re.S | re.M).group(1)
    for line in shown.splitlines():
        assert line.strip() in listing.stdout, (line, listing.stdout)

    # step 4: the demo
    (tmp_path / "demo" / "signed").mkdir()
    (tmp_path / "demo" / "signed" / "acme.pdf").touch()
    (tmp_path / "demo" / "signed" / "globex.pdf").touch()
    config = str(tmp_path / "demo" / "kpitui.toml")
    check = subprocess.run(
        [SCRIPT, "check", "--config", config], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert check.returncode == 0, check.stderr
    report = subprocess.run(
        [SCRIPT, "report", "--width", "0", "--config", config],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert report.returncode == 0, report.stderr
    assert "Retainers signed this month" in report.stdout
    row = next(line for line in report.stdout.splitlines() if "Retainers signed this month" in line)
    assert re.search(r"\b2\b", row), row  # the two files saved today

    # step 5: the tutorial's tests pass
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "kpitui-contracts"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "3 passed" in tests.stdout, tests.stdout[-1000:]
