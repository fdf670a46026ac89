"""Alert state transitions: one notification per change, resolved when it clears, repeat, status rules."""

from __future__ import annotations

import datetime as dt

import pytest

from kpitui.alerts.rules import Observation
from kpitui.alerts.state import AlertState, transition
from kpitui.config.alerting import AlertRule, NotifierSpec, parse_quiet_hours, parse_schedule

T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone.utc)


def rule(when: str, repeat: float | None = None) -> AlertRule:
    return AlertRule(id="a", when=when, subject_kind="kpi", subject="k", notify=("n",), repeat=repeat)


def run(r: AlertRule, observations: list) -> list[str]:
    state, kinds = AlertState("a"), []
    for i, obs in enumerate(observations):
        if isinstance(obs, str):
            obs = Observation(None, obs, "k", token=obs)
        elif isinstance(obs, bool) or obs is None:
            obs = Observation(obs, "x", "k")
        state, events = transition(state, r, obs, T0 + dt.timedelta(minutes=10 * i))
        kinds += [kind for kind, _ in events]
    return kinds


def test_level_rule_notifies_each_change_once():
    assert run(rule("off_track"), [False, True, True, None, True, False, False, True]) == [
        "firing",
        "resolved",
        "firing",
    ]


def test_level_rule_repeats_while_firing():
    assert run(rule("off_track", repeat=1200), [True, True, True, True, True, False]) == [
        "firing",
        "repeat",
        "repeat",
        "resolved",
    ]


def test_a_rule_firing_at_its_first_look_notifies():
    assert run(rule("off_track"), [True]) == ["firing"]


def test_status_worse_fires_on_worsening_and_resolves_back_at_the_old_status():
    seq = ["on_track", "at_risk", "off_track", "at_risk", "on_track", "on_track", "off_track"]
    assert run(rule("status_worse"), seq) == ["firing", "firing", "resolved", "firing"]


def test_status_worse_ignores_no_data_and_the_first_look():
    assert run(rule("status_worse"), ["off_track", None, "off_track"]) == []


@pytest.mark.parametrize(
    ("when", "expected"), [("status_better", ["changed"]), ("status_change", ["changed", "changed"])]
)
def test_status_better_and_change(when, expected):
    assert run(rule(when), ["at_risk", "off_track", "at_risk"]) == expected


def test_keys_count_up_within_an_episode():
    state = AlertState("a")
    keys = []
    for firing in (True, False, True):
        state, events = transition(state, rule("off_track"), Observation(firing, "x", "k"), T0)
        keys += [f"{state.episode}/{kind}/{state.seq}" for kind, _ in events]
    assert keys == ["1/firing/1", "1/resolved/2", "2/firing/3"]


def test_schedules_in_the_configs_time_zone():
    daily = parse_schedule("daily 08:00")
    # 06:59 UTC is 07:59 in Berlin (winter): the last slot is yesterday's 08:00 Berlin = 07:00 UTC
    assert daily.last_slot(dt.datetime(2026, 1, 5, 6, 59, tzinfo=dt.timezone.utc), "Europe/Berlin") == dt.datetime(
        2026, 1, 4, 7, 0, tzinfo=dt.timezone.utc
    )
    assert daily.last_slot(dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.timezone.utc), "Europe/Berlin") == dt.datetime(
        2026, 1, 5, 7, 0, tzinfo=dt.timezone.utc
    )
    weekly = parse_schedule("weekly monday 08:00")
    # Wednesday 2026-01-07: the last Monday 08:00 New York is 2026-01-05 13:00 UTC
    assert weekly.last_slot(dt.datetime(2026, 1, 7, 12, 0, tzinfo=dt.timezone.utc), "America/New_York") == dt.datetime(
        2026, 1, 5, 13, 0, tzinfo=dt.timezone.utc
    )


def test_quiet_hours_across_midnight():
    spec = NotifierSpec("n", "webhook", None, 10.0, parse_quiet_hours("22:00-07:00"))
    assert spec.quiet_until(dt.datetime(2026, 1, 5, 23, 0, tzinfo=dt.timezone.utc), "UTC") == dt.datetime(
        2026, 1, 6, 7, 0, tzinfo=dt.timezone.utc
    )
    assert spec.quiet_until(dt.datetime(2026, 1, 6, 3, 0, tzinfo=dt.timezone.utc), "UTC") == dt.datetime(
        2026, 1, 6, 7, 0, tzinfo=dt.timezone.utc
    )
    assert spec.quiet_until(dt.datetime(2026, 1, 6, 12, 0, tzinfo=dt.timezone.utc), "UTC") is None
