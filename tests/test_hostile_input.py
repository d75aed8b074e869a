"""Hostile input over HTTP: oversized and deep bodies, wrong content types, Unicode
tricks, and HTML/script in names. Each refusal has a stable code and changes nothing;
hostile names come out escaped in every page and harmless in every export.

(tests/test_voting_api.py covers the ballot path's own refusals; tests/test_hostile_api.py
the generated requests; tests/test_hostile_browser.py the mobile page in Chromium.)
"""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import time
from typing import Any

import pytest
import requests
from openpyxl import load_workbook
from sqlalchemy import text

from server.console import form_pages, org
from server.console.blueprint import FORM_BODIES
from server.core.db import db
from server.points.pages import sheets
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, open_round, publish_round
from server.tokens.operations import issue_tokens
from tests.factories import valid_answers
from tests.support.gunicorn import gunicorn
from tests.support.hostile import PASSWORD, Site, build_site

TABLES = ("rounds", "subjects", "voter_categories", "tokens", "spent_tokens", "ballots",
          "users", "api_keys", "members", "points_entries", "rectification_items", "forms",
          "form_versions")


def snapshot(app) -> dict[str, int]:
    """Row counts of the tables a request could change (audit_log aside)."""
    with app.app_context():
        out = {}
        for table in TABLES:
            out[table] = db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
        out["round_states"] = hash(tuple(db.session.execute(
            text("SELECT id, status FROM rounds ORDER BY id")).all()))
        return out


@pytest.fixture
def site(app) -> Site:
    with app.app_context():
        return build_site()


def sign_in(client, username: str) -> None:
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    res = client.post("/console/login", data={"csrf_token": token, "username": username,
                                              "password": PASSWORD})
    assert res.status_code == 302, res.get_data(as_text=True)[:300]


def post_routes(app) -> list[tuple[str, str]]:
    """(endpoint, a concrete URL) of every POST route, ids filled with 1."""
    out = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        url = re.sub(r"<int:[a-z_]+>", "1", rule.rule)
        url = re.sub(r"<any\(([a-z_]+)[^>]*>", r"\1", url)  # the first of the choices
        url = re.sub(r"<[a-z_]+>", "2026Q1" if "period" in rule.rule else "member", url)
        out.append((rule.endpoint, url))
    return sorted(out)


# -- size and shape ----------------------------------------------------------------

UPLOAD_LIMITS = {"console.org_import": org.MAX_UPLOAD_BYTES,
                 "points_console.import_upload": sheets.MAX_UPLOAD_BYTES,
                 **dict.fromkeys(FORM_BODIES, form_pages.MAX_BODY_BYTES)}


def test_oversized_bodies_get_413_body_too_large_on_every_post_route(app, site):
    client = app.test_client()
    sign_in(client, "admin")
    before = snapshot(app)
    checked = 0
    for endpoint, url in post_routes(app):
        limit = UPLOAD_LIMITS.get(endpoint, app.config["MAX_CONTENT_LENGTH"])
        body = b'{"token": "' + b"x" * (limit + 1) + b'"}'
        if url.startswith("/api/"):
            res = client.post(url, data=body, content_type="application/json",
                              headers=site.auth("admin"))
            assert res.status_code == 413, (url, res.status_code)
            assert res.json["error"]["code"] == "body_too_large"
            assert res.json["error"]["message"] == "提交的内容过大"
        else:
            res = client.post(url, data=body, content_type="application/x-www-form-urlencoded")
            assert res.status_code == 413, (url, res.status_code)
            assert "提交的内容过大" in res.get_data(as_text=True)
        checked += 1
    assert checked >= 30
    assert snapshot(app) == before


