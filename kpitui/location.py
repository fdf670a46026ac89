"""Where a config's history lives, and what becomes of the history every config used to share.

Without ``[storage] path`` each config has its own file in the user data
folder (``KPITUI_DATA_DIR``, else ``~/.local/share/kpitui`` on Linux), named
after the config's absolute path: a readable stem (the config's folder for a
``kpitui.toml``, else the file's own stem) and the first 8 hex digits of the
SHA-256 of the resolved path, e.g. ``shop-3f2a9c1e.sqlite3``. The bundled
sample keeps ``sample.sqlite3``. Moving or renaming a config therefore starts
a new history: set ``[storage] path`` to keep one file wherever the config is.

Before, every such config shared ``history.sqlite3`` in that folder (the
*shared history*). It is never deleted and never split. The first config to
open its own history afterwards, when the shared file holds no metric that
config does not have, **adopts** it: the file becomes that config's own (the
same file under the new name, after a checkpoint, and only when no other
process has it open). Otherwise it is left where it is. Either way the run
that creates the new file prints one notice naming both files and saying how
to read the shared one (``[storage] path``); the notice is one-time because it
is given only when the config's own file does not exist yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol

import platformdirs

__all__ = ["SHARED_NAME", "data_dir", "describe", "own_history_path", "plan", "settle"]

#: the history every config without ``[storage] path`` shared before each got its own
SHARED_NAME = "history.sqlite3"
SAMPLE_NAME = "sample.sqlite3"
#: written beside the shared history's old place when a config adopts it: which config, which file
ADOPTED_SUFFIX = ".adopted"

_STEM = re.compile(r"[^A-Za-z0-9._-]+")


class _Storage(Protocol):
    @property
    def path(self) -> Path: ...
    @property
    def default(self) -> bool: ...


class Config(Protocol):
    """What this module reads of a :class:`kpitui.config.Config` (the config imports this module, not
    the other way round: it names a config's default history with :func:`own_history_path`)."""

    @property
    def path(self) -> Path: ...
    @property
    def is_sample(self) -> bool: ...
    @property
    def storage(self) -> _Storage: ...
    @property
    def metrics(self) -> Mapping[str, object]: ...


def data_dir() -> Path:
    """kpitui's data folder: ``KPITUI_DATA_DIR`` or the platform's user data folder."""
    return Path(os.environ.get("KPITUI_DATA_DIR") or platformdirs.user_data_dir("kpitui"))


def own_history_path(config_path: str | os.PathLike[str], is_sample: bool = False) -> Path:
    """The default history file of the config at ``config_path`` (see the module docstring)."""
    if is_sample:
        return data_dir() / SAMPLE_NAME
    path = Path(config_path).expanduser().resolve()
    stem = path.parent.name if path.name == "kpitui.toml" and path.parent.name else path.stem
    stem = _STEM.sub("-", stem).strip("-.")[:40] or "config"
    digest = hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return data_dir() / f"{stem}-{digest}.sqlite3"


@dataclass(frozen=True)
class Plan:
    """What the first use of a config's own default history does with the shared one."""

    action: str  # "none", "adopt", "leave", "adopted-elsewhere"
    shared: Path | None = None
    why: str = ""  # why the shared history is left in place
    adopted_by: str | None = None  # "config -> file", from the note left by the adopter


def plan(config: Config) -> Plan:
    """What :func:`settle` would do for ``config`` now (no file is changed)."""
    storage = config.storage
    if not storage.default or config.is_sample or storage.path.exists():
        return Plan("none")
    shared = storage.path.parent / SHARED_NAME
    note = shared.with_name(SHARED_NAME + ADOPTED_SUFFIX)
    if shared.exists():
        names = _metric_names(shared)
        if names is None:
            return Plan("leave", shared, "it could not be read")
        unknown = sorted(set(names) - set(config.metrics))
        if unknown:
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            return Plan("leave", shared, f"it holds metrics this config does not have: {', '.join(unknown[:5])}{more}")
        return Plan("adopt", shared)
    if note.exists():
        try:
            text = note.read_text(encoding="utf-8")
        except OSError:
            text = ""
        fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        return Plan(
            "adopted-elsewhere", shared, adopted_by=f"{fields.get('config', '?')} (now {fields.get('history', '?')})"
        )
    return Plan("none")


def settle(config: Config) -> str | None:
    """Before ``config``'s own default history is first created: adopt the shared one or say why not.

    Returns the one-time notice for the user (``None``: nothing to say). Call
    it before opening the store; it changes nothing once the file exists.
    """
    step = plan(config)
    own = config.storage.path
    if step.action == "adopt" and step.shared is not None:
        if _adopt(step.shared, own):
            note = step.shared.with_name(SHARED_NAME + ADOPTED_SUFFIX)
            try:
                stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
                note.write_text(f"config={config.path.resolve()}\nhistory={own}\nat={stamp}\n", encoding="utf-8")
            except OSError:
                pass
            return (
                f"this config now keeps its own history at {own}: it adopted the history that every config "
                f"without [storage] path shared before ({step.shared}), which held only this config's metrics; "
                "other configs start their own (see README, 'Where the history lives')"
            )
        step = Plan("leave", step.shared, "another process has it open")
    return _notice(step, own)


def _notice(step: Plan, own: Path) -> str | None:
    if step.action == "leave":
        return (
            f"this config now keeps its own history at {own}, starting empty; the history every config without "
            f"[storage] path shared before is left at {step.shared} ({step.why}). To keep using it with this config, "
            f"set [storage] path = \"{step.shared}\" (see README, 'Where the history lives')"
        )
    if step.action == "adopted-elsewhere":
        return (
            f"this config now keeps its own history at {own}, starting empty; the history every config without "
            f"[storage] path shared before was adopted by {step.adopted_by}"
        )
    return None


def describe(config: Config) -> str:
    """Which history file ``config`` uses and why, for ``kpitui check`` (changes nothing)."""
    storage = config.storage
    if config.is_sample:
        why = "the bundled sample's own"
    elif storage.default:
        why = "this config's own, named after its path; [storage] path chooses another"
    else:
        why = "[storage] path"
    text = f"history at {storage.path} ({why})"
    step = plan(config)
    if step.action == "adopt":
        text += f"; its first use adopts the shared history {step.shared}"
    elif step.action in ("leave", "adopted-elsewhere"):
        text += f"; not created yet, it will start empty (the shared history {step.shared} is not adopted)"
    return text


def _metric_names(path: Path) -> list[str] | None:
    """The metric names stored in a history file, or ``None`` when it cannot be read."""
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
        try:
            return [r[0] for r in con.execute("SELECT name FROM metrics")]
        finally:
            con.close()
    except sqlite3.Error:
        return None


def _adopt(shared: Path, own: Path) -> bool:
    """Give the shared history ``own``'s name: only when nobody has it open, all of it (WAL checkpointed)."""
    try:
        con = sqlite3.connect(shared, timeout=0.5, isolation_level=None)
    except sqlite3.Error:
        return False
    try:
        con.execute("PRAGMA busy_timeout = 500")
        # Leaving WAL mode needs the only connection: the test that no other process uses the file.
        # It checkpoints the WAL into the file first, so the file alone holds everything.
        mode = con.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        if str(mode).lower() != "delete":
            return False
    except sqlite3.Error:
        return False
    finally:
        con.close()
    try:
        own.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(shared, own)  # fails if own exists: never overwrites a history
        except FileExistsError:
            return False
        except OSError:
            if own.exists():
                return False
            os.rename(shared, own)
            from .index_cache import discard

            discard(shared)
            return True
        os.unlink(shared)
    except OSError:
        return False
    from .index_cache import discard

    discard(shared)  # its viewer's cache was of the file under the old name
    return True
