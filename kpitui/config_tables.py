"""kpitui's own config tables, declared as dataclasses like a plugin's ``Options``.

The config loader (:mod:`kpitui.config`) parses each of these with the same
:func:`kpitui.options.parse` as plugin options: the keys a table takes, their
types and defaults are declared here once. What cannot be said by a type
(a time zone that exists, a duration, a weekday name, cross-field rules) is
checked by the loader, or by a table's ``validate()``.

A source's, metric's or KPI's own table mixes kpitui's keys (declared here)
with its plugin's options: the keys declared here are kpitui's, the rest go to
the plugin's ``Options``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .options import OptionError


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass(frozen=True)
class ConfigFile:
    """The tables a config file may hold (each is parsed by its own loader)."""

    kpitui: Any = None
    storage: Any = None
    plugins: Any = None
    sources: Any = None
    metrics: Any = None
    kpis: Any = None
    objectives: Any = None
    keymap: Any = None
    ui: Any = None
    notifiers: Any = None
    alerts: Any = None
    digests: Any = None
    logging: Any = None
    serve: Any = None
    annotation_sources: Any = None


@dataclass(frozen=True)
class SettingsTable:
    """``[kpitui]``: the calendar and display settings."""

    timezone: str = _help("IANA time zone the periods are cut in", default="UTC")
    week_start: Any = _help("first day of the week, a weekday name", default="monday")
    fiscal_year_start: Any = _help("first month of the fiscal year, 1-12 or a month name", default=1)
    currency: str = _help("symbol shown with currency values", default="$")


@dataclass(frozen=True)
class StorageTable:
    """``[storage]``: where the history lives and how long raw readings are kept."""

    path: str | None = _help("the history file (default: beside the config)", default=None)
    raw_retention_days: Any = _help("days (or a duration such as 13w) raw readings are kept", default=None)
    downsample_to: Literal["hour", "day"] = _help("what older readings become", default="hour")
    downsample_anyway: list[str] = _help("metrics down-sampled even though a KPI needs them raw", default_factory=list)
    #: a Secret, converted by the loader (so a wrong type reads "url must be a string")
    url: Any = _help("a PostgreSQL history shared by several collectors (postgresql://...)", default=None)
    instance: str | None = _help("this collector's name in a shared history (default: the host name)", default=None)


@dataclass(frozen=True)
class PluginsTable:
    """``[plugins]``."""

    dirs: list[str] = _help("folders of plugins to load", default_factory=list)


@dataclass(frozen=True)
class UiTable:
    """``[ui]``."""

    theme: str | None = _help("a Textual theme", default=None)
    refresh_seconds: Any = _help("how often the dashboard re-reads the history (a duration)", default=None)


@dataclass(frozen=True)
class LoggingTable:
    """``[logging]``: a rotating log file for ``kpitui collect``."""

    file: str | None = _help("where the collector's log goes", default=None)
    max_mb: float = _help("size of one log file", default=10.0)
    backups: int = _help("rotated files kept", default=5)

    def validate(self) -> None:
        if self.max_mb <= 0 or self.backups < 0:
            raise OptionError("max_mb must be positive and backups 0 or more")


@dataclass(frozen=True)
class SourceTable:
    """kpitui's keys of a ``[sources.ID]`` table (the rest are the source type's options)."""

    type: str = _help("the source type")
    interval: Any = _help("how often it is polled (a duration)", default=None)
    timeout: Any = _help("how long one poll may take (a duration)", default=None)
    enabled: bool = _help("false: configured but not polled", default=True)
    description: str = _help("what it is", default="")


@dataclass(frozen=True)
class MetricTable:
    """kpitui's keys of a ``[metrics.ID]`` table (the rest are its source type's metric options)."""

    name: str | None = None
    unit: str | None = None
    aggregation: str | None = None
    source: str | None = None
    trigger: str | None = None
    condition: str | None = None
    description: str = ""
    decimals: int | None = None
    allow_negative: bool = False


@dataclass(frozen=True)
class KpiTable:
    """kpitui's keys of a ``[kpis.ID]`` table (the rest are its formula type's options)."""

    name: str | None = None
    formula: str | None = None
    window: str | None = None
    grain: str | None = None
    unit: str | None = None
    description: str = ""
    target: Any = None
    thresholds: Any = None
    weight: float = 1.0
    decimals: int | None = None
    objective: str | None = None


@dataclass(frozen=True)
class TargetTable:
    """A KPI's ``target`` as a table (a bare number is a ``reach`` target)."""

    kind: str | None = _help("reach, above, below or within", default=None)
    direction: str | None = _help("up, down or within (instead of kind)", default=None)
    value: Any = None
    baseline: Any = None
    low: Any = None
    high: Any = None
    due: Any = _help("a TOML date: a one-off target", default=None)