def test_chunked_oversized_body_over_real_http_is_413(app, site):
    """No Content-Length: the limit holds while the body streams in (gunicorn)."""
    with gunicorn(app.config["DATABASE_URL"], app.config["REDIS_URL"], workers=1,
                  threads=2) as base:
        def chunks():
            yield b'{"token": "'
            for _ in range(80):
                yield b"x" * 1024
            yield b'"}'

        res = requests.post(f"{base}/api/v1/ballots", data=chunks(), timeout=30,
                            headers={"Content-Type": "application/json"})
        assert res.status_code == 413 and res.json()["error"]["code"] == "body_too_large", res.text
        ok = requests.post(f"{base}/api/v1/ballot-form", timeout=30,
                           json={"token": site.tokens["open"][0]})
        assert ok.status_code == 200


def test_stalled_bodies_hold_no_thread_over_real_http(app):
    """A body that stops arriving waits on the event loop, not in one of Flask's threads
    (core/wsgi_pool.py reads a body before a thread runs the request): with more
    stalled bodies than the worker has threads, on Flask's paths and on the ballot
    path, other requests are still served, and a body that trickles in is answered.
    Cutting stalled clients off is the TLS proxy's work (docs/deploy.md §7)."""
    with gunicorn(app.config["DATABASE_URL"], app.config["REDIS_URL"], workers=1,
                  threads=2) as base:
        host, port = base.removeprefix("http://").split(":")

        def head(path: str, length: int, kind: str = "application/json") -> bytes:
            return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                    f"Content-Length: {length}\r\n\r\n").encode()

        stalled = [socket.create_connection((host, int(port)), timeout=15) for _ in range(3)]
        for s in stalled[:2]:
            s.sendall(head("/console/login", 100, "application/x-www-form-urlencoded")
                      + b"username=a")
        stalled[2].sendall(head("/api/v1/ballots", 200) + b'{"token": "1.')
        assert requests.get(base + "/healthz", timeout=10).status_code == 200

        body = json.dumps({"token": "1.nosuchtoken", "answers": {}}).encode()
        with socket.create_connection((host, int(port)), timeout=15) as s:
            s.sendall(head("/api/v1/ballots", len(body)) + body[:10])
            for i in range(10, len(body), 10):
                time.sleep(0.2)
                s.sendall(body[i:i + 10])
            got = s.recv(4096)
        status = got.split(b" ", 2)[1]
        assert status not in (b"408", b"500") and status.startswith(b"4"), got
        for s in stalled:
            s.close()


MALFORMED = [
    "[" * 5000 + "]" * 5000,
    '{"token": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + "}",
    '{"token": "1.x", "answers": ' + "[" * 30000,
    '{"answers": 1' + "0" * 5000 + ', "token": "x"}',  # past Python's int-digits limit
    '{"token": "x" "answers": 1}',
    '{"token": "x", "answers": {}',
    '{"token": "\\ud800\\udc00\\ud800", "answers": {}}',
    '{"token": "x\\u0000"}',
]
ODD_BUT_JSON = [
    '{"token": "x", "answers": 1e999999}',
    '{"token": "x", "answers": NaN, "round_id": -Infinity}',
    "\ufeff{}",
    '{"token": "x", "token": 5, "answers": {"1": {}, "1": []}}',
]


def json_body_routes(app, client) -> set[str]:
    """Paths (OpenAPI form) of the operations that take a JSON request body."""
    spec = client.get("/api/v1/openapi.json").json
    return {path for path, ops in spec["paths"].items()
            if any("application/json" in (op.get("requestBody") or {}).get("content", {})
                   for op in ops.values() if isinstance(op, dict))}


def _as_path(rule: str) -> str:
    return re.sub(r"<(?:int:)?([a-z_]+)>", r"{\1}", rule)


@pytest.mark.parametrize("body", MALFORMED)
def test_deep_and_malformed_json_is_a_4xx_everywhere(app, site, body):
    client = app.test_client()
    before = snapshot(app)
    for _, url in post_routes(app):
        if not url.startswith("/api/"):
            continue
        res = client.post(url, data=body.encode("utf-8", "surrogatepass"),
                          content_type="application/json", headers=site.auth("admin"))
        assert 400 <= res.status_code < 500, (url, res.status_code, res.data[:200])
        assert res.json["error"]["code"] in ("bad_request", "json_too_deep",
                                             "invalid_characters"), (url, res.json)
        assert res.json["error"]["message"]
    assert snapshot(app) == before


