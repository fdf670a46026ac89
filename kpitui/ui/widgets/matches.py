"""What an access-log metric's condition matched in the window shown: lines, top paths, referrers…

Read from the log in a worker (:mod:`kpitui.matches`); hidden for a metric without a condition.
"""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual import work
from textual.widgets import Static

from ... import periods
from ...console import escape_controls
from ..palette import palette_of
from ..state import KpiNode


def matches_text(tops: dict[str, list[tuple[str, int]]], label: str, where: str = "") -> str:
    """``matched in Mar 2026 to date: 4 lines`` then a line per field, counts first so a cut line keeps
    them: ``top referrers 3× https://google.com/, 1× https://bing.com/``; ``where``: whose log, when
    a shared history has several collector instances."""
    tops = dict(tops)
    lines = tops.pop("lines", [("", 0)])[0][1]
    label = f"{label}, {where}" if where else label
    parts = [f"matched in {label}: {lines:,} line{'s' if lines != 1 else ''}"]
    for field, values in tops.items():
        if values:
            parts.append(f"top {field}s " + ", ".join(f"{count:,}× {_clip(value)}" for value, count in values))
    return "\n".join(parts)


def whose_log(own: str, shown: str | None, instances: list[str]) -> tuple[bool, str]:
    """Whether this machine's log answers for the instance filter's choice (``shown``; ``None``: all
    instances), and the words that say whose log it is. The log is read here, where this config's
    collector (instance ``own``) runs; another instance's log is on that instance's machine. An
    SQLite history (no ``instances``) has one collector: nothing to say."""
    if not instances:
        return True, ""
    if shown is None:
        return True, f"this machine's log only (instance {own}), not all instances"
    if shown == own:
        return True, f"this machine's log (instance {own})"
    return False, (
        f"what the condition matched: not shown for instance {shown}, whose log is on its own machine; "
        f"this machine reads instance {own}'s (i chooses the instance)"
    )


def _clip(value: str, most: int = 48) -> str:
    return value if len(value) <= most else value[: most - 1] + "…"


class ConditionMatches(KpiNode, Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.metric_id: str | None = None

    def load(self, metric_id: str, window: str, offset: int, instance: str | None = None) -> None:
        """Read what ``metric_id``'s condition matched over ``window`` (``offset`` periods back) in
        this machine's log, when it answers for the instance filter's ``instance``."""
        config, runtime = self.app.config, self.app.runtime
        metric = config.metrics.get(metric_id)
        spec = config.sources.get(metric.source or "") if metric else None
        if metric is None or spec is None or runtime is None or not (metric.trigger and metric.trigger.condition):
            self.display = False
            return
        self.metric_id = metric_id
        self.display = True
        readable, where = whose_log(config.storage.instance, instance, runtime.instances)
        if not readable:
            self._ready(metric_id, where)
            return
        self.update(Text("what the condition matched: reading the log…", style=palette_of(self.app).muted))
        self._matches(runtime, metric_id, window, offset, where)

    @work(thread=True, exclusive=True, group="matches", exit_on_error=False, description="matches")
    def _matches(self, runtime, metric_id: str, window: str, offset: int, where: str = "") -> None:
        from ...matches import CannotSay, top_matches

        cal = periods.Calendar.from_settings(runtime.config.settings)
        now = runtime.clock()
        period = periods.resolve(periods.parse_window(window), now, cal, offset)
        end = min(period.end, now + dt.timedelta(microseconds=1))
        listing = False
        try:
            tops = top_matches(runtime.config, metric_id, period.start, end, limit=3)
            text, listing = matches_text(tops, period.label, where), True
        except CannotSay as exc:
            text = str(exc)
        except Exception as exc:  # noqa: BLE001 - shown in place; the chart and the app carry on
            text = f"cannot read what the condition matched: {type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._ready, metric_id, text, listing)

    def _ready(self, metric_id: str, text: str, listing: bool = False) -> None:
        """``listing``: one line per field, cut with … at the edge (an explanation wraps instead)."""
        if metric_id == self.metric_id:
            self.set_class(listing, "listing")
            # the log's paths, referrers and agents are anyone's: an escape sequence in them is written out
            self.update(Text(escape_controls(text), style=palette_of(self.app).muted))
