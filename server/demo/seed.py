"""Demonstration data for `make run`: an organisation, one open round of each kind,
printed slips, a few sample voting links, and designed forms (测评表)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app

from server.accounts.models import User
from server.accounts.operations import create_user
from server.core.db import db
from server.core.files import private_dir, write_private
from server.demo.combined import seed_combined
from server.demo.decided import RESULTS as DECIDED_RULES
from server.demo.decided import seed_decided
from server.demo.meeting import seed_meeting
from server.demo.paper import seed_paper
from server.forms.models import Form
from server.forms.operations import create_form, create_from_preset, list_forms, presets
from server.organization.models import Committee
from server.organization.operations import import_roster
from server.roundbase.models import Round
from server.rounds.operations import create_round, open_round
from server.rounds.rehearsal import open_rehearsal
from server.tokens.codec import vote_url
from server.tokens.operations import issue_slips, issue_tokens
from server.voting.subject_scores import submit_subject_scores

COMMITTEE = "示范集团有限公司党委"
DEMO_USER, DEMO_PASSWORD = "demo", "pingyi-demo"

LEADERS = [("领导班子（整体）", "公司领导班子"), ("王建国", "党委书记、董事长"),
           ("李明华", "党委副书记、总经理"), ("张志强", "党委委员、副总经理"),
           ("刘秀英", "党委委员、纪委书记"), ("陈海涛", "副总经理"), ("赵丽娟", "总会计师")]
CANDIDATES = [("孙伟", "生产技术部副部长"), ("周敏", "财务部主管"), ("吴磊", "营销中心经理"),
              ("郑洁", "人力资源部主管"), ("冯涛", "安全环保部副部长"), ("何静", "党群工作部主管"),
              ("许亮", "设备管理部经理"), ("沈佳", "综合办公室副主任"), ("韩冰", "采购中心主管"),
              ("杨帆", "信息中心主管")]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯"
GIVEN = ["建华", "海燕", "志刚", "秀兰", "国强", "丽萍", "永红", "卫东", "春梅", "晓明",
         "玉兰", "德明", "淑华", "文杰", "桂英", "俊峰", "红霞", "振宇", "雪梅", "立新",
         "慧敏", "宏伟", "金凤", "少华", "美玲", "新民", "亚男", "子豪"]
def _criteria(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"key": k, "label": label, **({"overall": True} if k == "overall" else {})}
            for k, label in pairs]


# The designed form (测评表) of the demo: the team and its members on two scales.
DESIGNED_FORM: dict[str, Any] = {
    "kind": "appraisal",
    "name": "2026年度领导班子和领导人员民主测评",
    "description": "请对领导班子及其成员在以下方面的表现作出评价，每项选择一个等次。"
                   "本次测评无记名进行。",
    "sections": [
        {"key": "team", "label": "领导班子",
         "criteria": _criteria(("political", "政治建设"), ("ability", "领导能力"),
                               ("performance", "工作实绩"), ("style", "作风建设"),
                               ("integrity", "党风廉政建设"), ("overall", "总体评价")),
         "grades": [{"key": "good", "label": "好", "points": 95},
                    {"key": "fair", "label": "较好", "points": 85},
                    {"key": "average", "label": "一般", "points": 75},
                    {"key": "poor", "label": "差", "points": 60}]},
        {"key": "members", "label": "班子成员",
         "criteria": _criteria(("political", "政治素质"), ("ability", "履职能力"),
                               ("performance", "工作实绩"), ("style", "作风形象"),
                               ("integrity", "党风廉政建设"), ("overall", "总体评价")),
         "grades": [{"key": "excellent", "label": "优秀", "points": 95},
                    {"key": "competent", "label": "称职", "points": 85},
                    {"key": "basic", "label": "基本称职", "points": 75},
                    {"key": "incompetent", "label": "不称职", "points": 65},
                    {"key": "unknown", "label": "不了解", "abstain": True}]},
    ],
    "results": {"min_turnout": "2/3",
                "flags": [{"grade": "incompetent", "share_above": "1/3",
                           "label": "“不称职”票超过三分之一"},
                          {"grade": "poor", "share_above": "1/3",
                           "label": "“差”票超过三分之一"}]},
}


APPRAISAL_CATEGORIES = [{"name": "公司领导", "expected_count": 8, "weight": 0.3},
                        {"name": "中层干部", "expected_count": 42, "weight": 0.4},
                        {"name": "职工代表", "expected_count": 70, "weight": 0.3}]


def _slips(rnd: Round, base_url: str, folder: Path, handed: int = 0) -> list[str]:
    """Print every category's slips (less `handed` already in use); also one extra token
    per category as a sample link."""
    samples: list[str] = []
    for cat in rnd.categories:
        _, pdf = issue_slips(rnd, cat.id, cat.expected_count - handed, base_url)
        write_private(folder / f"slips-round{rnd.id}-{cat.name}.pdf", pdf)
        samples.extend(vote_url(base_url, t) for t in issue_tokens(rnd, cat.id, 1))
    return samples


def seed_demo(base_url: str) -> dict[str, Any]:
    """Create the demo once; later calls only report where things are.

    The seed casts its made-up sample ballots one at a time through the ballot
    path. Mixing (voting/mixing.py) protects real voters from an insider by
    holding a ballot until BALLOT_MIX_K have come or BALLOT_MIX_WAIT_S passed; for
    the seed's own ballots that would only be a wait of seconds per ballot, so
    the seed commits them one by one and the server then serves with the
    configured mixing."""
    configured = current_app.config["BALLOT_MIX_K"]
    current_app.config["BALLOT_MIX_K"] = 1
    try:
        return _seed_demo(base_url)
    finally:
        current_app.config["BALLOT_MIX_K"] = configured


def _seed_demo(base_url: str) -> dict[str, Any]:
    folder = private_dir(Path(current_app.instance_path) / "demo")
    samples_file = folder / "sample-links.txt"
    committee = db.session.execute(
        db.select(Committee).filter_by(name=COMMITTEE)).scalar_one_or_none()
    if committee is None:
        committee = Committee(name=COMMITTEE)
        db.session.add(committee)
        db.session.commit()
        _roster(committee)
        if not db.session.execute(db.select(User).filter_by(username=DEMO_USER)).first():
            create_user(DEMO_USER, DEMO_PASSWORD, role="organizer", committee_id=committee.id,
                        display_name="党委组织部（演示）")
        samples: list[str] = []
        appraisal = create_round(
            committee.id, "appraisal", "2026年度领导班子和领导人员民主测评",
            [{"name": n, "note": t} for n, t in LEADERS], APPRAISAL_CATEGORIES,
            results=DECIDED_RULES)
        samples += _slips(appraisal, base_url, folder)
        recommend = create_round(
            committee.id, "recommendation", "2026年度后备干部民主推荐",
            [{"name": n, "note": t} for n, t in CANDIDATES], APPRAISAL_CATEGORIES,
            min_choices=1, max_choices=3)
        samples += _slips(recommend, base_url, folder)
        secretaries = [{"name": SURNAMES[i % len(SURNAMES)] + GIVEN[i],
                        "note": f"第{i + 1}党支部书记"} for i in range(28)]
        review = create_round(  # 逐人评分: each secretary scored as the report ends
            committee.id, "review", "2026年第三季度党支部书记抓基层党建述职评议", secretaries,
            [{"name": "考评组", "expected_count": 12, "weight": 1.0}], per_subject=True)
        panel = issue_tokens(review, review.categories[0].id, len(REPORTS_SCORED[0]))
        reports = [s.id for s in review.subjects]
        samples += _slips(review, base_url, folder, handed=len(panel))
        for rnd in (appraisal, recommend, review):
            open_round(rnd)
        samples += _rehearsal(committee.id, base_url, folder)
        samples += seed_meeting(committee.id, LEADERS, base_url, folder)  # 测评会: 3 forms
        write_private(samples_file, ("\n".join(samples) + "\n").encode("utf-8"))
        cid = committee.id
        _score_reports(reports, panel)  # voting closes the session
        seed_decided(cid, LEADERS, APPRAISAL_CATEGORIES)  # last year's 考核等次, closed
        seed_combined(cid, LEADERS, APPRAISAL_CATEGORIES)  # 综合考核, last year published
        seed_paper(cid, CANDIDATES, DEMO_USER, DEMO_PASSWORD)  # 纸质票, one sheet to enter
        committee = db.session.get_one(Committee, cid)  # voting closed the session
    forms = seed_forms(committee.id)
    rounds = db.session.execute(
        db.select(Round).filter_by(committee_id=committee.id).order_by(Round.id)).scalars().all()
    return {
        "user": DEMO_USER, "password": DEMO_PASSWORD,
        "rounds": [(r.id, r.title, r.status) for r in rounds],
        "forms": [(f.id, f.name) for f in forms],
        "slips": sorted(str(p) for p in folder.glob("slips-*.pdf")),
        "samples": (samples_file.read_text(encoding="utf-8").split()
                    if samples_file.exists() else []),
    }


# The 述职评议 under way: the first reports have ended; how each panel member scored
# them (responsibility base; the other items follow), None: not sent yet.
REPORTS_SCORED: list[list[int | None]] = [
    [26, 24, 27, 25, 23, 26, 28, 24],
    [22, 25, 21, 23, 24, 22, 20, 23],
    [27, 28, 26, 27, None, 25, 27, None],
    [24, None, 23, None, 25, None, None, 22],
]


def _score_reports(ids: list[int], panel: list[str]) -> None:
    """Send the first secretaries' scores subject by subject (voting/subject_scores.py),
    so the progress screen shows reports scored, being scored and not yet reached."""
    for sid, bases in zip(ids, REPORTS_SCORED, strict=False):
        for token, base in zip(panel, bases, strict=True):
            if base is not None:
                submit_subject_scores(token, sid, {
                    "responsibility": base, "organization": round(base * 0.8),
                    "conduct": round(base * 0.65), "innovation": round(base * 0.45),
                    "answers": round(base * 0.3)})


def _rehearsal(committee_id: int, base_url: str, folder: Path) -> list[str]:
    """Next year's appraisal, built from the designed form of two sections and open as
    a rehearsal (演练) with its own slips: try it with a phone, then 清空演练数据."""
    form = next(f for f in seed_forms(committee_id) if f.name == DESIGNED_FORM["name"])
    team, *members = LEADERS
    rnd = create_round(
        committee_id, None, "2027年度领导班子和领导人员民主测评（演练）",
        [{"name": team[0], "note": team[1], "section": "team"},
         *({"name": n, "note": t, "section": "members"} for n, t in members)],
        [{"name": "参会人员", "expected_count": 5}], form_id=form.id, year=2027)
    rid = rnd.id
    open_rehearsal(rnd)
    rnd = db.session.get_one(Round, rid)
    _, pdf = issue_slips(rnd, rnd.categories[0].id, 5, base_url)
    write_private(folder / f"slips-round{rid}-演练.pdf", pdf)
    return [vote_url(base_url, t) for t in issue_tokens(rnd, rnd.categories[0].id, 1)]


def seed_forms(committee_id: int) -> list[Form]:
    """The designed form and a copy of each preset, each made once (by name)."""
    have = {f.name for f in list_forms(committee_id, include_archived=True)}
    user = db.session.execute(db.select(User).filter_by(username=DEMO_USER)).scalar_one_or_none()
    if DESIGNED_FORM["name"] not in have:
        create_form(committee_id, DESIGNED_FORM, user, note="演示：两个部分、两种等次")
    for key, preset in presets().items():
        if preset["name"] not in have:
            create_from_preset(committee_id, key, user)
    return list(reversed(list_forms(committee_id)))


def _roster(committee: Committee) -> None:
    roster = Path(__file__).with_name("roster.csv")
    if not roster.exists():
        return
    import_roster(committee.id, roster.name, roster.read_bytes())
