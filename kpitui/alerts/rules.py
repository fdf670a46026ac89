"""What each alert rule observes now: firing or not, and a sentence saying why.

Level rules (a status the KPI is in, a condition, a failing or stale source,
a silent trigger) fire while true and resolve when false. Status-change
rules report the KPI's status as a *token*; :mod:`.state` compares it with the
one seen before.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import polars as pl

from ..config.alerting import INTO_STATUS, KPI_FIELDS, STATUS_RULES, AlertRule
from ..formatting import format_duration, format_value
from ..model import KpiResult, Snapshot, SourceHealth, Status
from .trigger_health import assess

#: worse is higher; statuses without a rank (no data, no target) never count as a change
STATUS_RANK = {Status.ON_TRACK.value: 0, Status.AT_RISK.value: 1, Status.OFF_TRACK.value: 2}


@dataclass(frozen=True)
class Observation:
    """``firing``: ``None`` when the rule cannot tell now (no data yet); the state is then kept."""

    firing: bool | None
    text: str
    subject: str
    fields: dict[str, Any] = field(default_factory=dict)
    token: str | None = None  # status rules: the KPI's status now


@dataclass
class Facts:
    """What rules look at, gathered lazily once per evaluation."""

    config: Any
    now: dt.datetime
    health: dict[str, SourceHealth]
    readings: Callable[[str], pl.DataFrame]  # metric id -> frame (at, value)
    snapshot: Snapshot | None = None
    _frames: dict[str, pl.DataFrame] = field(default_factory=dict, repr=False)

    def frame(self, metric: str) -> pl.DataFrame:
        if metric not in self._frames:
            self._frames[metric] = self.readings(metric)
        return self._frames[metric]


@functools.lru_cache(maxsize=256)
def _compiled(condition: str, kind: str) -> pl.Expr:
    from ..config.alerting import METRIC_FIELDS
    from ..expressions import compile_condition

    return compile_condition(condition, {f: "float" for f in (KPI_FIELDS if kind == "kpi" else METRIC_FIELDS)})


def _holds(condition: str, kind: str, values: dict[str, float | None]) -> bool | None:
    if values.get("value") is None:
        return None
    frame = pl.DataFrame({k: pl.Series([v], dtype=pl.Float64) for k, v in values.items()})
    return bool(frame.select(_compiled(condition, kind)).item())


@functools.lru_cache(maxsize=256)
def _names(condition: str) -> tuple[str, ...]:
    from ..expressions import check_condition

    return check_condition(condition, {f: "float" for f in KPI_FIELDS})


#: the condition fields a partial comparison leaves without a value: the comparison period starts before the
#: KPI's metrics' first reading, so the figure covers only part of it (the report and the TUI say "partial history")
PARTIAL_FIELDS = {"previous": ("previous", "change", "change_pct"), "last_year": ("last_year",)}


def _partial(r: KpiResult) -> dict[str, str]:
    """Each field whose comparison period the history only partly covers, and that period's label."""
    out: dict[str, str] = {}
    if r.partial_history:
        out.update(dict.fromkeys(PARTIAL_FIELDS["previous"], r.previous_period.label or "the previous period"))
    if r.partial_last_year:
        out.update(dict.fromkeys(PARTIAL_FIELDS["last_year"], "the same period last year"))
    return out


def _kpi_fields(r: KpiResult) -> dict[str, float | None]:
    """The figures a condition sees; a partial comparison is no figure (``None``), as on screen."""
    return {
        "value": r.value,
        "previous": None if r.partial_history else r.previous,
        "last_year": None if r.partial_last_year else r.last_year,
        "change": r.change,
        "change_pct": r.change_pct,
        "score": r.score,
        "target": r.target_value,
        "projection": r.projection,
    }


def _fmt(config: Any, r: KpiResult, value: float | None) -> str:
    return format_value(value, r.kpi.unit, r.kpi.decimals, config.settings.currency)


def observe(rule: AlertRule, facts: Facts) -> Observation:
    """The rule's observation now; never raises for a rule the config accepted."""
    if rule.subject_kind == "kpi":
        return _observe_kpi(rule, facts)
    if rule.when == "silent":
        return _observe_silent(rule, facts)
    if rule.when in ("failing", "stale"):
        return _observe_source(rule, facts)
    return _observe_metric_condition(rule, facts)


def _observe_kpi(rule: AlertRule, facts: Facts) -> Observation:
    snapshot = facts.snapshot
    r = snapshot.kpis.get(rule.subject) if snapshot else None
    if r is None:
        return Observation(None, f"KPI {rule.subject} was not evaluated", rule.subject)
    kpi = r.kpi
    period = f" ({r.period.label})" if r.period.label else ""
    shown = f"{_fmt(facts.config, r, r.value)}{period}"
    if r.status is Status.UNDEFINED and r.undefined:
        shown = f"no number, {r.undefined}{period}"
    if r.kpi.target is not None and r.target_value is not None:
        shown += f", target {_fmt(facts.config, r, r.target_value)}"
    fields = {
        **_kpi_fields(r),
        "status": r.status.value,
        "undefined": r.undefined,
        "name": kpi.name,
        "period": r.period.label,
        "partial_history": r.partial_history,
        "partial_last_year": r.partial_last_year,
    }
    if rule.when in STATUS_RULES:
        token = r.status.value if r.status.value in STATUS_RANK else None
        return Observation(None, f"{kpi.name} is {r.status.label}: {shown}", rule.subject, fields, token=token)
    if rule.when in INTO_STATUS:
        firing = r.status.value == rule.when
        return Observation(firing, f"{kpi.name} is {r.status.label}: {shown}", rule.subject, fields)
    assert rule.condition is not None
    partial = _partial(r)
    unknown = [name for name in _names(rule.condition) if name in partial]
    if unknown and r.value is not None:
        # not judged on part of a period: the state is kept until the history covers the whole comparison
        return Observation(
            None,
            f"{kpi.name}: {rule.condition} not judged — partial history: {partial[unknown[0]]} starts before the "
            f"first reading ({shown})",
            rule.subject,
            fields,
        )
    holds = _holds(rule.condition, "kpi", _kpi_fields(r))
    if holds is None:
        return Observation(None, f"{kpi.name} has no value yet", rule.subject, fields)
    verb = "" if holds else "no longer "
    named = _named_figures(facts.config, r, rule.condition)
    if named:  # "change_pct > 100 — 382.19" read as if 382.19 were the change: the rule's own figures first
        shown = f"{named}; value {shown}"
    return Observation(holds, f"{kpi.name}: {verb}{rule.condition} — {shown}", rule.subject, fields)


