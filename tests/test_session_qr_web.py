"""The session QR on the mobile page in WeChat: the official account's web authorization
(snsapi_base, the WeChat fake over real HTTP) gives the identity; the page blinds its own
token with the bundled @cloudflare/blindrsa-ts and votes with the unblinded signature.

API: a claim takes `oauth_code` instead of the mini-program's `code` (exactly one), once
per identity and round. Page: GET /v/s/<scene> sends the phone to WeChat with a state
kept in a cookie, and serves the voting page when WeChat sends it back. Chromium: a
voter on a phone signs in through the fake's authorize page, gets a blind-signed token
and votes; the same WeChat user claiming again is refused on the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect
from sqlalchemy import text

from bot.wechat_fake.miniprogram import mint_login_code
from bot.wechat_fake.oauth import FAKE_OA_APPID, mint_oauth_code
from server.core.db import db
from tests.support import blindclient
from tests.support.browser import phone, shot
from tests.support.liveserver import live_server
from tests.test_miniprogram_session_qr import _session_round


def _claim(client, scene: str, **identity: str):
    key = client.post("/api/v1/session-keys", json={"scene": scene}).json
    blinded = blindclient.blind(key["public_key"], key["round_id"])
    return client.post("/api/v1/session-claims",
                       json={"scene": scene, "blinded_msg": blinded.blinded_b64, **identity})


def test_a_web_authorization_code_claims_once_and_votes(app, client, fake, key):
    _, state = fake
    rid, _, scene = _session_round(client, key)
    first = _claim(client, scene, oauth_code=mint_oauth_code(state, "oOA_member_1"))
    assert first.status_code == 201, first.json
    again = _claim(client, scene, oauth_code=mint_oauth_code(state, "oOA_member_1"))
    assert again.status_code == 409 and again.json["error"]["code"] == "already_claimed"
    # the fake saw the exchange with the official account's appid, scope snsapi_base
    seen = state.seen("/sns/oauth2/access_token")
    assert seen and seen[0].query["appid"] == FAKE_OA_APPID
    assert seen[0].answer["scope"] == "snsapi_base"


@pytest.mark.parametrize("identity, status, code", [
    ({}, 422, "claim_identity_invalid"),
    ({"code": "x", "oauth_code": "y"}, 422, "claim_identity_invalid"),
    ({"oauth_code": "never-issued"}, 401, "wechat_code_invalid"),
])
def test_a_claim_without_exactly_one_good_identity_is_refused(app, client, fake, key, identity,
                                                               status, code):
    rid, _, scene = _session_round(client, key)
    resp = _claim(client, scene, **identity)
    assert resp.status_code == status and resp.json["error"]["code"] == code, resp.json
    with app.app_context():
        assert db.session.execute(text("SELECT COUNT(*) FROM session_claims")).scalar() == 0


def test_a_used_web_code_is_refused_and_changes_nothing(app, client, fake, key):
    _, state = fake
    _, _, scene = _session_round(client, key)
    code = mint_oauth_code(state, "oOA_member_2")
    assert _claim(client, scene, oauth_code=code).status_code == 201
    reused = _claim(client, scene, oauth_code=code)
    assert reused.status_code == 401 and reused.json["error"]["code"] == "wechat_code_invalid"
    assert "重新扫描" in reused.json["error"]["message"]


def test_mini_program_and_official_account_are_two_identities(app, client, fake, key):
    """The documented leak (docs/miniprogram.md): each app has its own openid for one
    person, so one person can claim once in the mini-program and once on the web page."""
    _, state = fake
    _, _, scene = _session_round(client, key)
    assert _claim(client, scene, code=mint_login_code(state, "o_same_person")).status_code == 201
    assert _claim(client, scene,
                  oauth_code=mint_oauth_code(state, "o_same_person")).status_code == 201


def test_the_page_sends_the_phone_to_wechat_and_checks_the_state(app, client, fake, key):
    base, _ = fake
    _, _, scene = _session_round(client, key)
    start = client.get(f"/v/s/{scene}")
    assert start.status_code == 302
    target = urlsplit(start.headers["Location"])
    assert f"{target.scheme}://{target.netloc}" == base
    assert target.path == "/connect/oauth2/authorize" and target.fragment == "wechat_redirect"
    query = parse_qs(target.query)
    assert query["scope"] == ["snsapi_base"] and query["appid"] == [FAKE_OA_APPID]
    public = app.config["PUBLIC_BASE_URL"].rstrip("/")
    assert query["redirect_uri"] == [f"{public}/v/s/{scene}"]
    cookie = client.get_cookie("pingyi_oauth_state", path="/v/s/")
    assert cookie is not None and cookie.value == query["state"][0]

    forged = client.get(f"/v/s/{scene}?code=abc&state=0000")
    assert forged.status_code == 400 and "oauth_state_invalid" in forged.get_data(as_text=True)
    back = client.get(f"/v/s/{scene}?code=abc&state={query['state'][0]}")
    page = back.get_data(as_text=True)
    assert back.status_code == 200 and "vendor/blindrsa.js" in page and "session.js" in page
    assert "abc" not in page  # the code stays in the address (read, then dropped, by the page)
    assert client.get("/v/s/not-a-scene").status_code == 404
    codes = client.get(f"/api/v1/rounds/{scene[1:].split('.')[0]}/session-codes",
                       headers=key).json
    assert any(i["web_url"] == f"{public}/v/s/{scene}" for i in codes["items"])


def test_without_an_official_account_the_page_says_so(app, client, fake, key):
    _, _, scene = _session_round(client, key)
    app.config.update(WECHAT_OA_APPID="", WECHAT_OA_SECRET="")
    resp = client.get(f"/v/s/{scene}")
    assert resp.status_code == 503 and "wechat_oauth_not_configured" in resp.get_data(as_text=True)


# -- Chromium, phone viewport -------------------------------------------------------------

@pytest.fixture
def base_url(app: Flask, fake) -> Iterator[str]:
    with live_server(app) as url:
        app.config["PUBLIC_BASE_URL"] = url  # WeChat sends the phone back here
        yield url


@pytest.mark.browser
def test_a_voter_signs_in_through_web_authorization_and_votes(
        app: Flask, client, fake, key, base_url: str, browser: Browser) -> None:
    rid, _, scene = _session_round(client, key)
    errors: list[str] = []
    page = phone(browser, errors)
    posted: list[tuple[str, str]] = []
    page.on("request", lambda r: posted.append((r.url, r.post_data or ""))
            if r.method == "POST" else None)

    page.goto(f"{base_url}/v/s/{scene}")
    expect(page.get_by_role("heading", name="模拟微信网页授权")).to_be_visible()
    page.fill("input[name=pick]", "oOA_phone_voter_1")
    page.get_by_role("button", name="授权并返回").click()
    expect(page.locator("#screen-form")).to_be_visible()
    assert "code=" not in page.url and page.url.endswith(f"/v/s/{scene}")
    rows = page.locator("#ballot .crit-row")
    for i in range(rows.count()):
        rows.nth(i).locator(".chip").first.click()
    shot(page, "session-qr-web-form", full_page=True)
    page.locator("#submit-btn").click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#screen-done")).to_be_visible()
    expect(page.locator("#receipt-code")).to_have_text(
        re.compile(r"^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$"))
    shot(page, "session-qr-web-done")

    # the claim carried only the blinded token; the token first went with the ballot form
    claim = next(body for url, body in posted if url.endswith("/api/v1/session-claims"))
    ballot = next(body for url, body in posted if url.endswith("/api/v1/ballots"))
    token = json.loads(ballot)["token"]
    assert token.startswith(f"{rid}.") and token not in claim and token.split(".")[1] not in claim
    assert "oauth_code" in claim and "signature" in ballot
    with app.app_context():
        assert db.session.execute(text("SELECT COUNT(*) FROM ballots WHERE round_id = :r"),
                                  {"r": rid}).scalar() == 1
        assert db.session.execute(text("SELECT COUNT(*) FROM session_claims WHERE round_id = :r"),
                                  {"r": rid}).scalar() == 1
    assert page.evaluate("Object.keys(sessionStorage)") == []  # spent: forgotten

    # the same WeChat user (the fake knows this browser) scans again in a new tab
    second = page.context.new_page()
    second.goto(f"{base_url}/v/s/{scene}")
    expect(second.locator("#state-title")).to_have_text("您已领取过投票码")
    expect(second.locator("#state-text")).to_contain_text("每人只能领取一次")
    shot(second, "session-qr-web-already-claimed")
    with app.app_context():
        assert db.session.execute(text("SELECT COUNT(*) FROM session_claims WHERE round_id = :r"),
                                  {"r": rid}).scalar() == 1
    assert errors == [] or all("409" in e for e in errors), errors
