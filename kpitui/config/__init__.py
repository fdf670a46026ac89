"""TOML config -> validated specs.

Every mistake becomes one :class:`ConfigError` that names the file, the table
and key, what was expected and, for a misspelling, the nearest valid name.
Nothing here prints or exits; the CLI turns the error into exit code 2.

The package, by concern: ``spec`` (:class:`Config`, :class:`Storage`,
:class:`ConfigError`), ``files`` (finding the file, its plugin folders),
``loader`` (the whole file and kpitui's own tables), ``checks`` (one key or
table, the loader's base), ``sources`` (sources and metrics) and ``kpis``
(KPIs, targets, objectives).
"""

from __future__ import annotations

from .files import (
    BUNDLED_SAMPLE,
    CONFIG_NAME,
    default_storage_path,
    find_config,
    plugins_dirs_of,
    user_config_path,
    user_plugins_dir,
)
from .kpis import DIRECTIONS, TARGET_KINDS
from .loader import MONTHS, WEEKDAYS, _Loader, load_config, parse_config
from .sources import MANUAL_SOURCE
from .spec import Config, ConfigError, Storage

__all__ = [
    "BUNDLED_SAMPLE",
    "CONFIG_NAME",
    "DIRECTIONS",
    "MANUAL_SOURCE",
    "MONTHS",
    "TARGET_KINDS",
    "WEEKDAYS",
    "Config",
    "ConfigError",
    "Storage",
    "_Loader",
    "default_storage_path",
    "find_config",
    "load_config",
    "parse_config",
    "plugins_dirs_of",
    "user_config_path",
    "user_plugins_dir",
]