@pytest.mark.parametrize("body", ODD_BUT_JSON)
def test_odd_json_is_refused_by_every_json_operation(app, site, body):
    """NaN, infinities, a BOM, duplicate keys: parsed, then refused by the schemas."""
    client = app.test_client()
    takes_json = json_body_routes(app, client)
    before = snapshot(app)
    seen = 0
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or _as_path(rule.rule) not in takes_json:
            continue
        url = re.sub(r"<int:[a-z_]+>", "1", rule.rule)
        url = re.sub(r"<any\(([a-z_]+)[^>]*>", r"\1", url)  # the first of the choices
        url = re.sub(r"<[a-z_]+>", "member", url)
        res = client.post(url, data=body.encode(), content_type="application/json",
                          headers=site.auth("admin"))
        assert 400 <= res.status_code < 500, (url, res.status_code, res.data[:200])
        assert res.json["error"]["code"]
        seen += 1
    assert seen >= 10
    assert snapshot(app) == before


WRONG_TYPES = [
    ("text/plain", b'{"token": "T"}'),
    ("application/xml", b"<token>T</token>"),
    ("application/x-www-form-urlencoded", b"token=T"),
    ("", b'{"token": "T"}'),
    ("application/json", b"\xff\xfe{\x00}\x00"),
    ("application/json; charset=utf-16", '{"token": "T"}'.encode("utf-16")),
    ("application/json", b"\x00\x01\x02"),
    ("application/json", b'"just a string"'),
    ("application/json", b"[]"),
    ("application/json", b"null"),
]


@pytest.mark.parametrize(("content_type", "body"), WRONG_TYPES)
def test_wrong_content_types_are_refused_with_a_code(app, site, content_type, body):
    client = app.test_client()
    token = site.tokens["open"][0].encode()
    before = snapshot(app)
    for url in ("/api/v1/ballot-form", "/api/v1/ballots", "/api/v1/receipts/check",
                "/api/v1/rounds", f"/api/v1/rounds/{site.rounds['draft']}/tokens"):
        res = client.post(url, data=body.replace(b"T", token), headers={
            **site.auth("admin"), **({"Content-Type": content_type} if content_type else {})})
        assert 400 <= res.status_code < 500, (url, res.status_code)
        assert res.json["error"]["code"] and res.json["error"]["message_en"]
        if content_type in ("text/plain", "application/xml", ""):
            assert res.status_code == 415 and res.json["error"]["code"] == \
                "unsupported_media_type"
    assert snapshot(app) == before


# -- Unicode -------------------------------------------------------------------------

def round_body(**change: Any) -> dict[str, Any]:
    body = {"form": "appraisal", "title": "2025年度民主测评",
            "subjects": [{"name": "张三", "note": "书记"}, {"name": "李四", "note": "经理"}],
            "categories": [{"name": "中层干部", "expected_count": 10}]}
    body.update(change)
    return body


BASE = ('{"form": "appraisal", "title": TITLE, "categories": [{"name": "中层", '
        '"expected_count": 3}], "subjects": [{"name": NAME, "note": NOTE}]}')


@pytest.mark.parametrize(("title", "name", "note", "field"), [
    ('"x\\u0000y"', '"张三"', '""', "title"),
    ('"\\ud800"', '"张三"', '""', "title"),
    ('"\\udfff tail"', '"张三"', '""', "title"),
    ('"ok"', '"a\\u0000"', '""', "subjects[0].name"),
    ('"ok"', '"张三"', '"\\udc00"', "subjects[0].note"),
    ('"ok"', '"张三"', '"ok", "\\ud800": 1', "subjects[0].\ufffd"),
])
def test_nul_and_lone_surrogates_are_refused_and_change_nothing(app, site, title, name, note,
                                                                field):
    data = BASE.replace("TITLE", title).replace("NAME", name).replace("NOTE", note)
    before = snapshot(app)
    res = app.test_client().post("/api/v1/rounds", data=data.encode(),
                                 content_type="application/json", headers=site.auth("admin"))
    assert res.status_code == 400, res.json
    err = res.json["error"]
    assert err["code"] == "invalid_characters"
    assert err["field"] == field
    json.dumps(res.json)  # the answer itself encodes
    assert snapshot(app) == before


