"""The OpenAPI document the mini-program team builds on: valid, complete, consistent.

tests/test_schema_and_spec.py checks that every /api/v1 route is documented;
this adds what a generated client relies on: operationIds, a documented answer
for every success (with its content type) and every error the app gives to any
request, the bearer requirement wherever a role is required, and one error
format everywhere.
"""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

METHODS = ("get", "post", "put", "patch", "delete")
ERROR_REF = {"$ref": "#/components/responses/DEFAULT_ERROR"}


@pytest.fixture
def spec(client):
    doc = client.get("/api/v1/openapi.json").json
    validate(doc)
    return doc


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def test_every_route_is_documented_with_its_methods(app, spec):
    documented = {(p, m.upper()) for p, m, _ in _operations(spec)}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and not rule.rule.endswith("openapi.json"):
            assert rule.rule.startswith("/api/v1/"), f"{rule.rule} is not versioned"
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes - documented == set()
    assert documented - routes == set()
    assert all(p.startswith("/api/v1/") for p in spec["paths"])


def test_operation_ids_are_present_and_unique(spec):
    ids = [op.get("operationId") for _, _, op in _operations(spec)]
    assert all(ids) and len(ids) == len(set(ids))


def test_every_answer_is_documented(app, spec):
    for path, method, op in _operations(spec):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        ok = [c for c in responses if c.startswith("2")]
        assert ok, f"{where}: no success answer"
        for code in ok:
            if code != "204":
                assert responses[code].get("content"), f"{where} {code}: no content type"
        errors = [c for c in responses if c[0] in "45"]
        for code in errors:
            assert responses[code] == ERROR_REF, f"{where} {code}: not the error envelope"
        assert {"400", "503"} <= set(errors), where
        if method in ("post", "put", "patch"):
            assert {"413", "415", "422"} <= set(errors), where
        view = app.view_functions[next(
            r.endpoint for r in app.url_map.iter_rules()
            if r.rule.replace("<int:", "{").replace("<", "{").replace(">", "}") == path
            and method.upper() in r.methods)]
        if getattr(view, "api_roles", None) is not None:
            assert op.get("security") == [{"bearer": []}], f"{where}: no bearer security"
            assert {"401", "403"} <= set(errors), where


def test_error_envelope_is_documented(spec):
    env = spec["components"]["schemas"]["ErrorEnvelope"]
    body = spec["components"]["schemas"]["ErrorBody"]
    assert env["required"] == ["error"]
    assert set(body["properties"]) == {"code", "message", "message_en", "field", "details"}
    assert set(body["required"]) == {"code", "message", "message_en"}
    bearer = spec["components"]["securitySchemes"]["bearer"]
    assert "auth/wechat" in bearer["description"]


def _is_envelope(res) -> bool:
    body = res.json or {}
    err = body.get("error") or {}
    return set(body) == {"error"} and set(err) == {"code", "message", "message_en", "field"} \
        and all(isinstance(err[k], str) and err[k] for k in ("code", "message", "message_en"))


@pytest.mark.parametrize("method,path,kwargs,status,code", [
    ("get", "/api/v1/nowhere", {}, 404, "not_found"),
    ("delete", "/api/v1/me", {}, 405, "method_not_allowed"),
    ("get", "/api/v1/me", {}, 401, "unauthorized"),
    ("get", "/api/v1/me", {"headers": {"Authorization": "Bearer ps_forged"}}, 401,
     "invalid_session"),
    ("get", "/api/v1/me", {"headers": {"Authorization": "Bearer pk_forged"}}, 401,
     "invalid_api_key"),
    ("post", "/api/v1/auth/wechat", {"data": "code=1"}, 415, "unsupported_media_type"),
    ("post", "/api/v1/auth/wechat", {"json": {}}, 422, "invalid_input"),
    ("post", "/api/v1/auth/wechat", {"json": {"code": "x" * 200}}, 422, "invalid_input"),
    ("post", "/api/v1/slips/resolve", {"json": {"scene": "short"}}, 404, "slip_unknown"),
    ("post", "/api/v1/session-claims", {"json": {"scene": "S1.1.ABCDEFGH", "code": "x",
                                                 "blinded_msg": "QUJD"}}, 404,
     "session_code_invalid"),
    ("post", "/api/v1/session-keys", {"json": {"scene": "S1.1.ABCDEFGH"}}, 404,
     "session_code_invalid"),
    ("post", "/api/v1/content-checks", {"json": {"content": 5}}, 422, "invalid_input"),
    ("post", "/api/v1/auth/refresh", {"json": {"refresh_token": "nope"}}, 401,
     "invalid_refresh_token"),
])
def test_one_error_format_everywhere(client, method, path, kwargs, status, code):
    res = getattr(client, method)(path, **kwargs)
    assert res.status_code == status, res.json
    assert _is_envelope(res), res.json
    assert res.json["error"]["code"] == code


def test_paginated_lists(app, client):
    from tests.support.miniprogram import bearer, make_staff, new_round

    key = bearer(make_staff(app))
    for _ in range(3):
        new_round(client, key)
    page = client.get("/api/v1/rounds", query_string={"page": 2, "per_page": 2},
                      headers=key).json
    assert page["total"] == 3 and page["page"] == 2 and len(page["items"]) == 1
    bad = client.get("/api/v1/rounds", query_string={"per_page": 500}, headers=key)
    assert bad.status_code == 422 and bad.json["error"]["field"] == "per_page"
