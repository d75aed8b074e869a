"""Importing a quarter's points from Excel: all rows or none, every bad row named."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func

from server.core.db import db
from server.core.errors import ApiError
from server.points import ledger, periods
from server.points.calendar import Period
from server.points.importer import PointsImportInvalid, import_points
from server.points.models import PointsEntry
from server.points.operations import approve_entry, create_entry
from tests.support.points import World, build_world, sheet


@pytest.fixture
def world(app):
    with app.app_context():
        return build_world()

GOOD = [
    ["A001", "王建华", "参加支部党员大会、党小组会和党课", 3, "第一季度参加3次", "签到表"],
    ["A002", "李海燕", "innovation", "", "合理化建议1条", ""],
    ["A003", "张志刚", "无故缺席组织生活", 2, "3月未参加主题党日", ""],
    ["", "刘秀兰", "完成岗位职责和工作任务", 4.5, "季度考核", ""],
]


def count() -> int:
    return db.session.execute(db.select(func.count(PointsEntry.id))).scalar_one()


def run(w: World, data: bytes, name="q1.xlsx", **kw):
    return import_points(w.user(kw.pop("who", "sec_a")), kw.pop("branch", w.branch_a),
                         kw.pop("period", "2026Q1"), name, data, **kw)


def test_a_good_sheet_imports_as_pending(app, world):
    with app.app_context():
        report = run(world, sheet(GOOD))
        assert (report.rows, report.members, report.total_x10) == (4, 4, 30 + 20 - 20 + 45)
        entries = db.session.execute(db.select(PointsEntry).order_by(PointsEntry.id)).scalars()
        got = [(e.member_id, e.item_key, e.points_x10, e.status, e.source) for e in entries]
        a = world.members_a
        assert got == [(a[0], "branch_meeting", 30, "pending", "import"),
                       (a[1], "innovation", 20, "pending", "import"),
                       (a[2], "absence", -20, "pending", "import"),
                       (a[3], "post_duty", 45, "pending", "import")]
        assert ledger.approved_total("member", a[0], 2026) == 0


def test_an_approved_sheet_counts_at_once_and_reaches_the_board(app, world):
    from server.points.standings import live_rows

    with app.app_context():
        run(world, sheet(GOOD), approve=True, approver="wei_a")
        rows, _ = live_rows("members", world.branch_a, Period(2026, 1), 0, 0)
        assert [r["name"] for r in rows] == ["刘秀兰", "王建华", "李海燕", "张志刚"]
        assert rows[3]["points"] == -20 and rows[3]["deductions"] == 20


def test_names_with_invisible_characters_match_the_roster(app, world):
    """The sheet reader normalises cells as the console does: a name with a bidi
    override (U+202E) or a zero-width space is the member's name."""
    rows = [["", "王\u202e建华", "参加支部党员大会、党小组会和党课", 3, "", ""],
            ["", "李\u200b海燕\u202c", "innovation", "", "合理化建议", ""]]
    with app.app_context():
        report = run(world, sheet(rows))
        got = db.session.execute(db.select(PointsEntry.member_id).order_by(PointsEntry.id))
        assert report.rows == 2 and list(got.scalars()) == world.members_a[:2]


def test_group_rows(app, world):
    with app.app_context():
        data = sheet([["第一党小组", "小组长作用发挥", 18, "季度考评"],
                      ["第二党小组", "党费收缴", 10, "按时足额"]],
                     header=["党小组", "考评项目", "得分", "说明"])
        report = run(world, data, approve=True, approver="wei_a")
        assert (report.rows, report.groups, report.members) == (2, 2, 0)
        assert ledger.approved_total("group", world.groups_a[0], 2026, quarter=1) == 180


