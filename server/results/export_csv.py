"""The report as one CSV file (UTF-8 with BOM, so Excel on Windows reads the Chinese):
each sheet's tables one after another, a blank line between them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from server.core.spreadsheet import Figure, csv_bytes
from server.results.report import Report, format_value


def _rows(report: Report) -> Iterator[list[Any]]:
    yield [report.title]
    yield [report.subtitle]
    for section in report.sections:
        yield []
        yield [f"【{section.heading}】"]
        for table in section.tables:
            if table.title:
                yield [table.title]
            yield list(table.flat_header())
            for values in table.rows:
                yield [v if isinstance(v, str) else Figure(format_value(v, c.fmt))
                       for v, c in zip(values, table.columns, strict=True)]
            yield []
        for line in section.lines:
            yield [line]
    yield []
    yield [report.footer]


def render_csv(report: Report) -> bytes:
    return csv_bytes(_rows(report))
