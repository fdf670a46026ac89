"""The ``[notifiers.ID]``, ``[alerts.ID]`` and ``[digests.ID]`` tables -> validated specs.

Part of the config package (not of :mod:`kpitui.alerts`, which runs the rules
and imports these specs), so the config never imports upwards into alerting.
Called by :mod:`kpitui.config.loader` while it loads a file; every mistake is one
:class:`~kpitui.config.ConfigError` naming the table and key, with the
nearest valid name for a misspelling.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import options as opts
from ..api import SourceContext
from ..config_tables import AlertTable, DigestTable, NotifierTable
from .checks import plugin_call

if TYPE_CHECKING:  # pragma: no cover
    from ..model import Kpi, Metric, SourceSpec

STATUS_RULES = ("status_worse", "status_better", "status_change")
#: a KPI's status a rule fires while it is in: ``no_data`` (nothing in the period: a collector may be stuck)
#: and ``undefined`` (the inputs have data, the formula gives no number: a ratio ÷ 0) are two states; neither
#: fires the other
INTO_STATUS = ("on_track", "at_risk", "off_track", "no_data", "undefined")
WHEN_KINDS = (*STATUS_RULES, *INTO_STATUS, "failing", "stale", "silent")
KPI_FIELDS = ("value", "previous", "last_year", "change", "change_pct", "score", "target", "projection")
METRIC_FIELDS = ("value", "age_minutes")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DIGEST_FORMATS = ("html", "markdown", "text")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class NotifierSpec:
    """A ``[notifiers.ID]`` table: one configured notifier."""

    id: str
    type: str
    options: Any
    timeout: float
    quiet_hours: tuple[dt.time, dt.time] | None = None

    def quiet_until(self, now: dt.datetime, timezone: str) -> dt.datetime | None:
        """The end of the quiet hours ``now`` falls in (UTC), or ``None`` when it is not quiet."""
        if self.quiet_hours is None:
            return None
        from zoneinfo import ZoneInfo

        start, end = self.quiet_hours
        local = now.astimezone(ZoneInfo(timezone))
        t = local.time().replace(tzinfo=None)
        inside = (start <= t < end) if start < end else (t >= start or t < end)
        if not inside:
            return None
        day = local.date() if (start < end or t < end) else local.date() + dt.timedelta(days=1)
        until = dt.datetime.combine(day, end, tzinfo=ZoneInfo(timezone))
        return until.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class AlertRule:
    """An ``[alerts.ID]`` table.

    ``when`` is one of :data:`WHEN_KINDS` or ``"condition"`` (then
    ``condition`` holds the text). ``subject`` is the KPI, metric or source id.
    """

    id: str
    when: str
    subject_kind: str  # "kpi", "metric" or "source"
    subject: str
    notify: tuple[str, ...]
    condition: str | None = None
    repeat: float | None = None  # seconds
    description: str = ""
    polls: int = 3
    intervals: float = 3.0
    history_days: int = 14
    min_days: int = 3
    probability: float = 0.01


@dataclass(frozen=True)
class Schedule:
    """``daily HH:MM`` or ``weekly WEEKDAY HH:MM`` in the config's time zone."""

    text: str
    time: dt.time
    weekday: int | None = None  # None: every day

    def last_slot(self, now: dt.datetime, timezone: str) -> dt.datetime:
        """The latest scheduled moment at or before ``now`` (UTC)."""
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(timezone)
        local = now.astimezone(zone)
        day = local.date()
        for back in range(0, 8):
            candidate = day - dt.timedelta(days=back)
            if self.weekday is not None and candidate.weekday() != self.weekday:
                continue
            moment = dt.datetime.combine(candidate, self.time, tzinfo=zone)
            if moment <= local:
                return moment.astimezone(dt.timezone.utc)
        raise AssertionError("unreachable: a week always holds a slot")  # pragma: no cover


@dataclass(frozen=True)
class DigestSpec:
    """A ``[digests.ID]`` table: the report, sent through notifiers on a schedule."""

    id: str
    schedule: Schedule
    notify: tuple[str, ...]
    format: str = "html"
    window: str | None = None
    catch_up: float = 12 * 3600.0  # a slot missed by less than this is sent late; older ones are skipped
    title: str = ""


def parse_duration(value: Any) -> float | None:
    """Seconds from ``90`` (seconds), ``"30m"``, ``"4h"``, ``"1d"``; ``None`` when it is neither."""
    from ..userinput import (
        InputError,
        parse_duration as parse,  # the one parser for durations users type ("4h 30m", "9d")
    )

    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return parse(value)
    except InputError:
        return None


