"""Correcting and repeating rounds in the console: a designed form on the new-round page,
edit and delete a draft, copy any round, list filters, one draft per branch."""

from __future__ import annotations

import re

import pytest

from server.core.db import db
from server.organization.models import Branch, Member
from server.roundbase.models import Round
from tests.conftest import csrf_token
from tests.factories import committee
from tests.test_console import login, round_count, staff  # noqa: F401 - the fixture
from tests.test_round_edit import TWO_SECTIONS


def _post(client, url, data, page=None):
    token = csrf_token(client.get(page or url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


NEW = {"form": "appraisal", "title": "2026年度民主测评", "subjects": "王建国 书记\n李红 总经理",
       "categories": "公司领导,5,0.3\n中层干部,10,0.7", "year": "2026"}


def _round(app, rid):
    with app.app_context():
        rnd = db.session.get(Round, rid)
        return {"title": rnd.title, "status": rnd.status, "year": rnd.year,
                "branch_id": rnd.branch_id, "form_version_id": rnd.form_version_id,
                "subjects": [(s.name, s.note, s.section) for s in rnd.subjects],
                "categories": [(c.id, c.name, c.expected_count, c.weight)
                               for c in rnd.categories]}


def _new(app, client, **extra):
    res = _post(client, "/console/rounds/new", {**NEW, **extra})
    assert res.status_code == 303, res.get_data(as_text=True)[:2000]
    return int(res.headers["Location"].rsplit("/", 1)[1])


def _designed_form(app):
    from server.forms.operations import create_form

    with app.app_context():
        return create_form(committee().id, TWO_SECTIONS, None).id


def test_new_round_from_a_designed_form_with_a_box_per_section(app, staff):  # noqa: F811
    form_id = _designed_form(app)
    page = staff.get("/console/rounds/new").get_data(as_text=True)
    choice = f"v:{form_id}:1"
    assert f'value="{choice}"' in page and "已设计的测评表" in page
    assert f'name="subjects.{choice}.team"' in page and "班子成员" in page
    res = _post(staff, "/console/rounds/new", {
        **NEW, "form": choice, "subjects": "",
        f"subjects.{choice}.team": "领导班子", f"subjects.{choice}.members": "王建国 书记"})
    assert res.status_code == 303, res.get_data(as_text=True)[:3000]
    rid = int(res.headers["Location"].rsplit("/", 1)[1])
    got = _round(app, rid)
    assert got["form_version_id"] is not None and got["year"] == 2026
    assert got["subjects"] == [("领导班子", "", "team"), ("王建国", "书记", "members")]


def test_field_errors_are_shown_beside_the_field(app, staff):  # noqa: F811
    before = round_count(app)
    res = _post(staff, "/console/rounds/new", {**NEW, "categories": "公司领导,5,0.3\n中层干部,10,0.6"})
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    assert re.search(r'id="f-categories".*?</textarea>.*?class="field-error"[^>]*>各类别权重之和应为 '
                     r"100%，现为 90%", html, re.S)
    res = _post(staff, "/console/rounds/new", {**NEW, "year": "明年"})
    assert res.status_code == 422 and "考核年度应为整数" in res.get_data(as_text=True)
    assert round_count(app) == before


def test_edit_a_draft_on_the_prefilled_page(app, staff):  # noqa: F811
    rid = _new(app, staff)
    before = _round(app, rid)
    page = staff.get(f"/console/rounds/{rid}/edit").get_data(as_text=True)
    assert "修改测评" in page and "2026年度民主测评" in page and "中层干部,10,0.7" in page
    detail = staff.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert "编辑" in detail and "删除" in detail and "复制为新测评" in detail
    res = _post(staff, f"/console/rounds/{rid}/edit", {
        **NEW, "title": "2026年度民主测评（更正）", "subjects": "王建国 党委书记",
        "categories": "班子成员,6,0.4\n中层干部,12,0.6", "year": "2025"},
        page=f"/console/rounds/{rid}/edit")
    assert res.status_code == 303, res.get_data(as_text=True)[:2000]
    after = _round(app, rid)
    assert after["title"] == "2026年度民主测评（更正）" and after["year"] == 2025
    assert after["subjects"] == [("王建国", "党委书记", "main")]
    # 公司领导 became 班子成员 on the same row; 中层干部 kept its row by name
    assert after["categories"] == [(before["categories"][0][0], "班子成员", 6, 0.4),
                                   (before["categories"][1][0], "中层干部", 12, 0.6)]
    res = _post(staff, f"/console/rounds/{rid}/edit", {**NEW, "title": ""},
                page=f"/console/rounds/{rid}/edit")
    assert res.status_code == 422 and "请填写测评名称" in res.get_data(as_text=True)
    assert _round(app, rid) == after


def test_delete_a_draft_and_not_an_open_round(app, staff):  # noqa: F811
    rid = _new(app, staff)
    res = _post(staff, f"/console/rounds/{rid}/delete", {}, page=f"/console/rounds/{rid}")
    assert res.status_code == 303 and res.headers["Location"].endswith("/console/")
    with app.app_context():
        assert db.session.get(Round, rid) is None
    rid = _new(app, staff)
    _post(staff, f"/console/rounds/{rid}/open", {}, page=f"/console/rounds/{rid}")
    res = _post(staff, f"/console/rounds/{rid}/delete", {}, page=f"/console/rounds/{rid}")
    assert res.status_code == 303
    page = staff.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert "只有草稿状态的测评可以修改或删除" in page and "编辑</a>" not in page
    assert _round(app, rid)["status"] == "open"


def test_copy_any_round(app, staff):  # noqa: F811
    rid = _new(app, staff)
    _post(staff, f"/console/rounds/{rid}/open", {}, page=f"/console/rounds/{rid}")
    res = _post(staff, f"/console/rounds/{rid}/clone", {}, page=f"/console/rounds/{rid}")
    assert res.status_code == 303
    new = int(res.headers["Location"].rsplit("/", 1)[1])
    assert new != rid
    copy, src = _round(app, new), _round(app, rid)
    assert copy["status"] == "draft" and copy["subjects"] == src["subjects"]
    assert [c[1:] for c in copy["categories"]] == [c[1:] for c in src["categories"]]
    assert "已复制为新测评" in staff.get(f"/console/rounds/{new}").get_data(as_text=True)


def _branches(app):
    with app.app_context():
        c = committee()
        ids = []
        for name, members in (("第一党支部", ["张三", "李四"]), ("第二党支部", ["王五"])):
            b = Branch(committee_id=c.id, name=name)
            db.session.add(b)
            db.session.flush()
            for i, m in enumerate(members):
                db.session.add(Member(committee_id=c.id, branch_id=b.id,
                                      member_no=f"{name}{i}", name=m))
            ids.append(b.id)
        db.session.commit()
        return ids


def test_list_filters_and_batch_per_branch(app, staff):  # noqa: F811
    b1, b2 = _branches(app)
    template = _new(app, staff, title="党小组评议模板", year="2025", branch_id=str(b1))
    page = staff.get("/console/").get_data(as_text=True)
    assert 'id="round-filters"' in page and "按支部批量创建" in page and "第一党支部" in page
    res = _post(staff, "/console/rounds/batch", {
        "template_round_id": str(template), "title": "2026年第一季度党小组评议",
        "subjects_from": "branch_members", "branches": [str(b1), str(b2)]})
    assert res.status_code == 303, res.get_data(as_text=True)[:2000]
    listed = staff.get("/console/?status=draft&year=2025").get_data(as_text=True)
    assert "2026年第一季度党小组评议（第一党支部）" in listed
    assert "2026年第一季度党小组评议（第二党支部）" in listed
    only = staff.get(f"/console/?branch_id={b2}").get_data(as_text=True)
    assert "（第二党支部）" in only and "（第一党支部）" not in only
    assert "没有符合筛选条件的测评" in staff.get("/console/?year=2001").get_data(as_text=True)

    # nothing ticked, or a template from nowhere: refused beside the field, nothing made
    before = round_count(app)
    res = _post(staff, "/console/rounds/batch", {"template_round_id": str(template)})
    assert res.status_code == 422 and "请至少选择一个支部" in res.get_data(as_text=True)
    res = _post(staff, "/console/rounds/batch", {"template_round_id": "99999",
                                                 "branches": [str(b1)]})
    assert res.status_code == 404 and "请选择模板测评" in res.get_data(as_text=True)
    assert round_count(app) == before


@pytest.mark.parametrize("path", ["/console/rounds/new", "/console/rounds/batch"])
def test_pages_have_no_inline_scripts(staff, path):  # noqa: F811
    html = staff.get(path).get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\ssrc=)", html)
