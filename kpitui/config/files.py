"""Finding the config file, and the plugin folders it names."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import platformdirs

BUNDLED_SAMPLE = Path(__file__).parent.with_name("sample_config.toml")
CONFIG_NAME = "kpitui.toml"


def user_config_path() -> Path:
    return Path(platformdirs.user_config_dir("kpitui")) / CONFIG_NAME


def user_plugins_dir() -> Path:
    return Path(platformdirs.user_config_dir("kpitui")) / "plugins"


def files_dir(config_path: Path, origin: str) -> Path:
    """The folder relative paths of sources, annotation sources and notifiers resolve from: the
    config file's own; for the bundled sample (inside the installed package, which may be read-only)
    kpitui's data folder, beside the sample's history, where its demo source writes its web log."""
    if origin == "bundled sample":
        from ..location import data_dir

        return data_dir()
    return config_path.parent


def default_storage_path(config_path: Path, is_sample: bool) -> Path:
    from ..location import own_history_path

    return own_history_path(config_path, is_sample)


def find_config(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
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


def plugins_dirs_of(path: str | os.PathLike[str] | None = None) -> list[Path]:
    """The plugin folders a config names, read leniently (its other mistakes ignored), and the user's folder."""
    dirs: list[Path] = []
    try:
        found, _ = find_config(path)
        text = found.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError):  # a mistake elsewhere in the file: read [plugins] alone
            table = re.search(r"^\[plugins\][ \t]*(?:#.*)?$(.*?)(?=^[ \t]*\[|\Z)", text, re.M | re.S)
            data = tomllib.loads("[plugins]" + table.group(1)) if table else {}
        named = data.get("plugins", {}).get("dirs", [])
        for value in named if isinstance(named, list) else ():
            if isinstance(value, str):
                p = Path(os.path.expandvars(value)).expanduser()
                dirs.append(p if p.is_absolute() else found.parent / p)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError, RecursionError):
        pass
    return [*dirs, user_plugins_dir()]
