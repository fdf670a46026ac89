"""Instants as integer microseconds since the Unix epoch (UTC): how the store, the cursors and the pipeline keep time.

The one conversion, exact (integer arithmetic on a timedelta, never a float
``timestamp()``, which can be a microsecond off).
"""

from __future__ import annotations

import datetime as dt
from typing import overload

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
#: how far after its poll (or its entry) a reading's time may be: a source's later readings are dropped, a typed
#: one refused (:mod:`kpitui.source_polls`, :mod:`kpitui.userinput`)
FUTURE_SLACK = dt.timedelta(days=1)


def micros(value: dt.datetime) -> int:
    """An instant as integer microseconds since the epoch; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return (value - EPOCH) // dt.timedelta(microseconds=1)


@overload
def from_micros(value: int) -> dt.datetime: ...
@overload
def from_micros(value: None) -> None: ...
def from_micros(value: int | None) -> dt.datetime | None:
    """The inverse of :func:`micros`: the instant, in UTC (``None`` stays ``None``)."""
    return None if value is None else EPOCH + dt.timedelta(microseconds=value)