def parse_schedule(text: str) -> Schedule:
    """``daily 08:00`` or ``weekly monday 08:00``; raises :class:`~kpitui.options.OptionError`."""
    words = text.lower().split()
    usage = "use 'daily 08:00' or 'weekly monday 08:00'"
    if len(words) == 2 and words[0] == "daily":
        clock, weekday = words[1], None
    elif len(words) == 3 and words[0] == "weekly":
        if words[1] not in WEEKDAYS:
            raise opts.OptionError(f"schedule: unknown weekday {words[1]!r}" + opts.did_you_mean(words[1], WEEKDAYS))
        clock, weekday = words[2], WEEKDAYS.index(words[1])
    else:
        hint = opts.did_you_mean(words[0], ("daily", "weekly")) if words and words[0] not in ("daily", "weekly") else ""
        raise opts.OptionError(f"schedule: cannot read {text!r}; {usage}" + hint)
    m = _CLOCK.match(clock)
    if not m:
        raise opts.OptionError(f"schedule: {clock!r} is not a time of day such as 08:00")
    return Schedule(text=text, time=dt.time(int(m.group(1)), int(m.group(2))), weekday=weekday)


def parse_quiet_hours(text: str) -> tuple[dt.time, dt.time]:
    parts = [p.strip() for p in text.split("-")]
    if len(parts) != 2 or not all(_CLOCK.match(p) for p in parts):
        raise opts.OptionError(f"quiet_hours must look like '22:00-07:00', not {text!r}")
    start, end = (dt.time(int(p.split(":")[0]), int(p.split(":")[1])) for p in parts)
    if start == end:
        raise opts.OptionError("quiet_hours: start and end must differ")
    return start, end


