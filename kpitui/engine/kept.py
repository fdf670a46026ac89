"""A large config's compiled program, kept between starts.

Compiling a config (:meth:`kpitui.engine.program.Compiler.compile`) builds
each KPI's polars expressions in Python: ~0.08 s of CPU for 300 KPIs, on the
way to the TUI's first values (after the first frame). :func:`program` keeps
what it compiled in kpitui's data folder, one file per config path
(``compiled-programs/<hash of the path>.json``, 0600 in a 0700 folder): each
KPI's reads, parts and flags as JSON, and the expressions of each formula
shape as polars' own serialization (the bytes the shape's key is made of).

A kept program is used only for exactly what it was compiled from: the file
holds a digest of the KPIs' formulas and options, the metrics' aggregation
rules, the plugin owning each formula type, kpitui's version and the size
and modification time of each of its source files (an edited checkout is
another kpitui), and polars' and Python's versions. Only a program whose
KPIs all compiled with built-in formula types is kept (a plugin's
expression is built by its code each time, and a failed formula's error is
found again). Configs with fewer than :data:`MIN_KPIS` KPIs always compile:
it is quick. Anything unexpected (no data folder, a damaged file) only costs
the compile.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import polars as pl

from .. import __version__
from ..config import Config
from ..private_files import per_config, replace_private
from .program import CompiledKpi, Compiler, Program, Read, Shape

#: configs with fewer KPIs compile each time (the bundled sample's 16: a few milliseconds)
MIN_KPIS = 64
FORMAT = 1


def program(compiler: Compiler) -> Program:
    """``compiler.compile()``, or the program kept from an earlier compile of the same config."""
    config = compiler.config
    if len(config.kpis) < MIN_KPIS or getattr(config, "path", None) is None or compiler.errors:
        return compiler.compile()  # (a formula that failed to load: the compile finds its dependants)
    try:
        digest = _digest(compiler)
        where = _file(config.path)
    except Exception:  # noqa: BLE001 - an options class whose repr fails, no data folder: compile
        return compiler.compile()
    kept = _read(where, digest, config)
    if kept is not None:
        return kept
    made = compiler.compile()
    if _keepable(compiler, made):
        _keep(where, digest, made)
    return made


@functools.lru_cache(maxsize=1)
def _sources() -> tuple[tuple[str, int, int], ...]:
    """Each of kpitui's source files (path in the package, size, modification time in ns)."""
    out: list[tuple[str, int, int]] = []

    def walk(folder: str, prefix: str) -> None:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_dir() and entry.name != "__pycache__":
                    walk(entry.path, f"{prefix}{entry.name}/")
                elif entry.name.endswith(".py"):
                    stat = entry.stat()
                    out.append((prefix + entry.name, stat.st_size, stat.st_mtime_ns))

    walk(str(Path(__file__).resolve().parents[1]), "")
    return tuple(out)


def _digest(compiler: Compiler) -> str:
    """What the compile of ``compiler``'s config reads, hashed (see the module docstring)."""
    config = compiler.config
    registry = config.registry
    parts: list[Any] = [FORMAT, __version__, pl.__version__, sys.version, _sources()]
    origins = {p.name: p.origin for p in registry.plugins}
    for kid, kpi in config.kpis.items():
        owner = registry.owner("formula", kpi.formula)
        options = type(kpi.params)
        parts.append((kid, kpi.formula, owner, origins.get(owner or ""), options.__module__, options.__qualname__))
        parts.append(repr(kpi.params))
    parts.extend((mid, metric.aggregation) for mid, metric in config.metrics.items())
    return hashlib.blake2b(repr(parts).encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()


def _keepable(compiler: Compiler, made: Program) -> bool:
    """Every KPI compiled, each with a shape (built-in formula types only), no error met."""
    return (
        not compiler.errors
        and made.kpis.keys() == compiler.config.kpis.keys()
        and all(kpi.shape is not None and not kpi.exprs for kpi in made.kpis.values())
    )


def _encode(made: Program) -> dict[str, Any]:
    shapes: dict[tuple[int, tuple[bytes, ...]], int] = {}
    kpis = {}
    for kid, kpi in made.kpis.items():
        assert kpi.shape is not None
        at = shapes.setdefault(kpi.shape.key, len(shapes))
        kpis[kid] = {
            "names": list(kpi.names),
            "parts": list(kpi.parts),
            "reads": [list(read) for read in kpi.reads],
            "steps": sorted(kpi.steps),
            "metrics": sorted(kpi.metrics),
            "projectable": kpi.projectable,
            "shape": at,
        }
    return {
        "shapes": [[width, [base64.b64encode(b).decode("ascii") for b in blobs]] for (width, blobs) in shapes],
        "kpis": kpis,
    }


def _decode(data: dict[str, Any], config: Config) -> Program | None:
    shapes = []
    for width, blobs in data["shapes"]:
        key_blobs = tuple(base64.b64decode(b, validate=True) for b in blobs)
        exprs = tuple(pl.Expr.deserialize(io.BytesIO(b), format="binary") for b in key_blobs)
        shapes.append(Shape((int(width), key_blobs), exprs))
    kpis: dict[str, CompiledKpi] = {}
    for kid, kpi in data["kpis"].items():
        reads = tuple(Read(str(c), str(m), str(a), int(s), bool(add)) for c, m, a, s, add in kpi["reads"])
        kpis[kid] = CompiledKpi(
            exprs=(),
            names=tuple(kpi["names"]),
            parts=tuple(kpi["parts"]),
            reads=reads,
            steps=frozenset(int(s) for s in kpi["steps"]),
            metrics=frozenset(kpi["metrics"]),
            projectable=bool(kpi["projectable"]),
            shape=shapes[kpi["shape"]],
        )
    if kpis.keys() != config.kpis.keys():
        return None
    readers: dict[str, set[str]] = {}
    for kid, compiled in kpis.items():
        for metric in compiled.metrics:
            readers.setdefault(metric, set()).add(kid)
    return Program(kpis, {metric: frozenset(kids) for metric, kids in readers.items()})


def _read(where: Path, digest: str, config: Config) -> Program | None:
    try:
        kept = json.loads(where.read_text(encoding="utf-8"))
        if kept.get("format") != FORMAT or kept.get("digest") != digest:
            return None
        return _decode(kept["data"], config)
    except Exception:  # noqa: BLE001 - missing, damaged, another polars' bytes: compile instead
        return None


def _file(config_path: Path) -> Path:
    """Where the compiled program of the config at ``config_path`` is kept."""
    return per_config("compiled-programs", config_path)


def _keep(where: Path, digest: str, made: Program) -> None:
    try:
        text = json.dumps({"format": FORMAT, "digest": digest, "data": _encode(made)})
        replace_private(where, text)
    except Exception:  # noqa: BLE001 - a read-only or missing data folder: the next start compiles again
        pass