def test_every_bad_row_is_listed_and_nothing_is_written(app, world):
    with app.app_context():
        rows = GOOD + [
            ["A999", "无名", "innovation", 2, "x", ""],                     # 7 unknown member
            ["A001", "李海燕", "innovation", 2, "x", ""],                   # 8 name mismatch
            ["A001", "王建华", "打篮球", 2, "x", ""],                       # 9 unknown item
            ["A001", "王建华", "innovation", 7, "x", ""],                   # 10 above the entry max
            ["A002", "李海燕", "innovation", "", "合理化建议1条", ""],       # 11 duplicate of 4
            ["A004", "刘秀兰", "参加支部党员大会、党小组会和党课", 12, "", ""],  # 12 fine alone
            ["A004", "刘秀兰", "参加支部党员大会、党小组会和党课", 1, "补录", ""],  # 13 over 12 with row 12
            ["A900", "赵群众", "innovation", 2, "x", ""],                   # 14 not a party member
            ["A005", "陈国强", "innovation", "两分", "x", ""],              # 15 not a number
            ["B001", "孙伟", "innovation", 2, "x", ""],                     # 16 other branch
        ]
        with pytest.raises(PointsImportInvalid) as exc:
            run(world, sheet(rows))
        err = exc.value
        found = {(r.row, r.column): r.message for r in err.rows}
        assert err.code == "import_invalid" and err.status == 422 and err.count == 9
        assert found[(7, "工号")] == "工号“A999”不在第一党支部的名单中"
        assert found[(8, "姓名")] == "姓名与工号不符：工号A001是王建华"
        assert found[(9, "项目")].startswith("没有积分项目“打篮球”")
        assert found[(10, "分值")] == "“合理化建议、自主改善、创新成果”每条不超过6分"
        assert found[(11, None)] == "与第4行重复"
        assert (12, "分值") not in found
        assert found[(13, "分值")] == ("“参加支部党员大会、党小组会和党课”全年累计不超过12分："
                                      "已审定及本表前面各行共12分，本条1分，超出1分")
        assert "不是党员" in found[(14, "姓名")]
        assert found[(15, "分值")].startswith("分值必须是数字")
        assert (16, "工号") in found
        assert err.rows[0].text.startswith("第7行“工号”")
        assert count() == 0


def test_caps_count_what_is_already_approved(app, world):
    with app.app_context():
        w = world
        e = create_entry(w.user("sec_a"), "member", w.members_a[0], "branch_meeting", 11,
                         "2026Q1", "前期")
        approve_entry(w.user("wei_a"), e.id)
        with pytest.raises(PointsImportInvalid) as exc:
            run(w, sheet([GOOD[0]]))
        assert "已审定11分" in exc.value.rows[0].message
        assert count() == 1


def test_the_same_file_twice_and_closed_periods_are_refused(app, world):
    with app.app_context():
        w = world
        data = sheet(GOOD)
        run(w, data)
        with pytest.raises(ApiError) as exc:
            run(w, data)
        assert (exc.value.code, exc.value.status) == ("import_duplicate", 409)
        assert count() == 4
        for e in db.session.execute(db.select(PointsEntry)).scalars().all():
            approve_entry(w.user("wei_a"), e.id)
        periods.close_period(w.user("dangwei"), w.committee_id, Period(2026, 1))
        with pytest.raises(ApiError) as exc:
            run(w, sheet(GOOD[:1]))
        assert exc.value.code == "period_closed"
        assert count() == 4


def test_files_that_cannot_be_read(app, world):
    with app.app_context():
        for name, data, text in (
            ("q1.xlsx", b"not a zip", "文件扩展名是 .xlsx"),
            ("q1.xls", b"\xd0\xcf\x11\xe0rest", "不支持旧版 .xls"),
            ("q1.xlsx", sheet([], header=["序号", "备注"]), "找不到表头"),
            ("q1.xlsx", sheet([]), "只有表头"),
        ):
            with pytest.raises(PointsImportInvalid) as exc:
                run(world, data, name=name)
            assert text in exc.value.message, name


def test_csv_in_gbk(app, world):
    with app.app_context():
        text = "工号,姓名,项目,分值,事由\nA001,王建华,innovation,2,建议\n"
        report = run(world, text.encode("gb18030"), name="q1.csv", dry_run=True)
        assert report.rows == 1 and report.dry_run and count() == 0


def test_api_import(client, world):
    data = {"branch_id": str(world.branch_a), "period": "2026Q1", "approve": "true",
            "approver": "wei_a", "file": (io.BytesIO(sheet(GOOD)), "q1.xlsx")}
    res = client.post("/api/v1/points/imports", headers=world.auth("sec_a"), data=data,
                      content_type="multipart/form-data")
    assert res.status_code == 201, res.json
    assert res.json["rows"] == 4 and res.json["approved"] and res.json["total"] == 7.5
    assert res.json["approved_by"] == "wei_a"
    bad = {"branch_id": str(world.branch_a), "period": "2026Q1",
           "file": (io.BytesIO(sheet([["A999", "", "innovation", 1, "x"]])), "bad.xlsx")}
    res = client.post("/api/v1/points/imports", headers=world.auth("sec_a"), data=bad,
                      content_type="multipart/form-data")
    assert res.status_code == 422
    body = res.json["error"]
    assert body["code"] == "import_invalid" and body["rows"][0]["row"] == 3
    assert body["rows"][0]["column"] == "工号"
    missing = client.post("/api/v1/points/imports", headers=world.auth("sec_a"),
                          data={"period": "2026Q1"}, content_type="multipart/form-data")
    assert missing.status_code == 422
