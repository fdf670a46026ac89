"""Typed option tables: turn a TOML table into a plugin's ``Options`` dataclass.

Plugin authors declare options as a plain dataclass with annotations; this
module checks each key and type and raises :class:`OptionError` with the key
path, what was expected and the nearest valid name. Supported annotations:
``str``, ``int``, ``float``, ``bool``, :class:`Secret`, ``Literal[...]``,
``list[T]``, ``dict[str, T]``, ``T | None``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from .secrets import (
    check_env_value,
    redact as redact,  # re-exported: plugins import it from here
    remember,
)

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_UNKNOWN = object()


class OptionError(ValueError):
    """A bad option value. ``key`` is the dotted path below the table being parsed."""

    def __init__(self, message: str, key: str | None = None, suggestion: str | None = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.suggestion = suggestion

    def __str__(self) -> str:
        return self.message


def nearest(name: str, choices: typing.Iterable[str]) -> str | None:
    """The closest valid spelling of ``name``, or ``None`` when nothing is close."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


_POLARS_DUMPS = (
    "\n\nResolved plan until failure",
    "\n\nThis error occurred in the following expression",
    "\n\nThis error occurred with the following context stack",
)


def exc_text(exc: BaseException) -> str:
    """``str(exc)`` for an exception a plugin raised, as one line: one whose ``__str__`` raises (or does not give a
    string) is named by its type alone, never a traceback in the middle of reporting it.

    Every caller puts it in one line (a report's status cell, a log line, a KPI's error): a message with line
    breaks (polars' errors have paragraphs, and a dump of the expression) split the report's table row.
    """
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a plugin's __str__
        return f"(its message could not be read: {type(exc).__name__}.__str__ failed)"
    if not isinstance(text, str):
        return ""
    for dump in _POLARS_DUMPS:  # what polars adds after its message: its plan, the expression, a context stack
        text = text.split(dump, 1)[0]
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


def did_you_mean(name: str, choices: typing.Iterable[str], otherwise: str = "") -> str:
    """`` (did you mean 'x'?)`` for the nearest valid spelling of ``name``, else ``otherwise``.

    The one way kpitui words a suggestion: append it to the message.
    """
    hint = nearest(name, choices)
    return f" (did you mean {hint!r}?)" if hint else otherwise


def unknown_key(key: str, known: typing.Iterable[str]) -> OptionError:
    """The one wording of an unknown key in a table, for kpitui's own tables and plugins' options alike.

    ``unknown key 'nmae' (did you mean 'name'?)``, or, when nothing is close, the valid keys.
    ``key`` may be a dotted path below the table.
    """
    known = list(dict.fromkeys(known))  # a key known twice (a field a plugin also declares) is named once
    names = ", ".join(known) or "none"
    last = key.rsplit(".", 1)[-1]
    return OptionError(
        f"unknown key {key!r}" + did_you_mean(last, known, f"; valid keys: {names}"), last, nearest(last, known)
    )


