"""``kpitui init``: a starter config for the plugins that are installed, written with tomli-w."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any

import tomli_w

from .plugins import Registry, load_registry

HEADER = """\
# kpitui starter config, written by `kpitui init`.
# Metrics are the numbers you collect; key metrics have a trigger (the user
# action that counts); KPIs are formulas over metrics; objectives group KPIs.
# The demo source below makes up realistic history so you can try things out:
# replace it with your own sources (their examples are here, disabled).
# Validate with `kpitui check`; see `kpitui plugins` for every source and formula.

"""


def starter_data(registry: Registry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kpitui": {"timezone": "UTC", "week_start": "monday", "fiscal_year_start": 1, "currency": "$"},
        "sources": {"demo": {"type": "demo", "history_days": 120}},
        "metrics": {
            "newsletter_signups": {
                "name": "Newsletter sign-ups",
                "unit": "count",
                "aggregation": "sum",
                "source": "demo",
                "trigger": "A visitor viewed the newsletter thank-you page",
                "pattern": "count",
                "base": 25,
                "trend": 0.05,
            },
            "ad_views": {
                "name": "Ad views",
                "unit": "count",
                "aggregation": "sum",
                "source": "demo",
                "trigger": "A visitor viewed the ad landing page",
                "pattern": "count",
                "base": 900,
            },
            "deals_closed": {
                "name": "Deals closed",
                "unit": "count",
                "aggregation": "sum",
                "description": "Recorded by hand: kpitui record deals_closed 1",
            },
        },
        "kpis": {
            "signups": {
                "name": "Sign-ups this month",
                "formula": "sum",
                "metrics": ["newsletter_signups"],
                "window": "month_to_date",
                "unit": "count",
                "target": {"kind": "reach", "value": 800, "baseline": 0},
            },
            "conversion": {
                "name": "Ad conversion rate",
                "formula": "ratio",
                "numerator": "newsletter_signups",
                "denominator": "ad_views",
                "percent": True,
                "window": "trailing_30d",
                "unit": "percent",
                "target": {"kind": "above", "value": 3.0, "baseline": 1.0},
            },
        },
        "objectives": {
            "grow_audience": {
                "title": "Grow the audience",
                "description": "More people hear from us every month.",
                "kpis": ["signups", "conversion"],
            }
        },
    }
    for type_name, cls in sorted(registry.sources.items()):
        if type_name in ("demo", "manual"):
            continue
        try:
            example = cls.example() or {}
        except Exception:  # noqa: BLE001 - a plugin's example() must not break init
            continue
        table = {"type": type_name, "enabled": False, **example.get("source", {})}
        data["sources"][f"my_{type_name}"] = table
    return data


EXAMPLES_HEADER = """
# --- examples from the installed plugins (commented out: uncomment what you use) ---
# A metric for each source type above (`example()["metric"]` of its plugin) and a KPI for
# each formula type (`example()`); their ids name metrics you define. `kpitui plugins`
# lists every option.
"""


def _commented(data: dict[str, Any]) -> str:
    body = tomli_w.dumps(data)
    return "".join(f"# {line}\n" if line else "#\n" for line in body.splitlines())


def plugin_examples(registry: Registry, used_formulas: AbstractSet[str] = frozenset()) -> str:
    """Each source type's example metric and each formula type's example KPI, commented out."""
    metrics: dict[str, Any] = {}
    for type_name, cls in sorted(registry.sources.items()):
        if type_name in ("demo", "manual"):
            continue
        try:
            example = (cls.example() or {}).get("metric", {})
        except Exception:  # noqa: BLE001 - a plugin's example() must not break init
            continue
        metrics[f"my_{type_name}_metric"] = {"source": f"my_{type_name}", **example}
    kpis: dict[str, Any] = {}
    for type_name, formula in sorted(registry.formulas.items()):
        if type_name in used_formulas:
            continue
        try:
            example = formula.example() or {}
        except Exception:  # noqa: BLE001
            continue
        kpis[f"my_{type_name}"] = {"formula": type_name, **example}
    data = {k: v for k, v in (("metrics", metrics), ("kpis", kpis)) if v}
    return EXAMPLES_HEADER + _commented(data) if data else ""


ALERTS_HEADER = """
# --- alerts (commented out: uncomment, set the secrets, run `kpitui alerts test team`) ---
# A notifier per installed notifier type; an alert says what to watch and whom to tell;
# a digest sends the report on a schedule. See `kpitui plugins` and the README's Alerts section.
"""


def alerts_example(registry: Registry) -> str:
    """A commented-out ``[notifiers]``/``[alerts]``/``[digests]`` block, one notifier per installed type."""
    notifiers: dict[str, Any] = {}
    for type_name, cls in sorted(registry.notifiers.items()):
        try:
            example = cls.example() or {}
        except Exception:  # noqa: BLE001 - a plugin's example() must not break init
            continue
        notifiers["team" if type_name == "webhook" else f"my_{type_name}"] = {"type": type_name, **example}
    if "team" not in notifiers:
        return ""
    data = {
        "notifiers": notifiers,
        "alerts": {
            "leads_slipping": {"kpi": "signups", "when": "status_worse", "notify": ["team"]},
            "conversion_low": {"kpi": "conversion", "when": "value < 2", "notify": ["team"], "repeat": "1d"},
            "signup_trigger_silent": {"metric": "newsletter_signups", "when": "silent", "notify": ["team"]},
        },
        "digests": {"morning": {"schedule": "daily 08:00", "notify": ["team"], "format": "markdown"}},
    }
    return ALERTS_HEADER + _commented(data)


def starter_config(registry: Registry | None = None) -> str:
    registry = registry or load_registry()
    data = starter_data(registry)
    used = {k["formula"] for k in data["kpis"].values()}
    return HEADER + tomli_w.dumps(data) + plugin_examples(registry, used) + alerts_example(registry)
