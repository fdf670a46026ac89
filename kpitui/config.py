"""TOML config -> validated specs.

Every mistake becomes one :class:`ConfigError` that names the file, the table
and key, what was expected and, for a misspelling, the nearest valid name.
Nothing here prints or exits; the CLI turns the error into exit code 2.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import platformdirs

from . import options as opts
from .config_tables import (
    ConfigFile,
    KpiTable,
    LoggingTable,
    MetricTable,
    ObjectiveTable,
    PluginsTable,
    SettingsTable,
    SourceTable,
    StorageTable,
    TargetTable,
    ThresholdsTable,
    UiTable,
)
from .model import AGGREGATIONS, UNITS, Kpi, Metric, Objective, Settings, SourceSpec, Target, TargetKind, Thresholds, Trigger
from .logs import LogFile
from .plugins import Registry, load_registry

BUNDLED_SAMPLE = Path(__file__).with_name("sample_config.toml")
CONFIG_NAME = "kpitui.toml"
MANUAL_SOURCE = "manual"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december")

TARGET_KINDS: tuple[str, ...] = get_args(TargetKind)
DIRECTIONS = {"up": "reach", "down": "below", "within": "within"}


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
    # alerting (kpitui.alerts.spec): [notifiers.ID], [alerts.ID], [digests.ID]
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

    def metrics_of(self, source_id: str) -> list[Metric]:
        return [m for m in self.metrics.values() if m.source == source_id]


# -- finding the file ------------------------------------------------------


def user_config_path() -> Path:
    return Path(platformdirs.user_config_dir("kpitui")) / CONFIG_NAME


def user_plugins_dir() -> Path:
    return Path(platformdirs.user_config_dir("kpitui")) / "plugins"


def default_storage_path(config_path: Path, is_sample: bool) -> Path:
    from .location import own_history_path

    return own_history_path(config_path, is_sample)


def find_config(explicit: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The config to use and how it was found: --config, ./kpitui.toml, the user config, the bundled sample."""
    if explicit is not None:
        return Path(explicit), "--config"
    local = Path.cwd() / CONFIG_NAME
    if local.is_file():
        return local, f"./{CONFIG_NAME}"
    user = user_config_path()
    if user.is_file():
        return user, "user config"
    return BUNDLED_SAMPLE, "bundled sample"


# -- loading ---------------------------------------------------------------


