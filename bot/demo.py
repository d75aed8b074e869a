"""`make run`'s demo of the bot: a leaderboard published to a group robot on the fake.

    publish_demo("http://127.0.0.1:5101")   # the fake: python -m bot.wechat_fake --port 5101

1. Makes sure the demo committee's first branch has points: if it has none for the
   year, a demo secretary account (`demo-sec` / the demo password) enters and approves
   a plausible year of entries for its party members (Q1-Q3, through the points ledger,
   within the rules' caps).
2. "Adds a robot to the branch group" on the fake (POST /_fake/robots) and configures
   it as the branch's chat (the demo robot of an earlier run is switched off: the fake
   forgets its robots when it restarts).
3. Publishes the last full quarter's members board and the year's (with star levels)
   to it: a PNG card and a markdown message each, sent over HTTP to the fake.

Returns what to print: the fake's page where the messages are shown, and the logins.
The server must send to the same fake for the console's own publishing to work:
run it with WECOM_API_BASE=<fake URL>.
"""

from __future__ import annotations

import random
import time
from typing import Any

import requests
from flask import current_app
from sqlalchemy import func, select

from bot import publishing, targets
from bot.models import ChatTarget
from server.accounts.models import User
from server.accounts.operations import create_user
from server.core.db import db
from server.core.errors import ApiError
from server.demo.seed import COMMITTEE, DEMO_PASSWORD
from server.organization.models import Branch, Committee, Member
from server.points import operations
from server.points.calendar import Period, current_quarter
from server.points.models import PointsEntry

DEMO_SECRETARY = "demo-sec"
DEMO_MEMBER = "demo-zw"  # a second branch committee member: 支委会审定 is not the enterer
DEMO_TARGET_PREFIX = "演示："
# (item, quarter, points for the strongest member): a year of a good party member
PLAN = [("branch_meeting", 1, 4), ("branch_meeting", 2, 4), ("branch_meeting", 3, 4),
        ("theme_day", 1, 3), ("theme_day", 3, 3), ("self_study", 2, 3), ("study_share", 3, 4),
        ("post_duty", 1, 5), ("post_duty", 2, 5), ("post_duty", 3, 5), ("model_post", 2, 5),
        ("innovation", 3, 4), ("pairing", 1, 4), ("volunteer", 2, 4), ("volunteer", 3, 4),
        ("honor_company", 3, 3), ("absence", 2, 2), ("peer_review", 3, 7),
        ("masses_review", 3, 7), ("honor_higher", 2, 5), ("outstanding", 3, 2),
        ("self_study", 3, 3), ("theme_day", 2, 2), ("study_share", 1, 2), ("model_post", 3, 5),
        ("pairing", 3, 4)]


def _first_branch() -> Branch:
    committee = db.session.execute(select(Committee).filter_by(name=COMMITTEE)).scalar() or \
        db.session.execute(select(Committee).order_by(Committee.id)).scalar()
    if committee is None:
        raise RuntimeError("no committee: run `pingyi demo seed` first")
    branch = db.session.execute(select(Branch).filter_by(committee_id=committee.id)
                                .order_by(Branch.id)).scalar()
    if branch is None:
        raise RuntimeError("the demo committee has no branches (roster not imported)")
    return branch


def _secretary(branch: Branch, username: str = DEMO_SECRETARY, title: str = "书记") -> User:
    user = db.session.execute(select(User).filter_by(username=username)).scalar()
    if user is None:
        user = create_user(username, DEMO_PASSWORD, role="secretary",
                           committee_id=branch.committee_id, branch_id=branch.id,
                           display_name=f"{branch.name}{title}（演示）")
    return user


def ensure_points(branch: Branch, year: int) -> int:
    """Enter and approve a year of demo points for the branch (once). Entries made."""
    has = db.session.execute(select(func.count(PointsEntry.id)).where(
        PointsEntry.branch_id == branch.id, PointsEntry.year == year,
        PointsEntry.status == "approved")).scalar_one()
    if has:
        return 0
    user = _secretary(branch)
    approver = _secretary(branch, DEMO_MEMBER, "组织委员")
    members = db.session.execute(select(Member).filter_by(
        branch_id=branch.id, is_party_member=True).order_by(Member.id)).scalars().all()
    rng = random.Random(branch.id)
    made = 0
    for member in members:
        strength = rng.uniform(0.45, 1.0)
        for item, quarter, best in PLAN:
            if item == "absence" and rng.random() > 0.3:
                continue
            points = best if item == "absence" else max(1, round(best * strength))
            try:
                entry = operations.create_entry(user, "member", member.id, item, points,
                                                Period(year, quarter), "演示数据")
                operations.approve_entry(approver, entry.id, "支委会审定（演示）")
                made += 1
            except ApiError:  # a closed period or a cap: the demo does without that entry
                db.session.rollback()
    return made


def _robot(fake_base: str, wait_s: float = 10.0) -> str:
    """A new robot on the fake (waiting a little for a fake that is still starting)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            resp = requests.post(f"{fake_base.rstrip('/')}/_fake/robots", timeout=5)
            resp.raise_for_status()
            return str(resp.json()["key"])
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def publish_demo(fake_base: str) -> dict[str, Any]:
    """Publish the demo branch's boards to a robot on the fake; what to tell the user."""
    current_app.config["WECOM_API_BASE"] = fake_base.rstrip("/")
    branch = _first_branch()
    now = current_quarter()
    quarter = Period(now.year - 1, 4) if now.quarter == 1 else Period(now.year, now.quarter - 1)
    made = ensure_points(branch, quarter.year)
    for old in db.session.execute(select(ChatTarget).filter_by(branch_id=branch.id, active=True)
                                  ).scalars().all():
        if old.name.startswith(DEMO_TARGET_PREFIX):
            old.active = False
    db.session.commit()
    target = targets.add_target(None, branch_id=branch.id, channel="wecom_webhook",
                                name=f"{DEMO_TARGET_PREFIX}{branch.name}党员群",
                                secret=_robot(fake_base), formats=["image", "markdown"])
    posts = []
    for period in (quarter, quarter.year_period):
        for item in publishing.publish_board(None, "members", branch.id, period, source="demo",
                                             targets=[target]):
            posts.append((period.label, item.post.status if item.post else "dry-run"))
    return {"branch": branch.name, "entries_made": made, "posts": posts,
            "fake_page": f"{fake_base.rstrip('/')}/", "secretary": DEMO_SECRETARY,
            "password": DEMO_PASSWORD,
            "share_url": publishing.share_url("members", branch.id, quarter)}
