"""`pingyi points ...`: import, rebuild, close, publish, review, export-stars, rules."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from server.core.db import db
from server.core.redis import get_redis
from server.points import boards
from server.points.calendar import Period
from server.points.models import PointsEntry
from tests.support.points import build_world, sheet


@pytest.fixture
def world(app):
    with app.app_context():
        return build_world()


def test_import_then_rebuild(app, runner, world, tmp_path):
    good = tmp_path / "q1.xlsx"
    good.write_bytes(sheet([["A001", "王建华", "innovation", 2, "建议"],
                            ["A002", "李海燕", "post_duty", 4, "考核"]]))
    res = runner.invoke(args=["points", "import", str(good), "--branch", "第一党支部",
                              "--period", "2026Q1", "--approve"])
    assert res.exit_code == 0, res.output
    assert "已导入并审定：2 条" in res.output
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(sheet([["A999", "", "innovation", 2, "x"], ["A001", "", "跳舞", 1, "x"]]))
    res = runner.invoke(args=["points", "import", str(bad), "--branch", "第一党支部",
                              "--period", "2026Q1"])
    assert res.exit_code == 1
    assert "有 2 处问题，未导入任何数据" in res.output and "第3行“工号”" in res.output
    res = runner.invoke(args=["points", "import", str(good), "--branch", "第九党支部",
                              "--period", "2026Q1"])
    assert res.exit_code != 0 and "没有党支部“第九党支部”" in res.output

    with app.app_context():
        get_redis().flushdb()
    res = runner.invoke(args=["points", "rebuild"])
    assert res.exit_code == 0 and "rebuilt 2 of 2 board scopes" in res.output
    with app.app_context():
        assert boards.redis_board("members", world.branch_a, Period(2026, 1)) == {
            boards.member_id_str(world.members_a[1]): -boards.composite(40, 0),
            boards.member_id_str(world.members_a[0]): -boards.composite(20, 0)}
        assert db.session.query(PointsEntry).count() == 2


def test_close_publish_review_and_export(app, runner, world, tmp_path):
    good = tmp_path / "q1.xlsx"
    good.write_bytes(sheet([["A001", "王建华", "post_duty", 5, "考核"]]))
    assert runner.invoke(args=["points", "import", str(good), "--branch", "第一党支部",
                               "--period", "2026Q1", "--approve"]).exit_code == 0
    res = runner.invoke(args=["points", "close", "2026Q1", "--as", "dangwei"])
    assert res.exit_code == 0 and "2026年第一季度：已关闭" in res.output
    res = runner.invoke(args=["points", "publish", "2026Q1"])
    assert res.exit_code == 0, res.output
    assert "2026年第一季度：" in res.output and "异议期至" in res.output
    res = runner.invoke(args=["points", "review", "2026"])
    assert res.exit_code != 0 and "尚未关闭" in res.output
    res = runner.invoke(args=["points", "export-stars", "2026", "-o", str(tmp_path / "s.xlsx")])
    assert res.exit_code != 0 and "尚未进行党委综评" in res.output
    res = runner.invoke(args=["points", "close", "2026"])
    assert res.exit_code != 0 and "第二季度、第三季度、第四季度尚未关闭" in res.output
    for q in (2, 3, 4):
        assert runner.invoke(args=["points", "close", f"2026Q{q}"]).exit_code == 0
    assert runner.invoke(args=["points", "close", "2026"]).exit_code == 0
    res = runner.invoke(args=["points", "review", "2026", "--committee", "测试公司党委"])
    assert res.exit_code == 0 and "已评定 8 名党员" in res.output
    out = tmp_path / "stars.xlsx"
    res = runner.invoke(args=["points", "export-stars", "2026", "-o", str(out)])
    assert res.exit_code == 0, res.output
    ws = load_workbook(out).active
    assert ws["A1"].value == "测试公司党委2026年度党员评星定级资料库"
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert len(rows) == 8 and rows[0][4] == "王建华" and rows[0][5] == 5.0
    assert rows[0][8] == "不合格"


def test_rules_command(runner, world):
    res = runner.invoke(args=["points", "rules"])
    assert res.exit_code == 0 and "default-2026" in res.output and "异议期 7 天" in res.output
