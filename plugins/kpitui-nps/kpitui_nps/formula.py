"""The ``nps`` formula type: Net Promoter Score from promoter, detractor and response counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kpitui.api import FormulaType, Input, OptionError, safe_div

if TYPE_CHECKING:  # the expression is built from the engine's polars expressions: no import of polars here
    import polars as pl


@dataclass(frozen=True)
class NpsOptions:
    """``promoters``, ``detractors``: metric ids (counts). ``responses``: the metric counting
    every answer; or give ``passives`` and responses are promoters + passives + detractors."""

    promoters: str
    detractors: str
    responses: str | None = None
    passives: str | None = None

    def validate(self) -> None:
        # Options dataclasses may check themselves; raise OptionError naming the key.
        if self.responses is None and self.passives is None:
            raise OptionError(
                "give responses (the metric counting every answer) or passives "
                "(then responses = promoters + passives + detractors)",
                "responses",
            )


class Nps(FormulaType):
    """NPS = (promoters - detractors) / responses x 100, from -100 to 100; no responses: undefined (÷ 0)."""

    type_name = "nps"
    description = "Net Promoter Score: (promoters - detractors) / responses x 100."
    Options = NpsOptions
    default_unit = "number"

    def inputs(self) -> list[Input]:
        o = self.options
        names = {"promoters": o.promoters, "detractors": o.detractors}
        if o.responses is not None:
            names["responses"] = o.responses
        else:
            names["passives"] = o.passives
        return [Input(name, ref) for name, ref in names.items()]

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        promoters, detractors = inputs["promoters"], inputs["detractors"]
        responses = inputs.get("responses")
        if responses is None:
            responses = promoters + inputs["passives"] + detractors
        return safe_div(promoters - detractors, responses) * 100

    def undefined_reason(self) -> str:
        # optional: why the value is none while every input has data (kpitui shows the KPI "undefined")
        return "÷ 0: no responses"

    @classmethod
    def example(cls):
        return {"promoters": "promoters", "detractors": "detractors", "responses": "responses"}
