"""Plain dataclasses for the domain: what the config describes and what the engine computes.

Nothing here does I/O or imports Textual; the UI and the CLI render these objects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

Aggregation = Literal["sum", "last", "mean", "min", "max", "count"]
AGGREGATIONS: tuple[str, ...] = ("sum", "last", "mean", "min", "max", "count")

Unit = Literal["count", "currency", "percent", "ratio", "duration", "number"]
UNITS: tuple[str, ...] = ("count", "currency", "percent", "ratio", "duration", "number")

Direction = Literal["up", "down", "within"]
TargetKind = Literal["reach", "above", "below", "within"]


#: why a KPI's value is undefined when its formula says nothing more (``FormulaType.undefined_reason``)
NO_NUMBER = "the formula gives no number for these inputs"
#: why a KPI's value is undefined when it, or a sum or value it reads, is beyond the largest float (two 1e308
#: readings summed): not a ÷ 0 nor missing data, so said as itself (an infinity is no number kpitui shows)
OVERFLOW = "overflow: the value or a sum it reads exceeds 1.8e308, the largest number"


class Status(str, Enum):
    """How well a KPI or an objective is doing."""

    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    NO_DATA = "no_data"
    NO_TARGET = "no_target"
    #: a to-date KPI at the very start of its period: nothing has had time to happen
    NOT_YET = "not_yet"
    #: the formula gives no number from inputs that have data over the period (a ratio whose
    #: denominator is 0, a growth from 0): not missing data, a value undefined for the period
    UNDEFINED = "undefined"

    @property
    def label(self) -> str:
        if self is Status.NOT_YET:
            return "not yet scored"
        return str(self.value).replace("_", " ")


@dataclass(frozen=True)
class Settings:
    """The ``[kpitui]`` table: calendar and display settings."""

    timezone: str = "UTC"
    week_start: int = 0  # 0 = Monday … 6 = Sunday
    fiscal_year_start: int = 1  # month 1..12
    currency: str = "$"


@dataclass(frozen=True)
class SourceSpec:
    """A ``[sources.ID]`` table: one configured instance of a source type."""

    id: str
    type: str
    interval: float
    timeout: float
    options: Any  # an instance of the source type's ``Options`` dataclass
    enabled: bool = True


@dataclass(frozen=True)
class Trigger:
    """The user action that makes a key metric count."""

    text: str
    condition: str | None = None


@dataclass(frozen=True)
class Metric:
    """A ``[metrics.ID]`` table."""

    id: str
    name: str
    unit: Unit = "count"
    aggregation: Aggregation = "sum"
    source: str | None = None
    trigger: Trigger | None = None
    description: str = ""
    options: Any = None  # an instance of the source type's ``MetricOptions`` dataclass
    decimals: int | None = None
    allow_negative: bool = False  # a count or duration may go below zero (corrections) without --allow-negative

    @property
    def is_key(self) -> bool:
        """A key metric is one recognised by a trigger."""
        return self.trigger is not None


@dataclass(frozen=True)
class Target:
    """A goal for a KPI, scored OKR-style from ``baseline`` (0) to ``value`` (1).

    ``kind``: ``reach`` (end the period at or beyond the value), ``above``
    (stay at or above), ``below`` (stay at or below), ``within`` (stay in
    ``[low, high]``).

    Without ``due`` the target is *recurring*: it applies to each period of
    the KPI's window (every month of a ``month_to_date`` KPI). With ``due``
    it is *one-off*: until the end of that day the score uses the KPI's value
    projected to it (for projectable KPIs), afterwards the value as it is.
    """

    kind: TargetKind = "reach"
    value: float | None = None
    baseline: float | None = None
    low: float | None = None
    high: float | None = None
    due: dt.date | None = None

    @property
    def recurring(self) -> bool:
        """True for a per-period target (no ``due`` date)."""
        return self.due is None

    @property
    def direction(self) -> Direction:
        if self.kind == "within":
            return "within"
        if self.kind == "below":
            return "down"
        baseline = self.baseline if self.baseline is not None else 0.0
        if self.kind == "reach" and self.value is not None and self.value < baseline:
            return "down"
        return "up"


@dataclass(frozen=True)
class Thresholds:
    """Score bands: ``score >= on_track`` is on track, ``>= at_risk`` at risk, else off track."""

    on_track: float = 0.7
    at_risk: float = 0.4


@dataclass(frozen=True)
class Kpi:
    """A ``[kpis.ID]`` table: a formula over key metrics (or other KPIs)."""

    id: str
    name: str
    formula: str
    params: Any  # an instance of the formula type's ``Options`` dataclass
    window: str = "month_to_date"
    grain: str | None = None
    unit: Unit = "number"
    description: str = ""
    target: Target | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    weight: float = 1.0
    decimals: int | None = None
    #: where ``unit`` came from when the table names none and the KPI took its inputs' unit
    #: (``"from its metric"``: a mean of durations is a duration); ``""``: named, or the formula's own
    unit_from: str = ""
    #: a unit that misreads the formula's numbers (``unit = "percent"`` on a ratio of fractions: 0.05 shown
    #: as 0.05%), what ``kpitui check`` warns of; ``""``: none
    unit_warning: str = ""


@dataclass(frozen=True)
class Objective:
    """An ``[objectives.ID]`` table: a strategic aim measured by KPIs."""

    id: str
    title: str
    description: str = ""
    kpis: tuple[str, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)


@dataclass(frozen=True)
class Reading:
    """One value of one metric at one time (UTC)."""

    metric: str
    at: dt.datetime
    value: float


@dataclass(frozen=True)
class Period:
    """A half-open time range ``[start, end)`` with a label, in the configured time zone.

    ``closed``: the end instant belongs to the period too, ``[start, end]``: a
    period *as of* its end (to date, or cut at the same elapsed time), so a
    reading stamped exactly at "now" (``report --at``) counts.
    """

    start: dt.datetime
    end: dt.datetime
    label: str = ""
    closed: bool = False


@dataclass(frozen=True)
class KpiResult:
    """Everything the panes and the report show about one KPI."""

    kpi: Kpi
    period: Period
    previous_period: Period
    value: float | None
    previous: float | None
    last_year: float | None
    change: float | None
    change_pct: float | None
    score: float | None
    status: Status
    freshness: dt.datetime | None
    series: tuple[tuple[dt.datetime, float | None], ...] = ()
    projection: float | None = None
    parts: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None
    #: does ``projection`` meet the target? ``None``: no projection or no target
    on_pace: bool | None = None
    #: when ``projection`` is for: the period's end, or a one-off target's due date
    projected_to: dt.datetime | None = None
    #: how the target applies to the shown window: ``"own"`` (the KPI's own window),
    #: ``"prorated"`` (an additive KPI over another window: scaled by the windows' lengths),
    #: ``"kept"`` (a non-additive KPI over another window: the same target); ``None``: no target
    target_basis: str | None = None
    #: the target as it applies to the shown window (``kpi.target`` scaled when prorated)
    applied_target: Target | None = None
    #: how far the value (as it is, no pace) has come toward the target: see ``scoring.progress``
    progress: float | None = None
    #: the comparison period starts before the metrics' first reading: no change is shown (and a
    #: formula that itself compares with an earlier period, growth, shows no value)
    partial_history: bool = False
    #: the same period a year earlier starts before the metrics' first reading: ``last_year`` covers
    #: only part of it, so no year-over-year change is shown
    partial_last_year: bool = False
    #: why ``value`` is none while every input has data over the period (status ``undefined``): the
    #: formula's word, such as "÷ 0: ad_views is 0" (:meth:`kpitui.api.FormulaType.undefined_reason`)
    undefined: str | None = None

    @property
    def target(self) -> Target | None:
        """The target that applies to the shown window (prorated when ``target_basis == "prorated"``)."""
        return self.applied_target if self.applied_target is not None else self.kpi.target

    @property
    def target_value(self) -> float | None:
        target = self.target
        return target.value if target else None


@dataclass(frozen=True)
class ObjectiveResult:
    objective: Objective
    score: float | None
    status: Status
    kpis: tuple[KpiResult, ...]


@dataclass(frozen=True)
class SourceHealth:
    """What the collector last saw of a source: shown on that source's metrics only."""

    source: str
    last_success: dt.datetime | None = None
    last_error: dt.datetime | None = None
    error: str | None = None
    failures: int = 0
    next_attempt: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class MetricStatus:
    metric: Metric
    latest: float | None
    latest_at: dt.datetime | None
    health: SourceHealth | None = None


@dataclass(frozen=True)
class Snapshot:
    """One full evaluation, as of ``at``: what every view renders."""

    at: dt.datetime
    objectives: tuple[ObjectiveResult, ...]
    kpis: dict[str, KpiResult]
    metrics: dict[str, MetricStatus]
    #: per KPI, the indexes of its ``series`` buckets that hold an annotation about it (the trend's marks);
    #: filled by the viewer (:func:`kpitui.annotations.marked_buckets`), empty when nobody asked
    annotated: dict[str, frozenset[int]] = field(default_factory=dict)