def _named_figures(config: Any, r: KpiResult, condition: str) -> str:
    """The figures a condition names besides the value, as the report shows them: ``change_pct +183.2%``,
    ``projection -21,510``, ``score 0.80`` (on the 0..1 scale a condition compares it on)."""
    fields = _kpi_fields(r)
    parts = []
    for name in (n for n in KPI_FIELDS if n != "value" and n in _names(condition)):
        v = fields.get(name)
        if v is None:
            text = "—"
        elif name == "change_pct":
            text = f"{v:+.1f}%"
        elif name == "score":
            text = f"{v:.2f}"
        elif name == "change":
            text = ("+" if v > 0 else "") + _fmt(config, r, v)
        else:
            text = _fmt(config, r, v)
        parts.append(f"{name} {text}")
    return ", ".join(parts)


def _observe_silent(rule: AlertRule, facts: Facts) -> Observation:
    metric = facts.config.metrics[rule.subject]
    result = assess(
        metric,
        facts.frame(metric.id),
        facts.now,
        history_days=rule.history_days,
        min_days=rule.min_days,
        threshold=rule.probability,
    )
    fields = {
        "silent_seconds": round(result.silent_for.total_seconds()),
        "expected": round(result.expected, 3),
        "probability": result.probability,
        "per_day": round(result.per_day, 3),
        "history_days": result.days,
        "last_event": result.last_event.isoformat() if result.last_event else None,
        "trigger": metric.trigger.text if metric.trigger else None,
        "name": metric.name,
    }
    text = result.text
    if result.firing is False and result.last_event is not None:
        text = f"{metric.name} counted again (last at {result.last_event:%Y-%m-%d %H:%M} UTC)"
    return Observation(result.firing, text, rule.subject, fields)


def _latest(frame: pl.DataFrame) -> tuple[dt.datetime | None, float | None]:
    if frame.height == 0:
        return None, None
    row = frame.sort("at").row(-1, named=True)
    return row["at"], row["value"]


def _observe_source(rule: AlertRule, facts: Facts) -> Observation:
    config = facts.config
    source = rule.subject if rule.subject_kind == "source" else config.metrics[rule.subject].source
    spec = config.sources.get(source)
    if rule.when == "failing":
        health = facts.health.get(source)
        failures = health.failures if health else 0
        fields = {"source": source, "failures": failures, "error": health.error if health else None}
        if failures >= rule.polls:
            return Observation(
                True, f"source {source} failed {failures} polls in a row: {fields['error']}", rule.subject, fields
            )
        return Observation(False, f"source {source} is polling again", rule.subject, fields)
    metrics = [rule.subject] if rule.subject_kind == "metric" else [m.id for m in config.metrics_of(source)]
    latest = max((t for t in (_latest(facts.frame(m))[0] for m in metrics) if t is not None), default=None)
    if latest is None or spec is None:
        return Observation(None, f"{rule.subject}: no readings yet", rule.subject, {"source": source})
    limit = rule.intervals * spec.interval
    age = (facts.now - latest).total_seconds()
    fields = {"source": source, "latest": latest.isoformat(), "age_seconds": round(age), "limit_seconds": limit}
    if age > limit:
        return Observation(
            True,
            f"{rule.subject}: no new reading for {format_duration(age)} (more than {rule.intervals:g} × the "
            f"{format_duration(spec.interval)} interval)",
            rule.subject,
            fields,
        )
    return Observation(
        False, f"{rule.subject}: readings arrive again (latest {format_duration(age)} ago)", rule.subject, fields
    )


def _observe_metric_condition(rule: AlertRule, facts: Facts) -> Observation:
    metric = facts.config.metrics[rule.subject]
    at, value = _latest(facts.frame(metric.id))
    age = None if at is None else (facts.now - at).total_seconds() / 60
    assert rule.condition is not None
    holds = _holds(rule.condition, "metric", {"value": value, "age_minutes": age})
    fields = {"value": value, "age_minutes": age, "name": metric.name}
    if holds is None:
        return Observation(None, f"{metric.name} has no readings yet", rule.subject, fields)
    shown = format_value(value, metric.unit, metric.decimals, facts.config.settings.currency)
    verb = "" if holds else "no longer "
    return Observation(holds, f"{metric.name}: {verb}{rule.condition} — latest {shown}", rule.subject, fields)
