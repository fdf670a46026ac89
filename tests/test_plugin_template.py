"""`kpitui plugin new NAME` writes a plugin package whose own tests pass as written (issue 16).

No network: the package is importable through PYTHONPATH, and a dist-info
beside it (what pip would write) registers its entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

SCRIPT = str(Path(sys.executable).with_name("kpitui"))


@pytest.mark.slow
def test_a_new_plugin_package_passes_its_own_tests_and_registers(tmp_path):
    made = subprocess.run(
        [SCRIPT, "plugin", "new", "shop-events", "--dir", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    root = tmp_path / "kpitui-shop-events"
    for rel in (
        "pyproject.toml",
        "kpitui_shop_events/__init__.py",
        "kpitui_shop_events/source.py",
        "kpitui_shop_events/formula.py",
        "tests/test_shop_events.py",
        "README.md",
        ".github/workflows/tests.yml",
    ):
        assert (root / rel).is_file(), rel
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "kpitui-shop-events"
    assert project["project"]["entry-points"]["kpitui"] == {"shop_events": "kpitui_shop_events"}
    assert "kpitui" in project["project"]["keywords"]

    site = tmp_path / "site"
    info = site / "kpitui_shop_events-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kpitui-shop-events\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[kpitui]\nshop_events = kpitui_shop_events\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(site)])}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "4 passed" in tests.stdout, tests.stdout[-2000:]  # the entry-point test ran too, none skipped

    listing = subprocess.run([SCRIPT, "plugins", "--strict"], capture_output=True, text=True, timeout=60, env=env)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert "kpitui-shop-events 0.1.0 (entry point shop_events) — ok" in listing.stdout
    assert "source  shop_events_events" in listing.stdout and "formula shop_events_rate" in listing.stdout


def test_plugin_new_refuses_a_bad_name_or_an_existing_folder(tmp_path):
    bad = subprocess.run(
        [SCRIPT, "plugin", "new", "9 lives", "--dir", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "lower-case letters" in bad.stderr
    (tmp_path / "kpitui-crm").mkdir()
    again = subprocess.run(
        [SCRIPT, "plugin", "new", "crm", "--dir", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 2 and "already exists" in again.stderr
