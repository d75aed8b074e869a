"""The console's form pages (测评表) through the test client: the list, presets, the
designer's saves and field errors, versions in use, preview, export and import."""

from __future__ import annotations

import copy
import html as htmllib
import json
import re
from io import BytesIO
from typing import Any

import pytest
from sqlalchemy import func

from server.core.db import db
from server.forms.models import Form, FormVersion
from tests.conftest import csrf_token
from tests.factories import make_round, organizer
from tests.support.forms import MEMBERS, TEAM
from tests.test_console import login, token_of

TWO_SECTIONS = {
    "kind": "appraisal", "name": "2026年度领导班子和领导人员民主测评",
    "description": "请作出评价。本次测评无记名进行。",
    "sections": [TEAM, MEMBERS],
    "results": {"min_turnout": 2 / 3,
                "flags": [{"grade": "incompetent", "share_above": 1 / 3,
                           "label": "“不称职”率超过三分之一"}]},
}


@pytest.fixture
def staff(app, client):
    with app.app_context():
        organizer()
    assert login(client).status_code == 302
    return client


def form_count(app) -> int:
    with app.app_context():
        return db.session.execute(db.select(func.count(Form.id))).scalar()


def versions_of(app, form_id: int) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.execute(db.select(FormVersion).filter_by(form_id=form_id)
                                  .order_by(FormVersion.version)).scalars()
        return [v.definition for v in rows]


def post_definition(client, path: str, definition: Any, note: str = ""):
    raw = definition if isinstance(definition, str) else json.dumps(definition, ensure_ascii=False)
    return client.post(path, data={"csrf_token": token_of(client, "/console/forms/new"),
                                   "definition": raw, "note": note})


def created(app) -> Form:
    with app.app_context():
        return db.session.execute(db.select(Form).order_by(Form.id.desc())).scalars().first()


def hidden_definition(page: str) -> Any:
    m = re.search(r'id="definition" value="([^"]*)"', page)
    assert m, "no hidden definition"
    return json.loads(htmllib.unescape(m.group(1)))