def test_nul_in_query_and_console_form_is_refused(app, site):
    client = app.test_client()
    res = client.get("/api/v1/rounds?status=open%00", headers=site.auth("admin"))
    assert res.status_code == 400 and res.json["error"]["code"] == "invalid_characters"
    sign_in(client, "organizer")
    page = client.get("/console/rounds/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    before = snapshot(app)
    res = client.post("/console/rounds/new", data={
        "csrf_token": token, "form": "appraisal", "title": "标题\x00", "subjects": "张三 书记",
        "categories": "公司领导,10,0.3"})
    assert res.status_code == 400
    assert "无法识别的字符" in res.get_data(as_text=True)
    assert snapshot(app) == before


def test_surrogate_pairs_and_astral_characters_are_fine(app, site):
    """Properly paired escapes are ordinary characters (emoji, CJK Extension B)."""
    data = json.dumps(round_body(title="测评 \U0001F44D 𠀀", subjects=[{"name": "𠮷田"}]),
                      ensure_ascii=True)
    assert "\\ud83d\\udc4d" in data
    res = app.test_client().post("/api/v1/rounds", data=data, content_type="application/json",
                                 headers=site.auth("admin"))
    assert res.status_code == 201, res.json
    assert res.json["title"] == "测评 \U0001F44D 𠀀"
    assert res.json["subjects"][0]["name"] == "𠮷田"


def test_invisible_and_bidi_characters_are_dropped_from_names(app, site):
    res = app.test_client().post("/api/v1/rounds", headers=site.auth("admin"), json=round_body(
        title="测评\u202e试\u202c标题\u200b", subjects=[
            {"name": "王\u200d五\ufeff", "note": "职务\u2066x\u2069"}, {"name": "赵\u00ad六"}],
        categories=[{"name": "\u200e职工\u200f代表", "expected_count": 5}]))
    assert res.status_code == 201, res.json
    body = res.json
    assert body["title"] == "测评试标题"
    assert [(s["name"], s["note"]) for s in body["subjects"]] == [("王五", "职务x"),
                                                                  ("赵六", "")]
    assert body["categories"][0]["name"] == "职工代表"


@pytest.mark.parametrize(("change", "code"), [
    ({"subjects": [{"name": "张三", "note": "书记"}, {"name": "张\u200b三", "note": "书记"}]},
     "duplicate_subject"),
    ({"subjects": [{"name": "ZHANG San"}, {"name": "ｚｈａｎｇ ｓａｎ"}]}, "duplicate_subject"),
    ({"subjects": [{"name": "李四", "note": "（副）经理"}, {"name": "李四", "note": "(副)经理"}]},
     "duplicate_subject"),
    ({"categories": [{"name": "中层干部", "expected_count": 1},
                     {"name": "中层干部\u2060", "expected_count": 1}]}, "duplicate_category"),
    ({"categories": [{"name": "Staff", "expected_count": 1},
                     {"name": "ＳＴＡＦＦ", "expected_count": 1}]}, "duplicate_category"),
    ({"title": "\u200b\u202e\u2066"}, "missing_field"),
    ({"subjects": [{"name": "\ufeff"}]}, "missing_field"),
])
def test_lookalike_names_are_refused(app, site, change, code):
    before = snapshot(app)
    res = app.test_client().post("/api/v1/rounds", headers=site.auth("admin"),
                                 json=round_body(**change))
    assert res.status_code == 422, res.json
    assert res.json["error"]["code"] == code
    assert snapshot(app) == before


def test_same_name_different_post_is_allowed(app, site):
    """Two people may share a name; their posts tell them apart."""
    res = app.test_client().post("/api/v1/rounds", headers=site.auth("admin"), json=round_body(
        subjects=[{"name": "王伟", "note": "办公室主任"}, {"name": "王伟", "note": "财务部经理"}]))
    assert res.status_code == 201


def test_lookalike_tokens_and_receipts_find_nothing(app, site):
    client = app.test_client()
    token = site.tokens["open"][0]
    # What a person types for the slip's code folds to it (全角 characters, 。 for the
    # dot: tokens/codec.py canonical_token) ...
    wide = token.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})  # 全角 digits
    for typed in (wide, token.replace(".", "\u3002")):
        res = client.post("/api/v1/ballot-form", json={"token": typed})
        assert res.status_code == 200, res.json
    # ... invisible and direction characters do not: they are no one's typing.
    for fake in (token + "\u200b", "\u202e" + token, token[:-1] + "\u0430"):
        res = client.post("/api/v1/ballot-form", json={"token": fake})
        assert res.status_code in (400, 404), res.json
        assert res.json["error"]["code"] in ("token_malformed", "token_unknown")
    receipt = site.receipts["published"][0]
    wide_receipt = receipt.translate({ord(c): ord(c) + 0xFEE0 for c in "23456789"})
    res = client.post("/api/v1/receipts/check",
                      json={"round_id": site.rounds["published"], "receipt": wide_receipt})
    assert res.status_code == 200
    assert res.json["found"] is (wide_receipt == receipt)


