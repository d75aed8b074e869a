"""A meeting (测评会): several rounds (forms) held together for the same attendees.

- `Meeting`: title, committee, and how a voter submits (`submit_mode`): "each"
  (the voter chooses per form: send it when done, or hold it on the phone and send
  the held forms at the end) or "end" (all forms filled first, then sent).
- `MeetingForm`: one row per round of the meeting, with its place in the order
  the voter sees. A round belongs to at most one meeting. Every round of a meeting
  has the same voter categories (name and 应到), so a category is named across
  the meeting by its name (`MeetingForm.round.categories`).

A meeting slip carries one meeting token `M<meeting id>.<26 chars>`. Nothing about
it is stored: each round's own token is derived from it (`server/meetings/codec.py`)
and only that token's hash is stored, in the round's `tokens` table, like any slip's,
inserted in an order shuffled per round and with no meeting id: the rows of one
slip's tokens in different rounds share nothing. Ballots are ordinary ballots of
each round. Meeting turnout is read from the rounds (per form; see operations.py).
Paper ballots (纸质票) of a meeting hang off its rounds too.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.clock import utcnow
from server.core.db import db
from server.roundbase.models import Round

SUBMIT_MODES = ("each", "end")  # 逐份提交 | 全部填写后一并提交


class Meeting(db.Model):
    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    submit_mode: Mapped[str] = mapped_column(String(10), default="each", server_default="each")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    forms: Mapped[list[MeetingForm]] = relationship(
        back_populates="meeting", order_by="MeetingForm.position", cascade="all, delete-orphan")

    @property
    def rounds(self) -> list[Round]:
        return [f.round for f in self.forms]


class MeetingForm(db.Model):
    """One form of a meeting: a round, at its place in the meeting's order."""

    __tablename__ = "meeting_forms"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    meeting: Mapped[Meeting] = relationship(back_populates="forms")
    round: Mapped[Round] = relationship()
