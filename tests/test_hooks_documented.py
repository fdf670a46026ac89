"""Every hook in kpitui/hookspecs.py is documented, in the plugin guide, and tested through a plugin.

Adding a hook without a docstring, without a section in plugins/README.md,
or without a test that implements it in a plugin fails here (as datasette's
suite does for its hooks).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from kpitui import hookspecs
from kpitui.plugins import HOOK_NAMES

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "plugins" / "README.md"
HOOKS = sorted(name for name, value in vars(hookspecs).items() if callable(value) and hasattr(value, "kpitui_spec"))


def _test_sources() -> dict[Path, str]:
    files = [*REPO.glob("tests/**/*.py"), *REPO.glob("plugins/*/tests/**/*.py")]
    return {path: path.read_text(encoding="utf-8") for path in files if path.resolve() != Path(__file__).resolve()}


def test_there_are_hooks():
    assert HOOKS == sorted(HOOK_NAMES)  # and the plugin host calls every one of them


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_docstring(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc and len(doc) > 40, f"hook {hook} needs a docstring saying what a plugin returns"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_in_the_plugin_guide(hook):
    guide = GUIDE.read_text(encoding="utf-8")
    assert re.search(rf"^#+ .*`{hook}", guide, re.MULTILINE), f"plugins/README.md needs a section headed with `{hook}`"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_implemented_by_a_plugin_in_a_test(hook):
    implemented = re.compile(rf"hookimpl[^\n]*\n(?:[ \t]*@[^\n]*\n)*[ \t]*def {hook}\(")
    users = [path for path, text in _test_sources().items() if implemented.search(text)]
    assert users, f"no test implements {hook} with @kpitui.hookimpl in a plugin"
