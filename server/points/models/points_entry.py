"""One line of the points ledger (积分记录). Append-only.

An entry's content never changes once written; only its workflow status moves
pending → approved or pending → rejected (支委会审定). A correction is a new
entry that reverses an approved one (`reverses_id`, opposite points). A guard
below refuses any other UPDATE, so the history stays auditable.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import InstanceState, Mapped, mapped_column, relationship

from server.accounts.models import User
from server.core.clock import utcnow
from server.core.db import db
from server.organization.models import Member, PartyGroup
from server.points.amounts import fmt
from server.points.calendar import Period

STATUSES = ("pending", "approved", "rejected")
# self_report: the member's own report, entered by the secretary on their behalf
# (members have no accounts yet); secretary: entered by the secretary; import:
# from a spreadsheet; round: from an appraisal round's results; reversal: a correction.
SOURCES = ("self_report", "secretary", "import", "round", "reversal")
WORKFLOW_COLUMNS = {"status", "decided_by", "decided_at", "decision_note"}


class PointsEntry(db.Model):
    __tablename__ = "points_entries"
    __table_args__ = (
        UniqueConstraint("round_id", "member_id", "item_key"),
        CheckConstraint("(member_id IS NULL) <> (group_id IS NULL)", name="one_subject"),
        Index("ix_points_entries_branch_year_status", "branch_id", "year", "status"),
        Index("ix_points_entries_kind_year", "kind", "year"),  # vetoes on board pages
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("party_groups.id"), index=True)
    rule_set: Mapped[str] = mapped_column(String(60))  # e.g. default-2026
    category_key: Mapped[str] = mapped_column(String(40))
    item_key: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))  # award | bonus | deduction | veto
    points_x10: Mapped[int] = mapped_column(Integer)  # signed tenths; deductions < 0
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)  # 1-4, or 0 for a year-level entry
    reason: Mapped[str] = mapped_column(String(200))
    evidence: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decision_note: Mapped[str] = mapped_column(String(200), default="")
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("points_entries.id"),
                                                    unique=True)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"))
    import_batch: Mapped[str | None] = mapped_column(String(16), index=True)

    member: Mapped[Member | None] = relationship(foreign_keys=[member_id])
    group: Mapped[PartyGroup | None] = relationship(foreign_keys=[group_id])
    enterer: Mapped[User | None] = relationship(foreign_keys=[entered_by])
    decider: Mapped[User | None] = relationship(foreign_keys=[decided_by])
    reverses: Mapped[PointsEntry | None] = relationship(remote_side=[id],
                                                        foreign_keys=[reverses_id])

    @property
    def subject_kind(self) -> str:
        return "member" if self.member_id is not None else "group"

    @property
    def subject_id(self) -> int:
        return self.member_id if self.member_id is not None else self.group_id  # type: ignore[return-value]  # one of the two is set (a CHECK)

    @property
    def subject_name(self) -> str:
        subject = self.member if self.member_id is not None else self.group
        return subject.name if subject is not None else ""

    @property
    def period(self) -> Period:
        return Period(self.year, self.quarter)

    @property
    def points(self) -> str:
        return fmt(self.points_x10, signed=True)

    @property
    def is_reversal(self) -> bool:
        return self.reverses_id is not None


@event.listens_for(PointsEntry, "before_update")
def _append_only(_mapper: Any, _conn: Any, target: PointsEntry) -> None:
    state: InstanceState[PointsEntry] = inspect(target)
    changed = {a.key for a in state.attrs if a.history.has_changes()}
    content = changed - WORKFLOW_COLUMNS - {"member", "group", "enterer", "decider", "reverses"}
    if content:
        raise RuntimeError(f"points entries are append-only; refused change of {sorted(content)}")