def load_config(
    path: str | os.PathLike | None = None,
    *,
    registry: Registry | None = None,
    origin: str | None = None,
) -> Config:
    """Find, parse and validate a config. Raises :class:`ConfigError`."""
    found, how = find_config(path)
    text = _read(found)
    return parse_config(text, found, origin or how, registry=registry)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, "file not found (create one with `kpitui init`)") from None
    except IsADirectoryError:
        raise ConfigError(str(path), None, "is a folder, not a TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, f"cannot read: {exc}") from None


def parse_config(text: str, path: Path, origin: str = "--config", *, registry: Registry | None = None) -> Config:
    loader = _Loader(path, origin, registry)
    try:
        return loader.load(text)
    except ConfigError as exc:  # the plugins it loaded, for `kpitui plugins` on a broken config
        exc.registry = loader.registry
        raise


def plugins_dirs_of(path: str | os.PathLike | None = None) -> list[Path]:
    """The plugin folders a config names, read leniently (its other mistakes ignored), and the user's folder."""
    dirs: list[Path] = []
    try:
        found, _ = find_config(path)
        text = found.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:  # a mistake elsewhere in the file: read the [plugins] table alone
            table = re.search(r"^\[plugins\][ \t]*(?:#.*)?$(.*?)(?=^[ \t]*\[|\Z)", text, re.M | re.S)
            data = tomllib.loads("[plugins]" + table.group(1)) if table else {}
        named = data.get("plugins", {}).get("dirs", [])
        for value in named if isinstance(named, list) else ():
            if isinstance(value, str):
                p = Path(os.path.expandvars(value)).expanduser()
                dirs.append(p if p.is_absolute() else found.parent / p)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
        pass
    return [*dirs, user_plugins_dir()]


class _Loader:
    def __init__(self, path: Path, origin: str, registry: Registry | None):
        self.path = path
        self.file = path.name if origin == "bundled sample" else str(path)
        self.origin = origin
        self.registry = registry

    # errors ------------------------------------------------------------------

    def error(self, table: str | None, message: str) -> ConfigError:
        return ConfigError(self.file, table, message)

    def unknown_keys(self, table: str, data: dict[str, Any], known: Iterable[str]) -> None:
        known = tuple(known)
        for key in data:
            if key not in known:
                raise self.error(table, f"unknown key {key!r}" + opts.did_you_mean(key, known, f"; valid keys: {', '.join(known)}"))

    def parse_table(self, where: str, table_cls: type, data: dict[str, Any]) -> Any:
        """One of kpitui's own tables (:mod:`kpitui.config_tables`), parsed by the same ``options.parse`` as plugin options."""
        self.unknown_keys(where, data, opts.field_names(table_cls))
        try:
            return opts.parse(table_cls, data)
        except opts.OptionError as exc:
            raise self.error(where, exc.message) from None

    def table(self, data: dict[str, Any], key: str, where: str | None = None) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(where, f"{key} must be a table, e.g. [{key}]" if where is None else f"{key} must be a table")
        return value

    def typed(self, table: str, key: str, value: Any, tp: Any) -> Any:
        try:
            return opts.convert(value, tp, key)
        except opts.OptionError as exc:
            raise self.error(table, exc.message) from None

    def seconds(self, table: str, key: str, value: Any) -> float:
        """A duration key: a number of seconds or a string such as "90s", "5m", "4h 30m", "9d"."""
        from .userinput import InputError, parse_duration

        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.error(table, f"{key}: expected a duration like 90m, 4h 30m, 9d (or a number of seconds), not {value!r}")
        try:
            return parse_duration(value)
        except InputError as exc:
            raise self.error(table, f"{key}: {exc}") from None

    def ref(self, table: str, key: str, value: str, choices: Iterable[str], what: str) -> str:
        choices = list(choices)
        if value in choices:
            return value
        otherwise = f"; known: {', '.join(choices)}" if choices else f"; no {what}s are defined"
        raise self.error(table, f"{key}: unknown {what} {value!r}" + opts.did_you_mean(value, choices, otherwise))

    def plugin_options(self, where: str, options_cls: type, table: dict[str, Any], reserved: list[str] | tuple[str, ...]) -> Any:
        """The keys of ``table`` that are not kpitui's own (``reserved``), parsed into a plugin's options."""
        rest = {k: v for k, v in table.items() if k not in reserved}
        try:
            return opts.parse(options_cls, rest, extra_known=(*reserved, *opts.field_names(options_cls)))
        except opts.OptionError as exc:
            raise self.error(where, exc.message) from None

    def plugin_type(self, where: str, table: dict[str, Any], key: str, types: dict[str, type], what: str) -> tuple[str, Any]:
        """The type named by ``table[key]`` (``type`` of a source, ``formula`` of a KPI) and its class."""
        if key not in table:
            raise self.error(where, f"missing key {key!r} (one of: {', '.join(sorted(types))})")
        value = self.typed(where, key, table[key], str)
        try:
            name = self.ref(where, key, value, types, what)
        except ConfigError as exc:  # say which plugin failed, when one did: its types are the missing ones
            note = self.registry.failure_note(value) if self.registry is not None else ""
            raise (self.error(where, f"{exc.message}; {note}") if note else exc) from None
        return name, types[name]

    def unit(self, where: str, table: dict[str, Any], default: str) -> str:
        unit = self.typed(where, "unit", table.get("unit", default), str)
        return self.ref(where, "unit", unit, UNITS, "unit")

    def labels(self, where: str, ident: str, table: dict[str, Any]) -> dict[str, Any]:
        """``name`` (default: from the id), ``description`` and ``decimals`` of a metric or KPI."""
        decimals = table.get("decimals")
        return {
            "name": self.typed(where, "name", table.get("name", ident.replace("_", " ").capitalize()), str),
            "description": self.typed(where, "description", table.get("description", ""), str),
            "decimals": None if decimals is None else self.typed(where, "decimals", decimals, int),
        }

    # the whole file --------------------------------------------------------

    def load(self, text: str) -> Config:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise self.error(None, f"invalid TOML: {exc}") from None
        self.unknown_keys_top(data)
        settings = self.settings(self.table(data, "kpitui"))
        plugins = self.table(data, "plugins")
        dirs = [self.resolve(d) for d in self.parse_table("plugins", PluginsTable, plugins).dirs]
        plugins_dirs = [*dirs, user_plugins_dir()]
        if self.registry is None:
            self.registry = load_registry(plugins_dirs)
        storage = self.storage(self.table(data, "storage"))
        sources = self.sources(self.table(data, "sources"))
        metrics = self.metrics(self.table(data, "metrics"), sources)
        for mid in storage.downsample_anyway:
            self.ref("storage", "downsample_anyway", mid, metrics, "metric")
        self.check_sources(sources, metrics, settings.timezone)
        kpis = self.kpis(self.table(data, "kpis"), metrics)
        objectives = self.objectives(self.table(data, "objectives"), self.table(data, "kpis"), kpis)
        keymap = self.table(data, "keymap")
        for key, value in keymap.items():
            self.typed("keymap", key, value, str)
        ui = self.table(data, "ui")
        self.parse_table("ui", UiTable, ui)
        if "refresh_seconds" in ui:
            ui = {**ui, "refresh_seconds": self.seconds("ui", "refresh_seconds", ui["refresh_seconds"])}
        log_file = self.log_file(self.table(data, "logging"))
        from .alerts.spec import AlertingLoader

        alerting = AlertingLoader(self, self.registry, self.path.parent, settings.timezone)
        notifiers = alerting.notifiers(self.table(data, "notifiers"))
        alerts = alerting.alerts(self.table(data, "alerts"), notifiers, sources, metrics, kpis)
        digests = alerting.digests(self.table(data, "digests"), notifiers)
        from .serve_auth import load_serve_table

        serve = load_serve_table(self, self.table(data, "serve")) if "serve" in data else None
        from .annotations import load_sources

        annotation_sources = load_sources(self, self.table(data, "annotation_sources"), settings.timezone)
        return Config(
            path=self.path,
            origin=self.origin,
            settings=settings,
            storage=storage,
            sources=sources,
            metrics=metrics,
            kpis=kpis,
            objectives=objectives,
            registry=self.registry,
            keymap=dict(keymap),
            ui=dict(ui),
            plugins_dirs=plugins_dirs,
            notifiers=notifiers,
            alerts=alerts,
            digests=digests,
            logging=log_file,
            serve=serve,
            annotation_sources=annotation_sources,
        )

    def log_file(self, table: dict[str, Any]) -> LogFile | None:
        self.unknown_keys("logging", table, opts.field_names(LoggingTable))
        if "file" not in table:
            if table:
                raise self.error("logging", "missing key 'file' (where the collector's log goes, e.g. \"kpitui.log\")")
            return None
        parsed = self.parse_table("logging", LoggingTable, table)
        return LogFile(self.resolve(parsed.file), max_bytes=int(parsed.max_mb * 1024 * 1024), backups=parsed.backups)

    def unknown_keys_top(self, data: dict[str, Any]) -> None:
        for key in data:
            tables = opts.field_names(ConfigFile)
            if key not in tables:
                hint = opts.nearest(key, tables)
                raise self.error(
                    None,
                    f"unknown table [{key}]" + (f" (did you mean [{hint}]?)" if hint else f"; tables are {', '.join(tables)}"),
                )

    def resolve(self, value: str) -> Path:
        p = Path(os.path.expandvars(value)).expanduser()
        return p if p.is_absolute() else self.path.parent / p

    # tables ----------------------------------------------------------------

    def settings(self, data: dict[str, Any]) -> Settings:
        table = self.parse_table("kpitui", SettingsTable, data)
        tz = table.timezone
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            otherwise = " (use an IANA name such as 'Europe/London')"
            raise self.error("kpitui", f"timezone: unknown time zone {tz!r}" + opts.did_you_mean(tz, available_timezones(), otherwise)) from None
        week = table.week_start
        if isinstance(week, str) and week.lower() in WEEKDAYS:
            week_start = WEEKDAYS.index(week.lower())
        else:
            suggestion = opts.did_you_mean(str(week).lower(), WEEKDAYS)
            raise self.error("kpitui", f"week_start must be a weekday name such as 'monday', not {week!r}" + suggestion)
        fy = table.fiscal_year_start
        if isinstance(fy, str) and fy.lower() in MONTHS:
            fiscal = MONTHS.index(fy.lower()) + 1
        elif isinstance(fy, int) and not isinstance(fy, bool) and 1 <= fy <= 12:
            fiscal = fy
        else:
            raise self.error("kpitui", f"fiscal_year_start must be a month number 1-12 or a month name, not {fy!r}")
        return Settings(timezone=tz, week_start=week_start, fiscal_year_start=fiscal, currency=table.currency)

    def storage(self, data: dict[str, Any]) -> Storage:
        table = self.parse_table("storage", StorageTable, data)
        default = table.path is None
        if not default:
            path = self.resolve(table.path)
        else:
            path = default_storage_path(self.path, self.origin == "bundled sample")
        retention = table.raw_retention_days
        if retention is not None:
            if isinstance(retention, str):  # "90d", "13w": a whole number of days
                days = self.seconds("storage", "raw_retention_days", retention) / 86400
                if not days.is_integer():
                    raise self.error("storage", f"raw_retention_days: {retention!r} is not a whole number of days (e.g. 90 or \"13w\")")
                retention = int(days)
            retention = self.typed("storage", "raw_retention_days", retention, int)
            if retention < 1:
                raise self.error("storage", "raw_retention_days must be at least 1")
        url, instance = self.shared_storage(table)
        return Storage(
            path=path, raw_retention_days=retention, downsample_to=table.downsample_to, default=default,
            downsample_anyway=tuple(table.downsample_anyway),
            url=url, instance=instance,
        )

    def shared_storage(self, table: StorageTable) -> tuple[opts.Secret | None, str]:
        """``[storage] url`` (a PostgreSQL URL, a Secret) and ``instance`` (default: the host name)."""
        import socket

        url = None if table.url is None else self.typed("storage", "url", table.url, opts.Secret)
        if url is not None and not url.template.startswith(("postgresql://", "postgres://", "${")):
            raise self.error("storage", "url must be a PostgreSQL URL (postgresql://user@host/db) or ${ENV_VAR}")
        instance = ((socket.gethostname() or "local") if table.instance is None else table.instance).strip()
        if not instance or len(instance) > 200:
            raise self.error("storage", "instance must be a name of 1-200 characters")
        return url, instance

    def sources(self, data: dict[str, Any]) -> dict[str, SourceSpec]:
        registry = self.registry
        assert registry is not None
        specs: dict[str, SourceSpec] = {}
        for sid, table in data.items():
            where = f"sources.{sid}"
            if not isinstance(table, dict):
                raise self.error(where, "must be a table")
            type_name, cls = self.plugin_type(where, table, "type", registry.sources, "source type")
            options = self.plugin_options(where, cls.Options, table, opts.field_names(SourceTable))
            interval = self.seconds(where, "interval", table.get("interval", cls.default_interval))
            timeout = self.seconds(where, "timeout", table.get("timeout", cls.default_timeout))
            if interval <= 0 or timeout <= 0:
                raise self.error(where, "interval and timeout must be positive durations, e.g. 30s, 5m or 1h (a plain number is seconds)")
            enabled = self.typed(where, "enabled", table.get("enabled", True), bool)
            specs[sid] = SourceSpec(id=sid, type=type_name, interval=interval, timeout=timeout, options=options, enabled=enabled)
        if MANUAL_SOURCE not in specs and "manual" in registry.sources:
            cls = registry.sources["manual"]
            specs[MANUAL_SOURCE] = SourceSpec(
                id=MANUAL_SOURCE, type="manual", interval=cls.default_interval, timeout=cls.default_timeout, options=cls.Options()
            )
        return specs

    def metrics(self, data: dict[str, Any], sources: dict[str, SourceSpec]) -> dict[str, Metric]:
        registry = self.registry
        assert registry is not None
        metrics: dict[str, Metric] = {}
        for mid, table in data.items():
            where = f"metrics.{mid}"
            if not isinstance(table, dict):
                raise self.error(where, "must be a table")
            source_id = self.typed(where, "source", table.get("source", MANUAL_SOURCE), str)
            self.ref(where, "source", source_id, sources, "source")
            cls = registry.sources[sources[source_id].type]
            options = self.plugin_options(where, cls.MetricOptions, table, opts.field_names(MetricTable))
            unit = self.unit(where, table, self.source_unit(where, cls, sources[source_id].options, options))
            aggregation = self.typed(where, "aggregation", table.get("aggregation", _default_aggregation(unit)), str)
            if aggregation not in AGGREGATIONS:
                self.ref(where, "aggregation", aggregation, AGGREGATIONS, "aggregation")
            trigger = None
            if "trigger" in table or "condition" in table:
                text = self.typed(where, "trigger", table.get("trigger", ""), str)
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

    def source_unit(self, where: str, cls: type, options: Any, metric_options: Any) -> str:
        """The unit a metric gets from its source when its table names none (``count`` when the source says nothing)."""
        owner = self.registry.owner("source", cls.type_name) if self.registry else None
        try:
            unit = cls.metric_unit(options, metric_options)
        except Exception as exc:  # noqa: BLE001 - a plugin's metric_unit crashed: name the plugin, not the user
            raise self.error(where, f"the {cls.type_name!r} source (plugin {owner}) failed to give the metric's unit: {type(exc).__name__}: {exc}") from None
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
        from .api import SourceContext

        registry = self.registry
        assert registry is not None
        context = SourceContext(config_dir=self.path.parent, timezone=timezone)
        for sid, spec in sources.items():
            cls = registry.sources[spec.type]
            mine = [m for m in metrics.values() if m.source == sid]
            try:
                cls.check(spec.options, mine, context)
            except opts.OptionError as exc:
                raise self.error(f"sources.{sid}", exc.message) from None
            except Exception as exc:  # a plugin's check() crashed: report it, do not trace back
                raise self.error(
                    f"sources.{sid}",
                    f"the {spec.type!r} source (plugin {registry.owner('source', spec.type)}) failed to check its options: "
                    f"{type(exc).__name__}: {opts.redact(str(exc))}",
                ) from None

    def kpis(self, data: dict[str, Any], metrics: dict[str, Metric]) -> dict[str, Kpi]:
        from .periods import GRAINS, PeriodError, parse_window

        registry = self.registry
        assert registry is not None
        kpis: dict[str, Kpi] = {}
        formulas: dict[str, Any] = {}
        for kid, table in data.items():
            where = f"kpis.{kid}"
            if not isinstance(table, dict):
                raise self.error(where, "must be a table")
            if kid in metrics:
                raise self.error(where, f"a metric is also called {kid!r}; KPI and metric ids must differ")
            formula, cls = self.plugin_type(where, table, "formula", registry.formulas, "formula type")
            params = self.plugin_options(where, cls.Options, table, opts.field_names(KpiTable))
            try:
                formulas[kid] = cls(params)
            except opts.OptionError as exc:
                raise self.error(where, exc.message) from None
            except Exception as exc:
                raise self.error(
                    where,
                    f"the {formula!r} formula (plugin {registry.owner('formula', formula)}) rejected its options: "
                    f"{type(exc).__name__}: {exc}",
                ) from None
            window = self.typed(where, "window", table.get("window", "month_to_date"), str)
            try:
                window = parse_window(window).name
            except PeriodError as exc:
                raise self.error(where, f"window: {exc}") from None
            grain = table.get("grain")
            if grain is not None:
                grain = self.typed(where, "grain", grain, str)
                if grain not in GRAINS:
                    self.ref(where, "grain", grain, GRAINS, "grain")
            unit = self.unit(where, table, formulas[kid].default_unit or "number")
            target = self.target(where, table["target"], duration=unit == "duration") if "target" in table else None
            thresholds = self.thresholds(where, table.get("thresholds", {}))
            weight = self.typed(where, "weight", table.get("weight", 1.0), float)
            if weight < 0:
                raise self.error(where, "weight must not be negative")
            kpis[kid] = Kpi(
                id=kid,
                formula=formula,
                params=params,
                window=window,
                grain=grain,
                unit=unit,
                target=target,
                thresholds=thresholds,
                weight=weight,
                **self.labels(where, kid, table),
            )
        # inputs may name metrics or other KPIs; no cycles
        names = [*metrics, *kpis]
        for kid, instance in formulas.items():
            try:
                inputs = instance.inputs()
            except Exception as exc:
                raise self.error(f"kpis.{kid}", f"the {kpis[kid].formula!r} formula failed to list its inputs: {exc}") from None
            for inp in inputs:
                self.ref(f"kpis.{kid}", "formula input", inp.ref, names, "metric or KPI")
        self._check_cycles(kpis, formulas)
        return kpis

    def _check_cycles(self, kpis: dict[str, Kpi], formulas: dict[str, Any]) -> None:
        state: dict[str, int] = {}

        def visit(kid: str, chain: list[str]) -> None:
            if state.get(kid) == 2:
                return
            if state.get(kid) == 1:
                cycle = " -> ".join([*chain[chain.index(kid):], kid])
                raise self.error(f"kpis.{kid}", f"KPIs refer to each other in a cycle: {cycle}")
            state[kid] = 1
            for inp in formulas[kid].inputs():
                if inp.ref in kpis:
                    visit(inp.ref, [*chain, kid])
            state[kid] = 2

        for kid in kpis:
            visit(kid, [])

    def target(self, where: str, data: Any, duration: bool = False) -> Target:
        """``duration``: the KPI's unit is a duration, so its numbers may be typed as "5d", "4h 30m"."""
        where = f"{where}.target"
        if duration and isinstance(data, str):
            data = {"value": data}
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return Target(kind="reach", value=float(data))
        if not isinstance(data, dict):
            raise self.error(where, "target must be a number or a table with kind, value, baseline, low, high, due")
        self.parse_table(where, TargetTable, data)
        if "kind" in data:
            kind = self.typed(where, "kind", data["kind"], str)
            if kind not in TARGET_KINDS:
                self.ref(where, "kind", kind, TARGET_KINDS, "target kind")
        elif "direction" in data:
            direction = self.typed(where, "direction", data["direction"], str)
            if direction not in DIRECTIONS:
                self.ref(where, "direction", direction, DIRECTIONS, "direction")
            kind = DIRECTIONS[direction]
        else:
            kind = "within" if ("low" in data or "high" in data) else "reach"
        nums = {
            k: self.seconds(where, k, data[k]) if duration and isinstance(data[k], str) else self.typed(where, k, data[k], float)
            for k in ("value", "baseline", "low", "high")
            if k in data
        }
        due = data.get("due")
        if due is not None and not isinstance(due, dt.date):
            raise self.error(where, f"due must be a TOML date such as 2026-12-31, not {due!r}")
        if isinstance(due, dt.datetime):
            due = due.date()
        if kind == "within":
            if "low" not in nums or "high" not in nums:
                raise self.error(where, "a 'within' target needs both low and high")
            if nums["low"] > nums["high"]:
                raise self.error(where, "low must not be greater than high")
        elif "value" not in nums:
            raise self.error(where, f"a {kind!r} target needs a value")
        if kind == "reach" and "baseline" in nums and nums["baseline"] == nums["value"]:
            raise self.error(where, "baseline and value must differ (the score runs from baseline to value)")
        if kind == "above" and nums.get("baseline") is not None and nums["baseline"] >= nums["value"]:
            raise self.error(where, "for an 'above' target the baseline must be below the value (the score runs from baseline up to value)")
        if kind == "below" and nums.get("baseline") is not None and nums["baseline"] <= nums["value"]:
            raise self.error(where, "for a 'below' target the baseline must be above the value (the score runs from baseline down to value)")
        return Target(kind=kind, due=due, **nums)

    def thresholds(self, where: str, data: Any) -> Thresholds:
        where = f"{where}.thresholds"
        if not isinstance(data, dict):
            raise self.error(where, "thresholds must be a table with on_track and at_risk")
        table = self.parse_table(where, ThresholdsTable, data)
        return Thresholds(on_track=table.on_track, at_risk=table.at_risk)

    def objectives(self, data: dict[str, Any], kpi_tables: dict[str, Any], kpis: dict[str, Kpi]) -> dict[str, Objective]:
        """Objectives list their KPIs, or a KPI names its objective with ``objective = "id"``."""
        named: dict[str, list[str]] = {}
        for kid, table in kpi_tables.items():
            if "objective" in table:
                oid = self.typed(f"kpis.{kid}", "objective", table["objective"], str)
                self.ref(f"kpis.{kid}", "objective", oid, data, "objective")
                named.setdefault(oid, []).append(kid)
        objectives = {}
        for oid, table in data.items():
            where = f"objectives.{oid}"
            if not isinstance(table, dict):
                raise self.error(where, "must be a table")
            parsed = self.parse_table(where, ObjectiveTable, table)
            refs = list(parsed.kpis)
            for i, ref in enumerate(refs):
                self.ref(where, f"kpis[{i}]", ref, kpis, "KPI")
            refs += [kid for kid in named.get(oid, []) if kid not in refs]
            objectives[oid] = Objective(
                id=oid,
                title=oid.replace("_", " ").capitalize() if parsed.title is None else parsed.title,
                description=parsed.description,
                kpis=tuple(refs),
                thresholds=self.thresholds(where, parsed.thresholds),
            )
        return objectives


def _default_aggregation(unit: str) -> str:
    return {"count": "sum", "currency": "sum", "duration": "mean", "percent": "mean", "ratio": "mean"}.get(unit, "last")
