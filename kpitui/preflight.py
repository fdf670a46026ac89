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


def written_paths(config: Config, context: SourceContext) -> dict[str, str]:
    """The files enabled sources create as they run (:meth:`kpitui.api.MetricSource.writes`): path -> source id."""
    out: dict[str, str] = {}
    for sid, spec in config.sources.items():
        cls = config.registry.sources.get(spec.type)
        if cls is None or not spec.enabled or not config.metrics_of(sid):
            continue
        try:
            out.update((str(path), sid) for path in cls.writes(spec.options, context) or [])
        except Exception:  # noqa: BLE001 - a plugin's answer is only a courtesy: its paths stay warned about
            continue
    return out


def source_warnings(config: Config, notes: list[str] | None = None) -> list[str]:
    """One line per problem: ``source ID (TYPE; metrics a, b): what is wrong``. A missing file another
    source writes as it runs (the demo's access log) is no problem: a line for it goes to ``notes``."""
    context = SourceContext(config_dir=config.files_dir, timezone=config.settings.timezone)
    written = written_paths(config, context)
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
        for problem in problems:
            writer = next((w for path, w in written.items() if w != sid and path in problem), None)
            if writer is None:
                out.append(redact(f"{label}: {' '.join(problem.split())}"))
            elif notes is not None:
                path = next(path for path, w in written.items() if w == writer and path in problem)
                notes.append(redact(f"source {sid} reads {path}, which source {writer} writes on its first poll"))
    return out