# -- HTML and script in names ----------------------------------------------------------

SCRIPT = "<script>alert('xss')</script>"
IMG = '<img src=x onerror="alert(1)">'
SVG = '"><svg onload=alert(1)>'
FORMULA = "=HYPERLINK(\"http://evil.example\",\"点我\")"
HOSTILE = (SCRIPT, IMG, SVG)


@pytest.fixture
def hostile_round(app, site) -> dict[str, Any]:
    """A round whose title, subjects and categories are markup and formulas, voted,
    closed and published."""
    with app.app_context():
        from server.rounds.operations import create_round

        rnd = create_round(site.committee_id, "appraisal", f"测评{SCRIPT}", [
            {"name": IMG, "note": SVG}, {"name": FORMULA, "note": "@SUM(1+1)"},
            {"name": "-2+3", "note": "\t=1+1"}],
            [{"name": f"干部{SVG}", "expected_count": 10},
             {"name": "+cmd|' /C calc'!A0", "expected_count": 10}],
            results={"min_turnout": 0})
        tokens = issue_tokens(rnd, rnd.categories[0].id, 8)
        open_round(rnd)
        rid = rnd.id
    client = app.test_client()
    receipts = []
    for i, token in enumerate(tokens[:6]):
        with app.app_context():
            answers = valid_answers(get_round(rid), i)
        res = client.post("/api/v1/ballots", json={"token": token, "answers": answers})
        assert res.status_code == 201, res.json
        receipts.append(res.json["receipt"])
    form = client.post("/api/v1/ballot-form", json={"token": tokens[7]})
    assert form.status_code == 200
    return {"id": rid, "tokens": tokens, "receipts": receipts, "form": form}


def assert_inert(html: str, where: str) -> None:
    for raw in HOSTILE:
        assert raw not in html, f"{where} contains raw {raw!r}"
    assert "onerror=" not in html.replace("onerror=&#34;", "").replace("onerror=&quot;", "") \
        or "<img src=x" not in html, where
    assert "<svg" not in html, where


