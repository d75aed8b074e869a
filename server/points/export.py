"""The annual star-rating record (年度党员评星定级资料库) as an Excel workbook."""

from __future__ import annotations

from typing import Any

from server.core.db import db
from server.core.spreadsheet import workbook, xlsx_bytes
from server.organization.models import Branch, Member, PartyGroup
from server.points.amounts import as_float
from server.points.models import StarRating

HEADERS = ["序号", "党支部", "党小组", "工号", "姓名", "年度积分", "扣分", "星级", "评定等次",
           "否决情况", "规则", "综评时间（UTC）"]


def star_rows(committee_id: int, year: int) -> list[dict[str, Any]]:
    q = (db.select(StarRating, Member, Branch.name, PartyGroup.name)
         .join(Member, StarRating.member_id == Member.id)
         .join(Branch, StarRating.branch_id == Branch.id)
         .outerjoin(PartyGroup, Member.group_id == PartyGroup.id)
         .where(StarRating.committee_id == committee_id, StarRating.year == year)
         .order_by(Branch.id, StarRating.points_x10.desc(), Member.id))
    return [{"branch_id": r.branch_id, "branch": b, "group": g or "",
             "member_no": m.member_no, "name": m.name,
             "points": as_float(r.points_x10), "deductions": as_float(r.deductions_x10),
             "stars": "★" * (r.stars or 0), "level": r.level, "veto": r.veto_note,
             "rule_set": r.rule_set, "reviewed_at": r.reviewed_at}
            for r, m, b, g in db.session.execute(q)]


def star_workbook(committee_name: str, year: int, rows: list[dict[str, Any]]) -> bytes:
    from openpyxl.styles import Alignment, Font

    wb = workbook()
    ws = wb.active
    ws.title = f"{year}年评星定级"
    ws.append([f"{committee_name}{year}年度党员评星定级资料库"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(HEADERS)
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
    for i, r in enumerate(rows, start=1):
        ws.append([i, r["branch"], r["group"], r["member_no"], r["name"], r["points"],
                   r["deductions"], r["stars"], r["level"], r["veto"] or "", r["rule_set"],
                   r["reviewed_at"].strftime("%Y-%m-%d %H:%M")])
    for col, width in zip("ABCDEFGHIJKL", (6, 18, 14, 12, 10, 10, 8, 10, 12, 30, 14, 18),
                          strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A3"
    return xlsx_bytes(wb)