@dataclass(frozen=True)
class ThresholdsTable:
    """A KPI's or objective's ``thresholds``: the scores at which it is on track and at risk."""

    on_track: float = 0.7
    at_risk: float = 0.4

    def validate(self) -> None:
        if not 0 <= self.at_risk <= self.on_track <= 1:
            raise OptionError("need 0 <= at_risk <= on_track <= 1")


@dataclass(frozen=True)
class ObjectiveTable:
    """``[objectives.ID]``."""

    title: str | None = None
    description: str = ""
    kpis: list[str] = field(default_factory=list)
    thresholds: Any = field(default_factory=dict)


@dataclass(frozen=True)
class NotifierTable:
    """kpitui's keys of a ``[notifiers.ID]`` table (the rest are the notifier type's options)."""

    type: str = _help("the notifier type")
    timeout: Any = _help("how long one delivery may take (a duration)", default=None)
    quiet_hours: str | None = _help(
        "HH:MM-HH:MM in the config's time zone: hold notifications until it ends", default=None
    )
    description: str = _help("what it is", default="")


@dataclass(frozen=True)
class AlertTable:
    """``[alerts.ID]``: what one alert watches (exactly one of kpi, metric, source), when, and whom it tells."""

    kpi: str | None = _help("the KPI it watches", default=None)
    metric: str | None = _help("the metric it watches", default=None)
    source: str | None = _help("the source it watches", default=None)
    when: str | None = _help(
        "a rule (status_worse, failing, stale, silent, ...) or a condition such as 'value < 100'", default=None
    )
    notify: list[str] | None = _help("the [notifiers.ID] it tells", default=None)
    repeat: Any = _help("tell again after this long while it still holds (a duration)", default=None)
    description: str = _help("what it is", default="")
    polls: int = _help("failing/stale: polls in a row before it fires", default=3)
    intervals: float = _help("stale/silent: intervals without news before it fires", default=3.0)
    history_days: int = _help("silent: days of history the quiet is judged against", default=14)
    min_days: int = _help("silent: days of history needed before it may fire", default=3)
    probability: float = _help("silent: how unlikely the quiet must be", default=0.01)

    def validate(self) -> None:
        if (
            self.polls < 1
            or self.intervals <= 0
            or self.history_days < 1
            or not 1 <= self.min_days <= self.history_days
            or not 0 < self.probability < 1
        ):
            raise OptionError("need polls >= 1, intervals > 0, 1 <= min_days <= history_days, 0 < probability < 1")


@dataclass(frozen=True)
class DigestTable:
    """``[digests.ID]``: the report, sent through notifiers on a schedule."""

    schedule: str | None = _help("'daily 08:00' or 'weekly monday 08:00' in the config's time zone", default=None)
    notify: list[str] | None = _help("the [notifiers.ID] it is sent through", default=None)
    format: str = _help("html, markdown or text", default="html")
    window: str | None = _help("the report's window (default: each KPI's own)", default=None)
    catch_up: Any = _help("a slot missed by less than this is sent late (a duration)", default="12h")
    title: str = _help("the digest's title", default="")


@dataclass(frozen=True)
class ServeTable:
    """``[serve]``: who may see ``kpitui serve``."""

    token: str | None = _help('a ${VARIABLE} reference to the token (token = "${KPITUI_SERVE_TOKEN}")', default=None)
    #: user name = password hash; checked by :mod:`kpitui.serve_auth` (its messages say how to make a hash)
    users: Any = _help("[serve.users]: user name = password hash (kpitui serve --hash-password)", default_factory=dict)


@dataclass(frozen=True)
class AnnotationSourceTable:
    """kpitui's keys of an ``[annotation_sources.ID]`` table (the rest are the type's options)."""

    type: str = _help("the annotation source type")
