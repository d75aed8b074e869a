"""Rounds that can be corrected and repeated: edit and delete a draft, clone any round,
filter the list, one draft per branch, weights that must add up, rounds from a
designed form's version (the organizer API)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from server.core.db import db
from server.core.redis import get_redis
from server.organization.models import Branch, Member
from tests.factories import committee

ROUND = {
    "form": "appraisal",
    "title": "2026年度领导班子民主测评",
    "subjects": [{"name": "王建国", "note": "书记"}, {"name": "李红", "note": "总经理"}],
    "categories": [{"name": "公司领导", "expected_count": 5, "weight": 0.3},
                   {"name": "中层干部", "expected_count": 10, "weight": 0.7}],
}

TWO_SECTIONS = {
    "kind": "appraisal", "name": "班子和班子成员测评",
    "sections": [
        {"key": "team", "label": "领导班子",
         "criteria": [{"key": "overall", "label": "总体评价", "overall": True}],
         "grades": [{"key": "good", "label": "好", "points": 95},
                    {"key": "fair", "label": "较好", "points": 85},
                    {"key": "average", "label": "一般", "points": 75},
                    {"key": "poor", "label": "差", "points": 60}]},
        {"key": "members", "label": "班子成员",
         "criteria": [{"key": "overall", "label": "总体评价", "overall": True}],
         "grades": [{"key": "excellent", "label": "优秀", "points": 95},
                    {"key": "competent", "label": "称职", "points": 85},
                    {"key": "basic", "label": "基本称职", "points": 75},
                    {"key": "incompetent", "label": "不称职", "points": 65},
                    {"key": "unknown", "label": "不了解", "abstain": True}]},
    ],
}


def _body(**extra):
    """ROUND with `extra`; a None leaves the field out."""
    return {k: v for k, v in {**ROUND, **extra}.items() if v is not None}


def _create(client, key, **extra):
    res = client.post("/api/v1/rounds", json=_body(**extra), headers=key)
    assert res.status_code == 201, res.json
    return res.json


def _rows(app, sql, **params):
    with app.app_context():
        return db.session.execute(text(sql), params).all()


def _redis_keys(app, rid):
    with app.app_context():
        return list(get_redis().scan_iter(match=f"{{r:{rid}}}:*"))


# -- PATCH -----------------------------------------------------------------------------

def test_patch_changes_each_field_of_a_draft(app, client, key):
    rnd = _create(client, key)
    rid, cats = rnd["id"], rnd["categories"]
    assert rnd["year"] == dt.datetime.now(dt.UTC).year and rnd["form_version"] is None
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    changes = [
        ({"title": "2026年度领导班子民主测评（更正）"}, "title", "2026年度领导班子民主测评（更正）"),
        ({"show_live_results": True}, "show_live_results", True),
        ({"announce_on_close": True}, "announce_on_close", True),
        ({"year": 2025}, "year", 2025),
        ({"closes_at": deadline.isoformat()}, "closes_at",
         deadline.isoformat()),
        ({"results": {"min_turnout": 0.5}}, "results", None),
    ]
    for body, field, expected in changes:
        res = client.patch(f"/api/v1/rounds/{rid}", json=body, headers=key)
        assert res.status_code == 200, (body, res.json)
        if expected is not None:
            assert res.json[field] == expected, (field, res.json[field])
    out = client.get(f"/api/v1/rounds/{rid}", headers=key).json
    assert out["results"]["min_turnout"] == 0.5 and out["title"].endswith("（更正）")

    # subjects: the whole list is replaced
    res = client.patch(f"/api/v1/rounds/{rid}", headers=key, json={"subjects": [
        {"name": "王建国", "note": "党委书记"}, {"name": "赵六"}, {"name": "孙七", "note": "副总"}]})
    assert [(s["name"], s["note"]) for s in res.json["subjects"]] == [
        ("王建国", "党委书记"), ("赵六", ""), ("孙七", "副总")]

    # categories: by position, ids kept; weights, counts and names change
    res = client.patch(f"/api/v1/rounds/{rid}", headers=key, json={"categories": [
        {"name": "班子成员", "expected_count": 7, "weight": 0.4},
        {"name": "中层干部", "expected_count": 12, "weight": 0.6}]})
    assert res.status_code == 200, res.json
    assert [(c["id"], c["name"], c["expected_count"], c["weight"])
            for c in res.json["categories"]] == [
        (cats[0]["id"], "班子成员", 7, 0.4), (cats[1]["id"], "中层干部", 12, 0.6)]

    # by id: two names swap, a third category is added
    res = client.patch(f"/api/v1/rounds/{rid}", headers=key, json={"categories": [
        {"id": cats[1]["id"], "name": "班子成员", "expected_count": 12, "weight": 30},
        {"id": cats[0]["id"], "name": "中层干部", "expected_count": 7, "weight": 30},
        {"name": "职工代表", "expected_count": 20, "weight": 40}]})
    assert res.status_code == 200, res.json
    assert [(c["id"], c["name"]) for c in res.json["categories"]][:2] == [
        (cats[1]["id"], "班子成员"), (cats[0]["id"], "中层干部")]
    assert len(res.json["categories"]) == 3
    with app.app_context():
        audit = db.session.execute(text("SELECT COUNT(*) FROM audit_log "
                                        "WHERE action = 'round.update'")).scalar()
    assert audit == len(changes) + 3


def test_patch_the_form_version_re_snapshots_and_checks_sections(app, client, key):
    form = client.post("/api/v1/forms", json={"preset": "appraisal"}, headers=key).json
    rnd = _create(client, key, form=None, form_id=form["id"])
    assert rnd["form_version"] == {"form_id": form["id"], "version": 1}
    two = client.post(f"/api/v1/forms/{form['id']}/versions", json={"definition": TWO_SECTIONS},
                      headers=key)
    assert two.status_code == 201, two.json
    # version 2 has two sections: the subjects must name theirs
    res = client.patch(f"/api/v1/rounds/{rnd['id']}", json={"form_version": 2}, headers=key)
    assert res.status_code == 422 and res.json["error"]["field"] == "subjects[0].section"
    assert client.get(f"/api/v1/rounds/{rnd['id']}", headers=key).json["form_version"][
        "version"] == 1
    res = client.patch(f"/api/v1/rounds/{rnd['id']}", headers=key, json={
        "form_version": 2, "subjects": [{"name": "领导班子", "section": "team"},
                                        {"name": "王建国", "section": "members"}]})
    assert res.status_code == 200, res.json
    assert res.json["form_version"] == {"form_id": form["id"], "version": 2}
    assert [s["section"] for s in res.json["subjects"]] == ["team", "members"]
    # back to a preset
    res = client.patch(f"/api/v1/rounds/{rnd['id']}", headers=key, json={
        "form": "appraisal", "subjects": [{"name": "王建国"}]})
    assert res.status_code == 200 and res.json["form_version_id"] is None
    assert res.json["form_key"] == "appraisal"


def test_patch_refusals_change_nothing(app, client, key):
    rnd = _create(client, key)
    rid = rnd["id"]
    before = client.get(f"/api/v1/rounds/{rid}", headers=key).json
    for body, code in (({"title": " "}, "missing_field"),
                       ({"branch_id": 999}, "unknown_branch"),
                       ({"categories": [{"id": 99999, "name": "甲", "expected_count": 1}]},
                        "unknown_category"),
                       ({"form": "appraisal", "form_id": 1}, "form_choice"),
                       ({"subjects": [{"name": "甲"}, {"name": "甲"}]}, "duplicate_subject")):
        res = client.patch(f"/api/v1/rounds/{rid}", json=body, headers=key)
        assert res.status_code == 422 and res.json["error"]["code"] == code, (body, res.json)
    assert client.get(f"/api/v1/rounds/{rid}", headers=key).json == before

    # a category with issued slips cannot be dropped, but may be renamed
    cat = rnd["categories"][1]["id"]
    assert client.post(f"/api/v1/rounds/{rid}/tokens", json={"category_id": cat, "count": 2},
                       headers=key).status_code == 201
    res = client.patch(f"/api/v1/rounds/{rid}", headers=key, json={"categories": [
        {"id": rnd["categories"][0]["id"], "name": "公司领导", "expected_count": 5}]})
    assert res.status_code == 409 and res.json["error"]["code"] == "category_has_slips"
    assert "中层干部" in res.json["error"]["message"]
    res = client.patch(f"/api/v1/rounds/{rid}", headers=key, json={"categories": [
        {"id": cat, "name": "中层人员", "expected_count": 11}]})
    assert res.status_code == 200, res.json
    assert [(c["id"], c["issued_count"]) for c in res.json["categories"]] == [(cat, 2)]


def test_patch_and_delete_of_a_round_past_draft_are_refused(app, client, key):
    rnd = _create(client, key)
    rid = rnd["id"]
    client.post(f"/api/v1/rounds/{rid}/open", headers=key)
    before = client.get(f"/api/v1/rounds/{rid}", headers=key).json
    res = client.patch(f"/api/v1/rounds/{rid}", json={"title": "改名"}, headers=key)
    assert res.status_code == 409 and res.json["error"]["code"] == "round_not_draft"
    res = client.delete(f"/api/v1/rounds/{rid}", headers=key)
    assert res.status_code == 409 and res.json["error"]["code"] == "round_not_draft"
    assert client.get(f"/api/v1/rounds/{rid}", headers=key).json == before


# -- DELETE ----------------------------------------------------------------------------

def test_delete_a_draft_removes_its_rows_and_redis_keys(app, client, key):
    keep = _create(client, key, title="留下的测评")
    rnd = _create(client, key)
    rid = rnd["id"]
    for cat in rnd["categories"]:
        issued = client.post(f"/api/v1/rounds/{rid}/tokens",
                             json={"category_id": cat["id"], "count": 3}, headers=key)
        assert issued.status_code == 201
    client.get(f"/api/v1/rounds/{rid}/projector", headers=key)
    with app.app_context():  # what a purged rehearsal or a session code may leave
        get_redis().hset(f"{{r:{rid}}}:state", "status", "draft")
        get_redis().set(f"{{r:{rid}}}:sessioncode:x", "1")
        get_redis().set(f"{{r:{keep['id']}}}:sessioncode:x", "1")
    assert len(_redis_keys(app, rid)) >= 2
    res = client.delete(f"/api/v1/rounds/{rid}", headers=key)
    assert res.status_code == 204
    assert client.get(f"/api/v1/rounds/{rid}", headers=key).status_code == 404
    for table in ("subjects", "voter_categories", "tokens"):
        assert not _rows(app, f"SELECT 1 FROM {table} WHERE round_id = :r", r=rid), table
    assert not _rows(app, "SELECT 1 FROM rounds WHERE id = :r", r=rid)
    assert not _redis_keys(app, rid)
    assert _rows(app, "SELECT 1 FROM audit_log WHERE action = 'round.delete'")
    assert client.get(f"/api/v1/rounds/{keep['id']}", headers=key).status_code == 200
    assert _redis_keys(app, keep["id"]), "another round's keys stay"
    assert client.delete(f"/api/v1/rounds/{rid}", headers=key).status_code == 404


# -- clone -----------------------------------------------------------------------------

def _vote(client, key, rid, category_id, n):
    tokens = client.post(f"/api/v1/rounds/{rid}/tokens", json={"category_id": category_id,
                                                             "count": n}, headers=key).json
    client.post(f"/api/v1/rounds/{rid}/open", headers=key)
    for t in tokens["tokens"]:
        form = client.post("/api/v1/ballot-form", json={"token": t["token"]}).json
        answers = {str(s["id"]): {c["key"]: "competent" for c in form["form"]["criteria"]}
                   for s in form["subjects"]}
        res = client.post("/api/v1/ballots", json={"token": t["token"], "answers": answers})
        assert res.status_code in (200, 201), res.json


def test_clone_of_a_round_closed_below_turnout_is_a_rehold(app, client, key):
    rnd = _create(client, key, results={"min_turnout": 0.8})
    rid = rnd["id"]
    _vote(client, key, rid, rnd["categories"][0]["id"], 2)
    assert client.post(f"/api/v1/rounds/{rid}/close", headers=key).json["status"] == "closed"
    res = client.post(f"/api/v1/rounds/{rid}/clone", json={}, headers=key)
    assert res.status_code == 201, res.json
    new = res.json
    assert new["status"] == "draft" and new["id"] != rid
    assert new["title"] == ROUND["title"] + "（重新测评）" and new["year"] == rnd["year"]
    assert [(s["name"], s["note"]) for s in new["subjects"]] == [
        (s["name"], s["note"]) for s in rnd["subjects"]]
    assert [(c["name"], c["expected_count"], c["weight"], c["issued_count"])
            for c in new["categories"]] == [(c["name"], c["expected_count"], c["weight"], 0)
                                            for c in rnd["categories"]]
    assert new["results"] == client.get(f"/api/v1/rounds/{rid}", headers=key).json["results"]
    assert not _rows(app, "SELECT 1 FROM tokens WHERE round_id = :r", r=new["id"])
    assert not _rows(app, "SELECT 1 FROM ballots WHERE round_id = :r", r=new["id"])


def test_clone_of_a_draft_keeps_sections_members_and_moves_the_year(app, client, key):
    form = client.post("/api/v1/forms", json={"definition": TWO_SECTIONS}, headers=key).json
    rnd = _create(client, key, form=None, form_id=form["id"], year=2025,
                  title="2025年度班子测评",
                  subjects=[{"name": "领导班子", "section": "team"},
                            {"name": "王建国", "note": "书记", "section": "members"}])
    with app.app_context():
        c = committee()
        branch = Branch(committee_id=c.id, name="第一党支部")
        db.session.add(branch)
        db.session.flush()
        member = Member(committee_id=c.id, branch_id=branch.id, member_no="001", name="王建国")
        db.session.add(member)
        db.session.commit()
        member_id = member.id
        db.session.execute(text("UPDATE subjects SET member_id = :m WHERE round_id = :r "
                                "AND name = '王建国'"), {"m": member_id, "r": rnd["id"]})
        db.session.commit()
    res = client.post(f"/api/v1/rounds/{rnd['id']}/clone", json={"year": 2026}, headers=key)
    assert res.status_code == 201, res.json
    new = res.json
    assert new["title"] == "2026年度班子测评" and new["year"] == 2026
    assert new["form_version"] == {"form_id": form["id"], "version": 1}
    assert [(s["name"], s["section"], s["member_id"]) for s in new["subjects"]] == [
        ("领导班子", "team", None), ("王建国", "members", member_id)]
    res = client.post(f"/api/v1/rounds/{rnd['id']}/clone", headers=key,
                      json={"title": "另一个", "form_version": "latest"})
    assert res.status_code == 201 and res.json["title"] == "另一个"


# -- list, batch -----------------------------------------------------------------------

def _branches(app, names, members=()):
    with app.app_context():
        c = committee()
        out = []
        for name in names:
            b = Branch(committee_id=c.id, name=name)
            db.session.add(b)
            db.session.flush()
            for i, m in enumerate(members):
                db.session.add(Member(committee_id=c.id, branch_id=b.id,
                                      member_no=f"{b.id}-{i}", name=m, title="党员"))
            out.append(b.id)
        db.session.commit()
        return out


def test_list_filters_by_year_branch_status_and_committee(app, client, key):
    b1, b2 = _branches(app, ["第一党支部", "第二党支部"])
    a = _create(client, key, year=2025, branch_id=b1)["id"]
    b = _create(client, key, year=2026, branch_id=b2)["id"]
    c = _create(client, key, year=2026)["id"]
    client.post(f"/api/v1/rounds/{c}/open", headers=key)

    def ids(query):
        res = client.get(f"/api/v1/rounds?{query}", headers=key)
        assert res.status_code == 200, res.json
        return [r["id"] for r in res.json["items"]]

    assert ids("year=2025") == [a]
    assert ids("year=2026") == [c, b]
    assert ids(f"branch_id={b2}") == [b]
    assert ids("status=open&year=2026") == [c]
    assert ids(f"committee_id={committee_id(app)}&per_page=1&page=2") == [b]
    assert ids("committee_id=99999") == []
    assert client.get("/api/v1/rounds?year=abc", headers=key).status_code == 422


def committee_id(app):
    with app.app_context():
        return committee().id


def test_batch_makes_one_draft_per_branch_from_the_roster(app, client, key):
    b1, b2 = _branches(app, ["第一党支部", "第二党支部"], members=["张三", "李四"])
    res = client.post("/api/v1/rounds/batch", headers=key, json={
        "form": "appraisal", "title": "2026年第一季度党小组评议", "branches": "all",
        "subjects_from": "branch_members",
        "categories": [{"name": "党员", "expected_count": 10}]})
    assert res.status_code == 201, res.json
    ids = res.json["ids"]
    rounds = [client.get(f"/api/v1/rounds/{i}", headers=key).json for i in ids]
    assert [(r["title"], r["branch_id"], r["status"]) for r in rounds] == [
        ("2026年第一季度党小组评议（第一党支部）", b1, "draft"),
        ("2026年第一季度党小组评议（第二党支部）", b2, "draft")]
    assert [s["name"] for s in rounds[0]["subjects"]] == ["张三", "李四"]
    assert all(s["member_id"] for s in rounds[1]["subjects"])

    # from a template round, for one branch
    res = client.post("/api/v1/rounds/batch", headers=key, json={
        "template_round_id": ids[0], "branches": [b2], "title": "复制"})
    assert res.status_code == 201, res.json
    one = client.get(f"/api/v1/rounds/{res.json['ids'][0]}", headers=key).json
    assert one["title"] == "复制（第二党支部）" and one["branch_id"] == b2
    assert [s["name"] for s in one["subjects"]] == ["张三", "李四"]


def test_batch_is_all_or_nothing(app, client, key):
    _branches(app, ["第一党支部"], members=["张三"])
    _branches(app, ["第二党支部"])  # no roster
    count = len(_rows(app, "SELECT id FROM rounds"))
    res = client.post("/api/v1/rounds/batch", headers=key, json={
        "form": "appraisal", "title": "支部测评", "branches": "all",
        "subjects_from": "branch_members", "categories": [{"name": "党员", "expected_count": 3}]})
    assert res.status_code == 422 and res.json["error"]["code"] == "missing_subjects"
    assert "第二党支部" in res.json["error"]["message"]
    assert len(_rows(app, "SELECT id FROM rounds")) == count
    for branches in ([99999], "some", []):
        res = client.post("/api/v1/rounds/batch", headers=key, json={
            **ROUND, "branches": branches})
        assert res.status_code == 422, (branches, res.json)
    assert len(_rows(app, "SELECT id FROM rounds")) == count


# -- weights, forms ----------------------------------------------------------------------

@pytest.mark.parametrize(("weights", "shown"), [((0.3, 0.3, 0.3), "90%"),
                                                 ((30, 30, 30), "90%"),
                                                 ((0.5, 0.6, 0.2), "130%")])
def test_weights_that_do_not_add_up_are_refused_with_the_sum(app, client, key, weights, shown):
    cats = [{"name": f"类别{i}", "expected_count": 5, "weight": w} for i, w in enumerate(weights)]
    res = client.post("/api/v1/rounds", json={**ROUND, "categories": cats}, headers=key)
    assert res.status_code == 422 and res.json["error"]["code"] == "weights_sum"
    assert res.json["error"]["message"] == f"各类别权重之和应为 100%，现为 {shown}"
    assert res.json["error"]["field"] == "categories"
    assert not _rows(app, "SELECT id FROM rounds")


@pytest.mark.parametrize("weights", [(1, 1, 1), (0.3, 0.3, 0.4), (30, 30, 40),
                                     (0.1, 0.2, 0.7), (1 / 3, 1 / 3, 1 / 3)])
def test_weights_that_add_up_or_are_all_one_are_fine(app, client, key, weights):
    cats = [{"name": f"类别{i}", "expected_count": 5, "weight": w} for i, w in enumerate(weights)]
    res = client.post("/api/v1/rounds", json={**ROUND, "categories": cats}, headers=key)
    if weights[0] == 1 / 3:  # thirds written as floats do not add to exactly 1
        assert res.status_code == 422 and "100%" in res.json["error"]["message"]
        return
    assert res.status_code == 201, res.json


def test_create_from_a_designed_form_records_the_version(app, client, key):
    form = client.post("/api/v1/forms", json={"preset": "appraisal"}, headers=key).json
    client.post(f"/api/v1/forms/{form['id']}/versions", json={"definition": TWO_SECTIONS},
                headers=key)
    latest = _create(client, key, form=None, form_id=form["id"], subjects=[
        {"name": "领导班子", "section": "team"}, {"name": "王建国", "section": "members"}])
    assert latest["form_version"] == {"form_id": form["id"], "version": 2}
    first = _create(client, key, form=None, form_id=form["id"], form_version=1)
    assert first["form_version"] == {"form_id": form["id"], "version": 1}
    with app.app_context():
        stored = db.session.execute(text("SELECT form_version_id, form_json FROM rounds "
                                         "WHERE id = :r"), {"r": latest["id"]}).one()
    assert stored.form_version_id == latest["form_version_id"] and "班子成员" in stored.form_json
    for body, code in (({"form_id": form["id"]}, "form_choice"),
                       ({"form": None}, "form_choice"),
                       ({"form": None, "form_version": 1}, "form_choice"),
                       ({"form": None, "form_id": 99999}, "form_not_found"),
                       ({"form": None, "form_id": form["id"], "form_version": 9},
                        "form_version_not_found")):
        res = client.post("/api/v1/rounds", json=_body(**body), headers=key)
        assert res.json["error"]["code"] == code, (body, res.json)
        assert res.status_code in (404, 422)
