"""``[sources.ID]`` and ``[metrics.ID]``: each source's plugin options, its metrics, their units."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import options as opts
from ..config_tables import MetricTable, SourceTable
from ..console import escape_controls
from ..model import AGGREGATIONS, UNITS, Metric, SourceSpec, Trigger
from .checks import TableChecks, plugin_call

if TYPE_CHECKING:
    from ..api import MetricSource

MANUAL_SOURCE = "manual"
#: the longest ``timeout`` a source may have, in seconds
MAX_TIMEOUT = 86_400.0


class SourceTables(TableChecks):
    def sources(self, data: dict[str, Any]) -> dict[str, SourceSpec]:
        registry = self.registry
        assert registry is not None
        specs: dict[str, SourceSpec] = {}
        for sid, where, table in self.entries("sources", data):
            type_name, cls = self.plugin_type(where, table, "type", registry.sources, "source type")
            options = self.plugin_options(
                where, cls.Options, table, opts.field_names(SourceTable), ("source", type_name)
            )
            interval = self.seconds(where, "interval", table.get("interval", cls.default_interval))
            timeout = self.seconds(where, "timeout", table.get("timeout", cls.default_timeout))
            if interval <= 0 or timeout <= 0:
                raise self.error(
                    where,
                    "interval and timeout must be positive durations, e.g. 30s, 5m or 1h (a plain number is seconds)",
                )
            if timeout > MAX_TIMEOUT:  # past threading's limit a wait raised OverflowError in every poll
                raise self.error(where, f"timeout: at most 1d (a fetch not done in a day is stuck), not {timeout:g}s")
            enabled = self.typed(where, "enabled", table.get("enabled", True), bool)
            specs[sid] = SourceSpec(
                id=sid, type=type_name, interval=interval, timeout=timeout, options=options, enabled=enabled
            )
        if MANUAL_SOURCE not in specs and "manual" in registry.sources:
            cls = registry.sources["manual"]
            specs[MANUAL_SOURCE] = SourceSpec(
                id=MANUAL_SOURCE,
                type="manual",
                interval=cls.default_interval,
                timeout=cls.default_timeout,
                options=cls.Options(),
            )
        return specs

    def metrics(self, data: dict[str, Any], sources: dict[str, SourceSpec]) -> dict[str, Metric]:
        registry = self.registry
        assert registry is not None
        metrics: dict[str, Metric] = {}
        for mid, where, table in self.entries("metrics", data):
            source_id = self.typed(where, "source", table.get("source", MANUAL_SOURCE), str)
            self.ref(where, "source", source_id, sources, "source")
            cls = registry.sources[sources[source_id].type]
            options = self.plugin_options(
                where, cls.MetricOptions, table, opts.field_names(MetricTable), ("source", cls.type_name)
            )
            unit = self.unit(where, table, self.source_unit(where, cls, sources[source_id].options, options))
            aggregation = self.typed(where, "aggregation", table.get("aggregation", _default_aggregation(unit)), str)
            if aggregation not in AGGREGATIONS:
                self.ref(where, "aggregation", aggregation, AGGREGATIONS, "aggregation")
            trigger = None
            if "trigger" in table or "condition" in table:
                text = escape_controls(self.typed(where, "trigger", table.get("trigger", ""), str))
                condition = self.typed(where, "condition", table["condition"], str) if "condition" in table else None
                trigger = Trigger(text=text or (condition or ""), condition=condition)
            if trigger and trigger.condition and not cls.uses_condition:
                raise self.error(
                    where,
                    f"condition: source {source_id!r} (type {cls.type_name!r}) does not evaluate trigger conditions; "
                    "keep the trigger text and drop the condition",
                )
            metrics[mid] = Metric(
                id=mid,
                unit=unit,
                aggregation=aggregation,
                source=source_id,
                trigger=trigger,
                options=options,
                allow_negative=self.typed(where, "allow_negative", table.get("allow_negative", False), bool),
                **self.labels(where, mid, table),
            )
        return metrics

    def source_unit(self, where: str, cls: type[MetricSource], options: Any, metric_options: Any) -> str:
        """The unit a metric gets from its source when its table names none (``count`` when the source says nothing)."""
        owner = self.registry.owner("source", cls.type_name) if self.registry else None
        try:
            unit = cls.metric_unit(options, metric_options)
        except Exception as exc:  # noqa: BLE001 - a plugin's metric_unit crashed: name the plugin, not the user
            raise self.error(
                where,
                f"the {cls.type_name!r} source (plugin {owner}) failed to give the metric's unit: "
                f"{type(exc).__name__}: {exc}",
            ) from None
        if unit is None:
            return "count"
        if unit not in UNITS:
            raise self.error(
                where,
                f"the {cls.type_name!r} source (plugin {owner}) gives the unknown unit {unit!r}; "
                f"set unit = one of {', '.join(UNITS)} in this table, and tell the plugin's author",
            )
        return unit

    def check_sources(self, sources: dict[str, SourceSpec], metrics: dict[str, Metric], timezone: str) -> None:
        from ..api import SourceContext

        registry = self.registry
        assert registry is not None
        context = SourceContext(config_dir=self.files_dir, timezone=timezone)
        for sid, spec in sources.items():
            cls = registry.sources[spec.type]
            mine = [m for m in metrics.values() if m.source == sid]
            try:
                plugin_call(registry, "source", spec.type, lambda: cls.check(spec.options, mine, context))
            except opts.OptionError as exc:
                raise self.error(f"sources.{sid}", exc.message) from None
            except Exception as exc:  # a plugin's check() crashed: report it, do not trace back
                raise self.error(
                    f"sources.{sid}",
                    f"the {spec.type!r} source (plugin {registry.owner('source', spec.type)}) failed to check "
                    "its options: "
                    f"{type(exc).__name__}: {opts.redact(str(exc))}",
                ) from None


def _default_aggregation(unit: str) -> str:
    return {"count": "sum", "currency": "sum", "duration": "mean", "percent": "mean", "ratio": "mean"}.get(unit, "last")
