"""Exports of a closed round's results (Excel, PDF, CSV) and the published receipt list."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Response
from sqlalchemy import text

from server.core import audit
from server.core.db import db
from server.core.errors import error_kind
from server.core.files import attachment
from server.results.export_csv import render_csv
from server.results.export_pdf import render_pdf
from server.results.export_xlsx import render_xlsx
from server.results.official import frozen_results
from server.results.report import Report, build_report, mark_rehearsal
from server.results.rules import round_rules
from server.results.view import ensure_k_safe

FORMATS: dict[str, tuple[Callable[[Report], bytes], str]] = {
    "xlsx": (render_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pdf": (render_pdf, "application/pdf"),
    # Flask adds "; charset=utf-8" to a text/* mimetype: written here it came twice
    "csv": (render_csv, "text/csv"),
}

NOT_CLOSED = error_kind("round_not_closed", "投票结束并完成计票后才能导出结果",
                        "Results can be exported only after the round is closed", 409)
NOT_PUBLISHED = error_kind("round_not_published", "测评结果尚未公布，公布后才能核对回执",
                           "The receipt list is shown once the results are published", 409)


def export_file(rnd: Any, fmt: str, user: Any | None) -> Response:
    """The round's report in `fmt`; 409 round_not_closed before close. Audited."""
    if rnd.status not in ("closed", "published"):
        raise NOT_CLOSED
    render, mimetype = FORMATS[fmt]
    results = ensure_k_safe(frozen_results(rnd), round_rules(rnd.form).k)
    report = build_report(rnd, results)
    # a rehearsal's export shows what the real one will look like, marked 演练 throughout
    rehearsal = bool(rnd.rehearsal)
    if rehearsal:
        report = mark_rehearsal(report)
        report.rehearsal = True
    data = render(report)
    audit.record(user, "round.export", f"round:{rnd.id}", fmt)
    db.session.commit()
    title = re.sub(r'[\\/:*?"<>|\s]+', "_", rnd.title).strip("_")[:80] or "测评"
    kind = ("rehearsal", "演练结果") if rehearsal else ("results", "结果")
    return Response(data, 200, mimetype=mimetype, headers={
        "Content-Disposition": attachment(f"round{rnd.id}-{kind[0]}.{fmt}",
                                          f"{title}-{kind[1]}.{fmt}"),
        "Cache-Control": "no-store",
    })


def published_receipts(rnd: Any) -> dict[str, Any]:
    """Every receipt code of a published round, sorted (so in random order): no answers,
    no categories, nothing that could be matched to a token or a person."""
    if rnd.status != "published":
        raise NOT_PUBLISHED
    codes = db.session.execute(text("SELECT receipt FROM ballots WHERE round_id = :r"),
                               {"r": rnd.id}).scalars().all()
    return {"round_id": rnd.id, "title": rnd.title, "count": len(codes),
            "receipts": sorted(codes)}
