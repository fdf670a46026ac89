"""Built-in plugins: kpitui's own sources, formula types and notifiers.

Each module here is an ordinary plugin with ``@kpitui.hookimpl`` functions;
the plugin host registers them through the same hooks as third-party
plugins, each under its own guard.
"""

#: Modules registered as built-in plugins, in order.
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
