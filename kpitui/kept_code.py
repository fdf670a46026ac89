"""The methods dataclasses generate, kept compiled between the TUI's starts.

A dataclass compiles its generated methods (``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, a frozen one's ``__setattr__`` and ``__delattr__``)
from source text when its ``class`` statement runs, one ``exec`` of a text per
method. On the way to the sample's first values ~130 classes do so (kpitui's
config tables and model, Textual's, polars'): ~530 texts, ~95 us of CPU each
to compile, ~35 us to read back compiled.

While :func:`install`'s hook is in place, an ``exec`` of a text by the
:mod:`dataclasses` module runs the code object kept for exactly that text
(compiled as ``exec`` compiles it: ``<string>``, no inherited ``__future__``
flags), and compiles the text when none is kept. :func:`finish` removes the
hook and, when this start compiled a text anew, writes the kept texts and the
new ones with their code (only the ones it used, once the kept ones it did not
use would be more than half as many again) to
``startup-code/<interpreter's cache tag>.marshal`` in kpitui's data folder
(0600 in a 0700 folder), behind the interpreter's bytecode magic number: a
file of another Python, damaged or unreadable is ignored (every text is
compiled, as without it). The text is the key: an edited class, another
kpitui or another Python's :mod:`dataclasses` makes another text, compiled
anew and kept at that start's :func:`finish`.

``kpitui tui`` (:func:`kpitui.cli.main`) installs the hook before it imports
the config (that import makes the config's and the model's dataclasses); the
app finishes once the first values are painted
(:meth:`kpitui.ui.lifecycle.Lifecycle.first_values_shown`, the file written
in a worker), ``cmd_tui`` on the way out (without writing: a start that showed
no values used fewer texts than the next one will). The file is kpitui's own
code, in the user's private data folder, as trusted as the config beside it.
"""

from __future__ import annotations

import builtins
import dataclasses
import marshal
import sys
import threading
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType
from typing import Any

FOLDER = "startup-code"

_lock = threading.Lock()
_kept: dict[str, CodeType] = {}  # read from the file at install
_used: dict[str, CodeType] = {}  # every text this process ran through the hook, with its code
_compiled = 0  # texts compiled anew (not in the file)
_where: Path | None = None


def path(folder: Path) -> Path | None:
    """The file of this interpreter in ``folder`` (kpitui's data folder); ``None`` when it caches no bytecode."""
    tag = sys.implementation.cache_tag
    return None if tag is None else folder / FOLDER / f"{tag}.marshal"


def _exec(source: Any, globals: Any = None, locals: Any = None, /) -> None:
    """``exec`` as :mod:`dataclasses` calls it, with the code of a text compiled once."""
    global _compiled
    if type(source) is str:
        code = _used.get(source) or _kept.get(source)
        if code is None:
            code = compile(source, "<string>", "exec", dont_inherit=True)
            _compiled += 1
        _used[source] = code
        source = code
    builtins.exec(source, globals, locals)


def install(folder: Path) -> None:
    """Run the :mod:`dataclasses` module's ``exec`` of a text through the kept code of ``folder``'s file
    (read now), until :func:`finish`. Does nothing when installed already or when this interpreter caches
    no bytecode."""
    global _where, _compiled
    with _lock:
        where = path(folder)
        if _where is not None or where is None or "exec" in vars(dataclasses):
            return
        _kept.clear()
        _used.clear()
        _compiled = 0
        _kept.update(_read(where))
        _where = where
        dataclasses.exec = _exec  # type: ignore[attr-defined]  # found before the builtin by its functions


def _read(where: Path) -> dict[str, CodeType]:
    try:
        data = where.read_bytes()
        if not data.startswith(MAGIC_NUMBER):
            return {}
        kept = marshal.loads(memoryview(data)[len(MAGIC_NUMBER) :])
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if type(kept) is not dict:
        return {}
    return {k: v for k, v in kept.items() if type(k) is str and type(v) is CodeType}


def installed() -> bool:
    return _where is not None


def finish(save: bool = True) -> None:
    """Remove the hook (once; later calls do nothing); with ``save``, when this start compiled a text, write the
    kept texts with the ones it compiled, or only the ones it used once the kept ones it did not use would be more
    than half as many again (a kpitui or Python replaced: the old texts go). A file that cannot be written is left
    as it was."""
    global _where
    with _lock:
        where, _where = _where, None
        if where is None:
            return
        if vars(dataclasses).get("exec") is _exec:
            del dataclasses.exec  # type: ignore[attr-defined]
        used, kept, compiled = dict(_used), dict(_kept), _compiled
        _kept.clear()
        _used.clear()
        if not save or not compiled:
            return
        # kept and used together: what a start uses differs a little with timing (the sources start building, and
        # import their modules, while the first values are written out), and writing only what this start used
        # would drop the texts the next start uses again, to compile them again
        merged = {**kept, **used}
        if len(merged) > len(used) * 3 // 2:
            merged = used
        from .private_files import replace_private

        try:
            replace_private(where, MAGIC_NUMBER + marshal.dumps(merged))
        except (OSError, ValueError):
            pass  # a read-only or missing data folder: the next start compiles again


def counts() -> tuple[int, int]:
    """(texts run through the hook from the file, texts compiled anew) since :func:`install`."""
    return len(_used) - _compiled, _compiled
