"""Staff sign-in from the mini-program against the WeChat fake over real HTTP.

Binding from the console, code2Session (40029 invalid code, 40163 used code,
45011 rate limit), our own sessions (expiry, refresh rotation, reuse, logout,
unbind), and the session_key kept nowhere.
"""

from __future__ import annotations

import logging
import time

import redis as redis_lib
from sqlalchemy import inspect, text

from bot.wechat_fake.miniprogram import mint_login_code
from server.core.db import db
from server.miniprogram.models import StaffSession, WechatBinding
from tests.support.miniprogram import (
    bearer,
    binding_code,
    console_login,
    make_staff,
    wechat_session,
)


def _login(client, state, openid, **extra):
    return client.post("/api/v1/auth/wechat",
                       json={"code": mint_login_code(state, openid), **extra})


def _dump_everything(app) -> str:
    """Every row of every table and every Redis key and value, as one string."""
    parts = []
    with app.app_context():
        for table in inspect(db.engine).get_table_names():
            parts += [repr(tuple(r)) for r in db.session.execute(text(f"SELECT * FROM {table}"))]
    r = redis_lib.Redis.from_url(app.config["REDIS_URL"], decode_responses=True)
    for key in r.scan_iter():
        kind = r.type(key)
        value = {"string": r.get, "hash": r.hgetall, "set": r.smembers,
                 "zset": lambda k: r.zrange(k, 0, -1)}.get(kind, lambda k: "")(key)
        parts.append(f"{key}={value}")
    return "\n".join(parts)


def test_bind_in_console_then_sign_in_with_wechat_only(app, client, fake, caplog):
    caplog.set_level(logging.DEBUG)
    _, state = fake
    session = wechat_session(app, state, openid="o_alice_0000000000000000000000")
    assert session["token_type"] == "Bearer" and session["access_token"].startswith("ps_")
    assert session["user"]["username"] == "organizer" and session["user"]["wechat_bound"]
    me = client.get("/api/v1/me", headers=bearer(session["access_token"]))
    assert me.status_code == 200
    assert me.json["credential"] == "session" and me.json["role"] == "organizer"
    assert me.json["session_expires_at"]

    # Later sign-ins need only wx.login's code.
    again = _login(client, state, "o_alice_0000000000000000000000")
    assert again.status_code == 200 and again.json["user"]["id"] == session["user"]["id"]
    assert again.json["access_token"] != session["access_token"]

    # The session_key that WeChat sent is nowhere: not in our answers, not in SQL or
    # Redis, not in the log. Nor is the openid stored in clear.
    keys = [r.answer["session_key"] for r in state.seen("/sns/jscode2session")
            if "session_key" in r.answer]
    assert len(keys) == 2
    stored = _dump_everything(app)
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    for key in keys:
        assert key not in str(session) and key not in str(again.json)
        assert key not in stored and key not in logged
    assert "o_alice_0000000000000000000000" not in stored
    with app.app_context():
        rows = db.session.execute(db.select(StaffSession)).scalars().all()
        assert len(rows) == 2
        assert all(session["access_token"] not in (r.access_hash, r.refresh_hash) for r in rows)


def test_invalid_and_used_codes_are_40029_and_40163(app, client, fake):
    _, state = fake
    make_staff(app)
    bad = client.post("/api/v1/auth/wechat", json={"code": "not-a-real-code"})
    assert bad.status_code == 401 and bad.json["error"]["code"] == "wechat_code_invalid"
    assert bad.json["error"]["message"]  # Chinese, for the mini-program's toast
    assert state.seen("/sns/jscode2session")[-1].answer["errcode"] == 40029

    code = mint_login_code(state, "o_bob_000000000000000000000000")
    first = client.post("/api/v1/auth/wechat", json={"code": code})
    assert first.json["error"]["code"] == "wechat_not_bound"  # the code itself was fine
    second = client.post("/api/v1/auth/wechat", json={"code": code})
    assert second.status_code == 401 and second.json["error"]["code"] == "wechat_code_invalid"
    assert state.seen("/sns/jscode2session")[-1].answer["errcode"] == 40163


def test_wechat_rate_limit_45011_is_429_and_binds_nothing(app, client, fake):
    _, state = fake
    state.settings["mp_rate_limits"] = {"jscode2session": 1}
    make_staff(app)
    console = app.test_client()
    console_login(console)
    code = binding_code(console)
    assert _login(client, state, "o_first_0000000000000000000000").status_code == 401
    limited = _login(client, state, "o_carol_0000000000000000000000", binding_code=code)
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "wechat_rate_limited"
    assert limited.headers["Retry-After"] == "60"
    assert state.seen("/sns/jscode2session")[-1].answer["errcode"] == 45011
    with app.app_context():
        assert db.session.execute(db.select(WechatBinding)).first() is None
    # The binding code was not spent by the refused attempt.
    state.settings["mp_rate_limits"] = {}
    ok = _login(client, state, "o_carol_0000000000000000000000", binding_code=code)
    assert ok.status_code == 200


def test_binding_code_is_one_time_and_expires(app, client, fake):
    _, state = fake
    make_staff(app)
    console = app.test_client()
    console_login(console)
    code = binding_code(console)
    assert _login(client, state, "o_dan_00000000000000000000000", binding_code=code) \
        .status_code == 200
    reuse = _login(client, state, "o_eve_00000000000000000000000", binding_code=code)
    assert reuse.status_code == 422 and reuse.json["error"]["code"] == "binding_code_invalid"
    assert reuse.json["error"]["field"] == "binding_code"

    app.config["WECHAT_BINDING_CODE_TTL_S"] = 1
    late = binding_code(console)
    time.sleep(1.2)
    expired = _login(client, state, "o_eve_00000000000000000000000", binding_code=late)
    assert expired.status_code == 422


