"""The plugin contract: the hooks a kpitui plugin may implement.

A plugin is a module (or object) with functions decorated by
``kpitui.hookimpl``, registered through the ``kpitui`` entry-point group,
or a ``.py`` file in the plugins directory. Every plugin contributes: these
hooks are not ``firstresult``. kpitui calls each implementation inside its
own guard, so a plugin that raises is reported and the others keep working.

Built-in sources and formula types are registered through these same hooks
(see :mod:`kpitui.builtin`).
"""

from __future__ import annotations

import pluggy

from .api import FormulaType, MetricSource

hookspec = pluggy.HookspecMarker("kpitui")
hookimpl = pluggy.HookimplMarker("kpitui")


@hookspec
def register_metric_sources() -> list[type[MetricSource]]:
    """Return the metric source types this plugin provides.

    Each is a subclass of :class:`kpitui.api.MetricSource` with a unique
    ``type_name``; users select it with ``type = "<type_name>"`` in a
    ``[sources.ID]`` table. A type name that another plugin already
    registered is rejected and reported against the later plugin.

    Example::

        @kpitui.hookimpl
        def register_metric_sources():
            return [MyPlatformSource]
    """


@hookspec
def register_formula_types() -> list[type[FormulaType]]:
    """Return the KPI formula types this plugin provides.

    Each is a subclass of :class:`kpitui.api.FormulaType` with a unique
    ``type_name``; users select it with ``formula = "<type_name>"`` in a
    ``[kpis.ID]`` table.

    Example::

        @kpitui.hookimpl
        def register_formula_types():
            return [NetPromoterScore]
    """