def test_markup_in_names_is_escaped_on_every_page(app, site, hostile_round):
    rid = hostile_round["id"]
    client = app.test_client()
    sign_in(client, "organizer")
    pages = {"rounds": "/console/", "detail": f"/console/rounds/{rid}",
             "projector": f"/console/rounds/{rid}/projector"}
    for name, url in pages.items():
        res = client.get(url)
        assert res.status_code == 200, (url, res.status_code)
        html = res.get_data(as_text=True)
        assert_inert(html, name)
        assert "&lt;script&gt;" in html, name
    with app.app_context():
        close_round(get_round(rid))
    html = client.get(f"/console/rounds/{rid}/results").get_data(as_text=True)
    assert_inert(html, "results")
    assert "&lt;img src=x" in html
    with app.app_context():
        publish_round(get_round(rid))
    res = client.get(f"/r/{rid}")
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert_inert(html, "receipts page")
    assert "&lt;script&gt;" in html
    for receipt in hostile_round["receipts"]:
        assert receipt in html


def test_markup_in_names_stays_data_in_json(app, site, hostile_round):
    """The mobile page and the projector get names as JSON strings, served as
    application/json with nosniff (the pages set them with textContent)."""
    rid = hostile_round["id"]
    res = hostile_round["form"]
    assert res.mimetype == "application/json"
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    assert res.json["round"]["title"] == f"测评{SCRIPT}"
    assert res.json["subjects"][0] == {"id": res.json["subjects"][0]["id"], "name": IMG,
                                       "note": SVG, "section": "main"}
    client = app.test_client()
    for url in (f"/api/v1/rounds/{rid}/projector", f"/api/v1/rounds/{rid}/turnout",
                f"/api/v1/rounds/{rid}"):
        out = client.get(url, headers=site.auth("organizer"))
        assert out.status_code == 200 and out.mimetype == "application/json"
        assert out.headers["X-Content-Type-Options"] == "nosniff"
        assert out.headers["Content-Security-Policy"].startswith("default-src 'self'")
    for static in ("/v/static/vote.js", "/static/console.js", "/r/static/receipts.js"):
        with client.get(static) as out:
            js = out.get_data(as_text=True)
        # names are written with textContent; the one innerHTML sets fixed icons
        assert js.count("innerHTML") <= 1, static
        assert "insertAdjacentHTML" not in js and "document.write" not in js, static


def test_exports_of_hostile_names_hold_no_formulas(app, site, hostile_round):
    rid = hostile_round["id"]
    with app.app_context():
        close_round(get_round(rid))
    client = app.test_client()
    res = client.get(f"/api/v1/rounds/{rid}/export.csv", headers=site.auth("organizer"))
    assert res.status_code == 200
    rows = list(csv.reader(io.StringIO(res.get_data().decode("utf-8-sig"))))
    cells = [c for row in rows for c in row]
    assert any(FORMULA in c for c in cells)
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or \
            re.fullmatch(r"-?[\d.]+%?", cell), cell
    res = client.get(f"/api/v1/rounds/{rid}/export.xlsx", headers=site.auth("organizer"))
    assert res.status_code == 200
    wb = load_workbook(io.BytesIO(res.get_data()))
    texts = 0
    for ws in wb.worksheets:
        assert not ws.title.startswith(("=", "+", "-", "@", "'"))
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value.startswith("'=HYPERLINK"):
                    texts += 1
    assert texts
    res = client.get(f"/api/v1/rounds/{rid}/export.pdf", headers=site.auth("organizer"))
    assert res.status_code == 200 and res.get_data().startswith(b"%PDF")


def test_control_characters_never_reach_a_spreadsheet(app, site):
    """openpyxl refuses control characters (IllegalCharacterError: a 500 on export):
    they are dropped when the round is created."""
    res = app.test_client().post("/api/v1/rounds", headers=site.auth("admin"), json=round_body(
        title="测评\x01\x07\x1b[31m", subjects=[{"name": "张\x08三", "note": "\x0bx"}]))
    assert res.status_code == 201, res.json
    assert res.json["title"] == "测评[31m"
    assert res.json["subjects"][0] == {**res.json["subjects"][0], "name": "张三", "note": "x"}
