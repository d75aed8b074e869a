"""A voting round: form snapshot, subjects or candidates, voter categories."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.clock import utcnow
from server.core.db import db

STATUSES = ("draft", "open", "closing", "closed", "published")


class Round(db.Model):
    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # appraisal | recommendation | scoring
    form_key: Mapped[str] = mapped_column(String(60))
    form_json: Mapped[str] = mapped_column(Text)  # the form as it was when the round was made
    # the designed form's version it was built from (None: built from a config/forms preset)
    form_version_id: Mapped[int | None] = mapped_column(ForeignKey("form_versions.id"),
                                                        index=True)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), index=True)
    year: Mapped[int | None] = mapped_column(Integer, index=True,  # 考核年度
                                             default=lambda: utcnow().year)
    rehearsal: Mapped[bool] = mapped_column(default=False,  # open as 演练: never official
                                            server_default=false())
    announce_on_close: Mapped[bool] = mapped_column(default=False,  # 当场公布 on the projector
                                                    server_default=false())
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    show_live_results: Mapped[bool] = mapped_column(default=False)
    closes_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    close_problem: Mapped[str] = mapped_column(String(500), default="")
    result_json: Mapped[str | None] = mapped_column(Text)  # frozen recount at close

    subjects: Mapped[list[Subject]] = relationship(
        back_populates="round", order_by="Subject.position", cascade="all, delete-orphan"
    )
    categories: Mapped[list[VoterCategory]] = relationship(
        back_populates="round", order_by="[VoterCategory.position, VoterCategory.id]",
        cascade="all, delete-orphan",
    )

    @property
    def form(self) -> dict[str, Any]:
        cached = self.__dict__.get("_form_cache")
        if cached is None:
            cached = json.loads(self.form_json)
            self.__dict__["_form_cache"] = cached
        return cached

    @property
    def result_rules(self) -> dict[str, Any]:
        """How results are computed (server/results/rules.py), kept in the form snapshot."""
        return self.form.get("results") or {}

    @property
    def result(self) -> dict[str, Any] | None:
        return json.loads(self.result_json) if self.result_json else None

    @property
    def per_subject(self) -> bool:
        """Scored as each report ends (逐人评分): a ballot per subject
        (voting/subject_scores.py)."""
        return bool(self.form.get("per_subject"))

    @property
    def expected_total(self) -> int:
        return sum(c.expected_count for c in self.categories)


class Subject(db.Model):
    """Who is rated or scored, or a candidate in a recommendation."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(String(200), default="")  # e.g. 职务
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    section: Mapped[str] = mapped_column(String(40), default="",  # the form's section key
                                         server_default="")

    round: Mapped[Round] = relationship(back_populates="subjects")


class VoterCategory(db.Model):
    """参评类别: name, expected count (应到) and weight for 分类加权."""

    __tablename__ = "voter_categories"
    __table_args__ = (UniqueConstraint("round_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(60))
    expected_count: Mapped[int] = mapped_column(Integer, default=0)
    weight: Mapped[float] = mapped_column(default=1.0)
    issued_count: Mapped[int] = mapped_column(Integer, default=0)
    # paper slips handed out (纸质票, server/paper/): 应到 counts both kinds
    paper_issued: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    round: Mapped[Round] = relationship(back_populates="categories")
