"""Appraisal results feeding points: a published round's per-subject scores become
pending entries of a 党员互评 / 群众测评 item (still subject to 支委会审定).

Each subject linked to a roster member (Subject.member_id) gets
points = (score ÷ full score) × the item's max_entry, to one decimal (四舍五入),
from the results engine's frozen figures (server/results):
  appraisal       the subject's score (mean grade points) ÷ the top grade's points (of
                  its section's scale)
  scoring         the weighted total ÷ the weighted sum of the item maxima
  recommendation  the share of valid ballots (vote_pct)
Feeding the same round into the same item twice adds nothing (one entry per
round, member and item).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from server.core import audit
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Member
from server.points import periods
from server.points.access import require_keeper, safe_id, scope_of
from server.points.models import PointsEntry
from server.points.operations import Draft, bad, new_entry, parse_period_field
from server.points.rulebook import rules_for_committee
from server.results.official import frozen_results, publish_problem
from server.resultsengine.engine import result_sections
from server.roundbase.models import Round
from server.rounds.rehearsal import NOT_FOR_POINTS


@dataclass
class FeedReport:
    created: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def shares_from_results(results: dict[str, Any]) -> dict[int, Fraction]:
    """Each subject's score as a share of the full score (0..1), from the engine's output."""
    kind = results.get("kind")
    out: dict[int, Fraction] = {}
    if kind == "appraisal":  # each section's subjects against its own top grade
        for body in result_sections(results["appraisal"]):
            top = max((Fraction(str(g["points"])) for g in body["grades"]
                       if not g["abstain"] and g.get("points") is not None),
                      default=Fraction(0))
            for s in body["subjects"]:
                if s.get("score") is not None and top:
                    out[int(s["id"])] = Fraction(str(s["score"])) / top
    elif kind == "scoring":
        body = results["scoring"]
        full = sum((Fraction(str(i["max"])) * Fraction(str(i.get("weight", 1)))
                    for i in body["items"]), Fraction(0))
        for s in body["subjects"]:
            if s.get("total") is not None and full:
                out[int(s["id"])] = Fraction(str(s["total"])) / full
    elif kind == "recommendation":
        for c in results["recommendation"]["candidates"]:
            if c.get("vote_pct") is not None:
                out[int(c["id"])] = Fraction(str(c["vote_pct"])) / 100
    return out


def subject_shares(rnd: Round) -> dict[int, Fraction]:
    """The closed round's per-subject shares, from its frozen official results."""
    if rnd.rehearsal:
        raise NOT_FOR_POINTS
    if rnd.status not in ("closed", "published"):
        raise ApiError("round_not_closed", "测评尚未结束，不能计入积分",
                       "the round has not been closed", 409, "round_id")
    return shares_from_results(frozen_results(rnd))


def require_published(rnd: Round) -> None:
    """Results feed points only once published (which the 参评率 rule allows): before
    that, subject names and scores are for the organizers and the committee only."""
    if rnd.rehearsal or rnd.status not in ("closed", "published"):
        subject_shares(rnd)  # refuses a rehearsal, or a round not yet closed
    if rnd.status != "published":
        raise ApiError("round_not_published", "测评结果尚未发布，不能计入积分",
                       "the round's results have not been published", 409, "round_id")
    problem = publish_problem(rnd)
    if problem:
        raise ApiError("turnout_below_threshold", *problem, 409, "round_id")


def _tenths(share: Fraction, max_entry: int) -> int:
    value = share * max_entry
    return int(value + Fraction(1, 2)) if value >= 0 else 0


def feed_round(user: Any, round_id: Any, item_key: str, period: Any) -> FeedReport:
    require_keeper(user)
    scope = scope_of(user)
    rnd = db.session.get(Round, safe_id(round_id))
    if rnd is None or not scope.has_committee(rnd.committee_id):
        raise ApiError("round_not_found", "找不到该测评", "no such round", 404, "round_id")
    require_published(rnd)
    per = parse_period_field(period)
    periods.ensure_open(rnd.committee_id, per)
    rules = rules_for_committee(rnd.committee_id, per.year)
    item = rules.member.find_item(item_key)
    if item is None or not item.from_round:
        raise bad("unknown_item", f"“{item_key}”不是可由测评结果计分的项目（如党员互评、群众测评）",
                  f"{item_key!r} is not an item fed by appraisal results", "item")
    shares = subject_shares(rnd)
    report = FeedReport()
    for subject in rnd.subjects:
        member = db.session.get(Member, subject.member_id) if subject.member_id else None
        why = None
        if member is None or member.committee_id != rnd.committee_id:
            why = "未关联花名册人员"
        elif not scope.has_branch(member.branch):
            why = "不在本支部"
        elif not member.is_party_member:
            why = "不是党员"
        elif subject.id not in shares:
            why = "没有有效评价"
        elif db.session.execute(db.select(PointsEntry.id).filter_by(
                round_id=rnd.id, member_id=member.id, item_key=item.key)).first():
            why = "已计入过"
        points = _tenths(shares.get(subject.id, Fraction(0)), item.max_entry or 0)
        if why is None and points <= 0:
            why = "得分为0"
        if why:
            report.skipped.append({"subject_id": subject.id, "name": subject.name, "why": why})
            continue
        assert member is not None
        score = float(shares[subject.id] * 100)
        draft = Draft(subject=member, subject_kind="member", item=item, rules=rules, period=per,
                      points_x10=points, reason=f"{rnd.title}：得分率{score:.1f}%"[:200],
                      evidence=f"测评第{rnd.id}号")
        entry = new_entry(draft, user, "round", round_id=rnd.id)
        db.session.flush()
        report.created.append(entry.id)
    audit.record(user, "points.feed_round", f"round:{rnd.id}",
                 f"{item.key} {per.code}: {len(report.created)} entries")
    db.session.commit()
    return report
