"""The combined assessment as an .xlsx (through the project's guarded writer)."""

from __future__ import annotations

from typing import Any

from server.assessment.models import Assessment
from server.assessment.operations import result_of, to_dict, year_over_year
from server.core.spreadsheet import workbook, xlsx_bytes

NUMBER = "0.00"


def _remark(s: dict[str, Any]) -> str:
    bits = []
    if s["missing"]:
        bits.append("缺少" + "、".join(s["missing"]) + "成绩")
    if s["level_tie"]:
        bits.append(f"“{s['level_tie']}”名额边界并列，待研究确定")
    if s["excluded"]:
        bits.append("一票否决，不参加排名")
    bits += [f for f in s["flags"] if f not in bits]
    return "；".join(bits)


def assessment_xlsx(a: Assessment) -> bytes:
    res = result_of(a)
    wb = workbook()
    ws = wb.active
    ws.title = "综合考核"
    ws.append([f"{a.year}年度 {a.title}"])
    parts = [f"{p['label']}（{p['weight_text']}）" for p in to_dict(a)["parts"]]
    ws.append(["排名", "姓名", "工号", "所在支部", *parts, "综合得分", "考核等次", "说明"])
    for s in res["subjects"]:
        ws.append([s["rank"], s["name"], s["member_no"], s["branch"],
                   *[p["score"] for p in s["parts"]], s["score"], s["level"] or "",
                   _remark(s)])
    for row in ws.iter_rows(min_row=3, min_col=5, max_col=5 + len(parts)):
        for cell in row:
            cell.number_format = NUMBER

    ws = wb.create_sheet("历年对比")
    ids = [s["member_id"] for s in res["subjects"]]
    columns, series = year_over_year(a, ids)
    ws.append(["姓名", "工号", *[f"{label} {y}年" for label, years in columns for y in years]])
    for s in res["subjects"]:
        line: list[Any] = [s["name"], s["member_no"]]
        for label, years in columns:
            found = series[s["member_id"]].get(label)
            points = found.by_year() if found else {}
            line += [points[y].score if y in points else None for y in years]
        ws.append(line)
    for row in ws.iter_rows(min_row=2, min_col=3):
        for cell in row:
            cell.number_format = NUMBER

    ws = wb.create_sheet("说明")
    ws.append(["计算规则"])
    for text in res["rules_text"]:
        ws.append([text])
    if res["notes"]:
        ws.append(["说明"])
        for text in res["notes"]:
            ws.append([text])
    if res["unmatched"]:
        ws.append(["未匹配的测评对象", "组成部分", "原因"])
        for u in res["unmatched"]:
            ws.append([u["name"], u["part"], u["reason"]])
    wb.properties.title = a.title
    return xlsx_bytes(wb)
