"""The plugin host: built-ins, then entry points (group ``kpitui``), then a plugins folder.

pluggy stops calling implementations after one raises and its entry-point
loader has no guard, so isolation is done here: each plugin is loaded, checked
and called under its own guard, and every failure is recorded on that plugin
(shown by ``kpitui plugins`` and the TUI) while everything else keeps working.

Third-party plugin code (importing a plugin, calling its registration hooks)
runs on a helper thread with a time limit, ``KPITUI_PLUGIN_TIMEOUT`` seconds
(default 10): a plugin that hangs is reported by name and left out, and
kpitui goes on without it. Whatever plugin code prints meanwhile goes to
stderr, so ``report --format json`` stays machine-readable.

``KPITUI_LOAD_PLUGINS`` chooses which installed plugins load: unset loads all;
a comma-separated list of names (entry-point or distribution names,
``nps`` or ``kpitui-nps``) loads only those; an empty value loads none
(built-ins always load).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata
import importlib.util
import inspect
import itertools
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable, cast

import pluggy

from . import __version__, hookspecs
from .api import AnnotationSource, FormulaType, MetricSource, Notifier
from .builtin import MODULES as BUILTIN_MODULES, TYPES as BUILTIN_TYPES
from .options import did_you_mean, exc_text, redact

ENTRY_POINT_GROUP = "kpitui"
BUILTIN_KINDS = ("source", "formula", "notifier", "annotation source")
HOOK_NAMES = ("register_metric_sources", "register_formula_types", "register_notifiers", "register_annotation_sources")
DEFAULT_TIMEOUT = 10.0


def plugin_timeout() -> float:
    """Seconds a plugin may take to import, and again to answer each registration hook."""
    try:
        value = float(os.environ.get("KPITUI_PLUGIN_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if 0 < value <= 86_400 else DEFAULT_TIMEOUT  # inf or 1e308: past what a thread can wait for


class PluginTimeout(Exception):
    """Plugin code did not return within :func:`plugin_timeout` seconds."""


class BaseExceptionRaised(Exception):
    """Plugin code under :func:`bounded` raised a ``BaseException`` that is not an ``Exception``."""


class PluginInterrupted(BaseException):
    """Raised inside plugin code still running past the plugins' time limit, to stop it (a ``BaseException``,
    so a plugin's ``except Exception`` does not swallow it)."""


def _interrupt(idents: Iterable[int | None]) -> None:
    """Raise :class:`PluginInterrupted` in these threads at their next Python instruction: a loop in plugin code
    stops; a thread blocked inside one C call (a read with no timeout) gets it only once that call returns."""
    import ctypes

    for ident in idents:
        if ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(PluginInterrupted))


def udf_threads() -> list[int]:
    """polars' own threads running Python code now: a plugin expression's UDF (``map_elements``,
    ``map_batches``). kpitui's own expressions call no Python, so any such code is a plugin's."""
    out = []
    for ident, frame in sys._current_frames().items():
        outermost = frame
        while outermost.f_back is not None:
            outermost = outermost.f_back
        if f"{os.sep}polars{os.sep}" in outermost.f_code.co_filename:
            out.append(ident)
    return out


