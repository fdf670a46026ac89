"""The history's first load, started in a thread as soon as the config is loaded.

The TUI's first values wait for the history's first load (the index of every
reading: from its cache, :mod:`kpitui.index_cache`, or from the store). That
work is polars and SQLite, which release the GIL, so it runs beside what the
main thread does meanwhile: importing Textual and the UI, mounting the
dashboard, painting the first frame. ``kpitui`` (:func:`kpitui.cli.cmd_tui`)
starts a :class:`Preload` before importing the UI when the history is
large (:func:`worth_preloading`); the runtime takes its store
and history when it opens (:meth:`Preload.take`) instead of opening its own.
Nothing here imports Textual.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config
    from ..history import History
    from ..history_store import HistoryStore


#: a history file at least this large starts loading beside the UI's start; a smaller one loads after
#: the first frame, as before: its load is short, and importing polars and the store beside Textual's
#: imports would hold the first frame back (sample_config.toml's history is ~4 MB)
MIN_BYTES = 32 << 20


def worth_preloading(config: Config) -> bool:
    """Whether ``config``'s history is an SQLite file large enough for :class:`Preload` to pay."""
    storage = config.storage
    if storage.url is not None:
        return False
    try:
        return storage.path.stat().st_size >= MIN_BYTES
    except OSError:
        return False


class Preload:
    """The reader store of ``config``'s history opened and its :class:`~kpitui.history.History`
    refreshed once, in a daemon thread started now."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._taken = False
        self._result: tuple[HistoryStore, History] | None = None
        self._thread = threading.Thread(target=self._load, name="kpitui-preload", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            from ..history import History
            from ..history_store import open_history
            from ..store import unwritable

            storage = self.config.storage  # as kpitui.ui.runtime.open_store opens it, without importing the runtime
            readonly = storage.url is None and storage.path.exists() and unwritable(storage.path) is not None
            store = open_history(self.config, readonly=readonly)
        except Exception:  # noqa: BLE001 - the runtime opens the store itself and shows why it cannot
            return
        try:
            history = History(store, index_cache=True)
            history.refresh(fold=False)  # the runtime folds after its first evaluation
        except Exception:  # noqa: BLE001 - as above: the runtime's own load says what is wrong
            store.close()
            return
        self._result = (store, history)

    def take(self, config: Config) -> tuple[HistoryStore, History] | None:
        """The store and its loaded history, once (waiting for the load to finish); ``None`` when
        ``config`` is not the config it was started for, or the load failed."""
        if self._taken:
            return None
        self._taken = True
        self._thread.join()
        result, self._result = self._result, None
        if result is not None and config is not self.config:
            result[0].close()
            return None
        return result
