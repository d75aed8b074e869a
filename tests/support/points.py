"""A small organisation for the points tests: one committee, two branches, staff."""

from __future__ import annotations

import datetime as dt
import functools
import io
from dataclasses import dataclass, field
from typing import Any

from werkzeug.security import generate_password_hash

from server.accounts.models import User
from server.accounts.operations import new_api_key
from server.core.db import db
from server.organization.models import Branch, Committee, Member, PartyGroup

PASSWORD = "correct horse 1"
APPROVERS = {"sec_a": "wei_a", "sec_b": "wei_b", "wei_a": "sec_a", "wei_b": "sec_b",
             "dangwei": "sec_a"}
Q1_PUBLISH = dt.datetime(2026, 4, 2, 2, 0)  # 10:00 China time on 2 April 2026


@dataclass
class World:
    committee_id: int
    branch_a: int
    branch_b: int
    groups_a: list[int]
    members_a: list[int]  # party members of branch A, in roster order
    members_b: list[int]
    masses_a: int  # a non-party employee (群众) in branch A
    users: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def user(self, name: str) -> User:
        return db.session.get(User, self.users[name])

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    def approver(self, enterer: str) -> User:
        """Who approves what `enterer` entered: another member of the branch committee
        (the committee account approves what the secretaries' colleagues enter)."""
        return self.user(APPROVERS.get(enterer, "dangwei"))


def build_world() -> World:
    c = Committee(name="测试公司党委")
    db.session.add(c)
    db.session.flush()
    a = Branch(committee_id=c.id, name="第一党支部")
    b = Branch(committee_id=c.id, name="第二党支部")
    db.session.add_all([a, b])
    db.session.flush()
    g1 = PartyGroup(branch_id=a.id, name="第一党小组")
    g2 = PartyGroup(branch_id=a.id, name="第二党小组")
    db.session.add_all([g1, g2])
    db.session.flush()
    names_a = ["王建华", "李海燕", "张志刚", "刘秀兰", "陈国强"]
    members_a = [Member(committee_id=c.id, branch_id=a.id, group_id=(g1 if i < 3 else g2).id,
                        member_no=f"A{i + 1:03d}", name=n) for i, n in enumerate(names_a)]
    masses = Member(committee_id=c.id, branch_id=a.id, member_no="A900", name="赵群众",
                    is_party_member=False)
    members_b = [Member(committee_id=c.id, branch_id=b.id, member_no=f"B{i + 1:03d}", name=n)
                 for i, n in enumerate(["孙伟", "周敏", "吴磊"])]
    db.session.add_all([*members_a, masses, *members_b])
    db.session.commit()
    world = World(c.id, a.id, b.id, [g1.id, g2.id], [m.id for m in members_a],
                  [m.id for m in members_b], masses.id)
    # wei_a / wei_b: a second member of each branch committee, who approves what the
    # secretary entered (支委会审定 is not the one who entered the entry)
    for name, role, branch in (("sec_a", "secretary", a.id), ("sec_b", "secretary", b.id),
                               ("wei_a", "secretary", a.id), ("wei_b", "secretary", b.id),
                               ("dangwei", "committee", None), ("organizer", "organizer", None)):
        # Straight into the table with one shared hash: hashing per user makes setup slow.
        user = User(username=name, password_hash=_password_hash(), role=role,
                    committee_id=c.id, branch_id=branch, display_name=name)
        db.session.add(user)
        db.session.flush()
        world.users[name] = user.id
        world.keys[name] = new_api_key(user, "tests")
    return world


@functools.cache
def _password_hash() -> str:
    return generate_password_hash(PASSWORD, method="scrypt:1024:8:1")  # as conftest's accounts


def sheet(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    """An .xlsx with a title row, a header and the rows."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["第一党支部2026年第一季度党员积分表"])
    ws.append(header or ["工号", "姓名", "项目", "分值", "事由", "佐证材料"])
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
