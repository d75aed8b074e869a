"""The report as one CSV file (UTF-8 with BOM, so Excel on Windows reads the Chinese):
each sheet's tables one after another, a blank line between them."""

from __future__ import annotations

import csv
from io import StringIO

from server.results.report import Report, format_value, safe_text


def render_csv(report: Report) -> bytes:
    out = StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([safe_text(report.title)])
    w.writerow([safe_text(report.subtitle)])
    for section in report.sections:
        w.writerow([])
        w.writerow([safe_text(f"【{section.heading}】")])
        for table in section.tables:
            if table.title:
                w.writerow([safe_text(table.title)])
            w.writerow([safe_text(h) for h in table.flat_header()])
            for values in table.rows:
                w.writerow([safe_text(v) if isinstance(v, str) else format_value(v, c.fmt)
                            for v, c in zip(values, table.columns, strict=True)])
            w.writerow([])
        for line in section.lines:
            w.writerow([safe_text(line)])
    w.writerow([])
    w.writerow([safe_text(report.footer)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
