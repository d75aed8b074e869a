"""Reading the ledger: approved totals (for caps and summaries), vetoes, a subject's year."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import aliased

from server.core.db import db
from server.points.calendar import Period
from server.points.models import PointsEntry
from server.points.rules import RuleSet


def subject_column(subject_kind: str) -> Any:
    return PointsEntry.member_id if subject_kind == "member" else PointsEntry.group_id


def approved_total(subject_kind: str, subject_id: int, year: int, quarter: int | None = None,
                   item_key: str | None = None, category_key: str | None = None) -> int:
    """Approved points (tenths) of a subject in a year, or in one quarter (0: year-level)."""
    q = db.select(func.coalesce(func.sum(PointsEntry.points_x10), 0)).where(
        subject_column(subject_kind) == subject_id, PointsEntry.year == year,
        PointsEntry.status == "approved")
    if quarter is not None:
        q = q.where(PointsEntry.quarter == quarter)
    if item_key is not None:
        q = q.where(PointsEntry.item_key == item_key)
    if category_key is not None:
        q = q.where(PointsEntry.category_key == category_key)
    return int(db.session.execute(q).scalar_one())


def active_vetoes(subject_kind: str, subject_ids: Iterable[int],
                  year: int) -> dict[int, list[PointsEntry]]:
    """Approved veto entries that have not been reversed, per subject."""
    ids = list(subject_ids)
    if not ids:
        return {}
    reversal = aliased(PointsEntry)
    col = subject_column(subject_kind)
    # Vetoes are rare: find the year's vetoes by (kind, year) and pick the subjects here,
    # so a board page costs the same however many ordinary entries there are.
    rows = db.session.execute(
        db.select(PointsEntry).where(
            PointsEntry.kind == "veto", PointsEntry.year == year, col.is_not(None),
            PointsEntry.status == "approved",
            ~db.select(reversal.id).where(reversal.reverses_id == PointsEntry.id).exists(),
        ).order_by(PointsEntry.id)).scalars()
    wanted = set(ids)
    out: dict[int, list[PointsEntry]] = defaultdict(list)
    for e in rows:
        # (no `reverses_id IS NULL` in SQL: SQLite would pick the unique index on it)
        if e.reverses_id is None and e.subject_id in wanted:
            out[e.subject_id].append(e)
    return dict(out)


def pending_count(committee_id: int | None = None, branch_id: int | None = None,
                  period: Period | None = None) -> int:
    q = db.select(func.count(PointsEntry.id)).where(PointsEntry.status == "pending")
    if committee_id is not None:
        q = q.where(PointsEntry.committee_id == committee_id)
    if branch_id is not None:
        q = q.where(PointsEntry.branch_id == branch_id)
    if period is not None:
        q = q.where(PointsEntry.year == period.year)
        if not period.is_year:
            q = q.where(PointsEntry.quarter == period.quarter)
    return int(db.session.execute(q).scalar_one())


def is_reversed(entry: PointsEntry) -> bool:
    return db.session.execute(
        db.select(PointsEntry.id).filter_by(reverses_id=entry.id)).first() is not None


def year_summary(subject_kind: str, subject_id: int, year: int, rules: RuleSet) -> dict[str, Any]:
    """A member's or group's year: totals per category and quarter, deductions, vetoes,
    star level (members), and every entry (newest first)."""
    scheme = rules.scheme(subject_kind)
    entries = list(db.session.execute(
        db.select(PointsEntry).where(subject_column(subject_kind) == subject_id,
                                     PointsEntry.year == year)
        .order_by(PointsEntry.id.desc())).scalars())
    by_category: dict[str, int] = defaultdict(int)
    by_quarter: dict[int, int] = defaultdict(int)
    total = deductions = 0
    for e in entries:
        if e.status != "approved":
            continue
        by_category[e.category_key] += e.points_x10
        by_quarter[e.quarter] += e.points_x10
        total += e.points_x10
        if e.kind == "deduction":
            deductions -= e.points_x10
    vetoes = active_vetoes(subject_kind, [subject_id], year).get(subject_id, [])
    reversed_ids = {e.reverses_id for e in entries if e.reverses_id is not None}
    categories = [{"key": c.key, "label": c.label, "kind": c.kind, "cap": c.cap,
                   "description": c.description, "total": by_category.get(c.key, 0)}
                  for c in scheme.categories if c.kind != "veto"]
    level = scheme.star_level(total, vetoed=bool(vetoes)) if subject_kind == "member" else None
    return {"year": year, "total": total, "deductions": deductions, "categories": categories,
            "quarters": [{"quarter": q, "total": by_quarter.get(q, 0)} for q in (1, 2, 3, 4)],
            "year_level": by_quarter.get(0, 0), "vetoes": vetoes, "level": level,
            "entries": entries, "reversed_ids": reversed_ids,
            "pending": sum(1 for e in entries if e.status == "pending")}
