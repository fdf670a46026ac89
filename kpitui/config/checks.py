"""The config loader's base: reading one key or table with an error that names file, table and key.

:mod:`kpitui.config.alerting`, :mod:`kpitui.serve_auth` and :mod:`kpitui.annotations` check their
tables with these too (they are handed the loader).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, cast

from .. import options as opts
from ..console import escape_controls
from ..model import UNITS, Unit
from ..plugins import Registry
from .files import files_dir
from .spec import ConfigError

#: the most decimals a metric or KPI may show
MAX_DECIMALS = 12


class TableChecks:
    """A config file being read: its path, how it was found, the plugins loaded for it; errors naming file, table and
    key."""

    def __init__(self, path: Path, origin: str, registry: Registry | None):
        self.path = path
        self.file = path.name if origin == "bundled sample" else str(path)
        self.origin = origin
        self.registry = registry
        self.files_dir = files_dir(path, origin)

    # errors ------------------------------------------------------------------

    def error(self, table: str | None, message: str) -> ConfigError:
        return ConfigError(self.file, table, message)

    def parse_table(self, where: str, table_cls: type, data: dict[str, Any]) -> Any:
        """One of kpitui's own tables (:mod:`kpitui.config_tables`), parsed by the same ``options.parse`` as plugin
        options."""
        try:
            return opts.parse(table_cls, data)
        except opts.OptionError as exc:
            raise self.error(where, exc.message) from None

    def table(self, data: dict[str, Any], key: str, where: str | None = None) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(
                where, f"{key} must be a table, e.g. [{key}]" if where is None else f"{key} must be a table"
            )
        return value

    def entries(self, section: str, data: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Each ``[section.ID]`` table in ``data``: its id, its name in errors (``section.ID``), the table."""
        for ident, table in data.items():
            where = f"{section}.{ident}"
            if escape_controls(ident) != ident:  # an id is shown on every screen and in every log line
                raise self.error(f"{section}.{escape_controls(ident)}", "the id holds a control character")
            if not isinstance(table, dict):
                raise self.error(where, "must be a table")
            yield ident, where, table

    def typed(self, table: str, key: str, value: Any, tp: Any) -> Any:
        try:
            return opts.convert(value, tp, key)
        except opts.OptionError as exc:
            raise self.error(table, exc.message) from None

    def seconds(self, table: str, key: str, value: Any) -> float:
        """A duration key: a number of seconds or a string such as "90s", "5m", "4h 30m", "9d"."""
        from ..userinput import InputError, parse_duration

        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.error(
                table, f"{key}: expected a duration like 90m, 4h 30m, 9d (or a number of seconds), not {value!r}"
            )
        try:
            return parse_duration(value)
        except InputError as exc:
            raise self.error(table, f"{key}: {exc}") from None

    def ref(self, table: str, key: str, value: str, choices: Iterable[str], what: str) -> str:
        # a table's own lookup when it has one: a list of the 1,000 metrics made for each of a config's
        # 3,300 references was most of the time validation took (kpitui.config.kpis, .sources)
        try:
            if isinstance(choices, Collection) and value in choices:
                return value
        except TypeError:  # an unhashable value asked of a dict or set: looked for in the list below
            pass
        choices = list(choices)
        if value in choices:
            return value
        otherwise = f"; known: {', '.join(choices)}" if choices else f"; no {what}s are defined"
        raise self.error(table, f"{key}: unknown {what} {value!r}" + opts.did_you_mean(value, choices, otherwise))

    def plugin_options(
        self,
        where: str,
        options_cls: type,
        table: dict[str, Any],
        reserved: list[str] | tuple[str, ...],
        owner: tuple[str, str] | None = None,
    ) -> Any:
        """The keys of ``table`` that are not kpitui's own (``reserved``), parsed into a plugin's options.

        ``owner``: (kind, type name) of the plugin type they are for. An options class whose ``validate()``
        raises something other than :class:`OptionError` (a ``ValueError`` from ``urlsplit("http://[::1")``,
        a plugin's bug) is a config error naming the table and that plugin, never a traceback."""
        rest = {k: v for k, v in table.items() if k not in reserved}
        try:
            return opts.parse(options_cls, rest, extra_known=(*reserved, *opts.field_names(options_cls)))
        except opts.OptionError as exc:
            raise self.error(where, exc.message) from None
        except Exception as exc:  # noqa: BLE001 - an options check that failed is this table's error
            plugin = self.registry.owner(*owner) if owner is not None and self.registry is not None else None
            by = f" (plugin {plugin})" if plugin else ""
            raise self.error(
                where, f"its options could not be checked{by}: {type(exc).__name__}: {opts.exc_text(exc)}"
            ) from None

    def plugin_type(
        self, where: str, table: dict[str, Any], key: str, types: dict[str, type], what: str
    ) -> tuple[str, Any]:
        """The type named by ``table[key]`` (``type`` of a source, ``formula`` of a KPI) and its class."""
        if key not in table:
            raise self.error(where, f"missing key {key!r} (one of: {', '.join(sorted(types))})")
        value = self.typed(where, key, table[key], str)
        if value in types:  # a registry's table imports only the built-in plugin asked for (kpitui.plugins)
            return value, types[value]
        try:
            name = self.ref(where, key, value, types, what)
        except ConfigError as exc:  # say which plugin failed, when one did: its types are the missing ones
            note = self.registry.failure_note(value) if self.registry is not None else ""
            raise (self.error(where, f"{exc.message}; {note}") if note else exc) from None
        return name, types[name]

    def unit(self, where: str, table: dict[str, Any], default: str) -> Unit:
        unit = self.typed(where, "unit", table.get("unit", default), str)
        return cast(Unit, self.ref(where, "unit", unit, UNITS, "unit"))

    def labels(self, where: str, ident: str, table: dict[str, Any]) -> dict[str, Any]:
        """``name`` (default: from the id), ``description`` and ``decimals`` of a metric or KPI."""
        decimals = table.get("decimals")
        if decimals is not None and not isinstance(decimals, bool) and isinstance(decimals, int):
            if not 0 <= decimals <= MAX_DECIMALS:  # 100000 would print a value 100,000 digits long
                raise self.error(where, f"decimals must be between 0 and {MAX_DECIMALS}, not {decimals}")
        return {  # shown on terminals: an escape sequence in a name is written out, never sent (kpitui.console)
            "name": escape_controls(
                self.typed(where, "name", table.get("name", ident.replace("_", " ").capitalize()), str)
            ),
            "description": escape_controls(self.typed(where, "description", table.get("description", ""), str)),
            "decimals": None if decimals is None else self.typed(where, "decimals", decimals, int),
        }

    def resolve(self, value: str) -> Path:
        p = Path(os.path.expandvars(value)).expanduser()
        return p if p.is_absolute() else self.path.parent / p


def plugin_call(registry: Any, kind: str, type_name: str, call: Callable[[], Any]) -> Any:
    """``call()``; a third-party type's (a formula's constructor or ``inputs()``, a source's or notifier's
    ``check()``) under the plugins' time limit (``KPITUI_PLUGIN_TIMEOUT``): one that hangs is a config error
    naming the plugin, not a kpitui that never starts. A built-in type's is called as it is."""
    owner = registry.owner(kind, type_name)
    if owner is None or owner.startswith("builtin:"):
        return call()
    from ..plugins import bounded, plugin_timeout

    return bounded(call, plugin_timeout())
