"""A combined assessment (综合考核): weighted parts, each a published round or an
imported sheet of scores (业绩考核), with its own 考核等次 rules."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.clock import utcnow
from server.core.db import db


class Assessment(db.Model):
    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)  # 考核年度
    title: Mapped[str] = mapped_column(String(200))
    levels_json: Mapped[str] = mapped_column(Text, default="[]")  # its own 考核等次 rules
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    parts: Mapped[list[AssessmentPart]] = relationship(
        back_populates="assessment", order_by="AssessmentPart.position",
        cascade="all, delete-orphan")

    @property
    def levels(self) -> list[dict[str, Any]]:
        return json.loads(self.levels_json or "[]")


class AssessmentPart(db.Model):
    """One weighted part: a published round (and, on a form of several sections, the
    section) or an imported sheet (its rows in AssessmentScore)."""

    __tablename__ = "assessment_parts"
    __table_args__ = (UniqueConstraint("assessment_id", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(60))  # 民主测评, 业绩考核, 党建考核
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"), index=True)
    section: Mapped[str] = mapped_column(String(40), default="")
    weight: Mapped[str] = mapped_column(String(20))  # exact, as written: "40%", "1/3", "0.4"
    sheet_name: Mapped[str] = mapped_column(String(200), default="")  # the uploaded file
    sheet_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    assessment: Mapped[Assessment] = relationship(back_populates="parts")
    scores: Mapped[list[AssessmentScore]] = relationship(
        back_populates="part", order_by="AssessmentScore.row", cascade="all, delete-orphan")

    @property
    def source(self) -> str:
        return "round" if self.round_id is not None else "sheet"


class AssessmentScore(db.Model):
    """One row of an imported sheet, matched to a roster member."""

    __tablename__ = "assessment_scores"
    __table_args__ = (UniqueConstraint("part_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("assessment_parts.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    row: Mapped[int] = mapped_column(Integer)  # the sheet's row number, as Excel shows it
    score: Mapped[str] = mapped_column(String(20))  # exact decimal, as written
    matched_by: Mapped[str] = mapped_column(String(20), default="member_no")  # or "name"

    part: Mapped[AssessmentPart] = relationship(back_populates="scores")