def preview_blob(page: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="preview-data">(.*?)</script>', page, re.S)
    assert m, "no preview data"
    return json.loads(m.group(1))


# -- the list ---------------------------------------------------------------------------

def test_forms_page_for_staff_only(app, staff, client):
    page = staff.get("/console/forms").get_data(as_text=True)
    assert "测评表" in page and "从模板复制" in page and "新建测评表" in page and "导入" in page
    assert "领导班子和领导人员民主测评" in page  # a preset
    assert 'href="/console/forms"' in staff.get("/console/").get_data(as_text=True)  # nav
    staff.post("/console/logout", data={"csrf_token": token_of(staff, "/console/")})
    with app.app_context():
        organizer("reader", role="committee")
    login(client, "reader")
    assert client.get("/console/forms").status_code == 403
    assert 'href="/console/forms"' not in client.get("/console/").get_data(as_text=True)


def test_create_from_preset_then_edit(app, staff):
    res = staff.post("/console/forms/presets", data={
        "csrf_token": token_of(staff, "/console/forms"), "preset": "appraisal"})
    assert res.status_code == 303
    form = created(app)
    assert res.headers["Location"].endswith(f"/console/forms/{form.id}/versions/1/edit")
    page = staff.get(res.headers["Location"]).get_data(as_text=True)
    assert "已从模板复制" in page
    definition = hidden_definition(page)
    assert definition["kind"] == "appraisal" and definition["sections"][0]["grades"][0]["label"] == "优秀"
    listing = staff.get("/console/forms").get_data(as_text=True)
    assert form.name in listing and "第 1 版" in listing and "未使用" in listing

    bad = staff.post("/console/forms/presets", data={
        "csrf_token": token_of(staff, "/console/forms"), "preset": "nope"})
    assert bad.status_code == 422 and "没有这个预置测评表" in bad.get_data(as_text=True)
    assert form_count(app) == 1


def test_design_a_two_section_form(app, staff):
    res = post_definition(staff, "/console/forms/new", TWO_SECTIONS, note="首版")
    assert res.status_code == 303, res.get_data(as_text=True)[:500]
    form = created(app)
    [saved] = versions_of(app, form.id)
    assert [s["key"] for s in saved["sections"]] == ["team", "members"]
    assert [g["label"] for g in saved["sections"][0]["grades"]] == ["好", "较好", "一般", "差"]
    assert saved["sections"][1]["grades"][4]["abstain"] is True
    assert saved["results"]["min_turnout"] == 2 / 3

    # The preview is the voter's page fed inline: each section's own scale and samples.
    frame = staff.get(f"/console/forms/{form.id}/preview/frame")
    assert frame.status_code == 200
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in frame.headers["Content-Security-Policy"]
    html = frame.get_data(as_text=True)
    assert "预览" in html and "vote.js" in html
    blob = preview_blob(html)
    assert blob["form"]["name"] == TWO_SECTIONS["name"]
    assert [s["name"] for s in blob["subjects"]][:2] == ["示例对象一", "示例对象二"]
    assert {s["note"] for s in blob["subjects"]} == {"领导班子", "班子成员"}
    page = staff.get(f"/console/forms/{form.id}/preview").get_data(as_text=True)
    assert f"/console/forms/{form.id}/preview/frame" in page and "第 1 版" in page


def test_field_error_beside_its_field_and_nothing_saved(app, staff):
    bad = copy.deepcopy(TWO_SECTIONS)
    bad["sections"][1]["grades"][4] = {"key": "unknown", "label": "不了解"}  # no points
    res = post_definition(staff, "/console/forms/new", bad)
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    assert 'data-error-field="sections[1].grades[4].points"' in html
    assert "分值" in html and "第 2 个测评部分“班子成员” › 第 5 个等次“不了解”" in html
    assert "未能保存" in html
    assert hidden_definition(html) == bad  # what was typed comes back
    assert form_count(app) == 0

    empty_label = copy.deepcopy(TWO_SECTIONS)
    empty_label["sections"][0]["criteria"][0]["label"] = " "
    html = post_definition(staff, "/console/forms/new", empty_label).get_data(as_text=True)
    assert 'data-error-field="sections[0].criteria[0].label"' in html and "请填写" in html

    for junk in ("{not json", json.dumps([1, 2])):
        res = post_definition(staff, "/console/forms/new", junk)
        assert res.status_code == 422 and "未能保存" in res.get_data(as_text=True)
    assert form_count(app) == 0


def test_edit_a_version_no_round_uses(app, staff):
    post_definition(staff, "/console/forms/new", TWO_SECTIONS)
    form = created(app)
    changed = copy.deepcopy(TWO_SECTIONS)
    changed["sections"][0]["label"] = "公司领导班子"
    res = post_definition(staff, f"/console/forms/{form.id}/versions/1/edit", changed)
    assert res.status_code == 303
    [saved] = versions_of(app, form.id)
    assert saved["sections"][0]["label"] == "公司领导班子"


def use_version(app, form_id: int, version_no: int = 1) -> None:
    """A round past draft built from the version (the rounds side is H4's)."""
    with app.app_context():
        version = db.session.execute(db.select(FormVersion).filter_by(
            form_id=form_id, version=version_no)).scalar_one()
        rnd, _ = make_round()
        rnd.form_version_id = version.id
        db.session.commit()


def test_version_in_use_is_refused_with_a_new_version_offered(app, staff):
    post_definition(staff, "/console/forms/new", TWO_SECTIONS)
    form = created(app)
    use_version(app, form.id)
    edit = f"/console/forms/{form.id}/versions/1/edit"
    page = staff.get(edit).get_data(as_text=True)
    assert "已被测评使用，不能修改" in page and "保存为新版本" in page
    assert f'action="/console/forms/{form.id}/versions/new"' in page

    changed = copy.deepcopy(TWO_SECTIONS)
    changed["sections"][0]["grades"][0]["points"] = 100
    res = post_definition(staff, edit, changed)
    html = res.get_data(as_text=True)
    assert res.status_code == 409 and "不能修改" in html and "保存为新版本" in html
    assert versions_of(app, form.id)[0]["sections"][0]["grades"][0]["points"] == 95

    res = post_definition(staff, f"/console/forms/{form.id}/versions/new", changed, note="改分值")
    assert res.status_code == 303
    v1, v2 = versions_of(app, form.id)
    assert v1["sections"][0]["grades"][0]["points"] == 95
    assert v2["sections"][0]["grades"][0]["points"] == 100
    listing = staff.get("/console/forms").get_data(as_text=True)
    assert "第 2 版" in listing and "改分值" in listing and "第 1 版已使用" in listing


def test_delete_unused_archive_used(app, staff):
    post_definition(staff, "/console/forms/new", TWO_SECTIONS)
    unused = created(app)
    post_definition(staff, "/console/forms/new", {**TWO_SECTIONS, "name": "已使用的表"})
    used = created(app)
    use_version(app, used.id)
    token = token_of(staff, "/console/forms")
    assert staff.post(f"/console/forms/{unused.id}/delete",
                      data={"csrf_token": token}).status_code == 303
    assert staff.post(f"/console/forms/{used.id}/delete",
                      data={"csrf_token": token}).status_code == 303
    with app.app_context():
        assert db.session.get(Form, unused.id) is None
        assert db.session.get(Form, used.id).archived is True
    assert "已归档" in staff.get("/console/forms").get_data(as_text=True)


def upload(client, content: bytes, filename: str = "form.json"):
    return client.post("/console/forms/import", content_type="multipart/form-data", data={
        "csrf_token": token_of(client, "/console/forms"), "file": (BytesIO(content), filename)})


def test_export_then_import(app, staff):
    post_definition(staff, "/console/forms/new", TWO_SECTIONS)
    form = created(app)
    res = staff.get(f"/console/forms/{form.id}/export")
    assert res.status_code == 200 and res.mimetype == "application/json"
    assert "attachment" in res.headers["Content-Disposition"]
    data = json.loads(res.get_data(as_text=True))
    assert data["pingyi_form"] == 1 and data["version"] == 1
    assert data["definition"]["sections"][1]["label"] == "班子成员"

    res = upload(staff, res.get_data())
    assert res.status_code == 303
    imported = created(app)
    assert imported.id != form.id
    assert versions_of(app, imported.id)[0] == versions_of(app, form.id)[0]


def test_import_errors_are_shown_and_nothing_saved(app, staff):
    before = form_count(app)
    res = upload(staff, b"\x89PNG not json")
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and 'id="import-error"' in html and "测评表文件" in html

    bad = copy.deepcopy(TWO_SECTIONS)
    bad["sections"][0]["grades"][2]["points"] = "七十五"
    res = upload(staff, json.dumps({"pingyi_form": 1, "name": "x", "definition": bad},
                                   ensure_ascii=False).encode())
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    assert "第 1 个测评部分“领导班子” › 第 3 个等次“一般”" in html and "分值" in html

    res = staff.post("/console/forms/import", data={
        "csrf_token": token_of(staff, "/console/forms")}, content_type="multipart/form-data")
    assert res.status_code == 422 and "请选择" in res.get_data(as_text=True)
    assert form_count(app) == before


def test_preview_of_an_unsaved_definition(app, staff):
    token = token_of(staff, "/console/forms/new")
    res = staff.post("/console/forms/preview", data={
        "csrf_token": token, "definition": json.dumps(TWO_SECTIONS, ensure_ascii=False)})
    assert res.status_code == 200 and res.headers["X-Frame-Options"] == "SAMEORIGIN"
    blob = preview_blob(res.get_data(as_text=True))
    assert blob["round"]["title"] == TWO_SECTIONS["name"]
    assert len(blob["subjects"]) == 4

    scoring = {"kind": "scoring", "name": "述职评议", "decimals": 1,
               "items": [{"key": "a", "label": "责任落实", "max": 30, "weight": 1}]}
    blob = preview_blob(staff.post("/console/forms/preview", data={
        "csrf_token": token, "definition": json.dumps(scoring)}).get_data(as_text=True))
    assert blob["form"]["items"][0]["max"] == 30

    res = staff.post("/console/forms/preview", data={
        "csrf_token": token, "definition": json.dumps({"kind": "appraisal", "name": ""})})
    assert res.status_code == 422
    assert "error" in preview_blob(res.get_data(as_text=True))
    assert form_count(app) == 0

    # Only with the page's CSRF token.
    assert staff.post("/console/forms/preview", data={"definition": "{}"}).status_code == 400


def test_other_committees_form_is_404(app, staff):
    from server.forms import operations as ops
    from server.organization.models import Committee

    with app.app_context():
        other = Committee(name="别的党委")
        db.session.add(other)
        db.session.commit()
        form = ops.create_form(other.id, copy.deepcopy(TWO_SECTIONS), None)
        fid = form.id
    for path in (f"/console/forms/{fid}/versions/1/edit", f"/console/forms/{fid}/preview",
                 f"/console/forms/{fid}/export", f"/console/forms/{fid}/preview/frame"):
        assert staff.get(path).status_code == 404, path


def test_form_pages_have_no_inline_scripts(app, staff):
    post_definition(staff, "/console/forms/new", TWO_SECTIONS)
    form = created(app)
    for path in ("/console/forms", "/console/forms/new", f"/console/forms/{form.id}/preview",
                 f"/console/forms/{form.id}/versions/1/edit",
                 f"/console/forms/{form.id}/versions/new"):
        res = staff.get(path)
        html = res.get_data(as_text=True)
        assert res.status_code == 200, path
        assert "<script>" not in html and "onclick" not in html, path
    assert csrf_token(staff.get("/console/forms/new").get_data(as_text=True))
