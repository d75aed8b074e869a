"""Period workflow: open → closed → published (异议期) → final, and 党委综评 of a year.

A quarter is as far along as its year at least: once the year is closed no
quarter of it takes entries either.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func

from server.core import audit
from server.core.clock import utcnow
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Member
from server.points import ledger, visibility
from server.points.access import require_manager, safe_id
from server.points.calendar import Period, PeriodError, china_date, periods_of
from server.points.models import PointsEntry, PointsPeriod, StarRating
from server.points.rulebook import rules_for_committee

log = logging.getLogger(__name__)

ORDER = ("open", "closed", "published", "final")
STATE_LABELS = {"open": "录入中", "closed": "已关闭", "published": "已公布（异议期）",
                "final": "已定稿"}


def year_period(year: int) -> Period:
    try:
        return Period(int(year))
    except (PeriodError, TypeError, ValueError):
        raise ApiError("invalid_period", "年度不正确", f"no such year: {year}", 422,
                       "year") from None


def period_row(committee_id: int, period: Period, lock: bool = False) -> PointsPeriod | None:
    q = db.select(PointsPeriod).filter_by(committee_id=committee_id, year=period.year,
                                          quarter=period.quarter)
    if lock and db.engine.dialect.name == "postgresql":
        q = q.with_for_update()
    return db.session.execute(q).scalar_one_or_none()


def state_of(committee_id: int, period: Period, now: dt.datetime | None = None) -> str:
    row = period_row(committee_id, period)
    return row.state(now) if row else "open"


def effective_state(committee_id: int, period: Period,
                    now: dt.datetime | None = None) -> tuple[str, Period]:
    """The period's state, or its year's when the year is further along."""
    own = state_of(committee_id, period, now)
    if period.is_year:
        return own, period
    year = state_of(committee_id, period.year_period, now)
    return (year, period.year_period) if ORDER.index(year) > ORDER.index(own) else (own, period)


def _refuse(code: str, state: str, limiting: Period, doing: str, en: str) -> ApiError:
    return ApiError(code, f"{limiting.label}{STATE_LABELS[state]}，不能{doing}",
                    f"{limiting.code} is {state}: {en}", 409, "period")


def ensure_open(committee_id: int, period: Period) -> None:
    """New entries: only while open."""
    state, limiting = effective_state(committee_id, period)
    if state != "open":
        raise _refuse("period_closed", state, limiting, "再录入积分", "no new entries")


def ensure_decidable(committee_id: int, period: Period) -> None:
    """Approving or rejecting pending entries: until the standings are published."""
    state, limiting = effective_state(committee_id, period)
    if state not in ("open", "closed"):
        raise _refuse("period_published", state, limiting, "再审定积分", "no more approvals")


def ensure_correctable(committee_id: int, period: Period) -> None:
    """Reversals: until the objection window after publication has passed."""
    state, limiting = effective_state(committee_id, period)
    if state == "final":
        raise _refuse("period_final", state, limiting, "再更正积分", "the period is final")


def _row_for_update(committee_id: int, period: Period) -> PointsPeriod:
    row = period_row(committee_id, period, lock=True)
    if row is None:
        row = PointsPeriod(committee_id=committee_id, year=period.year, quarter=period.quarter,
                           status="open")
        db.session.add(row)
    return row


def close_period(user: Any, committee_id: int, period: Period) -> PointsPeriod:
    """open → closed: no new entries. Refused while entries await approval."""
    require_manager(user)
    row = _row_for_update(committee_id, period)
    if row.status != "open":
        db.session.rollback()
        return period_row(committee_id, period)  # type: ignore[return-value]  # idempotent
    still_open = [q for q in periods_of(period.year)
                  if period.is_year and not q.is_year and state_of(committee_id, q) == "open"]
    if still_open:
        db.session.rollback()
        names = "、".join(q.label.removeprefix(f"{period.year}年") for q in still_open)
        raise ApiError("quarter_open", f"{period.year}年{names}尚未关闭，请先关闭各季度再关闭年度",
                       f"close {', '.join(q.code for q in still_open)} before the year", 409,
                       "period")
    waiting = ledger.pending_count(committee_id=committee_id, period=period)
    if waiting:
        db.session.rollback()
        raise ApiError("pending_entries",
                       f"{period.label}还有 {waiting} 条积分记录待支委会审定，请先审定后再关闭",
                       f"{waiting} entries of {period.code} are still pending", 409, "period")
    row.status, row.closed_at, row.closed_by = "closed", utcnow(), getattr(user, "id", None)
    audit.record(user, "points.period_close", f"committee:{committee_id}", period.code)
    db.session.commit()
    log.info("points period %s of committee %s closed", period.code, committee_id)
    return row


def publish_period(user: Any, committee_id: int, period: Period,
                   now: dt.datetime | None = None) -> PointsPeriod:
    """closed → published: the standings are frozen as published and the objection
    window (rule set `objection_days`) starts. Not before the period has ended."""
    require_manager(user)
    now = now or utcnow()
    row = _row_for_update(committee_id, period)
    if row.status in ("published", "final"):
        db.session.rollback()
        return row
    if row.status != "closed":
        db.session.rollback()
        raise ApiError("period_open", f"{period.label}尚未关闭，请先关闭再公布",
                       f"close {period.code} before publishing it", 409, "period")
    if china_date(now) < period.end:
        db.session.rollback()
        raise ApiError("too_early",
                       f"{period.label}的积分应在{_zh_date(period.end)}起公布",
                       f"{period.code} can be published from {period.end}", 409, "period")
    days = rules_for_committee(committee_id, period.year).objection_days
    row.status, row.published_at = "published", now
    row.objection_until = now + dt.timedelta(days=days)
    visibility.freeze_period(committee_id, period, user, now)
    audit.record(user, "points.period_publish", f"committee:{committee_id}",
                 f"{period.code}, objections until {row.objection_until:%Y-%m-%d %H:%M} UTC")
    db.session.commit()
    return row


def unrated_members(committee_id: int, year: int) -> list[Member]:
    """Party members of the committee with no approved entry in the year: 党委综评
    rates them 未评定 (not the fail level); the committee is shown them before rating."""
    has = db.select(PointsEntry.member_id).where(
        PointsEntry.committee_id == committee_id, PointsEntry.year == year,
        PointsEntry.status == "approved", PointsEntry.member_id.is_not(None))
    return list(db.session.execute(
        db.select(Member).filter_by(committee_id=committee_id, is_party_member=True)
        .where(Member.id.not_in(has)).order_by(Member.branch_id, Member.id)).scalars())


def member_brief(m: Member) -> dict[str, Any]:
    return {"id": m.id, "name": m.name, "member_no": m.member_no, "branch_id": m.branch_id,
            "branch": m.branch.name}


def review_year(user: Any, committee_id: int, year: int) -> int:
    """党委综评: write the year's star rating of every party member of the committee
    (年度评星定级资料库). Needs the year closed; may be redone during the objection
    window after corrections (a rating the committee adjusted keeps its level).
    Members without approved entries are 未评定. Returns the number of members rated."""
    require_manager(user)
    period = year_period(year)
    state, _ = effective_state(committee_id, period)
    if state == "open":
        raise ApiError("period_open", f"{period.label}尚未关闭，请先关闭年度再进行党委综评",
                       f"close {year} before the committee review", 409, "period")
    if state == "final":
        raise _refuse("period_final", state, period, "再综评", "the year is final")
    rules = rules_for_committee(committee_id, year)
    members = list(db.session.execute(
        db.select(Member).filter_by(committee_id=committee_id, is_party_member=True)
        .order_by(Member.id)).scalars())
    totals = dict(db.session.execute(
        db.select(PointsEntry.member_id, func.sum(PointsEntry.points_x10))
        .where(PointsEntry.committee_id == committee_id, PointsEntry.year == year,
               PointsEntry.status == "approved", PointsEntry.member_id.is_not(None))
        .group_by(PointsEntry.member_id)).tuples().all())
    deductions = dict(db.session.execute(
        db.select(PointsEntry.member_id, func.sum(PointsEntry.points_x10))
        .where(PointsEntry.committee_id == committee_id, PointsEntry.year == year,
               PointsEntry.status == "approved", PointsEntry.kind == "deduction",
               PointsEntry.member_id.is_not(None))
        .group_by(PointsEntry.member_id)).tuples().all())
    vetoes = ledger.active_vetoes("member", [m.id for m in members], year)
    existing = {r.member_id: r for r in db.session.execute(
        db.select(StarRating).filter_by(committee_id=committee_id, year=year)).scalars()}
    now = utcnow()
    items = rules.member.items
    for m in members:
        total = int(totals.get(m.id) or 0)
        vetoed = vetoes.get(m.id, [])
        level = rules.member.star_level(total, vetoed=bool(vetoed), unrated=m.id not in totals)
        note = "；".join(f"{items[e.item_key].label if e.item_key in items else e.item_key}"
                        f"（{e.reason}）" for e in vetoed)[:300]
        rating = existing.get(m.id) or StarRating(committee_id=committee_id, member_id=m.id,
                                                   year=year)
        rating.branch_id = m.branch_id
        rating.points_x10 = total
        rating.deductions_x10 = -int(deductions.get(m.id) or 0)
        if not rating.adjust_note or vetoed:
            rating.stars, rating.level = level.stars, level.label
        rating.veto_note = note
        rating.rule_set, rating.reviewed_by, rating.reviewed_at = rules.ref, user.id, now
        db.session.add(rating)
    row = _row_for_update(committee_id, period)
    row.reviewed_at, row.reviewed_by = now, user.id
    audit.record(user, "points.year_review", f"committee:{committee_id}",
                 f"{year}: {len(members)} members rated")
    db.session.commit()
    return len(members)


def adjust_rating(user: Any, committee_id: int, member_id: Any, year: int, stars: Any,
                  reason: Any) -> StarRating:
    """党委综评 adjusting one member's rated level (stars: 0 is the fail level) with a
    reason (422 reason_required), audited. After the review, before the year is final;
    a vetoed member's rating stays cancelled."""
    require_manager(user)
    period = year_period(year)
    rating = db.session.execute(db.select(StarRating).filter_by(
        committee_id=committee_id, member_id=safe_id(member_id), year=year)
    ).scalar_one_or_none()
    if rating is None:
        raise ApiError("rating_not_found", f"{year}年度尚未对该党员进行党委综评",
                       "no star rating for this member and year", 404, "member_id")
    state, _ = effective_state(committee_id, period)
    if state == "final":
        raise _refuse("period_final", state, period, "再调整综评结果", "the year is final")
    if rating.veto_note:
        raise ApiError("rating_vetoed", "该党员因否决条件已取消评星资格，不能调整星级",
                       "a vetoed member's rating cannot be adjusted", 409, "stars")
    rules = rules_for_committee(committee_id, year)
    levels = {0: rules.member.fail_label, **{s.stars: s.label for s in rules.member.stars}}
    if isinstance(stars, bool) or not isinstance(stars, int) or stars not in levels:
        raise ApiError("invalid_stars", f"星级应为 {'、'.join(map(str, levels))} 之一"
                       f"（0 为“{rules.member.fail_label}”）",
                       f"stars must be one of {sorted(levels)}", 422, "stars")
    text = " ".join(str(reason or "").split())
    if not text:
        raise ApiError("reason_required", "请填写调整理由", "a reason is required", 422, "reason")
    if len(text) > 200:
        raise ApiError("reason_too_long", "调整理由不能超过 200 个字",
                       "reason is longer than 200 characters", 422, "reason")
    before = rating.level
    rating.stars, rating.level = stars, levels[stars]
    rating.adjust_note, rating.adjusted_by, rating.adjusted_at = text, user.id, utcnow()
    audit.record(user, "points.rating_adjust", f"member:{rating.member_id}",
                 f"{year}: {before} → {rating.level}（{text}）")
    db.session.commit()
    return rating


def _zh_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def overview(committee_id: int, year: int, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Each quarter and the year with its state, for the periods page."""
    rows = {(r.quarter): r for r in db.session.execute(
        db.select(PointsPeriod).filter_by(committee_id=committee_id, year=year)).scalars()}
    today = china_date(now)
    out = []
    for p in periods_of(year):
        row = rows.get(p.quarter)
        state = row.state(now) if row else "open"
        out.append({"period": p, "state": state, "label": STATE_LABELS[state], "row": row,
                    "pending": ledger.pending_count(committee_id=committee_id, period=p),
                    "publishable": state == "closed" and today >= p.end,
                    "effective": effective_state(committee_id, p, now)[0]})
    return out