class Secret:
    """A string option that may hold ``${ENV_VAR}`` references.

    The references are resolved only when a source calls :meth:`reveal`, at run
    time; ``str()`` and ``repr()`` show the reference, never the value, and
    every revealed value is masked by :func:`redact` wherever kpitui prints an
    error.
    """

    __slots__ = ("template",)

    def __init__(self, template: str):
        self.template = template
        for name in _ENV_REF.findall(template):  # masked from the start: a command notifier's stderr, a plugin's
            if os.environ.get(name):  # error or another source may print the value before this secret is revealed
                remember(os.environ[name])

    def reveal(self, *, multiline: bool = False) -> str:
        """The value with each ``${ENV}`` reference resolved, remembered for :func:`redact`.

        A variable that is not set, or whose value ends with a line break or
        holds a control character, is an :class:`OptionError` naming the
        variable (never its value). ``multiline`` allows line breaks and TABs
        inside a value (an environment variable handed to a command).
        """

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise OptionError(f"environment variable {name} is not set (needed by a secret option)")
            value = os.environ[name]
            remember(value)  # masked even when refused below: the refusal's own traceback must not show it
            try:
                check_env_value(name, value, multiline=multiline)
            except ValueError as exc:
                raise OptionError(str(exc)) from None
            return value

        value = _ENV_REF.sub(substitute, self.template)
        if value != self.template:
            remember(value)
        return value

    @property
    def references(self) -> list[str]:
        return _ENV_REF.findall(self.template)

    def __str__(self) -> str:
        return self.template if self.references else "***"

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.template == self.template

    def __hash__(self) -> int:
        return hash(self.template)


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if tp is Secret:
        return "string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp) if a is not type(None))
    if origin is list:
        return f"a list of {_type_name(get_args(tp)[0])}"
    if origin is dict:
        return f"a table of {_type_name(get_args(tp)[1])}"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def convert(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it converted."""
    # the plain types first, as below (most of a config's ~8,000 checks): ``get_origin`` of one is None
    if tp is str:
        if isinstance(value, str):
            return value
        raise OptionError(f"{key} must be {_type_name(tp)}, not {value!r}", key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise OptionError(f"{key} must be {_type_name(tp)}, not {value!r}", key)
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(value, arg, key)
            except OptionError as exc:
                errors.append(exc)
        raise OptionError(f"{key} must be {_type_name(tp)}, not {value!r}", key)
    if origin is Literal:
        allowed = get_args(tp)
        if value in allowed:
            return value
        choices = [str(a) for a in allowed]
        raise OptionError(
            f"{key} must be one of {', '.join(repr(a) for a in allowed)}, not {value!r}"
            + did_you_mean(str(value), choices),
            key,
            nearest(str(value), choices),
        )
    if origin is list:
        if not isinstance(value, list):
            raise OptionError(f"{key} must be {_type_name(tp)}, not {value!r}", key)
        (item,) = get_args(tp)
        return [convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise OptionError(f"{key} must be {_type_name(tp)}, not {value!r}", key)
        _, item = get_args(tp)
        return {str(k): convert(v, item, f"{key}.{k}") for k, v in value.items()}
    if tp is Secret:
        if isinstance(value, Secret):
            return value
        if not isinstance(value, str):
            raise OptionError(f"{key} must be a string, not {value!r}", key)
        return Secret(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer beyond a float's range
                number = math.inf
            if not math.isfinite(number):  # TOML's nan and inf: a target, weight or base nobody can mean
                raise OptionError(f"{key} must be a finite number, not {value!r}", key)
            return number
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise OptionError(f"{key} must be {_type_name(tp)}, not {value!r}", key)


@functools.lru_cache(maxsize=512)
def _type_hints(options_cls: type) -> dict[str, Any]:
    """The resolved annotations of an options class (resolving them is slow, and a config parses
    the same few classes for each of its sources, metrics and KPIs)."""
    return get_type_hints(options_cls)


@functools.lru_cache(maxsize=512)
def _fields(options_cls: type) -> tuple[dataclasses.Field[Any], ...]:
    """The fields of a dataclass (``dataclasses.fields`` builds the tuple again on each call: ~4,500
    calls for a config of 300 KPIs and 1,000 metrics)."""
    return dataclasses.fields(options_cls)


def field_names(options_cls: type) -> list[str]:
    return list(_field_names(options_cls))


@functools.lru_cache(maxsize=512)
def _field_names(options_cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in _fields(options_cls)) if dataclasses.is_dataclass(options_cls) else ()


@functools.lru_cache(maxsize=512)
def _plan(options_cls: type) -> tuple[dict[str, Any], tuple[str, ...]]:
    """What :func:`parse` needs of a class, worked out once (a config parses the same few classes
    ~9,000 times): each init field's annotation, in the fields' order, and the required ones."""
    hints = _type_hints(options_cls)
    fields = [f for f in _fields(options_cls) if f.init]
    required = tuple(
        f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return {f.name: hints[f.name] for f in fields}, required


def parse(options_cls: type, table: dict[str, Any], *, where: str = "", extra_known: typing.Iterable[str] = ()) -> Any:
    """Build ``options_cls`` from ``table``.

    Unknown keys are errors that suggest the nearest valid key among the
    dataclass fields and ``extra_known`` (the keys of the surrounding table).
    After construction, a ``validate()`` method on the dataclass, if present,
    runs cross-field checks and may raise :class:`OptionError`.
    """
    prefix = f"{where}." if where else ""
    if not dataclasses.is_dataclass(options_cls):
        raise TypeError(f"{options_cls!r} is not a dataclass")
    fields, required = _plan(options_cls)
    values: dict[str, Any] = {}
    for key, value in table.items():
        tp = fields.get(key, _UNKNOWN)
        if tp is _UNKNOWN:
            raise unknown_key(f"{prefix}{key}", [*fields, *extra_known])
        values[key] = convert(value, tp, f"{prefix}{key}")
    missing = [name for name in required if name not in values]
    if missing:
        raise OptionError(f"missing required key {prefix}{missing[0]} ({_type_name(fields[missing[0]])})", missing[0])
    instance = options_cls(**values)
    validate = getattr(instance, "validate", None)
    if callable(validate):
        try:
            validate()
        except OptionError as exc:
            if exc.key and not exc.message.startswith(prefix):
                raise OptionError(exc.message, exc.key, exc.suggestion) from None
            raise
    return instance


def describe(options_cls: type) -> list[dict[str, Any]]:
    """Field name, type and default of each option, for ``kpitui plugins`` and docs."""
    if not dataclasses.is_dataclass(options_cls):
        return []
    hints = _type_hints(options_cls)
    out = []
    for f in dataclasses.fields(options_cls):
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        out.append(
            {
                "name": f.name,
                "type": _type_name(hints[f.name]),
                "required": default is dataclasses.MISSING,
                "default": None if default is dataclasses.MISSING else default,
                "help": f.metadata.get("help", ""),
            }
        )
    return out


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """For plugin types that take no options."""
