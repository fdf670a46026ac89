"""What a metric's trigger condition matched: for ``kpitui matches METRIC`` (:mod:`kpitui.commands.matches`) and the
metric detail view.

For a metric whose source evaluates a condition over events (``access_log``):
the most frequent paths, referrers and agents among the matching lines of a
period, through the source's optional ``top_matches`` (see
:meth:`kpitui.api.MetricSource.top_matches`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

DEFAULT_LIMIT = 10


class CannotSay(Exception):
    """The metric's source cannot say what its condition matched (the message says why)."""


def top_matches(
    config: Any, metric_id: str, start: dt.datetime, end: dt.datetime, limit: int = DEFAULT_LIMIT
) -> dict[str, list[tuple[str, int]]]:
    """Per field, the most frequent values among the events ``metric_id``'s condition matched in ``[start, end)``."""
    from .api import SourceContext

    metric = config.metrics[metric_id]
    spec = config.sources.get(metric.source or "")
    if spec is None or metric.trigger is None or not metric.trigger.condition:
        raise CannotSay(
            f"{metric.name} has no trigger condition over events (its readings come from {metric.source or 'hand'})"
        )
    cls = config.registry.sources[spec.type]
    context = SourceContext(
        config_dir=config.files_dir, timezone=config.settings.timezone, history_path=config.storage.path
    )
    owner = config.registry.owner("source", spec.type)
    if owner is None or owner.startswith("builtin:"):
        source = cls(spec, config.metrics_of(spec.id), context)
        try:
            tops: dict[str, list[tuple[str, int]]] = source.top_matches(metric_id, start, end, limit)
            return tops
        except NotImplementedError:
            raise CannotSay(f"source {spec.id} ({spec.type}) cannot list what its condition matched") from None
        finally:
            source.close()
    return _plugin_top_matches(cls, spec, config.metrics_of(spec.id), context, owner, metric_id, start, end, limit)


def _plugin_top_matches(
    cls: Any, spec: Any, metrics: Any, context: Any, owner: str, metric_id: str, *asked: Any
) -> dict[str, list[tuple[str, int]]]:
    """A plugin source's ``top_matches``: its constructor and ``top_matches`` each under the plugins' time limit
    (``KPITUI_PLUGIN_TIMEOUT``), its ``close()`` under the time every ``close()`` gets; one that hangs or fails
    is one line naming the plugin (:class:`CannotSay`), not a command that never ends or a traceback."""
    from .fetching import CLOSE_SECONDS, close_all
    from .options import exc_text
    from .plugins import PluginTimeout, bounded, plugin_timeout

    what = f"source {spec.id} ({spec.type}, plugin {owner})"
    try:
        source = bounded(lambda: cls(spec, metrics, context), plugin_timeout())
    except PluginTimeout as exc:
        raise CannotSay(f"{what} did not start: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a plugin's constructor must not be a traceback
        raise CannotSay(f"{what} did not start: {type(exc).__name__}: {exc_text(exc)}") from None
    try:
        tops: dict[str, list[tuple[str, int]]] = bounded(
            lambda: source.top_matches(metric_id, *asked), plugin_timeout()
        )
        return tops
    except NotImplementedError:
        raise CannotSay(f"{what} cannot list what its condition matched") from None
    except PluginTimeout as exc:
        raise CannotSay(f"{what} could not list what its condition matched: {exc}") from None
    except Exception as exc:  # noqa: BLE001
        failed = f"{type(exc).__name__}: {exc_text(exc)}"
        raise CannotSay(f"{what} could not list what its condition matched: {failed}") from None
    finally:
        if close_all({spec.id: source}):
            import logging

            logging.getLogger(__name__).warning("%s did not close within %g s; left running", what, CLOSE_SECONDS)
