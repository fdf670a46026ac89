"""What the dashboard lists: an objective's KPIs, a KPI's metrics, the metrics no KPI
reads, all narrowed by the filter. Plain data over one snapshot (no widgets)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Callable
from zoneinfo import ZoneInfo

from rich.text import Text

from ...formatting import STATUS_SYMBOL, format_score
from ...model import NO_NUMBER, Status
from ...polled import manual_metrics
from ..view import Context, basis_text, matches, value_text

if TYPE_CHECKING:
    from ...config import Config
    from ...model import KpiResult, MetricStatus, Snapshot

UNASSIGNED = "__unassigned__"
#: the objectives pane's row for the metrics no KPI reads (all of them in a config without KPIs)
LOOSE_METRICS = "__metrics__"


class Listing:
    """``metrics_of``: the engine's KPI -> metric ids (``None`` before the runtime is open); ``query``: the filter."""

    def __init__(
        self, snapshot: Snapshot, config: Config, metrics_of: Callable[[str], set[str]] | None, query: str
    ) -> None:
        self.snapshot, self.config, self.metrics_of, self.query = snapshot, config, metrics_of, query.strip()

    def kpi_matches(self, result: KpiResult) -> bool:
        """The filter matches the KPI's name or id, or a metric's behind it."""
        metrics = self.metrics_of(result.kpi.id) if self.metrics_of else set()
        names = [*metrics, *(self.config.metrics[m].name for m in metrics if m in self.config.metrics)]
        return matches(self.query, result.kpi.name, result.kpi.id, *names)

    @cached_property
    def manual(self) -> set[str]:
        """The metrics recorded by hand (a ``manual`` source)."""
        return manual_metrics(self.config.metrics, self.config.sources)

    def unassigned(self) -> list[KpiResult]:
        assigned = {r.kpi.id for o in self.snapshot.objectives for r in o.kpis}
        return [r for kid, r in self.snapshot.kpis.items() if kid not in assigned]

    @cached_property
    def _read(self) -> set[str]:
        """The metrics some KPI reads."""
        kpis = self.snapshot.kpis
        return set().union(*(self.metrics_of(kid) for kid in kpis)) if kpis and self.metrics_of else set()

    @cached_property
    def _positions(self) -> dict[str, int]:
        """Each metric's place in the snapshot: the order every list of metrics keeps."""
        return {mid: index for index, mid in enumerate(self.snapshot.metrics)}

    def loose(self) -> list[MetricStatus]:
        """The metrics no KPI reads: collected, shown, but behind no KPI."""
        if self.metrics_of is None:
            return []
        read = self._read
        statuses = [s for mid, s in self.snapshot.metrics.items() if mid not in read]
        return [s for s in statuses if matches(self.query, s.metric.name, s.metric.id)] if self.query else statuses

    def kpis(self, objective_id: str | None) -> list[KpiResult]:
        """The KPIs listed for the objectives pane's row ``objective_id`` (every match while filtering)."""
        if objective_id == LOOSE_METRICS:
            return []
        if self.query:
            return [r for r in self.snapshot.kpis.values() if self.kpi_matches(r)]
        if objective_id == UNASSIGNED:
            return self.unassigned()
        for objective in self.snapshot.objectives:
            if objective.objective.id == objective_id:
                return list(objective.kpis)
        return []

    def statuses_of(self, kpi_id: str) -> list[MetricStatus]:
        if self.metrics_of is None:
            return []
        metrics, positions = self.snapshot.metrics, self._positions
        return [
            metrics[mid]
            for mid in sorted((m for m in self.metrics_of(kpi_id) if m in positions), key=positions.__getitem__)
        ]

    def metrics(self, objective_id: str | None, kpi_id: str | None) -> list[MetricStatus]:
        """The metrics listed for the KPI ``kpi_id`` (narrowed by the filter when it matched a metric, not the KPI)."""
        if objective_id == LOOSE_METRICS:
            return self.loose()
        if kpi_id is None:
            return []
        statuses = self.statuses_of(kpi_id)
        result = self.snapshot.kpis.get(kpi_id)
        if self.query and result is not None and not matches(self.query, result.kpi.name, result.kpi.id):
            statuses = [s for s in statuses if matches(self.query, s.metric.name, s.metric.id)] or statuses
        return statuses


def kpi_info(result: KpiResult | None, ctx: Context) -> Text:
    """The line under the KPIs: the period, what the value is made of, the score, the previous period."""
    text = Text(no_wrap=False)
    if result is None:
        return text
    if result.error:
        text.append("✖ ", style=ctx.colours.bad)
        text.append(result.error, style=ctx.colours.bad)
        return text
    muted = ctx.colours.muted
    text.append(result.period.label or "", style="bold")
    basis = basis_text(result, ctx.currency)
    if basis:
        text.append(f" · {basis}", style=muted)
    if result.score is not None:
        text.append(f" · score {format_score(result.score)}", style=muted)
        text.append(f" {result.status.label}", style=ctx.colours.status(result.status))
    elif result.status is Status.NOT_YET:
        text.append(f" · {result.status.label}", style=muted)
    elif result.status is Status.UNDEFINED:  # the inputs have data, the formula gives no number: say why
        text.append(f" · {STATUS_SYMBOL[result.status]} {result.status.label}", style=ctx.colours.status(result.status))
        text.append(f": {result.undefined or NO_NUMBER}", style=muted)
    if result.partial_history:
        text.append(
            f" · partial history: {result.previous_period.label or 'the previous period'} starts before the "
            "first reading",
            style=muted,
        )
    elif result.previous_period.label:
        text.append(f" · previous ({result.previous_period.label}) ", style=muted)
        text.append(value_text(result.kpi, result.previous, ctx.currency))
    if result.kpi.description:
        text.append(f" · {result.kpi.description}", style=muted)
    return text


def metric_info(status: MetricStatus | None, ctx: Context) -> Text:
    """The line under the metrics: the source's error, or what the metric counts."""
    text = Text()
    if status is None:
        return text
    metric, health = status.metric, status.health
    if health is not None and health.error:
        text.append(f"✖ source {metric.source}: {health.error}", style=ctx.colours.bad)
        extra = f" ({health.failures} failure{'s' if health.failures != 1 else ''}"
        if health.next_attempt is not None:
            extra += f", next try {health.next_attempt.astimezone(ZoneInfo(ctx.timezone)):%H:%M:%S}"
        text.append(extra + ")", style=ctx.colours.muted)
    elif metric.trigger is not None:
        text.append("★ ", style=ctx.colours.warn)
        text.append(f"counts when: {metric.trigger.text}", style=ctx.colours.muted)
    else:
        text.append(metric.description or f"{metric.aggregation} of {metric.unit} readings", style=ctx.colours.muted)
    return text
