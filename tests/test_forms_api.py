"""Designed forms over HTTP: create (definition or preset), read the whole structure,
field-level errors, versions and the versions rounds use, export/import, scope, roles,
and nothing half-written on a refusal."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import pytest
from sqlalchemy import text

from server.core.db import db
from tests.factories import committee, make_round, organizer
from tests.support.forms import MEMBERS, TEAM

DEFINITION = {"kind": "appraisal", "name": "2026年度领导班子和领导人员民主测评",
              "description": "请作出评价。", "sections": [TEAM, MEMBERS],
              "results": {"min_turnout": 0.6667,
                          "flags": [{"grade": "incompetent", "share_above": 0.3333,
                                     "label": "“不称职”率超过三分之一"}]}}


@pytest.fixture
def staff(app) -> dict[str, dict[str, str]]:
    """Bearer headers per role of one committee, plus an organizer of another."""
    from server.accounts.operations import create_user, new_api_key

    with app.app_context():
        out = {}
        for role in ("organizer", "committee", "secretary", "admin"):
            _, key = organizer(f"u_{role}", role=role)
            out[role] = {"Authorization": f"Bearer {key}"}
        other = committee("另一公司党委")
        user = create_user("other_org", "correct horse 1", committee_id=other.id)
        out["other"] = {"Authorization": f"Bearer {new_api_key(user, 'tests')}"}
    return out


def counts(app) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                     for t in ("forms", "form_versions", "audit_log"))


def create(client, headers, definition: dict[str, Any] | None = None) -> dict[str, Any]:
    res = client.post("/api/v1/forms", json={"definition": definition or DEFINITION},
                      headers=headers)
    assert res.status_code == 201, res.json
    return res.json


def test_create_from_definition_and_read_the_whole_structure(client, staff):
    made = create(client, staff["organizer"])
    assert made["name"] == DEFINITION["name"] and made["kind"] == "appraisal"
    assert made["latest_version"] == 1 and made["version_count"] == 1
    form = client.get(f"/api/v1/forms/{made['id']}", headers=staff["committee"]).json
    assert [v["version"] for v in form["versions"]] == [1]
    assert form["versions"][0]["in_use"] is False
    d = form["definition"]
    assert [s["key"] for s in d["sections"]] == ["team", "members"]
    assert [g["label"] for g in d["sections"][0]["grades"]] == ["好", "较好", "一般", "差"]
    assert [g["label"] for g in d["sections"][1]["grades"]] == \
        ["优秀", "称职", "基本称职", "不称职", "不了解"]
    assert d["sections"][1]["grades"][4]["abstain"] is True
    assert d["sections"][1]["criteria"][1]["overall"] is True
    assert d["results"]["min_turnout"] == 0.6667 and d["results"]["flags"][0]["label"]
    listed = client.get("/api/v1/forms", headers=staff["committee"]).json
    assert [(f["id"], f["latest_version"], f["version_count"]) for f in listed] == \
        [(made["id"], 1, 1)]


def test_the_definition_is_typed_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").json
    schemas = spec["components"]["schemas"]

    def ref(prop: dict[str, Any]) -> dict[str, Any]:
        prop = prop.get("items", prop)
        return schemas[(prop.get("allOf") or [prop])[0]["$ref"].split("/")[-1]]

    ok = spec["paths"]["/api/v1/forms/{form_id}"]["get"]["responses"]["200"]
    form = ref(ok["content"]["application/json"]["schema"])
    definition = ref(form["properties"]["definition"])
    grade = ref(ref(definition["properties"]["sections"])["properties"]["grades"])
    assert {"key", "label", "points", "abstain"} <= set(grade["properties"])
    assert {"items", "min_choices", "max_choices", "results", "criteria"} <= \
        set(definition["properties"])
    assert "flags" in ref(definition["properties"]["results"])["properties"]


def test_create_from_preset_and_the_presets_list(client, staff):
    presets = client.get("/api/v1/form-presets", headers=staff["committee"]).json
    assert {"appraisal", "recommendation", "review"} <= {p["key"] for p in presets}
    review = next(p for p in presets if p["key"] == "review")
    assert review["definition"]["items"] and review["kind"] == "scoring"
    res = client.post("/api/v1/forms", json={"preset": "review", "name": "季度述职评议"},
                      headers=staff["organizer"])
    assert res.status_code == 201, res.json
    assert res.json["name"] == "季度述职评议" and res.json["kind"] == "scoring"
    assert res.json["definition"]["items"] == review["definition"]["items"]
    res = client.post("/api/v1/forms", json={"preset": "nope"}, headers=staff["organizer"])
    assert res.status_code == 422 and res.json["error"]["code"] == "unknown_preset"
    res = client.post("/api/v1/forms", json={}, headers=staff["organizer"])
    assert res.status_code == 422 and res.json["error"]["field"] == "definition"


def test_field_level_errors_change_nothing(app, client, staff):
    before = counts(app)
    bad = copy.deepcopy(DEFINITION)
    bad["sections"][0]["grades"][1]["points"] = "八十五"
    res = client.post("/api/v1/forms", json={"definition": bad}, headers=staff["organizer"])
    assert res.status_code == 422
    err = res.json["error"]
    assert err["code"] == "invalid_form"
    assert err["field"] == "sections[0].grades[1].points"
    assert err["message"] and err["message"] != err["message_en"]
    for broken in ({"kind": "appraisal"}, {"kind": "x", "name": "表"}, [1, 2],
                   {**DEFINITION, "sections": "领导班子"}, {**DEFINITION, "results": [1]}):
        res = client.post("/api/v1/forms", json={"definition": broken},
                          headers=staff["organizer"])
        assert res.status_code == 422, (broken, res.json)
        assert res.json["error"]["field"]
    assert counts(app) == before


def test_versions_and_the_version_a_round_uses(app, client, staff):
    org = staff["organizer"]
    form = create(client, org)
    fid = form["id"]
    v2 = copy.deepcopy(DEFINITION)
    v2["name"] = "2027年度民主测评"
    res = client.post(f"/api/v1/forms/{fid}/versions", json={"definition": v2, "note": "改名"},
                      headers=org)
    assert res.status_code == 201 and res.json["version"] == 2 and res.json["note"] == "改名"
    whole = client.get(f"/api/v1/forms/{fid}", headers=org).json
    assert whole["name"] == "2027年度民主测评" and whole["latest_version"] == 2
    assert client.get(f"/api/v1/forms/{fid}/versions/1", headers=org).json[
        "definition"]["name"] == DEFINITION["name"]
    assert client.get(f"/api/v1/forms/{fid}/versions/9", headers=org).status_code == 404

    # An open round built from version 1: it never changes; version 2 still may.
    with app.app_context():
        rnd, _ = make_round("appraisal")
        v1_id = db.session.execute(text(
            "SELECT id FROM form_versions WHERE form_id = :f AND version = 1"),
            {"f": fid}).scalar()
        db.session.execute(text("UPDATE rounds SET form_version_id = :v WHERE id = :r"),
                           {"v": v1_id, "r": rnd.id})
        db.session.commit()
    changed = copy.deepcopy(DEFINITION)
    changed["sections"][0]["label"] = "领导班子整体"
    before = counts(app)
    res = client.put(f"/api/v1/forms/{fid}/versions/1", json={"definition": changed},
                     headers=org)
    assert res.status_code == 409 and res.json["error"]["code"] == "form_version_in_use"
    assert "新版本" in res.json["error"]["message"]
    assert counts(app) == before
    v1 = client.get(f"/api/v1/forms/{fid}/versions/1", headers=org).json
    assert v1["in_use"] and v1["definition"]["sections"][0]["label"] == "领导班子"
    res = client.put(f"/api/v1/forms/{fid}/versions/2", json={"definition": changed},
                     headers=org)
    assert res.status_code == 200, res.json
    assert res.json["definition"]["sections"][0]["label"] == "领导班子整体"
    whole = client.get(f"/api/v1/forms/{fid}", headers=org).json
    assert whole["name"] == DEFINITION["name"]  # the latest version's name again
    assert [v["in_use"] for v in whole["versions"]] == [True, False]

    # Used by a round: DELETE archives it (hidden from the list, still readable).
    res = client.delete(f"/api/v1/forms/{fid}", headers=org)
    assert res.status_code == 200 and res.json["outcome"] == "archived"
    assert client.get("/api/v1/forms", headers=org).json == []
    assert client.get("/api/v1/forms?include_archived=true", headers=org).json[0]["archived"]
    assert client.get(f"/api/v1/forms/{fid}", headers=org).json["archived"] is True
    res = client.post(f"/api/v1/forms/{fid}/versions", json={"definition": v2}, headers=org)
    assert res.status_code == 409 and res.json["error"]["code"] == "form_archived"


def test_an_unused_form_is_deleted(app, client, staff):
    before = counts(app)
    fid = create(client, staff["organizer"])["id"]
    res = client.delete(f"/api/v1/forms/{fid}", headers=staff["admin"])
    assert res.status_code == 200 and res.json["outcome"] == "deleted"
    assert client.get(f"/api/v1/forms/{fid}", headers=staff["organizer"]).status_code == 404
    forms, versions, audit = counts(app)
    assert (forms, versions) == before[:2] and audit == before[2] + 2


def test_export_then_import_round_trips(app, client, staff):
    org = staff["organizer"]
    fid = create(client, org)["id"]
    res = client.get(f"/api/v1/forms/{fid}/export", headers=staff["committee"])
    assert res.status_code == 200 and res.mimetype == "application/json"
    disposition = res.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''2026" in disposition
    data = json.loads(res.get_data())
    assert data["pingyi_form"] == 1 and data["version"] == 1 and data["name"]

    res = client.post("/api/v1/forms/import", json=data, headers=org)
    assert res.status_code == 201, res.json
    first = client.get(f"/api/v1/forms/{fid}/versions/1", headers=org).json["definition"]
    assert res.json["definition"] == first and res.json["id"] != fid
    res = client.post("/api/v1/forms/import", headers=org, content_type="multipart/form-data",
                      data={"file": (io.BytesIO(json.dumps(data).encode()), "表.json")})
    assert res.status_code == 201, res.json
    assert res.json["definition"] == first
    again = client.get(f"/api/v1/forms/{res.json['id']}/export", headers=org)
    assert json.loads(again.get_data())["definition"] == data["definition"]


def test_a_bad_file_is_refused_and_changes_nothing(app, client, staff):
    org = staff["organizer"]
    before = counts(app)
    bad_definition = {"pingyi_form": 1, "name": "x",
                      "definition": {**DEFINITION, "sections": [{**TEAM, "grades": []}]}}
    for body in ({"name": "x"}, {"pingyi_form": 2, "definition": DEFINITION},
                 {"pingyi_form": 1, "definition": "x"}, bad_definition):
        res = client.post("/api/v1/forms/import", json=body, headers=org)
        assert res.status_code == 422, res.json
        assert res.json["error"]["code"] == "invalid_form_file"
    assert res.json["error"]["field"] == "sections[0].grades"
    for raw in (b"not json", b"\xff\xfe", b'{"pingyi_form": NaN}', b"[" * 5000,
                json.dumps({"pingyi_form": 1, "definition": {**DEFINITION, "name": "a\u0000"}})
                .encode()):
        res = client.post("/api/v1/forms/import", headers=org,
                          content_type="multipart/form-data",
                          data={"file": (io.BytesIO(raw), "bad.json")})
        assert res.status_code == 422, (raw[:20], res.json)
        assert res.json["error"]["code"] == "invalid_form_file"
    res = client.post("/api/v1/forms/import", headers=org, content_type="multipart/form-data",
                      data={"other": "x"})
    assert res.status_code == 422 and res.json["error"]["field"] == "file"
    assert counts(app) == before


def test_scope_and_roles(app, client, staff):
    fid = create(client, staff["organizer"])["id"]
    before = counts(app)
    other = staff["other"]
    for method, url, body in (
            ("GET", f"/api/v1/forms/{fid}", None),
            ("GET", f"/api/v1/forms/{fid}/versions/1", None),
            ("GET", f"/api/v1/forms/{fid}/export", None),
            ("PUT", f"/api/v1/forms/{fid}/versions/1", {"definition": DEFINITION}),
            ("POST", f"/api/v1/forms/{fid}/versions", {"definition": DEFINITION}),
            ("DELETE", f"/api/v1/forms/{fid}", None)):
        res = client.open(url, method=method, json=body, headers=other)
        assert res.status_code == 404, (url, res.status_code)
        assert res.json["error"]["code"] == "form_not_found"
    assert client.get("/api/v1/forms", headers=other).json == []
    sec = staff["secretary"]
    for method, url, body in (
            ("GET", "/api/v1/forms", None), ("GET", "/api/v1/form-presets", None),
            ("GET", f"/api/v1/forms/{fid}", None),
            ("POST", "/api/v1/forms", {"definition": DEFINITION}),
            ("POST", "/api/v1/forms/import", {"pingyi_form": 1, "definition": DEFINITION}),
            ("DELETE", f"/api/v1/forms/{fid}", None)):
        assert client.open(url, method=method, json=body, headers=sec).status_code == 403
    res = client.post("/api/v1/forms", json={"definition": DEFINITION},
                      headers=staff["committee"])
    assert res.status_code == 403
    assert client.get("/api/v1/forms").status_code == 401
    assert counts(app) == before
    # an admin sees every committee's forms
    assert fid in {f["id"] for f in client.get("/api/v1/forms", headers=staff["admin"]).json}


def test_the_demo_has_a_designed_form_made_once(app, client, staff):
    from server.demo.seed import DESIGNED_FORM, seed_forms

    with app.app_context():
        cid = committee().id
        first = [(f.id, f.name) for f in seed_forms(cid)]
        assert [(f.id, f.name) for f in seed_forms(cid)] == first  # idempotent
    names = [name for _, name in first]
    assert names[0] == DESIGNED_FORM["name"] and len(names) == 4
    form = client.get(f"/api/v1/forms/{first[0][0]}", headers=staff["committee"]).json
    team, members = form["definition"]["sections"]
    assert [g["label"] for g in team["grades"]] == ["好", "较好", "一般", "差"]
    assert [g["label"] for g in members["grades"]] == \
        ["优秀", "称职", "基本称职", "不称职", "不了解"]
    assert [c["label"] for c in members["criteria"]] == \
        ["政治素质", "履职能力", "工作实绩", "作风形象", "党风廉政建设", "总体评价"]


def test_resolve_version_for_building_a_round(app, client, staff):
    from server.core.errors import ApiError
    from server.forms.operations import resolve_version

    fid = create(client, staff["organizer"])["id"]
    client.post(f"/api/v1/forms/{fid}/versions", json={"definition": DEFINITION},
                headers=staff["organizer"])
    with app.app_context():
        cid = committee().id
        assert resolve_version(cid, fid).version == 2
        assert resolve_version(cid, fid, 1).version == 1
        assert resolve_version(None, fid, 1).definition["sections"][0]["key"] == "team"
        for args, code in (((cid, fid, 3), "form_version_not_found"),
                           ((cid, fid + 99), "form_not_found"),
                           ((committee("另一公司党委").id, fid), "form_not_found")):
            with pytest.raises(ApiError) as err:
                resolve_version(*args)
            assert err.value.code == code and err.value.status == 404
