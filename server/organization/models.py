"""The organisation tree: committee → branches → party groups → members."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.db import db


class Committee(db.Model):
    __tablename__ = "committees"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)

    branches: Mapped[list[Branch]] = relationship(
        back_populates="committee", order_by="Branch.name", cascade="all, delete-orphan"
    )


class Branch(db.Model):
    __tablename__ = "branches"
    __table_args__ = (UniqueConstraint("committee_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))

    committee: Mapped[Committee] = relationship(back_populates="branches")
    groups: Mapped[list[PartyGroup]] = relationship(
        back_populates="branch", order_by="PartyGroup.name", cascade="all, delete-orphan"
    )
    members: Mapped[list[Member]] = relationship(
        back_populates="branch", order_by="Member.name", cascade="all, delete-orphan"
    )


class PartyGroup(db.Model):
    __tablename__ = "party_groups"
    __table_args__ = (UniqueConstraint("branch_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))

    branch: Mapped[Branch] = relationship(back_populates="groups")
    members: Mapped[list[Member]] = relationship(back_populates="group")


class Member(db.Model):
    """A person on the roster: a party member or, for appraisals, an employee (群众)."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("committee_id", "member_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("party_groups.id"), index=True)
    member_no: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(100), default="")
    is_party_member: Mapped[bool] = mapped_column(default=True)

    branch: Mapped[Branch] = relationship(back_populates="members")
    group: Mapped[PartyGroup | None] = relationship(back_populates="members")
