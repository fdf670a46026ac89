"""The app's thread workers, each described by its name.

Textual describes a worker by ``repr`` of what it runs unless told otherwise,
and kpitui's workers run partials over the config or the runtime: their repr
walks every KPI and metric (~10 ms of the main thread for 300 KPIs and 1,000
metrics, cut to 1,000 characters afterwards), each time a worker starts, before
it starts: the runtime's opening and the first evaluation waited on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.worker import Worker


def run_thread(
    node: DOMNode, work: Callable[[], Any], name: str, group: str, *, exclusive: bool = False
) -> Worker[Any]:
    """``work`` in a thread worker of ``node`` (errors reported as a worker state, not raised), described by
    ``name``."""
    return node.run_worker(
        work, name=name, group=group, description=name, thread=True, exclusive=exclusive, exit_on_error=False
    )
