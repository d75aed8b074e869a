"""The demo's combined assessment (综合考核) and year-over-year comparison.

The company leaders join the roster (机关 branch); last year's appraisal
(server/demo/decided.py) is published with its subjects linked to them; this
year's 民主测评 and 党建考核 are voted, counted and published; the combined
assessment takes 民主测评 40% + 业绩考核 40% (server/demo/performance-2026.xlsx,
imported as a sheet) + 党建考核 20%, with its own 考核等次.

民主测评 2026 (the same ballots in every category, composite on 总体评价): 王建国 91,
李明华 93, 张志强 87, 刘秀英 89, 陈海涛 87, 赵丽娟 83; 领导班子（整体） is no roster
member and is reported unmatched. 党建考核 totals: 92, 88, 90, 86, 84, 89. So the
combined scores are 90.8, 92.8, 88, 89.6, 86.2, 87.4.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.assessment.operations import create_assessment, import_sheet
from server.core.db import db
from server.demo.decided import RESULTS, TITLE
from server.demo.decided import _row as appraisal_row
from server.organization.models import Branch, Member
from server.roundbase.models import Round
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, create_round, open_round, publish_round
from server.tokens.operations import issue_tokens
from server.voting.ballots import submit_ballot

SHEET = Path(__file__).with_name("performance-2026.xlsx")
LEADER_NOS = {"王建国": "00101", "李明华": "00102", "张志强": "00103", "刘秀英": "00104",
              "陈海涛": "00105", "赵丽娟": "00106"}
E, C, B = "excellent", "competent", "basic"
OVERALL_2026 = {"领导班子（整体）": [C] * 5, "王建国": [E, E, E, C, C], "李明华": [E, E, E, E, C],
                "张志强": [E, C, C, C, C], "刘秀英": [E, E, C, C, C], "陈海涛": [E, E, C, C, B],
                "赵丽娟": [E, C, C, B, B]}
# 党建考核: every member of the panel gives the same item scores (max 30/25/20/15/10)
PARTY_WORK = {"王建国": [28, 23, 18, 14, 9], "李明华": [27, 22, 17, 13, 9],
              "张志强": [27, 23, 18, 13, 9], "刘秀英": [26, 22, 17, 13, 8],
              "陈海涛": [25, 21, 17, 13, 8], "赵丽娟": [27, 22, 18, 13, 9]}
CAST = {"公司领导": 5, "中层干部": 30, "职工代表": 50}
LEVELS = [{"level": "优秀", "when": [{"score": "综合得分", "at_least": 90}], "quota": "1/3"},
          {"level": "称职", "when": [{"score": "综合得分", "at_least": 80}]},
          {"level": "基本称职", "when": [{"score": "综合得分", "at_least": 70}]},
          {"level": "不称职"}]


def seed_combined(committee_id: int, leaders: list[tuple[str, str]],
                  categories: list[dict[str, Any]]) -> None:
    """Leaders on the roster, last year's appraisal published, this year's two rounds
    published, the 业绩考核 sheet imported, and the combined assessment."""
    members = _leaders(committee_id, dict(leaders))
    last_year = db.session.execute(db.select(Round).filter_by(
        committee_id=committee_id, title=TITLE)).scalar_one()
    for s in last_year.subjects:
        s.member_id = members.get(s.name)
    db.session.commit()
    publish_round(get_round(last_year.id))

    notes = dict(leaders)
    appraisal = _vote(create_round(
        committee_id, "appraisal", "2026年度领导人员民主测评（已发布·综合考核示例）",
        [{"name": n, "note": notes.get(n, ""), "member_id": members.get(n)}
         for n in OVERALL_2026], categories, results=RESULTS, year=2026),
        {c["name"]: CAST.get(c["name"], 5) for c in categories},
        lambda sid, name, i: appraisal_row(OVERALL_2026[name][i % 5], C))
    party_work = _vote(create_round(
        committee_id, "review", "2026年度领导班子成员党建工作考核",
        [{"name": n, "note": notes.get(n, ""), "member_id": members[n]} for n in PARTY_WORK],
        [{"name": "考评组", "expected_count": 5, "weight": 1.0}],
        results={"min_turnout": "2/3"}, year=2026),
        {"考评组": 5}, lambda sid, name, i: dict(zip(
            ("responsibility", "organization", "conduct", "innovation", "answers"),
            PARTY_WORK[name], strict=True)))
    a = create_assessment(committee_id, None, "领导人员年度综合考核", 2026, LEVELS, [
        {"label": "民主测评", "round_id": appraisal, "weight": "40%"},
        {"label": "业绩考核", "weight": "40%"},
        {"label": "党建考核", "round_id": party_work, "weight": "20%"}])
    import_sheet(a, "业绩考核", SHEET.name, SHEET.read_bytes(), None)


def _leaders(committee_id: int, titles: dict[str, str]) -> dict[str, int]:
    """The company leaders as members of the 机关 branch (made once)."""
    branch = db.session.execute(db.select(Branch).where(
        Branch.committee_id == committee_id, Branch.name.contains("机关"))).scalars().first()
    if branch is None:
        branch = Branch(committee_id=committee_id, name="机关党支部")
        db.session.add(branch)
        db.session.flush()
    out = {}
    for name, no in LEADER_NOS.items():
        member = db.session.execute(db.select(Member).filter_by(
            committee_id=committee_id, member_no=no)).scalar_one_or_none()
        if member is None:
            member = Member(committee_id=committee_id, branch_id=branch.id, member_no=no,
                            name=name, title=titles.get(name, ""))
            db.session.add(member)
            db.session.flush()
        out[name] = member.id
    db.session.commit()
    return out


def _vote(rnd: Round, cast: dict[str, int], answer: Any) -> int:
    """Vote (answer(subject id, name, i) per subject on ballot i), close and publish."""
    rid, subjects = rnd.id, [(s.id, s.name) for s in rnd.subjects]
    tokens = {c.id: issue_tokens(rnd, c.id, cast[c.name]) for c in rnd.categories}
    open_round(rnd)
    for cat_tokens in tokens.values():
        for i, token in enumerate(cat_tokens):
            submit_ballot(token, {str(sid): answer(sid, name, i) for sid, name in subjects})
    close_round(get_round(rid))
    publish_round(get_round(rid))
    return rid
