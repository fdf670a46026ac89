"""A large history's first load, started in a thread once the UI is imported, while the first frame is drawn.

The TUI's first values wait for the history's first load (the index of every
reading: from its cache, :mod:`kpitui.index_cache`, or from the store), and
for polars' import before it. ``kpitui`` (:func:`kpitui.cli.cmd_tui`) starts a
:class:`Preload` right after importing Textual and the UI, before the app
mounts: the load then runs beside the dashboard's mount and first frame, and
after it; the runtime takes its store and history when it opens
(:meth:`Preload.take`) instead of opening its own.

Not before the UI's imports, as until 2026-12-03: importing polars and the
history's modules is Python holding the GIL, as importing Textual is, and two
threads importing hold each other back (each import's file reads hand the
GIL over, and getting it back waits out the other thread's switch interval):
Textual and the UI imported in 0.37-0.40 s of CPU alone and in 0.42-0.57 s
beside polars' import, and the two took 0.70-0.79 s of wall side by side
(9 runs of 10) against 0.54-0.63 s one after the other (benchmarks/NOTES.md,
start14).
Beside the mount and the first frame it competes with less (the frame waits
on the terminal), and polars' work on the index (its cache's check sums, the
rows since) runs off the GIL. Only a large history is loaded so
(:func:`worth_preloading`). Nothing here imports Textual.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config
    from ..history import History
    from ..history_store import HistoryStore


#: a history file at least this large starts loading beside the UI's mount and first frame; a smaller one loads
#: after the first frame, in the runtime's worker: its load is short, and importing polars beside the mount held
#: the sample's frame back (~4 MB: frame +16 / +38 ms, values -10 / +40 ms, paired medians of 8 and 10 starts;
#: benchmarks/NOTES.md, start14)
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
