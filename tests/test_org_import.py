"""Roster import: CSV (UTF-8, BOM, GBK) and .xlsx, row-level errors, all or nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask import Flask
from sqlalchemy import func

from server.core.db import db
from server.organization import importer
from server.organization.importer import RosterInvalid
from server.organization.models import Branch, Committee, Member, PartyGroup
from server.organization.operations import ensure_committee, import_roster, org_tree

DEMO = Path(__file__).parents[1] / "server" / "demo" / "roster.csv"
COMMITTEE = "示例公司党委"

HEADER = "支部,党小组,姓名,工号,职务,政治面貌"
GOOD_ROWS = [
    "第一党支部,运行党小组,张建国,1001,支部书记,中共党员",
    "第一党支部,运行党小组,李卫东,1002,值长,中共党员",
    "第一党支部,检修党小组,王海燕,1003,检修工,预备党员",
    "第二党支部,,陈晓峰,2001,巡检员,群众",
]


def csv_bytes(lines: list[str], encoding: str = "utf-8-sig") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {model.__tablename__: db.session.scalar(db.select(func.count()).select_from(model))
                for model in (Committee, Branch, PartyGroup, Member)}


def member(app: Flask, member_no: str) -> dict[str, Any]:
    with app.app_context():
        m = db.session.execute(db.select(Member).filter_by(member_no=member_no)).scalar_one()
        return {"name": m.name, "branch": m.branch.name,
                "group": m.group.name if m.group else None, "title": m.title,
                "party": m.is_party_member}


def do_import(app: Flask, data: bytes, filename: str = "roster.csv",
              committee: str = COMMITTEE, dry_run: bool = False) -> Any:
    with app.app_context():
        c = ensure_committee(committee)
        return import_roster(c.id, filename, data, dry_run=dry_run)


def import_errors(app: Flask, data: bytes, filename: str = "roster.csv") -> list[Any]:
    with app.app_context(), pytest.raises(RosterInvalid) as info:
        c = ensure_committee(COMMITTEE)
        import_roster(c.id, filename, data)
    err = info.value
    assert err.code == "roster_invalid" and err.status == 422
    return err.rows


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# -- good files build the tree ---------------------------------------------

def test_cli_imports_demo_csv_with_bom(app: Flask, runner: Any) -> None:
    assert DEMO.read_bytes().startswith(b"\xef\xbb\xbf")
    result = runner.invoke(args=["org", "import", str(DEMO), "--committee", COMMITTEE])
    assert result.exit_code == 0, result.output
    assert "新增人员：40" in result.output
    assert "新建支部：3" in result.output

    assert counts(app) == {"committees": 1, "branches": 3, "party_groups": 7, "members": 40}
    with app.app_context():
        c = db.session.execute(db.select(Committee).filter_by(name=COMMITTEE)).scalar_one()
        tree = org_tree(c.id)
    assert [b["name"] for b in tree["branches"]] == [
        "第一党支部（生产）", "第二党支部（机关）", "第三党支部（营销）"]
    assert tree["counts"] == {"branches": 3, "groups": 7, "members": 40, "party_members": 36}
    first = tree["branches"][0]
    assert [g["name"] for g in first["groups"]] == ["运行党小组", "检修党小组", "安全环保党小组"]
    assert first["groups"][0]["members"][0] == {
        "id": first["groups"][0]["members"][0]["id"], "member_no": "10001", "name": "张建国",
        "title": "支部书记、生产部主任", "is_party_member": True}
    assert member(app, "10048") == {"name": "陈晓峰", "branch": "第一党支部（生产）",
                                    "group": "运行党小组", "title": "巡检员", "party": False}
    assert member(app, "10041")["party"] is True  # 预备党员

    shown = runner.invoke(args=["org", "show", "--committee", COMMITTEE])
    assert shown.exit_code == 0, shown.output
    assert "3 个支部，7 个党小组，40 人（党员 36 人，群众 4 人）" in shown.output
    assert "10048  陈晓峰  巡检员  ［群众］" in shown.output
    brief = runner.invoke(args=["org", "show", "--committee", COMMITTEE, "--no-members"])
    assert "检修党小组：5 人" in brief.output and "陈晓峰" not in brief.output


def test_xlsx_import_builds_tree(app: Flask, runner: Any, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append(["序号", "党支部", "党小组", "姓名", "党员编号", "职务", "政治面貌"])
    ws.append([1, "第一党支部", "运行党小组", "张建国", 1001, "支部书记", "中共党员"])
    ws.append([2, "第一党支部", "运行党小组", " 李卫东 ", 1002.0, None, "中共党员"])
    ws.append([3, "第一党支部", "检修党小组", "王　伟", "1003", "检修工", None])
    ws.append([4, "第二党支部", None, "陈晓峰", 2001, "巡检员", "群众"])
    ws.append([5])  # a numbered template row with nothing else: skipped
    wb.create_sheet("说明").append(["这个工作表不会被读取"])
    buf = io.BytesIO()
    wb.save(buf)
    path = write(tmp_path, "花名册.xlsx", buf.getvalue())

    result = runner.invoke(args=["org", "import", path, "--committee", COMMITTEE])
    assert result.exit_code == 0, result.output
    assert counts(app) == {"committees": 1, "branches": 2, "party_groups": 2, "members": 4}
    assert member(app, "1002") == {"name": "李卫东", "branch": "第一党支部",
                                   "group": "运行党小组", "title": "", "party": True}
    assert member(app, "1003")["name"] == "王伟"  # alignment space removed
    assert member(app, "1003")["party"] is True  # not given: party member by default
    assert member(app, "2001") == {"name": "陈晓峰", "branch": "第二党支部", "group": None,
                                   "title": "巡检员", "party": False}


def test_xlsx_with_title_row_and_merged_branch_cells(app: Flask) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["某公司党委党员花名册"])
    ws.merge_cells("A1:E1")
    ws.append(["支部", "党小组", "姓名", "工号", "是否党员"])
    ws.append(["第一党支部", "一组", "张三", "A01", "是"])
    ws.append([None, "一组", "李四", "A02", "否"])
    ws.append([None, "二组", "王五", "A03", "是"])
    ws.append(["第二党支部", None, "赵六", "B01", "是"])
    ws.merge_cells("A3:A5")  # the branch written once for its three members
    buf = io.BytesIO()
    wb.save(buf)

    report = do_import(app, buf.getvalue(), "roster.xlsx")
    assert (report.branches_created, report.groups_created, report.members_created) == (2, 2, 4)
    assert member(app, "A03")["branch"] == "第一党支部"
    assert member(app, "A02")["party"] is False


def test_gbk_csv_with_synonym_headers(app: Flask) -> None:
    lines = ["所在支部,小组,姓名,编号,岗位,是否党员",
             "第一党支部（生产）,运行党小组,欧阳春华,30001,值长,是",
             "第一党支部（生产）,运行党小组,胡玉兰,30002,档案员,否"]
    data = csv_bytes(lines, "gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    report = do_import(app, data)
    assert report.members_created == 2
    assert member(app, "30001") == {"name": "欧阳春华", "branch": "第一党支部（生产）",
                                    "group": "运行党小组", "title": "值长", "party": True}
    assert member(app, "30002")["party"] is False


def test_plain_utf8_and_tab_separated(app: Flask) -> None:
    report = do_import(app, csv_bytes([HEADER, *GOOD_ROWS], "utf-8"))
    assert report.members_created == 4
    tsv = [line.replace(",", "\t") for line in [HEADER, "第三党支部,,周文斌,3001,技术员,中共党员"]]
    report = do_import(app, csv_bytes(tsv, "utf-16"), "roster.txt")
    assert report.members_created == 1
    assert member(app, "3001")["branch"] == "第三党支部"


# -- bad rows: every one reported, nothing written ---------------------------

def test_bad_rows_are_each_reported_and_nothing_is_written(
        app: Flask, runner: Any, tmp_path: Path) -> None:
    do_import(app, csv_bytes([HEADER, *GOOD_ROWS]))
    before = counts(app)
    bad = [
        HEADER,                                                    # row 1
        "第九党支部,新党小组,周文斌,9001,技术员,中共党员",         # row 2: good, new branch
        "第九党支部,新党小组,,9002,技术员,中共党员",               # row 3: 姓名 empty
        "第九党支部,新党小组,吴静,9003," + "长" * 101 + ",中共党员",  # row 4: 职务 too long
        "第九党支部,新党小组,郑国庆,9001,焊工,群众",               # row 5: duplicate of row 2
        "第九党支部,新党小组,冯丽萍,9005,安全员,共产主义接班人",   # row 6: unknown 政治面貌
        "第一党支部,运行党小组,李伟东,1002,值长,中共党员",         # row 7: 1002 is 李卫东
        ",新党小组,何建平,9007,化验员,中共党员",                   # row 8: 支部 empty
        "第九党支部,新党小组,高志远,,安全员,中共党员",             # row 9: 工号 empty
    ]
    data = csv_bytes(bad)
    rows = import_errors(app, data)
    assert counts(app) == before

    located = {(r.row, r.column) for r in rows}
    assert located == {(3, "姓名"), (4, "职务"), (5, "工号"), (6, "政治面貌"), (7, "工号"),
                       (8, "支部"), (9, "工号")}
    texts = [r.text for r in rows]
    assert "第5行“工号”：与第2行重复" in texts
    assert "第3行“姓名”：不能为空" in texts
    assert [r.row for r in rows] == sorted(r.row for r in rows)
    assert any(t.startswith("第7行“工号”：“1002”已是“李卫东”的工号") for t in texts)

    path = write(tmp_path, "bad.csv", data)
    result = runner.invoke(args=["org", "import", path, "--committee", COMMITTEE])
    assert result.exit_code == 1
    assert "有 7 处问题，未导入任何数据" in result.output
    assert "第5行“工号”：与第2行重复" in result.output
    assert "第4行“职务”：不能超过 100 个字（现有 101 个字）" in result.output
    assert counts(app) == before


def test_failed_cli_import_does_not_create_the_committee(
        app: Flask, runner: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", csv_bytes([HEADER, "第一党支部,,,1,,"]))
    result = runner.invoke(args=["org", "import", path, "--committee", "新党委"])
    assert result.exit_code == 1
    assert "第2行“姓名”：不能为空" in result.output
    assert counts(app)["committees"] == 0


def test_missing_required_columns_is_one_header_error(app: Flask) -> None:
    rows = import_errors(app, csv_bytes(["序号,姓名,职务", "1,张三,工人"]))
    assert len(rows) == 1
    assert rows[0].row == 1 and rows[0].column is None
    assert "表头缺少必填列" in rows[0].message
    assert "“支部”" in rows[0].message and "“工号”" in rows[0].message
    assert "“姓名”" not in rows[0].message


def test_two_columns_for_the_same_field(app: Flask) -> None:
    rows = import_errors(app, csv_bytes(["支部,姓名,工号,党员编号", "一支部,张三,1,D1"]))
    assert [(r.row, r.column) for r in rows] == [(1, "党员编号")]
    assert "与“工号”列重复" in rows[0].message


def test_api_error_carries_the_rows(app: Flask) -> None:
    with app.app_context():
        c = ensure_committee(COMMITTEE)
        with pytest.raises(RosterInvalid) as info:
            import_roster(c.id, "x.csv", csv_bytes([HEADER, "一支部,,,1,,"]))
    body = info.value.to_dict()
    assert body["code"] == "roster_invalid"
    assert body["count"] == 1
    assert body["rows"] == [{"row": 2, "column": "姓名", "field": "name", "message": "不能为空",
                             "text": "第2行“姓名”：不能为空"}]


def test_too_many_rows(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "MAX_ROWS", 3)
    rows = import_errors(app, csv_bytes([HEADER, *GOOD_ROWS]))
    assert len(rows) == 1 and rows[0].row is None
    assert "超过 3 行的上限" in rows[0].message
    assert counts(app)["members"] == 0


def test_error_list_is_capped(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "MAX_ERRORS", 5)
    rows = import_errors(app, csv_bytes([HEADER] + [f"一支部,,,{i},," for i in range(12)]))
    assert len(rows) == 6
    assert rows[-1].message == "另有 7 处问题未列出"
    with app.app_context(), pytest.raises(RosterInvalid) as info:
        import_roster(ensure_committee(COMMITTEE).id, "x.csv",
                      csv_bytes([HEADER] + [f"一支部,,,{i},," for i in range(12)]))
    assert info.value.count == 12
    assert info.value.message.startswith("花名册有 12 处问题")


# -- re-import and update semantics ----------------------------------------

def test_reimport_is_idempotent(app: Flask, runner: Any) -> None:
    args = ["org", "import", str(DEMO), "--committee", COMMITTEE]
    assert runner.invoke(args=args).exit_code == 0
    before = counts(app)
    again = runner.invoke(args=args)
    assert again.exit_code == 0, again.output
    assert "新增人员：0" in again.output and "更新人员：0" in again.output
    assert "未变化人员：40" in again.output
    assert counts(app) == before


def test_existing_member_is_updated_others_are_kept(app: Flask) -> None:
    do_import(app, csv_bytes([HEADER, *GOOD_ROWS]))
    update = [HEADER,
              "第二党支部,新党小组,李卫东,1002,副值长,",        # moved, new group, new title
              "第一党支部,检修党小组,王海燕,1003,检修工,群众",  # party status changed
              "第一党支部,运行党小组,张建国,1001,支部书记,中共党员",  # unchanged
              "第一党支部,运行党小组,周文斌,1004,技术员,中共党员"]    # new
    report = do_import(app, csv_bytes(update))
    assert (report.members_created, report.members_updated, report.members_unchanged) == (1, 2, 1)
    assert (report.branches_created, report.groups_created) == (0, 1)
    assert member(app, "1002") == {"name": "李卫东", "branch": "第二党支部",
                                   "group": "新党小组", "title": "副值长", "party": True}
    assert member(app, "1003")["party"] is False
    assert member(app, "2001")["name"] == "陈晓峰"  # not in the file: left alone
    assert counts(app)["members"] == 5


def test_file_without_optional_columns_keeps_them(app: Flask) -> None:
    do_import(app, csv_bytes([HEADER, *GOOD_ROWS]))
    report = do_import(app, csv_bytes(["支部,姓名,工号", "第一党支部,王　海燕,1003",
                                       "第二党支部,张建国,1001"]))
    assert (report.members_updated, report.members_unchanged) == (1, 1)
    assert member(app, "1003") == {"name": "王海燕", "branch": "第一党支部",
                                   "group": "检修党小组", "title": "检修工", "party": True}
    # moved branch: the old branch's group cannot follow
    assert member(app, "1001") == {"name": "张建国", "branch": "第二党支部", "group": None,
                                   "title": "支部书记", "party": True}


def test_dry_run_counts_and_writes_nothing(app: Flask, runner: Any) -> None:
    result = runner.invoke(args=["org", "import", str(DEMO), "--committee", COMMITTEE,
                                 "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "试导入（未写入任何数据）" in result.output
    assert "新增人员：40" in result.output
    assert counts(app) == {"committees": 0, "branches": 0, "party_groups": 0, "members": 0}
    report = do_import(app, DEMO.read_bytes(), "roster_demo.csv", dry_run=True)
    assert (report.branches_created, report.groups_created, report.members_created) == (3, 7, 40)
    assert counts(app)["members"] == 0


# -- files that cannot be read ---------------------------------------------

def test_wrong_file_type(app: Flask, runner: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "roster.pdf", b"%PDF-1.7 not a roster")
    result = runner.invoke(args=["org", "import", path, "--committee", COMMITTEE])
    assert result.exit_code == 1
    assert "不支持的文件类型 .pdf" in result.output

    rows = import_errors(app, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "roster.xls")
    assert "旧版 .xls" in rows[0].message
    rows = import_errors(app, b"this is not a zip file", "roster.xlsx")
    assert "不是有效的 Excel 文件" in rows[0].message
    rows = import_errors(app, b"PK\x03\x04 broken", "roster.xlsx")
    assert "无法读取 Excel 文件" in rows[0].message
    assert counts(app)["members"] == 0


def test_empty_files(app: Flask, runner: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "empty.csv", b"")
    result = runner.invoke(args=["org", "import", path, "--committee", COMMITTEE])
    assert result.exit_code == 1
    assert "文件是空的" in result.output

    assert "文件是空的" in import_errors(app, b"\xef\xbb\xbf\r\n ,, \r\n")[0].message
    assert "只有表头" in import_errors(app, csv_bytes([HEADER, ",,,,,"]))[0].message
    buf = io.BytesIO()
    openpyxl.Workbook().save(buf)
    assert "文件是空的" in import_errors(app, buf.getvalue(), "empty.xlsx")[0].message


def test_undecodable_bytes(app: Flask) -> None:
    data = csv_bytes([HEADER]) + b"\xff\xfe\xff bad bytes\r\n"
    rows = import_errors(app, data)
    assert "编码无法识别" in rows[0].message
    assert rows[0].row == 2


def test_show_unknown_committee(runner: Any) -> None:
    result = runner.invoke(args=["org", "show", "--committee", "没有这个党委"])
    assert result.exit_code == 1
    assert "找不到党委" in result.output


def test_xlsx_row_numbers_are_the_ones_excel_shows(app: Flask) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "2025年度党员花名册"
    ws.append([])  # row 2 blank
    ws.append(["支部", "姓名", "工号"])  # header on row 3
    ws.append(["一支部", "张三", "1"])
    ws.append([])  # row 5 blank
    ws.append(["一支部", None, "2"])  # row 6
    ws.append(["一支部", "王五", 1])  # row 7: 1 == "1"
    buf = io.BytesIO()
    wb.save(buf)
    rows = import_errors(app, buf.getvalue(), "roster.xlsx")
    assert [r.text for r in rows] == ["第6行“姓名”：不能为空", "第7行“工号”：与第4行重复"]


def test_failure_while_writing_rolls_everything_back(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import IntegrityError

    from server.core.errors import ApiError
    from server.organization import operations

    with app.app_context():
        ensure_committee(COMMITTEE)
    before = counts(app)

    def clash(*_args: Any, **_kwargs: Any) -> None:  # as if another import won the race
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(operations.audit, "record", clash)
    with app.app_context(), pytest.raises(ApiError) as info:
        c = ensure_committee(COMMITTEE)
        import_roster(c.id, "roster.csv", csv_bytes([HEADER, *GOOD_ROWS]))
    assert (info.value.code, info.value.status) == ("roster_conflict", 409)
    assert counts(app) == before


def test_names_are_normalised_as_console_input_is(app: Flask) -> None:
    """A bidi override (U+202E) or a zero-width space pasted into a roster is dropped,
    as the console drops it from a typed name: the same text either way."""
    from server.core.text import display_text

    raw = ["张\u202e建国", "李\u200b卫东\u202c", "\u2066王海燕\u2069"]
    rows = [f"第一党支部,运行党小组,{name},{1001 + i},,中共党员" for i, name in enumerate(raw)]
    do_import(app, csv_bytes([HEADER, *rows]))
    names = [member(app, str(1001 + i))["name"] for i in range(len(raw))]
    assert names == ["张建国", "李卫东", "王海燕"] == [display_text(n) for n in raw]
