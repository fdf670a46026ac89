"""``kpitui plugins``, ``install``, ``uninstall`` and ``plugin new``: what is installed, adding and removing
it, writing a new one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..console import escape_controls
from ..textfit import pad
from .base import EXIT_FAILURE, EXIT_OK, Failure, UsageError, err, load

if TYPE_CHECKING:
    from .base import Run, Subparsers


def add_parsers(sub: Subparsers, common: argparse.ArgumentParser) -> dict[str, Run]:
    plugins = sub.add_parser("plugins", parents=[common], help="list plugins and what they register")
    plugins.add_argument(
        "--format", choices=("table", "json"), default="table", help="table (default) or json (docs/json.md)"
    )
    plugins.add_argument(
        "--strict", action="store_true", help="exit 1 when any plugin failed to load or register (for CI)"
    )

    install = sub.add_parser("install", help="install plugins into kpitui's own environment (python -m pip install)")
    install.add_argument(
        "packages",
        nargs="*",
        metavar="PACKAGE",
        help="what pip installs: a name on PyPI (kpitui-nps), a path, a wheel or a URL",
    )
    install.add_argument("-U", "--upgrade", action="store_true", help="upgrade the packages if they are installed")
    install.add_argument(
        "-e",
        "--editable",
        action="append",
        default=[],
        metavar="PATH",
        help="install a local checkout in editable mode (repeatable)",
    )
    uninstall = sub.add_parser("uninstall", help="uninstall plugins from kpitui's own environment")
    uninstall.add_argument(
        "packages",
        nargs="+",
        metavar="PACKAGE",
        help="the distribution names, as `kpitui plugins` shows them (kpitui-nps)",
    )

    plugin = sub.add_parser("plugin", help="tools for plugin authors: `kpitui plugin new NAME` writes a plugin package")
    plugin_actions = plugin.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = plugin_actions.add_parser(
        "new", help="write a plugin package: pyproject, a source, a formula, tests, README, CI workflow"
    )
    new.add_argument("name", help="the plugin's name, e.g. crm (the package is kpitui-crm, the module kpitui_crm)")
    new.add_argument(
        "--dir", default=".", metavar="PATH", help="where to create the kpitui-NAME folder (default: here)"
    )
    return {"plugins": cmd_plugins, "install": cmd_install, "uninstall": cmd_uninstall, "plugin": cmd_plugin}


def cmd_plugins(args: argparse.Namespace) -> int:
    from ..config import ConfigError, plugins_dirs_of
    from ..options import describe
    from ..plugins import load_registry

    config_error = None
    try:
        registry = load(args).registry
    except ConfigError as exc:  # list plugins even when the config is broken, with its error alongside
        config_error = str(exc)
        registry = exc.registry or load_registry(plugins_dirs_of(getattr(args, "config", None)))
    registry.load_all()  # the built-ins a config does not name are imported only now (kpitui.plugins.TypeTable)
    if args.format == "json":
        data = [
            {
                **p.as_dict(),
                "source_types": [
                    {
                        "type": t,
                        "description": registry.sources[t].description,
                        "options": describe(registry.sources[t].Options),
                        "metric_options": describe(registry.sources[t].MetricOptions),
                    }
                    for t in p.sources
                ],
                "formula_types": [
                    {
                        "type": t,
                        "description": registry.formulas[t].description,
                        "options": describe(registry.formulas[t].Options),
                    }
                    for t in p.formulas
                ],
                "notifier_types": [
                    {
                        "type": t,
                        "description": registry.notifiers[t].description,
                        "options": describe(registry.notifiers[t].Options),
                    }
                    for t in p.notifiers
                ],
            }
            for p in registry.plugins
        ]
        print(json.dumps({"schema": 1, "config_error": config_error, "plugins": data}, indent=2, default=str))
    else:
        for p in registry.plugins:
            status = "ok" if p.ok else "ERROR"
            name = (
                f"{p.distribution} {p.version or ''} ({p.origin} {p.name})"
                if p.distribution
                else f"{p.name} {p.version or ''} ({p.origin})"
            )
            print(f"{name} — {status}")
            kinds = (
                ("source  ", p.sources, registry.sources),
                ("formula ", p.formulas, registry.formulas),
                ("notifier ", p.notifiers, registry.notifiers),
                ("annotations ", p.annotation_sources, registry.annotation_sources),
            )
            for kind, types, table in kinds:
                for t in types:
                    # the type in terminal cells (a wide 漢字 name takes two each), its description after it in line
                    label = pad(kind + escape_controls(t), 22)
                    print(f"    {label} {escape_controls(str(table[t].description))}")
            for e in p.errors:
                print(f"    error: {e}")
        if config_error:
            err(f"config error (plugins listed anyway): {config_error}")
    if getattr(args, "strict", False) and (registry.errors or config_error):
        return EXIT_FAILURE
    return EXIT_OK


def cmd_install(args: argparse.Namespace) -> int:
    from ..installer import PipMissing, install

    if not args.packages and not args.editable:
        raise UsageError("install: name at least one package (or -e PATH)")
    if "kpitui" in args.packages:
        raise UsageError("install: kpitui itself is not a plugin; upgrade it the way you installed it")
    try:
        code = install(args.packages, args.editable, args.upgrade)
    except PipMissing as exc:
        raise Failure(str(exc)) from None
    return EXIT_OK if code == 0 else EXIT_FAILURE


def cmd_uninstall(args: argparse.Namespace) -> int:
    from ..installer import PipMissing, uninstall

    if "kpitui" in args.packages:
        raise UsageError("uninstall: that would remove kpitui itself; name only plugins")
    try:
        code = uninstall(args.packages)
    except PipMissing as exc:
        raise Failure(str(exc)) from None
    return EXIT_OK if code == 0 else EXIT_FAILURE


def cmd_plugin(args: argparse.Namespace) -> int:
    from ..scaffold import ScaffoldError, create, names

    try:
        root = create(args.name, Path(args.dir))
    except ScaffoldError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise Failure(f"cannot write the plugin package: {exc}") from None
    n = names(args.name)
    print(
        f"wrote {root}: source type {n['source']!r}, formula type {n['formula']!r}, tests, README, CI workflow\n"
        f"next: cd {root} && kpitui install -e . && pytest   (the plugin guide: plugins/README.md in kpitui)"
    )
    return EXIT_OK
