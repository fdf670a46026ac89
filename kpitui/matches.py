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
    source = cls(spec, config.metrics_of(spec.id), context)
    try:
        tops: dict[str, list[tuple[str, int]]] = source.top_matches(metric_id, start, end, limit)
        return tops
    except NotImplementedError:
        raise CannotSay(f"source {spec.id} ({spec.type}) cannot list what its condition matched") from None
    finally:
        source.close()
