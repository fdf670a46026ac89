"""The state the app holds and its screens watch: what the numbers are computed over.

State flows down: :class:`~kpitui.ui.app.KpiApp` keeps the snapshot, the
:class:`ViewSettings` and the problems in ``reactive`` attributes; screens
``watch`` them (:class:`KpiNode` gives them a typed ``self.app``). Events flow
up as messages (:mod:`kpitui.ui.messages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from .app import KpiApp

#: the instance filter's label when it shows the sum over every collector
ALL_INSTANCES = "all instances"


@dataclass(frozen=True)
class ViewSettings:
    """What every KPI is evaluated over: the window (``""``: each KPI's own), how many
    periods back, and which collector instance's readings (``None``: the sum of all)."""

    window: str = ""
    offset: int = 0
    instance: str | None = None


class KpiNode:
    """Mixed into kpitui's screens and widgets (before the Textual class): ``self.app`` typed as :class:`KpiApp`."""

    @property
    def app(self) -> KpiApp:
        return cast("KpiApp", super().app)  # type: ignore[misc]
