"""A notifier whose ``send`` loops for good in Python is stopped at its timeout (PluginInterrupted in its
thread), so its lane is free for the next delivery. Before: the thread was left spinning, and the lane waited
for it ("busy"): no later alert of that notifier was ever sent while the collector ran."""

from __future__ import annotations

import datetime as dt
import threading

from kpitui.alerts.deliver import _send_bounded
from kpitui.api import Notification, Notifier, SourceContext


class Spinning(Notifier):
    type_name = "spinning"

    def send(self, notification: Notification) -> None:
        sent = []
        while True:  # a retry loop without a bound
            sent.append(notification.title)


class Blocking(Notifier):
    type_name = "blocking"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.release = threading.Event()

    def send(self, notification: Notification) -> None:
        self.release.wait()  # one C call: the interrupt lands only once it returns


def notification() -> Notification:
    return Notification(key="k/1", kind="test", name="a", title="t", text="x", at=dt.datetime.now(dt.timezone.utc))


def test_a_send_looping_for_good_is_stopped_and_its_lane_is_free(tmp_path):
    context = SourceContext(config_dir=tmp_path, timezone="UTC", history_path=tmp_path / "h.sqlite3")
    error, hung = _send_bounded(Spinning("n", None, context, timeout=0.5), "n", notification(), "plugin x")
    assert error == "timed out after 0.5s"
    assert hung is None
    assert not [t for t in threading.enumerate() if t.name == "kpitui-send-n"]


def test_a_send_blocked_in_one_call_is_still_said_hung(tmp_path):
    context = SourceContext(config_dir=tmp_path, timezone="UTC", history_path=tmp_path / "h.sqlite3")
    blocking = Blocking("b", None, context, timeout=0.3)
    error, hung = _send_bounded(blocking, "b", notification(), "plugin x")
    try:
        assert error == "timed out after 0.3s" and hung is not None and hung.is_alive()
    finally:
        blocking.release.set()
    hung.join(5)
    assert not hung.is_alive()
