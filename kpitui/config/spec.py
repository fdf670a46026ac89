"""What a loaded config is: :class:`Config` and its :class:`Storage`, and :class:`ConfigError`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import options as opts
from ..logs import LogFile
from ..model import Kpi, Metric, Objective, Settings, SourceSpec
from ..plugins import Registry


class ConfigError(Exception):
    """One clear message about a config mistake."""

    registry: Registry | None = None  # the plugins loaded before the mistake was found, if any

    def __init__(self, file: str, table: str | None, message: str):
        self.file = file
        self.table = table
        self.message = message
        where = f"[{table}] " if table else ""
        super().__init__(f"{file}: {where}{message}")


@dataclass(frozen=True)
class Storage:
    path: Path
    raw_retention_days: int | None = None
    downsample_to: str = "hour"
    #: ``path`` is the config's own default (no ``[storage] path``): see :mod:`kpitui.location`
    default: bool = False
    #: metrics down-sampled even though a KPI needs their raw readings (see :mod:`kpitui.retention`)
    downsample_anyway: tuple[str, ...] = ()
    #: a PostgreSQL history shared by several collectors (``postgresql://...``, a Secret), else ``None``: see
    #: :mod:`kpitui.postgres_store`; ``path`` then only holds local side files (alert state)
    url: opts.Secret | None = None
    #: this collector's name in a shared history (default: the host name)
    instance: str = ""


@dataclass
class Config:
    """A loaded, validated config."""

    path: Path
    origin: str  # how it was found: "--config", "./kpitui.toml", "user config", "bundled sample"
    settings: Settings
    storage: Storage
    sources: dict[str, SourceSpec]
    metrics: dict[str, Metric]
    kpis: dict[str, Kpi]
    objectives: dict[str, Objective]
    registry: Registry
    keymap: dict[str, str] = field(default_factory=dict)
    ui: dict[str, Any] = field(default_factory=dict)
    plugins_dirs: list[Path] = field(default_factory=list)
    #: the one-time notice :func:`kpitui.location.settle` gave when this config's own history was created
    history_notice: str | None = None
    # alerting (kpitui.config.alerting): [notifiers.ID], [alerts.ID], [digests.ID]
    notifiers: dict[str, Any] = field(default_factory=dict)
    alerts: dict[str, Any] = field(default_factory=dict)
    digests: dict[str, Any] = field(default_factory=dict)
    #: ``[logging]``: a rotating log file for ``kpitui collect`` (None: the terminal only)
    logging: LogFile | None = None
    #: [serve]: the browser's token and users (kpitui.serve_auth.ServeConfig); None when the table is absent
    serve: Any = None
    #: [annotation_sources.ID]: annotations read from elsewhere (kpitui.annotations.AnnotationSourceSpec)
    annotation_sources: dict[str, Any] = field(default_factory=dict)

    @property
    def is_sample(self) -> bool:
        return self.origin == "bundled sample"

    @property
    def files_dir(self) -> Path:
        """Where the config's relative paths (a log, a CSV) resolve: see :func:`kpitui.config.files.files_dir`."""
        from .files import files_dir

        return files_dir(self.path, self.origin)

    def metrics_of(self, source_id: str) -> list[Metric]:
        return [m for m in self.metrics.values() if m.source == source_id]
