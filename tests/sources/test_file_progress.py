"""The ``file`` source reports the export it reads through ``context.progress`` (issue 20)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kpitui.api import SourceContext


def source_now() -> dt.datetime:
    return dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


def test_the_file_source_reports_the_export_it_reads(tmp_path: Path, make_source) -> None:
    from kpitui.builtin.file import FileSource

    (tmp_path / "sales.csv").write_text("time,amount\n2026-01-01,5\n2026-01-02,7\n")
    source = make_source(
        FileSource, {"path": "sales.csv", "time_column": "time"}, {"sales": {"value_column": "amount"}}
    )
    reports: list = []
    source.context = SourceContext(config_dir=source.context.config_dir, on_progress=lambda *a: reports.append(a))
    source.fetch(None, source_now())
    size = (tmp_path / "sales.csv").stat().st_size
    assert reports == [(0, size, "reading sales.csv"), (size, size, "reading sales.csv")]
