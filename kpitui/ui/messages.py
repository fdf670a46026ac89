"""Messages the workers post back to the main thread (only it touches widgets)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # the runtime (engine, store, history) loads after the first frame
    from ..collector import PollResult
    from ..config import Config
    from ..model import Snapshot
    from .runtime import Runtime


@dataclass
class RuntimeReady(Message):
    """The store is open and the engine built for ``runtime.config``."""

    runtime: Runtime
    generation: int


@dataclass
class CollectorReady(Message):
    """``runtime``'s sources are built (after its first evaluation): poll them."""

    runtime: Runtime
    generation: int


@dataclass
class RuntimeFailed(Message):
    """The history could not be opened (or the core objects not built)."""

    error: str
    generation: int


@dataclass
class Evaluated(Message):
    """A new snapshot for the view parameters of request ``request``."""

    snapshot: Snapshot
    request: int
    seconds: float

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Evaluated)


@dataclass
class SourceProgress(Message):
    """A source reported how far its long work has got (a backlog); coalesced, only the latest matters."""

    source: str
    generation: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SourceProgress) and message.source == self.source


@dataclass
class Polled(Message):
    """One poll of one source finished (``result.error`` says if it failed)."""

    source: str
    result: PollResult
    generation: int


@dataclass
class ConfigReloaded(Message):
    config: Config


@dataclass
class ConfigFailed(Message):
    """The edited config does not load: the last good one stays in use."""

    error: str


@dataclass
class ReadingSaved(Message):
    """A reading was recorded, corrected or deleted by hand (``action``): the app re-evaluates
    at once, so the dashboard and any open chart show it."""

    metric: str
    at: dt.datetime
    value: float
    action: str = "recorded"
    id: int | None = None
