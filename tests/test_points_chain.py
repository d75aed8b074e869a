"""The points chain of seed 002 (党员评星定级): 党员互评 / 群众测评 rounds whose subjects
are roster members feed the ledger; 支委会审定 is not the one who entered; 党委综评
rates members without entries 未评定, closes the year after its quarters, and
adjusts only with a reason; group-chat boards show of named members what the rule
set says (no 不合格 by default)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bot.content import board_content
from bot.render import markdown, text
from bot.share import share_path
from server.core.audit import AuditEntry
from server.core.db import db
from server.organization.models import Branch, Committee, Member
from server.points.calendar import Period
from server.points.models import PointsEntry, StarRating
from server.points.rules import RuleSetError, parse_rule_set
from server.roundbase.models import Round
from tests.conftest import csrf_token
from tests.support.points import PASSWORD, build_world, sheet
from tests.support.rounds_http import issue, lifecycle, vote

CRITERIA = ("political", "ability", "performance", "style", "integrity", "overall")
DEFAULT_RULES = Path(__file__).resolve().parents[1] / "config" / "points" / "default-2026.toml"


@pytest.fixture
def world(app):
    with app.app_context():
        return build_world()


def post(client, w, who, url, body=None):
    return client.post(url, headers=w.auth(who), json=body or {})


def login(client, username):
    page = client.get("/console/login")
    res = client.post("/console/login", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "username": username,
        "password": PASSWORD})
    assert res.status_code == 302


def page_token(client, path):
    return csrf_token(client.get(path).get_data(as_text=True))


def flashed(client, res):
    return client.get(res.headers["Location"]).get_data(as_text=True)


def rules_dir(tmp_path, **changes: str) -> Path:
    """A copy of the default rule set with `key = value` lines replaced."""
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    body = DEFAULT_RULES.read_text(encoding="utf-8")
    for key, value in changes.items():
        body, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", body, count=1, flags=re.M)
        assert n == 1, key
    (folder / "default-2026.toml").write_text(body, encoding="utf-8")
    return folder


def enter(client, w, who, member, item="branch_meeting", points=3, period="2026Q1"):
    res = post(client, w, who, "/api/v1/points/entries", {
        "member_id": member, "item": item, "points": points, "period": period,
        "reason": "支部党员大会"})
    assert res.status_code == 201, res.json
    return res.json["id"]


# -- round subjects linked to members -------------------------------------------------

def test_round_subjects_take_members_of_the_committee_only(app, client, world):
    w = world
    with app.app_context():
        other = Committee(name="别的公司党委")
        db.session.add(other)
        db.session.flush()
        branch = Branch(committee_id=other.id, name="外支部")
        db.session.add(branch)
        db.session.flush()
        stranger = Member(committee_id=other.id, branch_id=branch.id, member_no="X001",
                          name="外人")
        db.session.add(stranger)
        db.session.commit()
        stranger_id = stranger.id
    body = {"form": "appraisal", "title": "党员互评",
            "subjects": [{"name": "王建华", "member_id": w.members_a[0]}, {"name": "专家"}],
            "categories": [{"name": "党员", "expected_count": 5}]}
    res = post(client, w, "organizer", "/api/v1/rounds", body)
    assert res.status_code == 201, res.json
    assert [s["member_id"] for s in res.json["subjects"]] == [w.members_a[0], None]
    for bad in (stranger_id, 999999):
        wrong = {**body, "subjects": [{"name": "专家"}, {"name": "外人", "member_id": bad}]}
        res = post(client, w, "organizer", "/api/v1/rounds", wrong)
        err = res.json["error"]
        assert (res.status_code, err["code"], err["field"]) == (
            422, "unknown_member", "subjects[1].member_id")
        assert err["message"] == "所选人员不在本党委花名册中"
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Round.id))).scalar_one() == 1


def test_console_new_round_picks_subjects_from_the_roster(app, client, world):
    w = world
    login(client, "organizer")
    page = client.get("/console/rounds/new").get_data(as_text=True)
    assert "从花名册选择测评对象" in page and "王建华（A001）" in page
    assert 'value="王建华  #A001"' in page or 'value="王建华 #A001"' in page
    form = {"csrf_token": csrf_token(page), "form": "appraisal", "title": "第一党支部党员互评",
            "subjects": "王建华 党员 #A001\n李海燕 #A002\n张专家 外聘专家", "categories": "党员,5,1"}
    res = client.post("/console/rounds/new", data={**form, "subjects": "王建华 #A999"})
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and "花名册中没有工号为“A999”的人员" in html
    res = client.post("/console/rounds/new", data=form)
    assert res.status_code == 303, res.get_data(as_text=True)
    with app.app_context():
        rnd = db.session.execute(db.select(Round)).scalar_one()
        got = [(s.name, s.note, s.member_id) for s in rnd.subjects]
        rid = rnd.id
    assert got == [("王建华", "党员", w.members_a[0]), ("李海燕", "", w.members_a[1]),
                   ("张专家", "外聘专家", None)]
    edit = client.get(f"/console/rounds/{rid}/edit").get_data(as_text=True)
    assert "王建华 党员 #A001\n李海燕 #A002\n张专家 外聘专家</textarea>" in edit


# -- 党员互评 of a published round feeds the ledger ------------------------------------

def test_published_peer_review_feeds_the_members_points(app, client, world):
    w = world
    key = w.auth("organizer")
    body = {"form": "appraisal", "title": "2026年第一党支部党员互评",
            "subjects": [{"name": "王建华", "member_id": w.members_a[0]},
                         {"name": "李海燕", "member_id": w.members_a[1]},
                         {"name": "外聘专家"}],
            "categories": [{"name": "党员", "expected_count": 5}]}
    rnd = post(client, w, "organizer", "/api/v1/rounds", body).json
    rid, ids = rnd["id"], [s["id"] for s in rnd["subjects"]]
    tokens = issue(client, key, rid, rnd["categories"][0]["id"], 5)
    assert lifecycle(client, key, rid, "open").status_code == 200
    grades = ("excellent", "competent", "basic")
    for token in tokens:
        vote(client, token, {str(sid): {c: g for c in CRITERIA} for sid, g in zip(ids, grades,
                                                                                  strict=True)})
    assert lifecycle(client, key, rid, "close").status_code == 200
    assert lifecycle(client, key, rid, "publish").status_code == 200

    res = post(client, w, "sec_a", f"/api/v1/points/rounds/{rid}/feed",
               {"item": "党员互评", "period": "2026Q4"})
    assert res.status_code == 201, res.json
    assert res.json["skipped"] == [{"subject_id": ids[2], "name": "外聘专家",
                                    "why": "未关联花名册人员"}]
    with app.app_context():
        rows = db.session.execute(db.select(PointsEntry).order_by(PointsEntry.id)).scalars()
        got = [(e.member_id, e.item_key, e.points_x10, e.status, e.source, e.round_id)
               for e in rows]
    # 优秀 95 of 95 → 7 of the item's 7 points; 称职 85/95 × 7 = 6.26 → 6.3
    assert got == [(w.members_a[0], "peer_review", 70, "pending", "round", rid),
                   (w.members_a[1], "peer_review", 63, "pending", "round", rid)]
    first, second = res.json["created"]
    res = post(client, w, "sec_a", f"/api/v1/points/entries/{first}/approve")
    assert res.status_code == 409 and res.json["error"]["code"] == "self_approval"
    for entry in (first, second):
        res = post(client, w, "wei_a", f"/api/v1/points/entries/{entry}/approve")
        assert res.status_code == 200 and res.json["status"] == "approved"
    member = client.get(f"/api/v1/points/members/{w.members_a[1]}?year=2026",
                        headers=w.auth("sec_a")).json
    assert member["total"] == 6.3
    again = post(client, w, "sec_a", f"/api/v1/points/rounds/{rid}/feed",
                 {"item": "peer_review", "period": "2026Q4"}).json
    assert again["created"] == [] and {s["why"] for s in again["skipped"]} == {
        "已计入过", "未关联花名册人员"}


# -- 支委会审定 ------------------------------------------------------------------------

def test_the_one_who_entered_cannot_approve(app, client, world):
    w = world
    entry = enter(client, w, "sec_a", w.members_a[0])
    res = post(client, w, "sec_a", f"/api/v1/points/entries/{entry}/approve", {"note": "同意"})
    err = res.json["error"]
    assert (res.status_code, err["code"]) == (409, "self_approval")
    assert err["message"].startswith("录入人不能审定自己录入的积分")
    with app.app_context():
        row = db.session.get(PointsEntry, entry)
        assert (row.status, row.decided_by) == ("pending", None)

    login(client, "sec_a")
    page = client.get("/console/points/entries?period=2026Q1").get_data(as_text=True)
    assert "录入人不能审定自己录入的积分，须由支委会其他成员审定" in page
    assert "本人录入，须由他人审定" in page
    res = client.post(f"/console/points/entries/{entry}/approve", data={
        "csrf_token": page_token(client, "/console/points/entries"), "period": "2026Q1"})
    assert "录入人不能审定自己录入的积分" in flashed(client, res)
    res = post(client, w, "wei_a", f"/api/v1/points/entries/{entry}/approve")
    assert res.status_code == 200 and res.json["status"] == "approved"


def test_a_rule_set_may_allow_self_approval_for_one_person_branches(app, client, world,
                                                                    tmp_path):
    w = world
    app.config["POINTS_RULES_DIR"] = str(rules_dir(tmp_path, allow_self_approval="true"))
    rules = client.get("/api/v1/points/rules?year=2026", headers=w.auth("sec_a")).json
    assert rules["allow_self_approval"] is True
    entry = enter(client, w, "sec_a", w.members_a[0])
    login(client, "sec_a")
    page = client.get("/console/points/entries?period=2026Q1").get_data(as_text=True)
    assert "本积分规则允许录入人自行审定" in page and "本人录入，须由他人审定" not in page
    res = client.post(f"/console/points/entries/{entry}/approve", data={
        "csrf_token": csrf_token(page), "period": "2026Q1"})
    assert "已审定" in flashed(client, res)
    with app.app_context():
        row = db.session.get(PointsEntry, entry)
        assert row.status == "approved" and row.decided_by == row.entered_by == w.users["sec_a"]


# -- 支委会审定 of an imported sheet: approved on paper by a second person --------------

SHEET_ROWS = [["A001", "王建华", "innovation", 2, "建议"], ["A002", "李海燕", "post_duty", 4, "考核"]]


def imported(app):
    with app.app_context():
        return [(e.status, e.entered_by, e.decided_by) for e in db.session.execute(
            db.select(PointsEntry).order_by(PointsEntry.id)).scalars()]


def import_audits(app):
    with app.app_context():
        return [(a.user_id, a.detail) for a in db.session.execute(
            db.select(AuditEntry).filter_by(action="points.import")).scalars()]


def test_an_approved_import_needs_a_second_approver(app, world):
    from server.core.errors import ApiError
    from server.points.importer import import_points

    w = world
    data = sheet(SHEET_ROWS)
    with app.app_context():
        for approver, status, code in ((None, 422, "approver_required"),
                                       ("", 422, "approver_required"),
                                       ("sec_a", 409, "self_approval"),
                                       (str(w.users["sec_a"]), 409, "self_approval"),
                                       ("sec_b", 422, "invalid_approver"),  # another branch
                                       ("organizer", 422, "invalid_approver"),  # no right
                                       ("nobody", 422, "invalid_approver")):
            with pytest.raises(ApiError) as exc:
                import_points(w.user("sec_a"), w.branch_a, "2026Q1", "q1.xlsx", data,
                              approve=True, approver=approver)
            got = (exc.value.status, exc.value.code, exc.value.field)
            assert got == (status, code, "approver"), approver
            db.session.rollback()
        assert exc.value.message.startswith("“nobody”不能审定第一党支部的积分")
    assert imported(app) == [] and import_audits(app) == []
    with app.app_context():
        report = import_points(w.user("sec_a"), w.branch_a, "2026Q1", "q1.xlsx", data,
                               approve=True, approver=str(w.users["wei_a"]))
        assert report.approved and report.approved_by == "wei_a"
        other = import_points(w.user("dangwei"), w.branch_a, "2026Q2", "q2.xlsx",
                              sheet(SHEET_ROWS[:1]), approve=True, approver="sec_a")
        assert other.approved_by == "sec_a"
    sec_a, wei_a, dangwei = (w.users[n] for n in ("sec_a", "wei_a", "dangwei"))
    assert imported(app) == [("approved", sec_a, wei_a)] * 2 + [("approved", dangwei, sec_a)]
    [(who, detail), _] = import_audits(app)
    assert who == sec_a and "entered by sec_a, approved by wei_a" in detail


def test_an_approved_import_over_the_api(app, client, world):
    w = world

    def upload(who="sec_a", **fields):
        return client.post("/api/v1/points/imports", headers=w.auth(who), data={
            "branch_id": str(w.branch_a), "period": "2026Q1", "approve": "true", **fields,
            "file": (io.BytesIO(sheet(SHEET_ROWS)), "q1.xlsx")},
            content_type="multipart/form-data")

    for fields, status, code in (({}, 422, "approver_required"),
                                 ({"approver": "sec_a"}, 409, "self_approval"),
                                 ({"approver": "wei_b"}, 422, "invalid_approver")):
        res = upload(**fields)
        err = res.json["error"]
        assert (res.status_code, err["code"], err["field"]) == (status, code, "approver")
    assert "录入人以外的支委会成员审定" in upload(approver="sec_a").json["error"]["message"]
    assert imported(app) == []
    res = upload(approver=str(w.users["wei_a"]))
    assert res.status_code == 201 and res.json["approved_by"] == "wei_a"
    assert imported(app) == [("approved", w.users["sec_a"], w.users["wei_a"])] * 2


def test_an_approved_import_on_the_console(app, client, world):
    w = world
    login(client, "sec_a")
    page = client.get("/console/points/import?period=2026Q1").get_data(as_text=True)
    assert "导入即审定须由录入人以外的支委会成员审定" in page and "审定人" in page
    assert 'value="wei_a"' in page and 'value="sec_a"' not in page
    assert 'value="sec_b"' not in page and 'value="organizer"' not in page

    def upload(**fields):
        return client.post("/console/points/import", data={
            "csrf_token": page_token(client, "/console/points/import"), "period": "2026Q1",
            "approve": "1", **fields, "sheet": (io.BytesIO(sheet(SHEET_ROWS)), "q1.xlsx")},
            content_type="multipart/form-data")

    res = upload()
    assert res.status_code == 422 and "导入即审定须注明审定人" in res.get_data(as_text=True)
    res = upload(approver="sec_a")
    assert res.status_code == 409 and "上传人不能审定自己导入的积分" in res.get_data(as_text=True)
    assert imported(app) == []
    res = upload(approver="wei_a")
    assert res.status_code == 200 and "已审定生效（审定人：wei_a）" in res.get_data(as_text=True)
    assert imported(app) == [("approved", w.users["sec_a"], w.users["wei_a"])] * 2


def test_a_rule_set_may_let_the_uploader_approve_an_import_alone(app, client, world,
                                                                  tmp_path):
    w = world
    app.config["POINTS_RULES_DIR"] = str(rules_dir(tmp_path, allow_self_approval="true"))
    login(client, "sec_a")
    page = client.get("/console/points/import?period=2026Q1").get_data(as_text=True)
    assert "本人审定（本积分规则允许录入人自行审定）" in page
    res = client.post("/api/v1/points/imports", headers=w.auth("sec_a"), data={
        "branch_id": str(w.branch_a), "period": "2026Q1", "approve": "true",
        "file": (io.BytesIO(sheet(SHEET_ROWS)), "q1.xlsx")}, content_type="multipart/form-data")
    assert res.status_code == 201 and res.json["approved_by"] == "sec_a"
    assert imported(app) == [("approved", w.users["sec_a"], w.users["sec_a"])] * 2


def test_an_approved_import_from_the_command_line(app, runner, world, tmp_path):
    w = world
    path = tmp_path / "q1.xlsx"
    path.write_bytes(sheet(SHEET_ROWS))
    args = ["points", "import", str(path), "--branch", "第一党支部", "--period", "2026Q1",
            "--approve"]
    res = runner.invoke(args=[*args, "--as", "sec_a"])
    assert res.exit_code == 1 and "请用 --approved-by 注明（approver_required）" in res.output
    res = runner.invoke(args=[*args, "--as", "sec_a", "--approved-by", "sec_a"])
    assert res.exit_code == 1 and "（self_approval）" in res.output
    res = runner.invoke(args=[*args[:-1], "--as", "sec_a", "--approved-by", "wei_a"])
    assert res.exit_code == 1 and "--approved-by 须与 --approve 一起使用" in res.output
    assert imported(app) == []
    res = runner.invoke(args=[*args, "--as", "sec_a", "--approved-by", "wei_a"])
    assert res.exit_code == 0, res.output
    assert "已导入并审定（审定人 wei_a）：2 条" in res.output
    assert imported(app) == [("approved", w.users["sec_a"], w.users["wei_a"])] * 2
    # an operator's import without an account (no --as) approves alone, audited as such
    path.write_bytes(sheet(SHEET_ROWS[:1]))
    res = runner.invoke(args=[*args[:-1], "--period", "2026Q2", "--approve"])
    assert res.exit_code == 0 and "已导入并审定：1 条" in res.output
    assert imported(app)[-1] == ("approved", None, None)
    assert import_audits(app)[-1] == (
        None, "q1.xlsx: 1 rows, 2026Q2, approved, entered by 命令行（无账号）, "
              "approved by 命令行（无账号）")


# -- 党委综评 --------------------------------------------------------------------------

def test_committee_review_rates_members_without_entries_unrated(app, client, world):
    w = world
    a0, a1, a2 = w.members_a[:3]
    post(client, w, "wei_a", f"/api/v1/points/entries/{enter(client, w, 'sec_a', a0)}/approve")
    res = post(client, w, "dangwei", "/api/v1/points/periods/2026/close")
    err = res.json["error"]
    assert (res.status_code, err["code"], err["field"]) == (409, "quarter_open", "period")
    assert err["message"] == ("2026年第一季度、第二季度、第三季度、第四季度尚未关闭，"
                              "请先关闭各季度再关闭年度")
    for q in (1, 2, 3, 4):
        assert post(client, w, "dangwei", f"/api/v1/points/periods/2026Q{q}/close"
                    ).status_code == 200
    assert post(client, w, "dangwei", "/api/v1/points/periods/2026/close").status_code == 200

    # told before rating: who has no entries
    before = client.get("/api/v1/points/periods/2026/review", headers=w.auth("dangwei")).json
    names = ["李海燕", "张志刚", "刘秀兰", "陈国强", "孙伟", "周敏", "吴磊"]
    assert before["rated"] == 0 and [m["name"] for m in before["unrated"]] == names
    assert before["unrated"][0] == {"id": a1, "name": "李海燕", "member_no": "A002",
                                    "branch_id": w.branch_a, "branch": "第一党支部"}
    login(client, "dangwei")
    page = client.get("/console/points/periods?year=2026").get_data(as_text=True)
    assert "没有积分记录的党员" in page and "李海燕（A002）" in page and "记为“未评定”" in page
    assert "王建华（A001）" not in page

    res = post(client, w, "dangwei", "/api/v1/points/periods/2026/review")
    assert res.status_code == 200
    assert res.json["rated"] == 8 and [m["name"] for m in res.json["unrated"]] == names
    with app.app_context():
        levels = {r.member_id: (r.stars, r.level) for r in
                  db.session.execute(db.select(StarRating)).scalars()}
    assert levels[a0] == (0, "不合格")  # 3 points: rated, below one star
    assert {levels[m] for m in w.members_a[1:] + w.members_b} == {(None, "未评定")}
    page = client.get("/console/points/periods?year=2026").get_data(as_text=True)
    assert "未评定 7 人" in page and "不合格 1 人" in page

    # adjustments need a reason, and are audited
    url = f"/api/v1/points/ratings/2026/{a1}/adjust"
    for body, code in (({"stars": 1}, "reason_required"),
                       ({"stars": 1, "reason": "   "}, "reason_required"),
                       ({"stars": 9, "reason": "x"}, "invalid_stars")):
        res = post(client, w, "dangwei", url, body)
        assert (res.status_code, res.json["error"]["code"]) == (422, code)
    assert post(client, w, "sec_a", url, {"stars": 1, "reason": "x"}).status_code == 403
    with app.app_context():
        assert db.session.execute(db.select(StarRating).filter_by(member_id=a1)
                                  ).scalar_one().level == "未评定"
    res = post(client, w, "dangwei", url, {"stars": 1, "reason": "全年借调上级单位，由借调单位鉴定"})
    assert res.status_code == 200
    assert (res.json["stars"], res.json["level"], res.json["adjust_note"]) == (
        1, "一星", "全年借调上级单位，由借调单位鉴定")
    res = client.post(f"/console/points/ratings/2026/{a2}/adjust", data={
        "csrf_token": page_token(client, "/console/points/periods?year=2026"), "stars": "0",
        "reason": ""})
    assert "请填写调整理由" in flashed(client, res)
    res = client.post(f"/console/points/ratings/2026/{a2}/adjust", data={
        "csrf_token": page_token(client, "/console/points/periods?year=2026"), "stars": "2",
        "reason": "补充材料经党委会认定"})
    assert "已调整张志刚的2026年度星级为“二星”" in flashed(client, res)
    with app.app_context():
        audits = [(a.action, a.detail) for a in db.session.execute(
            db.select(AuditEntry).filter_by(action="points.rating_adjust")
            .order_by(AuditEntry.id)).scalars()]
    assert audits == [("points.rating_adjust", "2026: 未评定 → 一星（全年借调上级单位，由借调单位鉴定）"),
                      ("points.rating_adjust", "2026: 未评定 → 二星（补充材料经党委会认定）")]
    # redoing the review keeps the committee's adjustments
    assert post(client, w, "dangwei", "/api/v1/points/periods/2026/review").status_code == 200
    with app.app_context():
        kept = {r.member_id: r.level for r in db.session.execute(db.select(StarRating)).scalars()}
    assert (kept[a1], kept[a2], kept[w.members_a[3]]) == ("一星", "二星", "未评定")


# -- what group-chat boards show ---------------------------------------------------------

def _board_texts(app, client, w) -> tuple[str, str, str]:
    with app.app_context():
        content = board_content("members", w.branch_a, Period(2026))
        plain = "\n".join(text.board_messages(content))
        md = "\n".join(markdown.board_messages(content))
        path = share_path("members", w.branch_a, Period(2026))
    share = client.get(path)
    assert share.status_code == 200
    return plain, md, share.get_data(as_text=True)


def test_chat_boards_leave_out_the_fail_level_by_default(app, client, world, tmp_path):
    w = world
    for m in w.members_a[:2]:
        post(client, w, "wei_a", f"/api/v1/points/entries/{enter(client, w, 'sec_a', m)}/approve")
    staff = client.get(f"/api/v1/points/boards/members/{w.branch_a}?period=2026",
                       headers=w.auth("dangwei")).json
    assert staff["rows"][0]["level"] == "不合格"  # the committee still sees it
    plain, md, share = _board_texts(app, client, w)
    assert "1. 王建华 3分" in plain and "**3**分" in md and "王建华" in share
    for shown in (plain, md, share):
        assert "不合格" not in shown and "未达星级" not in shown

    app.config["POINTS_RULES_DIR"] = str(rules_dir(
        tmp_path, board_shows='["stars", "points", "fail"]'))
    plain, md, share = _board_texts(app, client, w)
    assert "1. 王建华 3分 不合格" in plain and "不合格" in md and "不合格" in share

    app.config["POINTS_RULES_DIR"] = str(rules_dir(tmp_path, board_shows='["stars"]'))
    plain, md, share = _board_texts(app, client, w)
    assert "1. 王建华\n" in plain + "\n" and "3分" not in plain and "**3**" not in md
    assert "不合格" not in plain + md + share


# -- the rule set's options ------------------------------------------------------------

def _raw_rules() -> dict:
    import tomllib

    return tomllib.loads(DEFAULT_RULES.read_text(encoding="utf-8"))


def test_rule_set_options_are_checked():
    rules = parse_rule_set(_raw_rules())
    assert rules.allow_self_approval is False
    assert rules.member.board_shows == ("stars", "points", "deductions")
    assert rules.member.star_level(30, unrated=True).label == "未评定"
    assert rules.member.star_level(30).label == "不合格"
    assert rules.member.star_level(30, vetoed=True, unrated=True).vetoed
    for change, what in ((("allow_self_approval", "yes"), "allow_self_approval"),
                         (("board_shows", ["stars", "不合格"]), "board_shows"),
                         (("board_shows", "points"), "board_shows")):
        data = _raw_rules()
        key, value = change
        (data if key == "allow_self_approval" else data["member"])[key] = value
        with pytest.raises(RuleSetError, match=what):
            parse_rule_set(data)

