"""Web hardening: headers on every route, cookie flags, CSRF on every console POST,
sign-in and token-guessing limits keyed on the socket peer, and the audit log."""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import text

from server.core.audit import AuditEntry
from server.core.db import db
from tests.support.hostile import PASSWORD, Site, build_site
from tests.support.liveserver import live_server
from tests.test_hostile_input import post_routes, sign_in, snapshot


def redis_keys(app, pattern: str) -> list[str]:
    """Keys matching `pattern` on the app's Redis (every master of a cluster)."""
    from server.core.redis import get_redis

    with app.app_context():
        return sorted(k.decode() if isinstance(k, bytes) else k
                      for k in get_redis().scan_iter(match=pattern, count=1000))


def redis_ttl(app, key: str) -> int:
    from server.core.redis import get_redis

    with app.app_context():
        return int(get_redis().ttl(key))


@pytest.fixture
def site(app) -> Site:
    with app.app_context():
        return build_site()


def concrete(rule, site: Site) -> str:
    url = re.sub(r"<int:round_id>", str(site.rounds["open"]), rule.rule)
    url = re.sub(r"<int:member_id>", str(site.members_a[0]), url)
    url = re.sub(r"<int:year>", "2026", url)
    url = re.sub(r"<int:[a-z_]+>", "1", url)
    url = url.replace("<path:filename>", "console.css" if "points" in rule.rule else "x.css")
    url = url.replace("<period>", "2026Q1").replace("<board>", "members")
    return url


# -- headers ---------------------------------------------------------------------------

def _check_headers(res, url: str, secure: bool) -> None:
    h = res.headers
    csp = h.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, url
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0], url
    assert h.get("X-Content-Type-Options") == "nosniff", url
    assert h.get("Referrer-Policy") == "no-referrer", url
    assert h.get("X-Frame-Options") == "DENY", url
    if secure:
        assert h.get("Strict-Transport-Security", "").startswith("max-age="), url
        assert int(h["Strict-Transport-Security"].split("=")[1].split(";")[0]) >= 15552000
    else:
        assert "Strict-Transport-Security" not in h, url


@pytest.mark.parametrize("secure", [False, True])
def test_security_headers_on_every_route(app, site, secure):
    base = "https://vote.example.test" if secure else "http://vote.example.test"
    anon = app.test_client()
    staff = app.test_client()
    sign_in(staff, "admin")
    checked = 0
    for rule in app.url_map.iter_rules():
        url = concrete(rule, site)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for client in (anon, staff):
                with client.open(url, method=method, base_url=base) as res:
                    _check_headers(res, f"{method} {url}", secure)
                checked += 1
    # error answers too: unknown path, wrong method, an API refusal
    for url, method in (("/nope", "GET"), ("/console/logout", "GET"),
                        ("/api/v1/ballots", "PUT"), ("/api/v1/rounds/1", "GET")):
        with anon.open(url, method=method, base_url=base) as res:
            assert res.status_code >= 400
            _check_headers(res, f"{method} {url}", secure)
    assert checked >= 150


def test_hsts_behind_a_trusted_proxy_only(app):
    """X-Forwarded-Proto: https counts only from a proxy the server trusts (uvicorn's
    FORWARDED_ALLOW_IPS: loopback by default); Flask itself reads no such header."""
    res = app.test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in res.headers
    with live_server(app) as base:
        res = requests.get(base + "/healthz", headers={"X-Forwarded-Proto": "https"},
                           timeout=10)
    assert "Strict-Transport-Security" in res.headers


# -- cookies ---------------------------------------------------------------------------

def _session_cookie(res) -> str:
    cookies = [c for c in res.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, res.headers
    return cookies[-1]


@pytest.mark.parametrize("secure", [False, True])
def test_session_cookie_flags(app, site, secure):
    app.config["SESSION_COOKIE_SECURE"] = secure
    client = app.test_client()
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))[1]
    res = client.post("/console/login", data={"csrf_token": token, "username": "admin",
                                              "password": PASSWORD})
    assert res.status_code == 302
    cookie = _session_cookie(res).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert ("; secure" in cookie) is secure
    assert not any(c.startswith("remember_token=") for c in res.headers.getlist("Set-Cookie"))


# -- CSRF ------------------------------------------------------------------------------

