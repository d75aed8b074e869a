"""`pingyi user create`: branch secretaries scoped to a branch (--branch), through the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from server.accounts.models import User
from server.core.db import db
from server.organization.models import Branch, Committee

PASSWORD = "correct horse 1"


@dataclass
class Org:
    committee: int
    other_committee: int
    branch_a: int  # 第一党支部 of 测试公司党委
    branch_b: int  # 第二党支部 of 测试公司党委
    other_branch: int  # 第一党支部 of 另一公司党委 (same name, other committee)


@pytest.fixture
def org(app: Flask) -> Org:
    with app.app_context():
        mine, other = Committee(name="测试公司党委"), Committee(name="另一公司党委")
        db.session.add_all([mine, other])
        db.session.flush()
        branches = [Branch(committee_id=mine.id, name="第一党支部"),
                    Branch(committee_id=mine.id, name="第二党支部"),
                    Branch(committee_id=other.id, name="第一党支部")]
        db.session.add_all(branches)
        db.session.commit()
        return Org(mine.id, other.id, *(b.id for b in branches))


def create(runner: Any, *args: str) -> Any:
    return runner.invoke(args=["user", "create", *args, "--password", PASSWORD])


def users(app: Flask) -> dict[str, tuple[str, int | None, int | None]]:
    with app.app_context():
        return {u.username: (u.role, u.committee_id, u.branch_id)
                for u in db.session.execute(db.select(User)).scalars()}


def test_secretary_by_branch_name_and_committee(app, runner, org):
    res = create(runner, "sec_a", "--role", "secretary", "--committee", "测试公司党委",
                 "--branch", "第一党支部", "--display-name", "第一支部书记")
    assert res.exit_code == 0, res.output
    assert "created secretary sec_a" in res.output and "测试公司党委第一党支部" in res.output
    assert users(app)["sec_a"] == ("secretary", org.committee, org.branch_a)


def test_secretary_by_branch_id_takes_the_branch_committee(app, runner, org):
    res = create(runner, "sec_b", "--role", "secretary", "--branch", str(org.branch_b))
    assert res.exit_code == 0, res.output
    assert users(app)["sec_b"] == ("secretary", org.committee, org.branch_b)


def test_unknown_branch_creates_nothing(app, runner, org):
    res = create(runner, "sec_x", "--role", "secretary", "--committee", "测试公司党委",
                 "--branch", "第九党支部")
    assert res.exit_code != 0
    assert "测试公司党委没有党支部“第九党支部”" in res.output
    res = create(runner, "sec_y", "--role", "secretary", "--branch", "999999")
    assert res.exit_code != 0 and "没有党支部“999999”" in res.output
    res = create(runner, "sec_z", "--role", "secretary", "--branch", "9" * 30)
    assert res.exit_code != 0 and "没有党支部" in res.output
    assert users(app) == {}


def test_branch_of_another_committee_is_refused(app, runner, org):
    res = create(runner, "sec_o", "--role", "secretary", "--committee", "测试公司党委",
                 "--branch", str(org.other_branch))
    assert res.exit_code != 0
    assert f"党支部“{org.other_branch}”不属于测试公司党委" in res.output
    res = create(runner, "sec_o", "--role", "secretary", "--committee", "另一公司党委",
                 "--branch", "第二党支部")
    assert res.exit_code != 0 and "党支部“第二党支部”不属于另一公司党委" in res.output
    assert users(app) == {}


def test_a_name_in_two_committees_needs_the_committee(app, runner, org):
    res = create(runner, "sec_1", "--role", "secretary", "--branch", "第一党支部")
    assert res.exit_code != 0 and "请用 --committee 指定党委" in res.output
    assert users(app) == {}
    res = create(runner, "sec_1", "--role", "secretary", "--branch", "第一党支部",
                 "--committee", "另一公司党委")
    assert res.exit_code == 0, res.output
    assert users(app)["sec_1"][1:] == (org.other_committee, org.other_branch)


def test_branch_goes_with_the_secretary_role_only(app, runner, org):
    res = create(runner, "sec", "--role", "secretary", "--committee", "测试公司党委")
    assert res.exit_code != 0 and "书记账号须用 --branch 指定所在党支部" in res.output
    res = create(runner, "org", "--role", "organizer", "--branch", "第二党支部")
    assert res.exit_code != 0 and "organizer 账号不能指定 --branch" in res.output
    res = create(runner, "nobody", "--role", "secretary", "--committee", "不存在党委",
                 "--branch", "第一党支部")
    assert res.exit_code != 0 and "找不到党委“不存在党委”" in res.output
    assert users(app) == {}
    res = create(runner, "org", "--role", "organizer", "--committee", "测试公司党委")
    assert res.exit_code == 0, res.output
    assert users(app)["org"] == ("organizer", org.committee, None)


def test_errors_of_the_account_itself_are_reported(app, runner, org):
    assert create(runner, "sec_a", "--role", "secretary", "--branch",
                  str(org.branch_a)).exit_code == 0
    res = create(runner, "sec_a", "--role", "secretary", "--branch", str(org.branch_b))
    assert res.exit_code != 0 and "该用户名已存在（username_taken）" in res.output
    res = runner.invoke(args=["user", "create", "sec_c", "--role", "secretary", "--branch",
                              str(org.branch_b), "--password", "short"])
    assert res.exit_code != 0 and "密码至少需要 8 个字符" in res.output
    assert users(app)["sec_a"][2] == org.branch_a and "sec_c" not in users(app)


def test_cli_secretary_sees_only_the_own_branch(app, runner, client, org):
    """The account made by the CLI is scoped: its own branch's board, not branch B's."""
    assert create(runner, "sec_a", "--role", "secretary", "--branch", str(org.branch_a),
                  ).exit_code == 0
    res = runner.invoke(args=["user", "api-key", "sec_a"])
    assert res.exit_code == 0, res.output
    auth = {"Authorization": "Bearer " + res.output.strip()}
    own = client.get(f"/api/v1/points/boards/members/{org.branch_a}?period=2026Q1",
                     headers=auth)
    assert own.status_code == 200, own.json
    for other in (org.branch_b, org.other_branch):
        res = client.get(f"/api/v1/points/boards/members/{other}?period=2026Q1", headers=auth)
        assert res.status_code == 404 and res.json["error"]["code"] == "branch_not_found"
    assert runner.invoke(args=["user", "api-key", "nobody"]).exit_code != 0


def test_create_user_checks_the_branch_too(app, org):
    """The operation under the CLI refuses a branch outside the committee or unknown."""
    from server.accounts.operations import create_user
    from server.core.errors import ApiError

    with app.app_context():
        with pytest.raises(ApiError) as err:
            create_user("x", PASSWORD, role="secretary", committee_id=org.committee,
                        branch_id=org.other_branch)
        assert err.value.code == "branch_not_in_committee"
        with pytest.raises(ApiError) as err:
            create_user("x", PASSWORD, role="secretary", branch_id=10**6)
        assert err.value.code == "branch_not_found"
        user = create_user("x", PASSWORD, role="secretary", branch_id=org.branch_b)
        assert (user.committee_id, user.branch_id) == (org.committee, org.branch_b)
