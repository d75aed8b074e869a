"""Setup for the bot tests: approved points straight into SQL, chats, a published quarter."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from bot import targets
from server.core.db import db
from server.organization.models import Branch, Member
from server.points import boards, periods
from server.points.calendar import Period
from server.points.models import PointsEntry
from tests.support.points import World, build_world

Q3 = Period(2026, 3)
Q3_PUBLISH = dt.datetime(2026, 10, 8, 2, 0)  # 10:00 China time, 8 October 2026
AFTER_OBJECTIONS = Q3_PUBLISH + dt.timedelta(days=8)
CORP, CORP_SECRET, AGENT = "wwcorp0123456789", "corp-secret-abcdefghijklmnop", "1000002"
CB_TOKEN, CB_AES = "cbtoken42", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
NAMES = ["王建华", "李海燕", "张志刚", "刘秀兰", "陈国强", "欧阳明月", "司马光辉", "赵晓东",
         "孙丽", "周敏", "吴磊", "郑爱国", "冯雪梅", "褚红英", "卫东升", "蒋春花"]


def approved(member: Member, period: Period, tenths: int, item: str = "post_duty",
             kind: str = "award") -> PointsEntry:
    e = PointsEntry(committee_id=member.committee_id, branch_id=member.branch_id,
                    member_id=member.id, rule_set="default-2026", category_key="performance",
                    item_key=item, kind=kind, points_x10=tenths, year=period.year,
                    quarter=period.quarter, reason="测试", source="secretary", status="approved")
    db.session.add(e)
    return e


def seed_branch_points(w: World, period: Period = Q3) -> None:
    """Branch A's five members get distinct points in the period (王建华 first)."""
    for i, mid in enumerate(w.members_a):
        member = db.session.get(Member, mid)
        approved(member, period, 500 - i * 35)
        if i == 2:
            approved(member, period, -20, item="absence", kind="deduction")
    db.session.commit()
    rebuild(w, w.branch_a, period.year)


def big_branch(w: World, n: int = 40, name: str = "第三党支部", seed: int = 7) -> Branch:
    """A branch of `n` party members with points (long and short names, CJK)."""
    rng = random.Random(seed)
    b = Branch(committee_id=w.committee_id, name=name)
    db.session.add(b)
    db.session.flush()
    members = []
    for i in range(n):
        base = NAMES[i % len(NAMES)]
        members.append(Member(committee_id=w.committee_id, branch_id=b.id, member_no=f"C{i:03d}",
                              name=base + ("·阿卜杜热合曼" if i % 13 == 5 else "")))
    db.session.add_all(members)
    db.session.flush()
    for m in members:
        approved(m, Q3, rng.randint(100, 990))
    db.session.commit()
    rebuild(w, b.id, Q3.year)
    return b


def rebuild(w: World, branch_id: int, year: int) -> None:
    """Entries went straight into SQL: recompute the Redis boards they count on."""
    boards.rebuild(boards.Scope("b", branch_id, year))
    boards.rebuild(boards.Scope("c", w.committee_id, year))


def publish_quarter(w: World, period: Period = Q3, now: dt.datetime = Q3_PUBLISH) -> None:
    """Close and publish the quarter (boards frozen; objection window 7 days from `now`)."""
    periods.close_period(w.user("dangwei"), w.committee_id, period)
    periods.publish_period(w.user("dangwei"), w.committee_id, period, now=now)


def webhook_target(branch_id: int | None, key: str, name: str = "第一党支部党员群",
                   formats: list[str] | None = None, purposes: list[str] | None = None,
                   committee_id: int | None = None) -> Any:
    return targets.add_target(None, branch_id=branch_id, channel="wecom_webhook", name=name,
                              secret=f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}",
                              formats=formats or ["markdown"], purposes=purposes,
                              committee_id=committee_id)


def wecom_config(app: Any, base: str, **extra: Any) -> None:
    app.config.update({"WECOM_API_BASE": base, "BOT_HTTP_TIMEOUT_S": 1.0,
                       "WECOM_CORP_ID": CORP, "WECOM_APP_SECRET": CORP_SECRET,
                       "WECOM_AGENT_ID": AGENT, "WECOM_CALLBACK_TOKEN": CB_TOKEN,
                       "WECOM_CALLBACK_AES_KEY": CB_AES, **extra})


__all__ = ["build_world", "World"]