class PluginThread(threading.Thread):
    """A daemon thread running plugin code, which :func:`stop_plugin_code` may interrupt."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__(target=target, name=name, daemon=True)

    def run(self) -> None:
        with contextlib.suppress(PluginInterrupted):
            super().run()


def stop_plugin_code(threads: Iterable[threading.Thread], grace: float = 1.0, *, direct: bool = True) -> None:
    """Plugin code past its time limit: interrupt polars' threads running a plugin's UDF and, with ``direct``,
    ``threads`` themselves (:class:`PluginThread` running plugin code; without it, each waits on a polars
    query of a plugin's expression), again every 0.1 s until ``threads`` end or ``grace`` seconds pass. Those
    left (blocked inside one C call) stay running as daemons."""
    threads = [t for t in threads if t.is_alive()]
    deadline = time.monotonic() + grace
    while threads and time.monotonic() < deadline:
        idents: list[int | None] = [t.ident for t in threads] if direct else []
        _interrupt(idents + list(udf_threads()))
        for thread in threads:
            thread.join(0.1 / len(threads))
        threads = [t for t in threads if t.is_alive()]


def bounded(call: Callable[[], Any], seconds: float | None) -> Any:
    """``call()``, or :class:`PluginTimeout` after ``seconds`` (None: no limit, on this thread).

    The helper thread is a daemon, interrupted when its time is up (:func:`stop_plugin_code`): a plugin
    stuck for good neither blocks kpitui nor keeps the process alive at exit.
    """
    if seconds is None:
        return call()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
            outcome["error"] = exc

    thread = PluginThread(target, "kpitui-plugin")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        stop_plugin_code([thread])
        raise PluginTimeout(f"did not finish within {seconds:g}s (KPITUI_PLUGIN_TIMEOUT); left out")
    if "error" in outcome:
        error = outcome["error"]
        if not isinstance(error, Exception):  # no signal reaches this thread: the plugin's own KeyboardInterrupt,
            # SystemExit or BaseException subclass, which would end kpitui past every `except Exception`
            raise BaseExceptionRaised(f"{type(error).__name__}: {exc_text(error)}") from error
        raise error
    return outcome.get("value")


@dataclass
class PluginInfo:
    """What ``kpitui plugins`` shows for one plugin."""

    name: str
    origin: str  # "builtin", "entry point", "plugins dir"
    version: str | None = None
    distribution: str | None = None  # the installed package (``kpitui-nps``) of an entry point (``nps``)
    sources: list[str] = field(default_factory=list)
    formulas: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notifiers: list[str] = field(default_factory=list)
    annotation_sources: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "origin": self.origin,
            "version": self.version,
            "distribution": self.distribution,
            "sources": self.sources,
            "formulas": self.formulas,
            "notifiers": self.notifiers,
            "annotation_sources": self.annotation_sources,
            "errors": self.errors,
        }


class TypeTable(dict[str, Any]):
    """One kind of plugin type by name. A built-in plugin's module is imported, and registered through the
    same hooks as any plugin, when one of its types is first asked for (``in``, ``[]``, ``get``); listing
    the table (iterating, ``len``, ``keys``, ``items``, ``values``) imports every built-in first."""

    def __init__(self, load: Callable[[str], None] | None = None) -> None:
        super().__init__()
        #: a built-in type not imported yet -> its module (kpitui.builtin.TYPES)
        self.pending: dict[str, str] = {}
        self._load = load

    def _fetch(self, name: object) -> None:
        module = self.pending.get(name) if isinstance(name, str) else None
        if module is not None and self._load is not None:
            self._load(module)

    def __missing__(self, name: str) -> Any:
        self._fetch(name)
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        if not dict.__contains__(self, name):
            self._fetch(name)
        return dict.__contains__(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def load_all(self) -> None:
        for module in [m for m in BUILTIN_MODULES if m in self.pending.values()]:
            self._fetch(next(n for n, m in self.pending.items() if m == module))

    def __iter__(self) -> Any:
        self.load_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self.load_all()
        return dict.__len__(self)

    def keys(self) -> Any:
        self.load_all()
        return dict.keys(self)

    def values(self) -> Any:
        self.load_all()
        return dict.values(self)

    def items(self) -> Any:
        self.load_all()
        return dict.items(self)


@dataclass
class Registry:
    """Every source, formula and notifier type that loaded, by type name, and every plugin.

    The built-in plugins' modules are imported when one of their types is first asked for
    (:class:`TypeTable`); :meth:`load_all` imports them all (``kpitui plugins``)."""

    sources: dict[str, type[MetricSource]] = field(default_factory=dict)
    formulas: dict[str, type[FormulaType]] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    notifiers: dict[str, type[Notifier]] = field(default_factory=dict)
    annotation_sources: dict[str, type[AnnotationSource]] = field(default_factory=dict)

    def owner(self, kind: str, type_name: str) -> str | None:
        owner = self.owners.get((kind, type_name))
        if owner is None:  # a built-in type not imported yet
            module = getattr(self.table(kind), "pending", {}).get(type_name)
            owner = None if module is None else builtin_name(module)
        return owner

    def table(self, kind: str) -> dict[str, type]:
        """The types of ``kind`` (``source``, ``formula``, ``notifier``, ``annotation source``)."""
        tables: dict[str, dict[str, Any]] = {
            "source": self.sources,
            "formula": self.formulas,
            "notifier": self.notifiers,
            "annotation source": self.annotation_sources,
        }
        return tables[kind]

    def load_all(self) -> None:
        """Import every built-in plugin not imported yet (what ``kpitui plugins`` lists: their errors too)."""
        for kind in ("source", "formula", "notifier", "annotation source"):
            table = self.table(kind)
            if isinstance(table, TypeTable):
                table.load_all()

    @property
    def errors(self) -> list[str]:
        return [f"plugin {p.name}: {e}" for p in self.plugins for e in p.errors]

    def failure_note(self, type_name: str = "") -> str:
        """Why a type may be missing: the plugins that failed, the likeliest first (its name starts the type's).

        ``""`` when every plugin loaded.
        """
        failed = [p for p in self.plugins if p.errors]
        if not failed:
            return ""
        failed.sort(key=lambda p: not (type_name and type_name.startswith(p.name.rsplit(":", 1)[-1])))
        shown = [
            f"plugin {p.name!r} failed to load: {p.errors[0].removeprefix('failed to load: ')}"
            if p.errors[0].startswith("failed to load: ")
            else f"plugin {p.name!r} failed: {p.errors[0]}"
            for p in failed[:3]
        ]
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        return "; ".join(shown) + more + "; see `kpitui plugins`"


def builtin_name(module: str) -> str:
    """``builtin:sql`` for ``kpitui.builtin.sql``: the plugin's name."""
    return f"builtin:{module.rsplit('.', 1)[-1]}"


def _describe_error(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return redact(f"{type(exc).__name__}: {exc_text(exc)}{where}")


def _version_of(module: ModuleType | None, dist: importlib.metadata.Distribution | None) -> str | None:
    if dist is not None:
        return dist.version
    return getattr(module, "__version__", None)


def _dist_name(dist: importlib.metadata.Distribution | None) -> str | None:
    try:
        return dist.metadata["Name"] if dist is not None else None
    except Exception:  # noqa: BLE001 - metadata a broken install cannot give
        return None


class PluginHost:
    """Loads plugins into a pluggy manager and builds the :class:`Registry` once."""

    def __init__(self, plugins_dirs: Iterable[Path] = (), *, load_installed: bool = True, extra: Iterable[object] = ()):
        self.pm = pluggy.PluginManager("kpitui")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.plugins_dirs = [Path(d) for d in plugins_dirs]
        self.load_installed = load_installed
        self.extra = list(extra)
        self.timeout = plugin_timeout()
        self.timed_out: set[str] = set()
        self.registry: Registry | None = None
        self._lock = threading.RLock()  # a built-in may be asked for from a worker thread

    # -- loading -----------------------------------------------------------

    def _info(self, name: str, origin: str, version: str | None = None) -> PluginInfo:
        info = self.infos.get(name)
        if info is None:
            info = self.infos[name] = PluginInfo(name, origin, version)
        return info

    def _allowed(self, name: str) -> bool:
        wanted = os.environ.get("KPITUI_LOAD_PLUGINS")
        if wanted is None:
            return True
        return name in {w.strip() for w in wanted.split(",") if w.strip()}

    def _register(self, plugin: object, info: PluginInfo) -> None:
        unknown = [
            name
            for name, value in inspect.getmembers(plugin)
            if callable(value) and self.pm.parse_hookimpl_opts(plugin, name) is not None and name not in HOOK_NAMES
        ]
        for name in unknown:
            info.errors.append(
                f"unknown hook {name!r}" + did_you_mean(name, HOOK_NAMES, f"; hooks are {', '.join(HOOK_NAMES)}")
            )
        if unknown:
            return
        try:
            self.pm.register(plugin, name=info.name)
        except Exception as exc:  # a plugin's hook signature pluggy rejects
            info.errors.append(_describe_error(exc))

    def _load_module(
        self, name: str, load: Callable[[], object], origin: str, dist: importlib.metadata.Distribution | None = None
    ) -> None:
        info = self._info(name, origin)
        try:
            plugin = bounded(load, None if origin == "builtin" else self.timeout)
        except PluginTimeout as exc:
            info.errors.append(f"failed to load: import {exc}")
            self.timed_out.add(name)
            return
        except BaseException as exc:  # noqa: BLE001 - a broken plugin must not stop kpitui
            if isinstance(exc, KeyboardInterrupt):
                raise
            info.errors.append(f"failed to load: {_describe_error(exc)}")
            return
        info.version = _version_of(plugin if isinstance(plugin, ModuleType) else None, dist) or info.version
        info.distribution = _dist_name(dist) or info.distribution
        self._register(plugin, info)

    def load(self) -> Registry:
        with contextlib.redirect_stdout(sys.stderr):  # plugin code's print() never reaches machine-readable output
            return self._load()

    def _load(self) -> Registry:
        for module in BUILTIN_MODULES:  # imported when one of their types is first asked for (load_builtin)
            self._info(builtin_name(module), "builtin", __version__)
        if self.load_installed:
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                if self._allowed(ep.name) or self._allowed(_dist_name(ep.dist) or ep.name):
                    self._load_module(ep.name, ep.load, "entry point", ep.dist)
            for folder in self.plugins_dirs:
                for path in sorted(folder.glob("*.py")) if folder.is_dir() else ():
                    if self._allowed(path.stem):
                        self._load_module(path.stem, functools.partial(_import_file, path), "plugins dir")
        for plugin in self.extra:  # objects handed in directly (tests, kpitui.testing)
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            self._load_module(name, functools.partial(_same, plugin), "registered")
        return self._collect()

    # -- calling hooks -----------------------------------------------------

    def _collect(self) -> Registry:
        registry = self.registry = Registry(
            sources=TypeTable(self.load_builtin),
            formulas=TypeTable(self.load_builtin),
            notifiers=TypeTable(self.load_builtin),
            annotation_sources=TypeTable(self.load_builtin),
        )
        for module, kinds in BUILTIN_TYPES.items():  # a plugin's type of the same name is refused, as before
            for kind, names in kinds.items():
                cast(TypeTable, registry.table(kind)).pending.update(dict.fromkeys(names, module))
        registry.plugins = list(self.infos.values())
        self._call_all(registry)
        return registry

    def _call_all(self, registry: Registry, only: str | None = None) -> None:
        self._call("register_metric_sources", MetricSource, "source", registry.sources, registry, only)
        self._call("register_formula_types", FormulaType, "formula", registry.formulas, registry, only)
        self._call("register_notifiers", Notifier, "notifier", registry.notifiers, registry, only)
        self._call(
            "register_annotation_sources",
            AnnotationSource,
            "annotation source",
            registry.annotation_sources,
            registry,
            only,
        )

    def load_builtin(self, module: str) -> None:
        """Import the built-in plugin ``module`` and register its types through the hooks (once)."""
        with self._lock:
            registry = self.registry
            assert registry is not None
            if not any(module in getattr(registry.table(k), "pending", {}).values() for k in BUILTIN_KINDS):
                return  # loaded already
            for kind in BUILTIN_KINDS:
                table = cast(TypeTable, registry.table(kind))
                table.pending = {n: m for n, m in table.pending.items() if m != module}
            name = builtin_name(module)
            self._load_module(name, functools.partial(importlib.import_module, module), "builtin")
            self.infos[name].version = __version__
            self._call_all(registry, only=name)

    def _call(
        self, hook: str, base: type, kind: str, into: dict[str, type], registry: Registry, only: str | None = None
    ) -> None:
        caller = getattr(self.pm.hook, hook)
        for impl in caller.get_hookimpls():  # registration order
            info = self.infos[impl.plugin_name]
            if info.name in self.timed_out or (only is not None and info.name != only):
                continue
            if only is None and info.origin == "builtin":
                continue  # registered by load_builtin (already, or when first asked for)
            try:
                # Registration hooks take no arguments (pluggy refused any implementation
                # asking for one when the plugin was registered), so each is a plain call.
                items = bounded(
                    functools.partial(_listed, impl.function),
                    None if info.origin == "builtin" else self.timeout,
                )
            except PluginTimeout as exc:
                info.errors.append(f"{hook} {exc}")
                self.timed_out.add(info.name)
                continue
            except NotAList as exc:
                info.errors.append(f"{hook} {exc}")
                continue
            except BaseException as exc:  # noqa: BLE001
                if isinstance(exc, KeyboardInterrupt):
                    raise
                info.errors.append(f"{hook} raised {_describe_error(exc)}")
                continue
            for cls in items:
                problem = _check_type(cls, base)
                if problem:
                    info.errors.append(f"{hook} returned {cls!r}: {problem}")
                    continue
                if cls.type_name in into:
                    info.errors.append(
                        f"{kind} type {cls.type_name!r} is already registered by "
                        f"{registry.owner(kind, cls.type_name)}; ignored"
                    )
                    continue
                into[cls.type_name] = cls
                registry.owners[(kind, cls.type_name)] = info.name
                {
                    "source": info.sources,
                    "formula": info.formulas,
                    "notifier": info.notifiers,
                    "annotation source": info.annotation_sources,
                }[kind].append(cls.type_name)


def _same(value: object) -> object:
    return value


class NotAList(Exception):
    """A registration hook returned a string, or an iterable too long to be a list of classes."""


#: the most classes one registration hook may return (an endless iterator is listed this far, not until memory ends)
MAX_REGISTERED = 1000


def _listed(hook: Callable[[], Any]) -> list[Any]:
    """What a registration hook returned, as a list (``None``: none). A string was taken a character at a time, and
    an endless iterator was listed until memory ran out (24 GB within the plugin time limit, and on after it in its
    thread): both are :class:`NotAList`."""
    got = hook()
    if got is None:
        return []
    if isinstance(got, (str, bytes)):
        raise NotAList(f"returned {_short_repr(got)} (a {type(got).__name__}), not a list of classes")
    items = list(itertools.islice(got, MAX_REGISTERED + 1))
    if len(items) > MAX_REGISTERED:
        raise NotAList(f"returned more than {MAX_REGISTERED:,} items ({_short_repr(got)}), not a list of classes")
    return items


def _short_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a plugin's object: its repr may fail too
        return f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:59] + "…"


def _check_type(cls: object, base: type) -> str | None:
    if not (isinstance(cls, type) and issubclass(cls, base)):
        return f"not a subclass of kpitui.api.{base.__name__}"
    name = getattr(cls, "type_name", None)
    if not isinstance(name, str) or not name.isidentifier():
        return "type_name must be a non-empty identifier"
    return None


def _import_file(path: Path) -> ModuleType:
    name = f"kpitui_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_registry(
    plugins_dirs: Iterable[Path] = (), *, load_installed: bool = True, extra: Iterable[object] = ()
) -> Registry:
    """Load every plugin once and return what they registered.

    ``extra``: plugin objects or modules to register directly, after the others.
    """
    return PluginHost(plugins_dirs, load_installed=load_installed, extra=extra).load()