# POST routes outside /api/ that take no CSRF token, and why. A new one must be added
# here with its reason, or the test below fails for it.
CSRF_EXEMPT = {
    "bot_callback.receive": "WeCom's server calls it; the body is signed (msg_signature)",
}


def test_csrf_exemptions_are_the_listed_ones(app):
    from server.core.security import csrf

    exempt = set()
    exempt_blueprints = {bp.name for bp in csrf._exempt_blueprints}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        name = f"{view.__module__}.{view.__name__}"
        blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None
        if ("POST" in rule.methods and not rule.rule.startswith("/api/")
                and (name in csrf._exempt_views or blueprint in exempt_blueprints)):
            exempt.add(rule.endpoint)
    assert exempt == set(CSRF_EXEMPT)


def test_every_console_post_needs_the_csrf_token(app, site):
    """Signed in, from another origin, without the token (or with a wrong one): refused
    with csrf_failed, before the view runs; nothing changes."""
    client = app.test_client()
    sign_in(client, "admin")
    before = snapshot(app)
    audit_before = _audit_count(app)
    console_posts = [(e, u) for e, u in post_routes(app)
                     if not u.startswith("/api/") and e not in CSRF_EXEMPT]
    assert len(console_posts) >= 15
    for endpoint, url in console_posts:
        url = url.replace("/rounds/1/", f"/rounds/{site.rounds['draft']}/")
        for data in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
            res = client.post(url, data={**data, "title": "x", "count": "3"}, headers={
                "Origin": "https://evil.example", "Referer": "https://evil.example/form"})
            assert res.status_code == 400, (endpoint, res.status_code)
            assert "页面已过期" in res.get_data(as_text=True), endpoint
    assert snapshot(app) == before
    assert _audit_count(app) == audit_before
    # the session still works: the refusal was the token's, not the sign-in's
    assert client.get("/console/").status_code == 200


def test_api_writes_ignore_the_session_cookie(app, site):
    """A cross-site form or fetch carries the console cookie but no bearer key: every
    organizer API write answers 401 (the API takes no CSRF token, so it must not
    take the cookie either)."""
    client = app.test_client()
    sign_in(client, "admin")
    before = snapshot(app)
    from tests.test_roles import PERMISSIONS, PUBLIC

    organizer_posts = [u for e, u in post_routes(app)
                       if u.startswith("/api/") and PERMISSIONS.get(e) != PUBLIC]
    assert len(organizer_posts) >= 15
    for url in organizer_posts:
        url = url.replace("/rounds/1/", f"/rounds/{site.rounds['draft']}/")
        res = client.post(url, json={}, headers={"Origin": "https://evil.example"})
        assert res.status_code == 401, (url, res.status_code)
        assert res.json["error"]["code"] == "unauthorized"
    assert snapshot(app) == before


# -- sign-in limits --------------------------------------------------------------------

def _login(client, username, password, addr):
    page = client.get("/console/login", environ_base={"REMOTE_ADDR": addr})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))[1]
    return client.post("/console/login", environ_base={"REMOTE_ADDR": addr}, data={
        "csrf_token": token, "username": username, "password": password})


def _audit_count(app, action: str | None = None) -> int:
    with app.app_context():
        q = db.select(db.func.count(AuditEntry.id))
        if action:
            q = q.where(AuditEntry.action == action)
        return db.session.execute(q).scalar()


def test_login_limit_per_username_and_address(app, site):
    limit = app.config["LOGIN_FAIL_LIMIT"]
    client = app.test_client()
    attacker = "198.51.100.1"
    for _ in range(limit):
        res = _login(client, "organizer", "wrong password", attacker)
        assert res.status_code == 401
    res = _login(client, "organizer", PASSWORD, attacker)  # even the right password
    assert res.status_code == 429
    html = res.get_data(as_text=True)
    assert "登录失败次数过多" in html and "15 分钟" in html
    assert int(res.headers["Retry-After"]) == app.config["LOGIN_FAIL_WINDOW_S"]
    # the owner, from elsewhere, is not locked out; other accounts neither
    assert _login(app.test_client(), "organizer", PASSWORD, "203.0.113.9").status_code == 302
    assert _login(client, "admin", PASSWORD, attacker).status_code == 302
    assert _audit_count(app, "console.login_failed") == limit
    assert _audit_count(app, "console.login_refused") == 1
    with app.app_context():
        entry = db.session.execute(db.select(AuditEntry).filter_by(
            action="console.login_refused")).scalar_one()
        assert entry.target == f"user:{site.users['organizer']}" and entry.user_id is None
        assert attacker in entry.detail


