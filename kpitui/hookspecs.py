"""The plugin contract: the hooks a kpitui plugin may implement.

A plugin is a module (or object) with functions decorated by
``kpitui.hookimpl``, registered through the ``kpitui`` entry-point group,
or a ``.py`` file in the plugins directory. Every plugin contributes: these
hooks are not ``firstresult``. kpitui calls each implementation inside its
own guard, so a plugin that raises is reported and the others keep working.

Built-in sources, formula types and notifiers are registered through these same hooks
(see :mod:`kpitui.builtin`).
"""

from __future__ import annotations

import pluggy

from .api import AnnotationSource, FormulaType, MetricSource, Notifier

hookspec = pluggy.HookspecMarker("kpitui")


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
    raise NotImplementedError  # a specification: pluggy calls the plugins' implementations, never this


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
    raise NotImplementedError  # a specification: pluggy calls the plugins' implementations, never this


@hookspec
def register_notifiers() -> list[type[Notifier]]:
    """Return the notifier types this plugin provides (alert and digest delivery).

    Each is a subclass of :class:`kpitui.api.Notifier` with a unique
    ``type_name``; users select it with ``type = "<type_name>"`` in a
    ``[notifiers.ID]`` table, and alerts (``[alerts.ID] notify = ["ID"]``)
    and digests send through it. ``send`` receives a
    :class:`kpitui.api.Notification` and raises when delivery failed; kpitui
    retries with back-off, in a thread of its own, so a slow or failing
    notifier never delays collecting or the other notifiers.

    Example::

        @kpitui.hookimpl
        def register_notifiers():
            return [PagerNotifier]
    """
    raise NotImplementedError  # a specification: pluggy calls the plugins' implementations, never this


@hookspec
def register_annotation_sources() -> list[type[AnnotationSource]]:
    """Return the annotation source types this plugin provides (dated notes read from elsewhere).

    Each is a subclass of :class:`kpitui.api.AnnotationSource` with a unique
    ``type_name``; users select it with ``type = "<type_name>"`` in an
    ``[annotation_sources.ID]`` table. ``annotations(start, end)`` returns
    :class:`kpitui.api.Note` items (deploys, campaigns, outages) that kpitui
    shows beside the ones typed with ``kpitui annotate``: on the detail
    chart and in ``report`` and ``series`` JSON (with ``source`` = the
    table's id). They are read when shown, never stored.

    Example::

        @kpitui.hookimpl
        def register_annotation_sources():
            return [DeploysSource]
    """
    raise NotImplementedError  # a specification: pluggy calls the plugins' implementations, never this
