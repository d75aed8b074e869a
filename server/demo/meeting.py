"""The demo's meeting (测评会): three designed forms on one slip, open, slips printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.accounts.models import User
from server.core.db import db
from server.core.files import write_private
from server.forms.operations import create_form, list_forms
from server.meetings.codec import meeting_url
from server.meetings.operations import (
    create_meeting,
    issue_meeting_slips,
    issue_meeting_tokens,
    open_meeting,
)
from server.rounds.operations import create_round

TITLE = "2026年度述职述廉暨民主测评会"
CATEGORIES = [{"name": "公司领导", "expected_count": 8},
              {"name": "中层干部", "expected_count": 30},
              {"name": "职工代表", "expected_count": 40}]


def _form(name: str, label: str, criteria: list[tuple[str, str]],
          grades: list[tuple[str, str, int | None]]) -> dict[str, Any]:
    return {"kind": "appraisal", "name": name, "description": "本次测评无记名进行。",
            "sections": [{"key": "main", "label": label,
                          "criteria": [{"key": k, "label": v, **({"overall": True}
                                                                if k == "overall" else {})}
                                       for k, v in criteria],
                          "grades": [{"key": k, "label": v, "points": p} if p is not None
                                     else {"key": k, "label": v, "abstain": True}
                                     for k, v, p in grades]}]}


FORMS = [
    (_form("测评会·领导班子民主测评", "领导班子",
           [("political", "政治建设"), ("performance", "工作实绩"), ("overall", "总体评价")],
           [("good", "好", 95), ("fair", "较好", 85), ("average", "一般", 75), ("poor", "差", 60)]),
     "领导班子民主测评", [("领导班子（整体）", "公司领导班子")]),
    (_form("测评会·班子成员民主测评", "班子成员",
           [("ability", "履职能力"), ("integrity", "党风廉政建设"), ("overall", "总体评价")],
           [("excellent", "优秀", 95), ("competent", "称职", 85), ("basic", "基本称职", 75),
            ("incompetent", "不称职", 65)]),
     "班子成员民主测评", None),
    (_form("测评会·选人用人工作民主评议", "选人用人工作",
           [("overall", "选人用人工作总体评价"), ("process", "干部选拔任用程序执行"),
            ("culture", "整治用人上不正之风")],
           [("satisfied", "满意", 100), ("basic", "基本满意", 80), ("unsatisfied", "不满意", 50),
            ("unknown", "不了解", None)]),
     "选人用人工作满意度", [("本单位选人用人工作", "2026年度")]),
]


def seed_meeting(committee_id: int, leaders: list[tuple[str, str]], base_url: str,
                 folder: Path) -> list[str]:
    """Create the meeting once, print its slips per category; a sample link."""
    user = db.session.execute(db.select(User).filter_by(username="demo")).scalar_one_or_none()
    have = {f.name: f for f in list_forms(committee_id, include_archived=True)}
    rounds = []
    for definition, title, subjects in FORMS:
        form = have.get(definition["name"]) or create_form(committee_id, definition, user,
                                                           note="演示：测评会")
        people = subjects or leaders[1:]
        rounds.append(create_round(committee_id, None, f"{TITLE}：{title}",
                                   [{"name": n, "note": t} for n, t in people],
                                   [dict(c) for c in CATEGORIES], form_id=form.id,
                                   results={"min_turnout": "2/3"}).id)
    meeting = create_meeting(committee_id, TITLE, rounds, "each", user)
    for c in CATEGORIES:
        pdf = issue_meeting_slips(meeting, c["name"], c["expected_count"], base_url)
        write_private(folder / f"slips-meeting{meeting.id}-{c['name']}.pdf", pdf)
    open_meeting(meeting)
    return [meeting_url(base_url, t) for t in issue_meeting_tokens(meeting, "职工代表", 1)]