def test_login_limit_per_address_and_success_does_not_reset_it(app, site):
    limit = app.config["LOGIN_FAIL_ADDRESS_LIMIT"]
    client = app.test_client()
    attacker = "192.0.2.66"
    for i in range(limit - 1):  # spread over usernames: the address's counter
        assert _login(client, f"guess{i}", "x", attacker).status_code == 401
    # the attacker signs in to their own account: the address counter stays
    assert _login(client, "sec_a", PASSWORD, attacker).status_code == 302
    landing = client.get("/console/", follow_redirects=True).get_data(as_text=True)
    client.post("/console/logout", environ_base={"REMOTE_ADDR": attacker}, data={
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', landing)[1]})
    assert _login(client, "guess-last", "x", attacker).status_code == 401
    res = _login(client, "admin", PASSWORD, attacker)
    assert res.status_code == 429 and "rate_limited" not in res.get_data(as_text=True)
    assert _login(client, "admin", PASSWORD, "192.0.2.67").status_code == 302
    # the failed names are not kept (a password typed as a username would be)
    with app.app_context():
        targets = set(db.session.execute(db.select(AuditEntry.target).filter_by(
            action="console.login_failed")).scalars())
    assert targets == {"user:(unknown)"}


def test_login_counters_expire_and_hold_no_address(app, site):
    _login(app.test_client(), "organizer", "bad", "198.51.100.7")
    keys = redis_keys(app, "{login}:*")
    assert len(keys) == 2
    for key in keys:
        assert 0 < redis_ttl(app, key) <= app.config["LOGIN_FAIL_WINDOW_S"]
        assert "198.51.100.7" not in key and "organizer" not in key


# -- token-guessing limit --------------------------------------------------------------

def _form(client, token, addr, **headers):
    return client.post("/api/v1/ballot-form", json={"token": token},
                       environ_base={"REMOTE_ADDR": addr}, headers=headers)


def _fake(rid: int, i: int) -> str:
    return f"{rid}.{'A' * 21}{'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[i % 26]}"


def test_unknown_tokens_are_limited_per_address_and_round(app, site):
    limit = app.config["TOKEN_GUESS_LIMIT"]
    rid, good = site.rounds["open"], site.tokens["open"]
    client = app.test_client()
    attacker, voter = "203.0.113.50", "203.0.113.51"
    for i in range(limit):
        res = _form(client, _fake(rid, i), attacker)
        assert res.status_code == 404 and res.json["error"]["code"] == "token_unknown"
    res = _form(client, _fake(rid, limit), attacker)  # over the limit
    assert res.status_code == 429 and res.json["error"]["code"] == "rate_limited"
    assert "稍后再试" in res.json["error"]["message"]
    assert int(res.headers["Retry-After"]) == app.config["TOKEN_GUESS_WINDOW_S"]
    # a real token is never refused (issue #24: a meeting room behind one NAT address)
    assert _form(client, good[0], attacker).status_code == 200
    assert _form(client, good[0], voter).status_code == 200  # another address
    # the limit is per round: the attacker's other rounds are untouched
    assert _form(client, site.tokens["draft"][0], attacker).json["error"]["code"] == \
        "round_not_open"
    keys = redis_keys(app, "*guess*")
    assert keys and all(k.startswith(f"{{r:{rid}}}:guess:") for k in keys)
    assert all(attacker not in k for k in keys)
    assert 0 < redis_ttl(app, keys[0]) <= app.config["TOKEN_GUESS_WINDOW_S"]


def test_submitting_unknown_tokens_counts_too(app, site):
    limit = app.config["TOKEN_GUESS_LIMIT"]
    rid = site.rounds["open"]
    client = app.test_client()
    with app.app_context():
        from server.roundbase.reads import get_round
        from tests.factories import valid_answers

        answers = valid_answers(get_round(rid))
    for i in range(limit):
        res = client.post("/api/v1/ballots", json={"token": _fake(rid, i), "answers": answers},
                          environ_base={"REMOTE_ADDR": "198.51.100.99"})
        assert res.status_code == 404
    res = client.post("/api/v1/ballots", json={"token": _fake(rid, limit), "answers": answers},
                      environ_base={"REMOTE_ADDR": "198.51.100.99"})
    assert res.status_code == 429
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM ballots WHERE round_id = :r"),
                                  {"r": rid}).scalar() == 0
    res = client.post("/api/v1/ballots", json={"token": site.tokens["open"][0],
                                               "answers": answers},
                      environ_base={"REMOTE_ADDR": "198.51.100.99"})
    assert res.status_code == 201  # a real token is never refused


def test_malformed_tokens_and_unknown_rounds_are_limited(app, site):
    limit = app.config["TOKEN_GUESS_LIMIT"]
    client = app.test_client()
    for i in range(limit):
        bad = "nonsense" if i % 2 else f"99999{i}.{'B' * 22}"
        assert _form(client, bad, "192.0.2.10").status_code in (400, 404)
    assert _form(client, "nonsense", "192.0.2.10").status_code == 429
    assert _form(client, "nonsense", "192.0.2.11").status_code == 400
    # a real token of a real round is judged by that round's counter
    assert _form(client, site.tokens["open"][0], "192.0.2.10").status_code == 200


def test_forwarded_for_is_ignored_without_trusted_proxies(app, site):
    limit = app.config["TOKEN_GUESS_LIMIT"]
    rid = site.rounds["open"]
    client = app.test_client()
    for i in range(limit):
        _form(client, _fake(rid, i), "203.0.113.77", **{"X-Forwarded-For": f"10.9.8.{i}"})
    res = _form(client, _fake(rid, limit), "203.0.113.77",
                **{"X-Forwarded-For": "10.9.8.250", "X-Real-IP": "10.9.8.251"})
    assert res.status_code == 429


def test_forwarded_for_from_a_trusted_proxy(app, site):
    """From a proxy the server trusts (loopback here), the address that proxy saw (the
    last X-Forwarded-For entry) counts; entries a client wrote before it do not."""
    limit = app.config["TOKEN_GUESS_LIMIT"]
    rid = site.rounds["open"]

    with live_server(app) as base:
        def form(token: str, forwarded: str) -> int:
            return requests.post(base + "/api/v1/ballot-form", json={"token": token},
                                 headers={"X-Forwarded-For": forwarded}, timeout=10).status_code

        for i in range(limit):  # the client forges a fresh first entry every time
            form(_fake(rid, i), f"10.0.0.{i}, 198.51.100.5")
        assert form(_fake(rid, limit), "10.0.0.99, 198.51.100.5") == 429
        assert form(_fake(rid, limit), "198.51.100.6") == 404
        assert form(site.tokens["open"][0], "10.0.0.99, 198.51.100.5") == 200


def test_ipv6_clients_are_counted_per_64(app, site):
    limit = app.config["TOKEN_GUESS_LIMIT"]
    rid = site.rounds["open"]
    client = app.test_client()
    for i in range(limit):  # a new address of the same /64 every time
        _form(client, _fake(rid, i), f"2001:db8:1:2::{i + 1:x}")
    assert _form(client, _fake(rid, limit), "2001:db8:1:2:ffff::1").status_code == 429
    assert _form(client, _fake(rid, limit), "2001:db8:1:3::1").status_code == 404


def test_valid_votes_write_no_counters(app, site):
    """The hot path adds no Redis command for a good token: no counter appears."""
    from tests.factories import valid_answers

    rid = site.rounds["open"]
    with app.app_context():
        from server.roundbase.reads import get_round

        answers = valid_answers(get_round(rid))
    client = app.test_client()
    for token in site.tokens["open"][:3]:
        assert _form(client, token, "198.51.100.1").status_code == 200
        res = client.post("/api/v1/ballots", json={"token": token, "answers": answers},
                          environ_base={"REMOTE_ADDR": "198.51.100.1"})
        assert res.status_code == 201
    assert redis_keys(app, "*guess*") == []


# -- audit log -------------------------------------------------------------------------

def test_every_organizer_action_is_audited(app, site):
    api = app.test_client()
    auth = site.auth("organizer")
    uid = site.users["organizer"]

    def entries():
        with app.app_context():
            return [(e.user_id, e.action, e.target, e.detail) for e in db.session.execute(
                db.select(AuditEntry).order_by(AuditEntry.id)).scalars()]

    start = len(entries())
    res = api.post("/api/v1/rounds", headers=auth, json={
        "form": "appraisal", "title": "审计测试", "subjects": [{"name": "甲"}],
        "categories": [{"name": "中层", "expected_count": 5}], "results": {"min_turnout": 0}})
    rid, cat = res.json["id"], res.json["categories"][0]["id"]
    assert api.post(f"/api/v1/rounds/{rid}/tokens", headers=auth,
                    json={"category_id": cat, "count": 2}).status_code == 201
    for action in ("open", "close", "publish"):
        assert api.post(f"/api/v1/rounds/{rid}/{action}", headers=auth).status_code == 200
    for fmt in ("xlsx", "csv", "pdf"):
        assert api.get(f"/api/v1/rounds/{rid}/export.{fmt}", headers=auth).status_code == 200
    console = app.test_client()
    sign_in(console, "organizer")
    page = console.get(f"/console/rounds/{site.rounds['draft']}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    with app.app_context():
        from server.roundbase.reads import get_round

        dcat = get_round(site.rounds["draft"]).categories[0].id
    assert console.post(f"/console/rounds/{site.rounds['draft']}/slips",
                        data={"csrf_token": token, "category_id": dcat,
                              "count": "2"}).status_code == 200
    assert console.post(f"/console/rounds/{site.rounds['draft']}/open",
                        data={"csrf_token": token}).status_code == 303
    assert console.post("/console/logout", data={"csrf_token": token}).status_code == 302

    got = [(u, a, t) for u, a, t, _ in entries()[start:]]
    r, d = f"round:{rid}", f"round:{site.rounds['draft']}"
    assert got == [
        (uid, "round.create", r), (uid, "tokens.issue", r), (uid, "round.open", r),
        (uid, "round.close", r), (uid, "round.publish", r), (uid, "round.export", r),
        (uid, "round.export", r), (uid, "round.export", r), (uid, "console.login", f"user:{uid}"),
        (uid, "tokens.issue", d), (uid, "round.open", d), (uid, "console.logout", f"user:{uid}"),
    ]
    details = [x for *_, x in entries()[start:]]
    assert details[5:8] == ["xlsx", "csv", "pdf"]
    assert "中层: 2" in details[1]
    # nothing about voters or ballots, ever
    for *_, detail in entries():
        for token_ in site.tokens["open"]:
            assert token_ not in detail


def test_audit_page_lists_paginated_and_scoped(app, site):
    from server.core import audit

    with app.app_context():
        from server.accounts.models import User

        org = db.session.get(User, site.users["organizer"])
        for i in range(120):
            audit.record(org, "round.open", f"round:{site.rounds['draft']}", f"第{i}次<b>")
        other = db.session.execute(db.select(User).filter_by(username="other_org")).scalar_one()
        audit.record(other, "round.open", f"round:{site.other_round}", "OTHER-COMMITTEE")
        db.session.commit()
    client = app.test_client()
    sign_in(client, "organizer")
    first = client.get("/console/audit").get_data(as_text=True)
    assert first.count("<tr>") == 51  # header + 50
    assert "第119次&lt;b&gt;" in first and "OTHER-COMMITTEE" not in first
    assert "开始投票" in first and "登录" in first
    last = client.get("/console/audit?page=3").get_data(as_text=True)
    assert "第0次" in last and "下一页" not in last and "上一页" in last
    assert "OTHER-COMMITTEE" not in client.get("/console/audit?page=99").get_data(as_text=True)
    only = client.get("/console/audit?group=console").get_data(as_text=True)
    assert "开始投票" not in only and "登录" in only
    assert client.get("/console/audit?page=x&group=%3Cscript%3E").status_code == 200
    for role, status in (("committee", 403), ("secretary", 403)):
        other_client = app.test_client()
        sign_in(other_client, site.usernames[role])
        assert other_client.get("/console/audit").status_code == status
    assert app.test_client().get("/console/audit").status_code == 302
