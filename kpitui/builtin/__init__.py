"""Built-in plugins: kpitui's own sources, formula types and notifiers.

Each module here is an ordinary plugin with ``@kpitui.hookimpl`` functions;
the plugin host registers them through the same hooks as third-party
plugins, each under its own guard.
"""

#: Modules registered as built-in plugins, in order. Each is imported (and registered through the hooks)
#: when one of its types is first asked for (:class:`kpitui.plugins.TypeTable`): the first frame does not
#: wait for the types a config does not name.
MODULES: tuple[str, ...] = (
    "kpitui.builtin.formulas",
    "kpitui.builtin.analytics",
    "kpitui.builtin.demo",
    "kpitui.builtin.demo_site",
    "kpitui.builtin.manual",
    "kpitui.builtin.access_log",
    "kpitui.builtin.file",
    "kpitui.builtin.sql",
    "kpitui.builtin.http",
    "kpitui.builtin.command",
    "kpitui.builtin.prometheus",
    "kpitui.builtin.notifiers",
    "kpitui.builtin.annotation_csv",
)

#: The types each module's hooks register, by kind (``source``, ``formula``, ``notifier``,
#: ``annotation source``): what a config and ``kpitui plugins`` know before the module is imported.
#: ``tests/test_plugins.py`` checks it against what the hooks return.
TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "kpitui.builtin.formulas": {"formula": ("sum", "ratio", "difference", "mean", "expression")},
    "kpitui.builtin.analytics": {
        "formula": ("growth", "cumulative", "funnel", "percentile", "weighted_sum", "weighted_mean")
    },
    "kpitui.builtin.demo": {"source": ("demo",)},
    "kpitui.builtin.demo_site": {"annotation source": ("demo",)},
    "kpitui.builtin.manual": {"source": ("manual",)},
    "kpitui.builtin.access_log": {"source": ("access_log",)},
    "kpitui.builtin.file": {"source": ("file",)},
    "kpitui.builtin.sql": {"source": ("sql",)},
    "kpitui.builtin.http": {"source": ("http",)},
    "kpitui.builtin.command": {"source": ("command",)},
    "kpitui.builtin.prometheus": {"source": ("prometheus",)},
    "kpitui.builtin.notifiers": {"notifier": ("webhook", "command", "email", "apprise")},
    "kpitui.builtin.annotation_csv": {"annotation source": ("csv",)},
}