class AlertingLoader:
    """Parses the three tables with a :class:`kpitui.config._Loader` for errors and type checks."""

    def __init__(self, loader: Any, registry: Any, config_dir: Any, timezone: str):
        self.loader = loader
        self.registry = registry
        self.context = SourceContext(config_dir=config_dir, timezone=timezone)

    def error(self, table: str, message: str) -> Exception:
        error: Exception = self.loader.error(table, message)
        return error

    def notifiers(self, data: dict[str, Any]) -> dict[str, NotifierSpec]:
        out: dict[str, NotifierSpec] = {}
        for nid, where, table in self.loader.entries("notifiers", data):
            type_name, cls = self.loader.plugin_type(where, table, "type", self.registry.notifiers, "notifier type")
            own_keys = opts.field_names(NotifierTable)
            options = self.loader.plugin_options(where, cls.Options, table, own_keys, ("notifier", type_name))
            own = self.loader.parse_table(where, NotifierTable, {k: v for k, v in table.items() if k in own_keys})
            timeout = self.loader.seconds(where, "timeout", cls.default_timeout if own.timeout is None else own.timeout)
            if timeout <= 0:
                raise self.error(where, "timeout must be a positive duration, e.g. 10s (a plain number is seconds)")
            quiet = None
            if own.quiet_hours is not None:
                try:
                    quiet = parse_quiet_hours(own.quiet_hours)
                except opts.OptionError as exc:
                    raise self.error(where, exc.message) from None
            try:
                plugin_call(self.registry, "notifier", type_name, lambda: cls.check(options, self.context))
            except opts.OptionError as exc:
                raise self.error(where, exc.message) from None
            except Exception as exc:  # noqa: BLE001 - a plugin's check() crashed
                raise self.error(
                    where,
                    f"the {type_name!r} notifier (plugin {self.registry.owner('notifier', type_name)}) failed "
                    "to check its options: "
                    f"{type(exc).__name__}: {opts.redact(str(exc))}",
                ) from None
            out[nid] = NotifierSpec(id=nid, type=type_name, options=options, timeout=timeout, quiet_hours=quiet)
        return out

    def notify_list(self, where: str, names: list[str] | None, notifiers: dict[str, NotifierSpec]) -> tuple[str, ...]:
        if names is None:
            raise self.error(
                where,
                "missing key 'notify' (a list of [notifiers.ID] names)"
                + (f"; notifiers: {', '.join(notifiers)}" if notifiers else "; no [notifiers.ID] table is defined"),
            )
        if not names:
            raise self.error(where, "notify must name at least one notifier")
        for i, name in enumerate(names):
            self.loader.ref(where, f"notify[{i}]", name, notifiers, "notifier")
        return tuple(dict.fromkeys(names))

    def alerts(
        self,
        data: dict[str, Any],
        notifiers: dict[str, NotifierSpec],
        sources: dict[str, SourceSpec],
        metrics: dict[str, Metric],
        kpis: dict[str, Kpi],
    ) -> dict[str, AlertRule]:
        out: dict[str, AlertRule] = {}
        for aid, where, table in self.loader.entries("alerts", data):
            rule = self.loader.parse_table(where, AlertTable, table)
            subjects = [k for k in ("kpi", "metric", "source") if getattr(rule, k) is not None]
            if len(subjects) != 1:
                raise self.error(where, "name exactly one of kpi, metric or source (what the alert watches)")
            kind = subjects[0]
            subject = getattr(rule, kind)
            pool = {"kpi": kpis, "metric": metrics, "source": sources}[kind]
            self.loader.ref(where, kind, subject, pool, {"kpi": "KPI", "metric": "metric", "source": "source"}[kind])
            if rule.when is None:
                raise self.error(
                    where, f"missing key 'when' (one of {', '.join(WHEN_KINDS)}, or a condition such as 'value < 100')"
                )
            when = rule.when.strip()
            condition = None
            if when not in WHEN_KINDS:
                if when.isidentifier() and when not in (KPI_FIELDS if kind == "kpi" else METRIC_FIELDS):
                    otherwise = f"; use one of {', '.join(WHEN_KINDS)}, or a condition such as 'value < 100'"
                    raise self.error(
                        where, f"when: unknown rule {when!r}" + opts.did_you_mean(when, WHEN_KINDS, otherwise)
                    )
                condition, when = when, "condition"
                self.check_condition(where, condition, kind)
            self.check_subject(where, when, kind, subject, metrics)
            repeat = None
            if rule.repeat is not None:
                repeat = parse_duration(rule.repeat)
                if repeat is None or repeat <= 0:
                    raise self.error(
                        where,
                        f"repeat must be a duration such as '4h', '30m' or a number of seconds, not {rule.repeat!r}",
                    )
            out[aid] = AlertRule(
                id=aid,
                when=when,
                subject_kind=kind,
                subject=subject,
                notify=self.notify_list(where, rule.notify, notifiers),
                condition=condition,
                repeat=repeat,
                description=rule.description,
                polls=rule.polls,
                intervals=rule.intervals,
                history_days=rule.history_days,
                min_days=rule.min_days,
                probability=rule.probability,
            )
        return out

    def check_condition(self, where: str, condition: str, kind: str) -> None:
        from ..expressions import ExpressionError, check_condition

        if kind == "source":
            raise self.error(where, f"when: a source alert is 'failing' or 'stale', not a condition ({condition!r})")
        fields = {f: "float" for f in (KPI_FIELDS if kind == "kpi" else METRIC_FIELDS)}
        try:
            check_condition(condition, fields)  # the same checks, without polars
        except ExpressionError as exc:
            raise self.error(where, f"when: {exc}") from None

    def check_subject(self, where: str, when: str, kind: str, subject: str, metrics: dict[str, Metric]) -> None:
        if (when in STATUS_RULES or when in INTO_STATUS) and kind != "kpi":
            raise self.error(where, f'when = {when!r} watches a KPI\'s status: use kpi = "..." (not {kind})')
        if when in ("failing", "stale") and kind == "kpi":
            raise self.error(where, f'when = {when!r} watches a source: use metric = "..." or source = "..."')
        if when == "silent":
            if kind != "metric":
                raise self.error(where, "when = 'silent' watches a key metric's trigger: use metric = \"...\"")
            if metrics[subject].aggregation not in ("sum", "count"):
                raise self.error(
                    where,
                    f"when = 'silent' needs a count metric (aggregation sum or count); {subject!r} aggregates "
                    f"with {metrics[subject].aggregation!r}",
                )

    def digests(self, data: dict[str, Any], notifiers: dict[str, NotifierSpec]) -> dict[str, DigestSpec]:
        from ..periods import PeriodError, parse_window

        out: dict[str, DigestSpec] = {}
        for did, where, table in self.loader.entries("digests", data):
            digest = self.loader.parse_table(where, DigestTable, table)
            if digest.schedule is None:
                raise self.error(where, "missing key 'schedule', e.g. 'daily 08:00' or 'weekly monday 08:00'")
            try:
                schedule = parse_schedule(digest.schedule)
            except opts.OptionError as exc:
                raise self.error(where, exc.message) from None
            self.loader.ref(where, "format", digest.format, DIGEST_FORMATS, "format")
            window = None
            if digest.window is not None:
                try:
                    window = parse_window(digest.window).name
                except PeriodError as exc:
                    raise self.error(where, f"window: {exc}") from None
            catch_up = parse_duration(digest.catch_up)
            if catch_up is None or catch_up < 0:
                raise self.error(where, f"catch_up must be a duration such as '12h', not {digest.catch_up!r}")
            out[did] = DigestSpec(
                id=did,
                schedule=schedule,
                notify=self.notify_list(where, digest.notify, notifiers),
                format=digest.format,
                window=window,
                catch_up=catch_up,
                title=digest.title,
            )
        return out
