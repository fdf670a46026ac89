"""Loading a config: the whole file, and kpitui's own ``[kpitui]``, ``[storage]``, ``[logging]`` tables."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .. import options as opts
from ..config_tables import ConfigFile, LoggingTable, PluginsTable, SettingsTable, StorageTable, UiTable
from ..logs import LogFile
from ..model import Settings
from ..plugins import Registry, load_registry
from . import parsed
from .files import default_storage_path, find_config, user_plugins_dir
from .kpis import KpiTables
from .sources import SourceTables
from .spec import Config, ConfigError, Storage

#: the tables read by :mod:`kpitui.config.alerting`, in the order they are read
ALERTING_TABLES = ("notifiers", "alerts", "digests")
#: the shortest [ui] refresh_seconds: how often the dashboard re-reads the history
MIN_REFRESH_SECONDS = 0.5
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)


def load_config(
    path: str | os.PathLike[str] | None = None,
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


class _Loader(KpiTables, SourceTables):
    """The whole file; the tables of sources, metrics, KPIs and objectives are read by the classes it extends."""

    def load(self, text: str) -> Config:
        try:
            data = parsed.loads(text, self.path)  # kept between starts when large (kpitui.config.parsed)
        except tomllib.TOMLDecodeError as exc:
            raise self.error(None, f"invalid TOML: {exc}") from None
        except RecursionError:  # tomllib recurses once per nested array or inline table
            raise self.error(None, "invalid TOML: arrays or inline tables nested too deeply") from None
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
            if ui["refresh_seconds"] < MIN_REFRESH_SECONDS:  # 0.0001 re-read the history 10,000 times a second
                raise self.error("ui", f"refresh_seconds must be at least {MIN_REFRESH_SECONDS:g}s")
        log_file = self.log_file(self.table(data, "logging"))
        # the modules of alerting, serving and annotations only for a config with those tables (their imports:
        # ~9 ms of CPU before the first frame); an empty or absent table is checked as they would check it
        notifiers: dict[str, Any] = {}
        alerts: dict[str, Any] = {}
        digests: dict[str, Any] = {}
        if any(data.get(key) for key in ALERTING_TABLES):
            from .alerting import AlertingLoader

            alerting = AlertingLoader(self, self.registry, self.files_dir, settings.timezone)
            notifiers = alerting.notifiers(self.table(data, "notifiers"))
            alerts = alerting.alerts(self.table(data, "alerts"), notifiers, sources, metrics, kpis)
            digests = alerting.digests(self.table(data, "digests"), notifiers)
        else:
            for key in ALERTING_TABLES:
                self.table(data, key)
        serve = None
        if "serve" in data:
            from ..serve_auth import load_serve_table

            serve = load_serve_table(self, self.table(data, "serve"))
        annotation_sources: dict[str, Any] = {}
        if data.get("annotation_sources"):
            from ..annotations import load_sources

            annotation_sources = load_sources(self, self.table(data, "annotation_sources"), settings.timezone)
        else:
            self.table(data, "annotation_sources")
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
        parsed = self.parse_table("logging", LoggingTable, table)
        if parsed.file is None:
            if table:
                raise self.error("logging", "missing key 'file' (where the collector's log goes, e.g. \"kpitui.log\")")
            return None
        return LogFile(self.resolve(parsed.file), max_bytes=int(parsed.max_mb * 1024 * 1024), backups=parsed.backups)

    def unknown_keys_top(self, data: dict[str, Any]) -> None:
        for key in data:
            tables = opts.field_names(ConfigFile)
            if key not in tables:
                hint = opts.nearest(key, tables)
                raise self.error(
                    None,
                    f"unknown table [{key}]"
                    + (f" (did you mean [{hint}]?)" if hint else f"; tables are {', '.join(tables)}"),
                )

    # tables ----------------------------------------------------------------

    def settings(self, data: dict[str, Any]) -> Settings:
        table = self.parse_table("kpitui", SettingsTable, data)
        tz = table.timezone
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            otherwise = " (use an IANA name such as 'Europe/London')"
            raise self.error(
                "kpitui",
                f"timezone: unknown time zone {tz!r}" + opts.did_you_mean(tz, available_timezones(), otherwise),
            ) from None
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
                    raise self.error(
                        "storage", f'raw_retention_days: {retention!r} is not a whole number of days (e.g. 90 or "13w")'
                    )
                retention = int(days)
            retention = self.typed("storage", "raw_retention_days", retention, int)
            if retention < 1:
                raise self.error("storage", "raw_retention_days must be at least 1")
        url, instance = self.shared_storage(table)
        return Storage(
            path=path,
            raw_retention_days=retention,
            downsample_to=table.downsample_to,
            default=default,
            downsample_anyway=tuple(table.downsample_anyway),
            url=url,
            instance=instance,
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
