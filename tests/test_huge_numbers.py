"""A number beyond 1e16 is shown as it reads back (1e+308, as the JSON has it), never its binary expansion.

Before: ``f"{1e308:,.0f}"`` printed 100,000,000,000,000,001,097,906,362,944,045,541,… (309 digits, from the 17th on
not the number typed), in ``record``'s echo, the report's tables and the series; 3037000500² was 9,223,372,037,000,
250,368 where it is 9,223,372,037,000,250,000.
"""

from __future__ import annotations

import contextlib
import io

from kpitui import cli
from kpitui.formatting import format_change, format_value


def kpitui(*argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    assert code == 0, err.getvalue()
    return out.getvalue()


def test_values_past_exact_digits_read_back_as_typed():
    assert format_value(1e308) == "1e+308"
    assert format_value(3037000500.0 * 3037000500.0) == "9.22337203700025e+18"  # not …250,368
    assert format_value(2.5e17, "currency", currency="₹") == "₹2.5e+17"
    assert format_value(-2.5e17, "count") == "-2.5e+17"
    assert format_value(1e15) == "1,000,000,000,000,000"  # below 1e16 every digit is the number's
    assert format_change(1e17, 5.0) == "+5.0% (+1e+17)"


def test_record_report_and_series_show_1e308_as_1e308(tmp_path):
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n'
        '[metrics.big]\nname = "Big"\nunit = "count"\n'
        '[kpis.total]\nname = "Total"\nformula = "sum"\nmetrics = ["big"]\nwindow = "today"\n',
        encoding="utf-8",
    )
    echo = kpitui("record", "big", "1e308", "--at", "2026-12-01 10:00", "--config", str(config))
    assert echo.startswith("recorded Big = 1e+308 at 2026-12-01 10:00:00 UTC"), echo
    at = ("--at", "2026-12-01 12:00", "--config", str(config))
    report = kpitui("report", "--no-collect", "--width", "0", *at)
    assert "1e+308" in report and "1,097,906" not in report, report
    series = kpitui("series", "total", "--grain", "day", "--points", "1", *at)
    assert "1e+308" in series and "1,097,906" not in series, series
