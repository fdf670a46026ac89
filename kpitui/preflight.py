"""Warnings about the world outside the config, for ``kpitui check``: each source type's ``preflight``.

A path that does not exist or cannot be read is not a config error (a log may
appear later), but the user should hear about it before the first collect.
Each enabled source with metrics is asked through
:meth:`kpitui.api.MetricSource.preflight`, under a guard: a plugin's preflight
that raises becomes a warning too.
"""

from __future__ import annotations

from .api import SourceContext
from .config import Config
from .options import redact


def source_warnings(config: Config) -> list[str]:
    """One line per problem: ``source ID (TYPE; metrics a, b): what is wrong``."""
    context = SourceContext(config_dir=config.files_dir, timezone=config.settings.timezone)
    out: list[str] = []
    for sid, spec in config.sources.items():
        metrics = config.metrics_of(sid)
        cls = config.registry.sources.get(spec.type)
        if not spec.enabled or not metrics or cls is None or cls.passive:
            continue
        try:
            problems = [str(p) for p in cls.preflight(spec.options, metrics, context) or []]
        except Exception as exc:  # noqa: BLE001 - a plugin's check must not stop the others
            owner = config.registry.owner("source", spec.type) or "?"
            plugin = "" if owner.startswith("builtin:") else f" (plugin {owner})"
            problems = [f"preflight check failed{plugin}: {type(exc).__name__}: {exc}"]
        names = ", ".join(m.id for m in metrics)
        label = f"source {sid} ({spec.type}; metric{'s' if len(metrics) > 1 else ''} {names})"
        out += [redact(f"{label}: {' '.join(problem.split())}") for problem in problems]
    return out
