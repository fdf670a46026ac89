"""``kpitui install`` / ``kpitui uninstall``: plugins into kpitui's own environment, like ``llm install``.

``pip`` runs with the interpreter kpitui runs on (``sys.executable -m pip``),
so a plugin lands where kpitui imports from, whether kpitui was installed with
pip, pipx or uv. pip's own output is shown as it comes; its exit code becomes
kpitui's (1 on a failure).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Sequence


class PipMissing(Exception):
    """kpitui's environment has no pip (a pipx or uv tool environment may not)."""


def _pip(args: Sequence[str]) -> int:
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise PipMissing(
            f"pip is not available in kpitui's environment ({sys.executable}); "
            "with pipx: `pipx inject kpitui PACKAGE`, with uv: `uv tool install kpitui --with PACKAGE`"
        )
    return subprocess.call([sys.executable, "-m", "pip", *args])


def install(packages: Sequence[str], editable: Sequence[str] = (), upgrade: bool = False) -> int:
    args = ["install", *(["--upgrade"] if upgrade else []), *packages]
    for path in editable:
        args += ["--editable", path]
    return _pip(args)


def uninstall(packages: Sequence[str]) -> int:
    return _pip(["uninstall", "--yes", *packages])