def test_wrong_binding_codes_are_rate_limited(app, client, fake):
    _, state = fake
    app.config["LOGIN_FAIL_LIMIT"] = 3
    codes = [_login(client, state, f"o_guess{i}_00000000000000000000000",
                    binding_code="AAAA-BBBB").status_code for i in range(5)]
    assert codes == [422, 422, 422, 429, 429]


def test_a_wechat_user_binds_to_one_account(app, client, fake):
    _, state = fake
    wechat_session(app, state, "first", openid="o_shared_000000000000000000000")
    make_staff(app, "second")
    console = app.test_client()
    console_login(console, "second")
    code = binding_code(console)
    taken = _login(client, state, "o_shared_000000000000000000000", binding_code=code)
    assert taken.status_code == 409 and taken.json["error"]["code"] == "wechat_already_bound"


def test_unbound_wechat_user_is_told_how_to_bind(app, client, fake):
    _, state = fake
    res = _login(client, state, "o_stranger_0000000000000000000")
    assert res.status_code == 401 and res.json["error"]["code"] == "wechat_not_bound"
    assert "绑定码" in res.json["error"]["message"]


def test_refresh_rotates_and_a_reused_refresh_token_ends_every_session(app, client, fake):
    _, state = fake
    s1 = wechat_session(app, state)
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": s1["refresh_token"]})
    assert r.status_code == 200
    s2 = r.json
    assert s2["access_token"] != s1["access_token"]
    assert client.get("/api/v1/me", headers=bearer(s1["access_token"])).json["error"]["code"] \
        == "invalid_session"
    assert client.get("/api/v1/me", headers=bearer(s2["access_token"])).status_code == 200
    # The first refresh token again: someone copied it. Every session ends.
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": s1["refresh_token"]})
    assert reuse.status_code == 401 and reuse.json["error"]["code"] == "invalid_refresh_token"
    assert client.get("/api/v1/me", headers=bearer(s2["access_token"])).status_code == 401
    assert client.post("/api/v1/auth/refresh",
                       json={"refresh_token": s2["refresh_token"]}).status_code == 401
    assert client.post("/api/v1/auth/refresh",
                       json={"refresh_token": "pr_nonsense"}).status_code == 401


def test_sessions_expire_and_refresh(app, client, fake):
    _, state = fake
    app.config["STAFF_SESSION_TTL_S"] = 1
    s = wechat_session(app, state)
    assert s["expires_in"] == 1
    time.sleep(1.2)
    expired = client.get("/api/v1/me", headers=bearer(s["access_token"]))
    assert expired.status_code == 401 and expired.json["error"]["code"] == "session_expired"
    fresh = client.post("/api/v1/auth/refresh", json={"refresh_token": s["refresh_token"]})
    assert fresh.status_code == 200
    assert client.get("/api/v1/me", headers=bearer(fresh.json["access_token"])).status_code == 200


def test_logout_and_unbind(app, client, fake):
    _, state = fake
    s = wechat_session(app, state, openid="o_frank_000000000000000000000")
    key = make_staff(app, "keyholder")
    assert client.post("/api/v1/auth/logout", headers=bearer(key)).json["error"]["code"] \
        == "not_a_session"
    assert client.post("/api/v1/auth/logout", headers=bearer(s["access_token"])).status_code \
        == 204
    assert client.get("/api/v1/me", headers=bearer(s["access_token"])).status_code == 401
    assert client.post("/api/v1/auth/refresh",
                       json={"refresh_token": s["refresh_token"]}).status_code == 401

    s2 = _login(client, state, "o_frank_000000000000000000000").json
    assert client.delete("/api/v1/me/wechat-binding",
                         headers=bearer(s2["access_token"])).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(s2["access_token"])).status_code == 401
    again = _login(client, state, "o_frank_000000000000000000000")
    assert again.json["error"]["code"] == "wechat_not_bound"


def test_session_roles_apply_to_the_whole_api(app, client, fake):
    _, state = fake
    sec = wechat_session(app, state, "secretary1", role="secretary",
                         openid="o_sec_000000000000000000000000")
    assert sec["user"]["role"] == "secretary"
    h = bearer(sec["access_token"])
    assert client.get("/api/v1/me", headers=h).status_code == 200
    assert client.get("/api/v1/rounds", headers=h).status_code == 403
    assert client.post("/api/v1/rounds", headers=h, json={}).status_code == 403


def test_console_unbind_ends_mini_program_sessions(app, client, fake):
    _, state = fake
    s = wechat_session(app, state)
    console = app.test_client()
    console_login(console)
    page = console.get("/console/wechat")
    assert "已绑定" in page.get_data(as_text=True)
    from tests.conftest import csrf_token

    res = console.post("/console/wechat/unbind",
                       data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert res.status_code == 303
    assert client.get("/api/v1/me", headers=bearer(s["access_token"])).status_code == 401


def test_not_configured_is_a_clear_503(app, client):
    make_staff(app)
    res = client.post("/api/v1/auth/wechat", json={"code": "whatever"})
    assert res.status_code == 503 and res.json["error"]["code"] == "wechat_not_configured"
