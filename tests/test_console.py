"""The organizer console through the test client: sign-in, rounds, slips, projector, roster."""

from __future__ import annotations

import datetime as dt
import importlib.util
from io import BytesIO

import pytest
from sqlalchemy import func

from server.core.db import db
from server.organization.models import Committee
from server.roundbase.models import Round
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, create_round
from tests.conftest import csrf_token
from tests.factories import CATEGORIES, make_round, organizer, valid_answers

PASSWORD = "correct horse 1"


def login(client, username="organizer", password=PASSWORD, next_url=None):
    page = client.get("/console/login")
    data = {"csrf_token": csrf_token(page.get_data(as_text=True)),
            "username": username, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/console/login", data=data)


def token_of(client, path):
    return csrf_token(client.get(path).get_data(as_text=True))


@pytest.fixture
def staff(app, client):
    """An organizer, signed in."""
    with app.app_context():
        organizer()
    assert login(client).status_code == 302
    return client


def status_of(app, round_id):
    with app.app_context():
        return db.session.get(Round, round_id).status


def round_count(app):
    with app.app_context():
        return db.session.execute(db.select(func.count(Round.id))).scalar()


# -- signing in and out -----------------------------------------------------

def test_pages_need_login(client):
    res = client.get("/console/")
    assert res.status_code == 302 and "/console/login" in res.headers["Location"]
    assert client.get("/").headers["Location"].endswith("/console/")


def test_login_and_logout(app, client):
    with app.app_context():
        organizer()
    bad = login(client, password="wrong password")
    assert bad.status_code == 401
    assert "用户名或密码不正确" in bad.get_data(as_text=True)
    unknown = login(client, username="nobody")
    assert "用户名或密码不正确" in unknown.get_data(as_text=True)
    assert client.get("/console/").status_code == 302

    ok = login(client)
    assert ok.status_code == 302 and ok.headers["Location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200 and "测评列表" in page.get_data(as_text=True)

    out = client.post("/console/logout", data={"csrf_token": token_of(client, "/console/")})
    assert out.status_code == 302
    assert client.get("/console/").status_code == 302


@pytest.mark.parametrize("target,expected", [
    ("/console/org", "/console/org"),
    ("https://evil.example/", "/console/"),
    ("//evil.example/", "/console/"),
    ("/\\evil.example", "/console/"),
    ("javascript:alert(1)", "/console/"),
])
def test_login_next_is_local_only(app, client, target, expected):
    with app.app_context():
        organizer()
    res = login(client, next_url=target)
    assert res.status_code == 302 and res.headers["Location"] == expected


def test_logout_is_post_only(staff):
    assert staff.get("/console/logout").status_code == 405
    assert staff.get("/console/").status_code == 200


# -- CSRF -----------------------------------------------------------------

def test_post_without_csrf_is_refused_and_changes_nothing(app, staff):
    with app.app_context():
        rnd, _ = make_round(open_it=False)
        rid = rnd.id
    before = round_count(app)
    res = staff.post("/console/rounds/new", data={
        "form": "appraisal", "title": "无令牌", "subjects": "张三 书记",
        "categories": "公司领导,10,0.3"})
    assert res.status_code == 400
    assert round_count(app) == before

    res = staff.post(f"/console/rounds/{rid}/open")
    assert res.status_code == 400
    res = staff.post(f"/console/rounds/{rid}/open", data={"csrf_token": "forged"})
    assert res.status_code == 400
    assert status_of(app, rid) == "draft"


def test_login_post_without_csrf_is_refused(app, client):
    with app.app_context():
        organizer()
    res = client.post("/console/login", data={"username": "organizer", "password": PASSWORD})
    assert res.status_code == 400
    assert client.get("/console/").status_code == 302


# -- building a round -----------------------------------------------------

def test_new_round_form_has_defaults(staff):
    html = staff.get("/console/rounds/new").get_data(as_text=True)
    assert "公司领导,10,0.3" in html and "职工代表,70,0.3" in html
    assert 'name="csrf_token" value="' in html
    assert "领导班子和领导人员民主测评" in html


def test_create_round_via_form(app, staff):
    token = token_of(staff, "/console/rounds/new")
    res = staff.post("/console/rounds/new", data={
        "csrf_token": token, "form": "appraisal", "title": "2025年度民主测评",
        "subjects": "张三 党委书记、董事长\n\n李四，总经理\n王五",
        "categories": "公司领导,10,0.3\n中层干部，40，0.4\n职工代表,70,30%",
        "show_live_results": "1", "closes_at": "2099-06-01T14:30",
    })
    assert res.status_code == 303, res.get_data(as_text=True)
    rid = int(res.headers["Location"].rstrip("/").split("/")[-1])
    with app.app_context():
        rnd = get_round(rid)
        assert rnd.title == "2025年度民主测评" and rnd.status == "draft"
        assert [(s.name, s.note) for s in rnd.subjects] == [
            ("张三", "党委书记、董事长"), ("李四", "总经理"), ("王五", "")]
        assert [(c.name, c.expected_count, c.weight) for c in rnd.categories] == [
            ("公司领导", 10, 0.3), ("中层干部", 40, 0.4), ("职工代表", 70, 0.3)]
        assert rnd.show_live_results is True
        assert rnd.closes_at == dt.datetime(2099, 6, 1, 6, 30)  # 14:30 China time, in UTC
    page = staff.get(res.headers["Location"]).get_data(as_text=True)
    assert "已创建测评" in page and "张三" in page and "草稿" in page


def test_create_recommendation_with_limits(app, staff):
    token = token_of(staff, "/console/rounds/new")
    res = staff.post("/console/rounds/new", data={
        "csrf_token": token, "form": "recommendation", "title": "后备干部推荐",
        "subjects": "甲 科长\n乙 副科长\n丙 主管", "categories": "中层干部,40,1",
        "min_choices": "1", "max_choices": "2"})
    assert res.status_code == 303
    with app.app_context():
        rnd = db.session.execute(db.select(Round).filter_by(title="后备干部推荐")).scalar_one()
        assert (rnd.form["min_choices"], rnd.form["max_choices"]) == (1, 2)


@pytest.mark.parametrize("change,message", [
    ({"title": ""}, "请填写测评名称"),
    ({"subjects": ""}, "请至少添加一个测评对象"),
    ({"categories": "公司领导,十,0.3"}, "第 1 行：应到人数"),
    ({"categories": "公司领导,10,0.3\n公司领导,5,0.3"}, "类别名称重复"),
    ({"closes_at": "2001-01-01T08:00"}, "截止时间必须晚于现在"),
    ({"closes_at": "明天"}, "截止时间格式不正确"),
    ({"form": "nope"}, "测评表模板不存在"),
])
def test_create_round_errors_keep_input(app, staff, change, message):
    before = round_count(app)
    data = {"csrf_token": token_of(staff, "/console/rounds/new"), "form": "appraisal",
            "title": "保留输入<测试>", "subjects": "张三 书记", "categories": "公司领导,10,0.3"}
    data.update(change)
    res = staff.post("/console/rounds/new", data=data)
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    assert message in html
    if data["title"]:
        assert "保留输入&lt;测试&gt;" in html  # kept, and escaped
    assert round_count(app) == before


# -- a round's page and its buttons ---------------------------------------

def test_open_and_close_with_buttons(app, staff):
    with app.app_context():
        rnd, _ = make_round(open_it=False)
        rid = rnd.id
    page = staff.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert "开始投票" in page and "草稿" in page
    assert "公司领导" in page and "应到" in page and "已发放" in page

    res = staff.post(f"/console/rounds/{rid}/open", data={"csrf_token": csrf_token(page)})
    assert res.status_code == 303
    assert status_of(app, rid) == "open"
    page = staff.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert "投票已开始" in page and "结束投票" in page and "data-confirm" in page

    res = staff.post(f"/console/rounds/{rid}/close", data={"csrf_token": csrf_token(page)})
    assert res.status_code == 303
    assert status_of(app, rid) == "closed"
    page = staff.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert "发布结果" in page

    res = staff.post(f"/console/rounds/{rid}/publish", data={"csrf_token": csrf_token(page)})
    assert status_of(app, rid) == "published"

    # A closed round never reopens; the page says why instead of failing.
    res = staff.post(f"/console/rounds/{rid}/open", data={"csrf_token": csrf_token(page)},
                     follow_redirects=True)
    assert "不能重新开始" in res.get_data(as_text=True)
    assert status_of(app, rid) == "published"


def test_close_problem_is_shown(app, staff):
    with app.app_context():
        rnd, _ = make_round()
        rnd.status = "closing"
        rnd.close_problem = "category 1 turnout: live 3, sql 2"
        db.session.commit()
        rid = rnd.id
    page = staff.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert "计数核对不一致" in page and f"pingyi tally rebuild {rid}" in page
    assert "live 3, sql 2" in page


def test_round_list_shows_own_rounds(app, staff):
    with app.app_context():
        rnd, _ = make_round(open_it=True)
        title = rnd.title
        other = Committee(name="别的公司党委")
        db.session.add(other)
        db.session.commit()
        create_round(other.id, "appraisal", "别家的测评", [{"name": "某人"}],
                     [dict(c) for c in CATEGORIES])
    html = staff.get("/console/").get_data(as_text=True)
    assert title in html and "投票中" in html
    assert "别家的测评" not in html


def test_issue_slips_returns_pdf(app, staff):
    with app.app_context():
        rnd, _ = make_round(open_it=False, tokens_per_category=1)
        rid, cat = rnd.id, rnd.categories[1]
        cat_id = cat.id
    page = staff.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert "只显示这一次" in page and "随机发放" in page
    res = staff.post(f"/console/rounds/{rid}/slips",
                     data={"csrf_token": csrf_token(page), "category_id": cat_id, "count": "3"})
    if importlib.util.find_spec("server.tokens.slips") is None:
        pytest.skip("server/tokens/slips.py is not there yet")
    assert res.status_code == 200, res.get_data(as_text=True)[:500]
    assert res.mimetype == "application/pdf"
    assert res.data.startswith(b"%PDF")
    disposition = res.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"slips-round{rid}-" in disposition and ".pdf" in disposition
    assert "no-store" in res.headers["Cache-Control"]
    with app.app_context():
        assert db.session.get(Round, rid).categories[1].issued_count == 1 + 3


def test_issue_slips_bad_count_issues_nothing(app, staff):
    with app.app_context():
        rnd, _ = make_round(open_it=False, tokens_per_category=1)
        rid, cat_id = rnd.id, rnd.categories[0].id
    page = staff.get(f"/console/rounds/{rid}").get_data(as_text=True)
    for count in ("0", "-1", "abc", "999999"):
        res = staff.post(f"/console/rounds/{rid}/slips", follow_redirects=True,
                         data={"csrf_token": csrf_token(page), "category_id": cat_id,
                               "count": count})
        assert res.status_code == 200 and res.mimetype == "text/html"
    with app.app_context():
        assert db.session.get(Round, rid).categories[0].issued_count == 1


# -- projector and results ------------------------------------------------

def test_projector_and_turnout_json(app, staff):
    with app.app_context():
        rnd, tokens = make_round()
        rid = rnd.id
        token = tokens[rnd.categories[0].id][0]
        answers = valid_answers(rnd)
    res = staff.post("/api/v1/ballots", json={"token": token, "answers": answers})
    assert res.status_code == 201

    page = staff.get(f"/console/rounds/{rid}/projector")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'data-turnout-url="/api/v1/rounds/{rid}/turnout"' in html
    assert "console.js" in html and "<script>" not in html
    assert "实到" in html and "应到" in html and "投票中" in html

    data = staff.get(f"/api/v1/rounds/{rid}/turnout").get_json()
    assert data["actual"] == 1 and data["expected"] == 120 and data["status"] == "open"
    assert [c["actual"] for c in data["categories"]] == [1, 0, 0]


def test_results_hidden_while_open(app, staff):
    with app.app_context():
        rnd, _ = make_round(kind="recommendation")
        rid = rnd.id
    html = staff.get(f"/console/rounds/{rid}/results").get_data(as_text=True)
    assert "投票结束前不显示结果" in html and "得票率" not in html


def test_results_after_close(app, staff):
    with app.app_context():
        rnd, tokens = make_round(kind="recommendation")
        rid = rnd.id
        cat = rnd.categories[0].id
        answers = [valid_answers(rnd, v) for v in range(2)]
    for i in range(2):
        assert staff.post("/api/v1/ballots", json={"token": tokens[cat][i],
                                                   "answers": answers[i]}).status_code == 201
    with app.app_context():
        close_round(get_round(rid))
    html = staff.get(f"/console/rounds/{rid}/results").get_data(as_text=True)
    assert "得票率" in html and "对象1" in html and "有效票 2 张" in html


@pytest.mark.parametrize("kind,marker", [("appraisal", "政治素质"), ("scoring", "总分")])
def test_results_tables(app, staff, kind, marker):
    with app.app_context():
        rnd, tokens = make_round(kind=kind)
        rid = rnd.id
        cat = rnd.categories[0].id
        answers = valid_answers(rnd)
    assert staff.post("/api/v1/ballots", json={"token": tokens[cat][0],
                                               "answers": answers}).status_code == 201
    with app.app_context():
        close_round(get_round(rid))
    html = staff.get(f"/console/rounds/{rid}/results").get_data(as_text=True)
    assert marker in html and "对象3" in html


def test_live_results_when_the_round_allows(app, staff):
    with app.app_context():
        rnd, _ = make_round(kind="recommendation", show_live_results=True)
        rid = rnd.id
    html = staff.get(f"/console/rounds/{rid}/results").get_data(as_text=True)
    assert "实时结果" in html and "得票率" in html


# -- who may see what -----------------------------------------------------

def test_other_committees_round_is_404(app, staff):
    with app.app_context():
        other = Committee(name="别的公司党委")
        db.session.add(other)
        db.session.commit()
        rnd = create_round(other.id, "appraisal", "别家的测评", [{"name": "某人"}],
                           [dict(c) for c in CATEGORIES])
        rid = rnd.id
    token = token_of(staff, "/console/")
    for path in ("", "/projector", "/results"):
        assert staff.get(f"/console/rounds/{rid}{path}").status_code == 404
    for action in ("open", "close", "publish", "slips"):
        res = staff.post(f"/console/rounds/{rid}/{action}",
                         data={"csrf_token": token, "category_id": "1", "count": "1"})
        assert res.status_code == 404
    assert status_of(app, rid) == "draft"
    assert staff.get("/console/rounds/999999").status_code == 404


def test_secretary_gets_403_on_round_management(app, client):
    with app.app_context():
        organizer("secretary", role="secretary")
        rnd, _ = make_round(open_it=False)
        rid = rnd.id
    assert login(client, "secretary").status_code == 302
    token = token_of(client, "/console/org")
    for path in ("/console/rounds/new", f"/console/rounds/{rid}",
                 f"/console/rounds/{rid}/projector"):
        assert client.get(path).status_code == 403, path
    # the console's index sends a secretary to the branch's points ledger
    assert client.get("/console/").headers["Location"] == "/console/points/entries"
    for action in ("open", "close", "publish"):
        res = client.post(f"/console/rounds/{rid}/{action}", data={"csrf_token": token})
        assert res.status_code == 403
    res = client.post("/console/rounds/new", data={
        "csrf_token": token, "form": "appraisal", "title": "x", "subjects": "a",
        "categories": "b,1,1"})
    assert res.status_code == 403
    assert status_of(app, rid) == "draft"
    assert "没有权限" in client.get("/console/rounds/new").get_data(as_text=True)


def test_committee_role_reads_but_cannot_act(app, client):
    with app.app_context():
        organizer("reader", role="committee")
        rnd, _ = make_round(open_it=False)
        rid = rnd.id
    login(client, "reader")
    page = client.get(f"/console/rounds/{rid}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "开始投票" not in html and "生成选票" not in html
    res = client.post(f"/console/rounds/{rid}/open", data={"csrf_token": csrf_token(html)})
    assert res.status_code == 403
    assert status_of(app, rid) == "draft"


def test_user_data_is_escaped(app, staff):
    with app.app_context():
        rnd, _ = make_round(open_it=False)
        rnd.title = "<script>alert(1)</script>"
        rnd.subjects[0].name = "<b>x</b>"
        db.session.commit()
        rid = rnd.id
    for path in ("/console/", f"/console/rounds/{rid}", f"/console/rounds/{rid}/projector"):
        html = staff.get(path).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_pages_have_no_inline_scripts(app, staff):
    with app.app_context():
        rnd, _ = make_round()
        rid = rnd.id
    for path in ("/console/", "/console/rounds/new", f"/console/rounds/{rid}",
                 f"/console/rounds/{rid}/projector", "/console/org"):
        html = staff.get(path).get_data(as_text=True)
        assert "<script>" not in html and "onclick" not in html and "javascript:" not in html


# -- organisation ---------------------------------------------------------

ROSTER = ("支部,党小组,姓名,工号,职务\n"
          "第一党支部,第一党小组,张三,1001,主任\n"
          "第一党支部,第一党小组,李四,1002,\n")


def upload(client, content: bytes, filename="roster.csv", dry_run=False):
    data = {"csrf_token": token_of(client, "/console/org")}
    if dry_run:
        data["dry_run"] = "1"
    data["roster"] = (BytesIO(content), filename)
    return client.post("/console/org/import", data=data, content_type="multipart/form-data")


def test_org_import_dry_run_then_real(app, staff):
    if importlib.util.find_spec("server.organization.operations") is None:
        pytest.skip("server/organization/operations.py is not there yet")
    res = upload(staff, ROSTER.encode(), dry_run=True)
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "检查通过" in html
    page = staff.get("/console/org").get_data(as_text=True)
    assert "还没有党支部" in page

    res = upload(staff, ROSTER.encode())
    assert res.status_code == 200 and "导入完成" in res.get_data(as_text=True)
    page = staff.get("/console/org").get_data(as_text=True)
    assert "第一党支部" in page and "第一党小组" in page and "张三" in page


def test_org_import_row_errors_are_listed(app, staff):
    if importlib.util.find_spec("server.organization.operations") is None:
        pytest.skip("server/organization/operations.py is not there yet")
    bad = "支部,姓名,工号\n第一党支部,张三,1001\n第一党支部,,1001\n"
    res = upload(staff, bad.encode())
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    assert "行号" in html and "问题" in html and "不能为空" in html and "重复" in html
    assert "还没有党支部" in html


def test_org_import_needs_staff_and_a_file(app, client):
    with app.app_context():
        organizer("reader", role="committee")
        organizer("organizer")
    login(client, "reader")
    assert client.get("/console/org").status_code == 200
    assert upload(client, ROSTER.encode()).status_code == 403
    client.post("/console/logout", data={"csrf_token": token_of(client, "/console/org")})
    login(client)
    res = client.post("/console/org/import", data={"csrf_token": token_of(client, "/console/org")})
    assert res.status_code == 422 and "请选择" in res.get_data(as_text=True)


def test_org_import_takes_files_larger_than_a_ballot(app, staff):
    if importlib.util.find_spec("server.organization.operations") is None:
        pytest.skip("server/organization/operations.py is not there yet")
    rows = "".join(f"第一党支部,第{i % 9 + 1}党小组,同志{i},{100000 + i},岗位说明{i}\n"
                   for i in range(3000))
    content = ("支部,党小组,姓名,工号,职务\n" + rows).encode()
    assert len(content) > app.config["MAX_CONTENT_LENGTH"]
    res = upload(staff, content, dry_run=True)
    assert res.status_code == 200, res.get_data(as_text=True)[:300]
    assert "检查通过" in res.get_data(as_text=True)
