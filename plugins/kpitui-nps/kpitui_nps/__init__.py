"""kpitui-nps: Net Promoter Score for kpitui.

A kpitui plugin is a module with ``@kpitui.hookimpl`` functions, named in
the ``kpitui`` entry-point group of its package (see ``pyproject.toml``).
This one registers:

- the ``survey_csv`` metric source: survey answers (a 0-10 score per row)
  counted per day as promoters (9-10), passives (7-8), detractors (0-6) or
  all responses;
- the ``nps`` formula type: (promoters - detractors) / responses x 100.
"""

from __future__ import annotations

import kpitui

from .formula import Nps
from .source import SurveyCsvSource

__version__ = "0.1.0"
__all__ = ["Nps", "SurveyCsvSource", "register_formula_types", "register_metric_sources"]


@kpitui.hookimpl
def register_metric_sources():
    return [SurveyCsvSource]


@kpitui.hookimpl
def register_formula_types():
    return [Nps]
