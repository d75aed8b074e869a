"""Access that can be taken back: API keys named, listed, expiring and revoked; accounts
deactivated and reactivated. Through the API, the console and the CLI; revocation,
expiry and deactivation hold on the next request, on a second host too."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from typing import Any

import pytest

from server.accounts.models import ApiKey, User
from server.core.audit import AuditEntry
from server.core.db import db
from tests.support.hostile import PASSWORD, Site, build_site

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def site(app) -> Site:
    with app.app_context():
        return build_site()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def error_code(res: Any) -> str:
    return res.json["error"]["code"]


def signed_in(app, username: str) -> Any:
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    res = client.post("/console/login", data={"csrf_token": CSRF.search(page)[1],
                                              "username": username, "password": PASSWORD})
    assert res.status_code == 302, res.get_data(as_text=True)[:300]
    return client


def post(client, url: str, **data: str) -> Any:
    page = client.get("/console/keys").get_data(as_text=True)
    return client.post(url, data={"csrf_token": CSRF.search(page)[1], **data})


def key_rows(app, user_id: int) -> list[tuple[int, str, Any]]:
    with app.app_context():
        return [(k.id, k.name, k.revoked_at) for k in db.session.execute(
            db.select(ApiKey).filter_by(user_id=user_id).order_by(ApiKey.id)).scalars()]


def audit(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        rows = list(db.session.execute(db.select(AuditEntry).filter_by(action=action)
                                       .order_by(AuditEntry.id)).scalars())
        db.session.expunge_all()
        return rows


def is_active(app, user_id: int) -> bool:
    with app.app_context():
        return db.session.get(User, user_id).active


def iso(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


# -- the API -------------------------------------------------------------------------------

def test_a_key_is_named_listed_shown_once_and_stored_hashed(app, site):
    client = app.test_client()
    res = client.post("/api/v1/api-keys", headers=site.auth("organizer"), json={
        "name": "会场数据大屏", "expires_at": "2099-01-01T00:00:00+08:00"})
    assert res.status_code == 201, res.json
    made = res.json
    raw = made["key"]
    assert raw.startswith("pk_") and made["name"] == "会场数据大屏"
    assert made["expires_at"] == "2098-12-31T16:00:00+00:00" and made["state"] == "active"
    assert made["user_id"] == site.users["organizer"] and made["revoked_at"] is None

    listed = client.get("/api/v1/api-keys", headers=bearer(raw))
    assert listed.status_code == 200
    items = listed.json["items"]
    assert [k["name"] for k in items] == ["会场数据大屏", "tests"]  # newest first
    assert all("key" not in k for k in items) and raw not in listed.get_data(as_text=True)
    with app.app_context():
        row = db.session.get(ApiKey, made["id"])
        assert row.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert client.get("/api/v1/rounds", headers=bearer(raw)).status_code == 200
    [entry] = audit(app, "apikey.create")[-1:]
    assert entry.user_id == site.users["organizer"] and "会场数据大屏" in entry.detail
    assert raw not in entry.detail


def test_bad_key_requests_change_nothing(app, site):
    client = app.test_client()
    before = key_rows(app, site.users["organizer"])
    past = iso(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    for body, code, field in ((
            {"name": "过去", "expires_at": past}, "expiry_in_past", "expires_at"),
            ({"name": "   "}, "invalid_key_name", "name"),
            ({"name": "x" * 61}, "invalid_input", "name"),
            ({}, "invalid_input", "name")):
        res = client.post("/api/v1/api-keys", headers=site.auth("organizer"), json=body)
        assert res.status_code == 422, (body, res.json)
        assert error_code(res) == code, res.json
        if field:
            assert res.json["error"]["field"] == field
            assert res.json["error"]["message"]
    res = client.delete("/api/v1/api-keys/2147483000", headers=site.auth("organizer"))
    assert res.status_code == 404 and error_code(res) == "api_key_not_found"
    assert key_rows(app, site.users["organizer"]) == before
    assert not audit(app, "apikey.revoke")


def test_revocation_holds_on_the_next_request_on_every_host(app, site, tmp_path):
    from tests.conftest import _dispose, make_app

    extra = {k: app.config[k] for k in ("REDIS_CLUSTER_NODES",) if app.config.get(k)}
    other_host = make_app(tmp_path, app.config["REDIS_URL"], **extra)
    try:
        a, b = app.test_client(), other_host.test_client()
        made = a.post("/api/v1/api-keys", headers=site.auth("organizer"),
                      json={"name": "大屏"}).json
        turnout = f"/api/v1/rounds/{site.rounds['open']}/turnout"
        for client in (a, b):  # warm: both hosts have served the key (incl. the fast read)
            assert client.get(turnout, headers=bearer(made["key"])).status_code == 200
            assert client.get("/api/v1/rounds", headers=bearer(made["key"])).status_code == 200

        res = a.delete(f"/api/v1/api-keys/{made['id']}", headers=bearer(made["key"]))
        assert res.status_code == 204
        for client in (b, a):
            for url in (turnout, "/api/v1/rounds"):
                res = client.get(url, headers=bearer(made["key"]))
                assert res.status_code == 401 and error_code(res) == "api_key_revoked", url
        revoked = key_rows(app, site.users["organizer"])
        res = b.delete(f"/api/v1/api-keys/{made['id']}", headers=site.auth("organizer"))
        assert res.status_code == 409 and error_code(res) == "api_key_already_revoked"
        assert "已吊销" in res.json["error"]["message"]
        assert key_rows(app, site.users["organizer"]) == revoked
        [entry] = audit(app, "apikey.revoke")
        assert entry.user_id == site.users["organizer"] and f"key {made['id']}" in entry.detail
        assert entry.target == f"user:{site.users['organizer']}"
        # the organizer's other key is untouched
        assert a.get("/api/v1/rounds", headers=site.auth("organizer")).status_code == 200
    finally:
        _dispose(other_host)


def test_an_expired_key_stops_on_the_next_request(app, site):
    client = app.test_client()
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    made = client.post("/api/v1/api-keys", headers=site.auth("organizer"), json={
        "name": "两秒", "expires_at": soon.isoformat()}).json
    turnout = f"/api/v1/rounds/{site.rounds['open']}/turnout"
    assert client.get(turnout, headers=bearer(made["key"])).status_code == 200
    time.sleep(max(0.0, (soon - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
    for url in (turnout, "/api/v1/rounds"):
        res = client.get(url, headers=bearer(made["key"]))
        assert res.status_code == 401 and error_code(res) == "api_key_expired", url
    states = {k["id"]: k["state"] for k in client.get(
        "/api/v1/api-keys", headers=site.auth("organizer")).json["items"]}
    assert states[made["id"]] == "expired"


def _key_id(app, user_id: int) -> int:
    return key_rows(app, user_id)[0][0]


def test_who_may_see_and_revoke_whose_keys(app, site):
    client = app.test_client()
    u = site.users

    def listed(role: str, user_id: int) -> Any:
        return client.get(f"/api/v1/api-keys?user_id={user_id}", headers=site.auth(role))

    res = listed("organizer", u["secretary"])
    assert res.status_code == 200 and [k["name"] for k in res.json["items"]] == ["tests"]
    for role, whose in (("organizer", u["admin"]),  # an organizer never manages an admin
                        ("secretary", u["organizer"]), ("committee", u["secretary"])):
        res = listed(role, whose)
        assert res.status_code == 404 and error_code(res) == "user_not_found", (role, whose)
    with app.app_context():
        other = db.session.execute(db.select(User.id).filter_by(username="other_org")).scalar()
    assert listed("organizer", other).status_code == 404
    assert listed("admin", other).status_code == 404  # an admin of a committee: only it

    org_key = _key_id(app, u["organizer"])
    for role in ("secretary", "committee"):
        res = client.delete(f"/api/v1/api-keys/{org_key}", headers=site.auth(role))
        assert res.status_code == 404 and error_code(res) == "api_key_not_found"
    res = client.delete(f"/api/v1/api-keys/{_key_id(app, u['admin'])}",
                        headers=site.auth("organizer"))
    assert res.status_code == 404
    assert client.get("/api/v1/rounds", headers=site.auth("organizer")).status_code == 200
    assert client.get("/api/v1/rounds", headers=site.auth("admin")).status_code == 200

    assert client.delete(f"/api/v1/api-keys/{org_key}",
                         headers=site.auth("admin")).status_code == 204
    res = client.get("/api/v1/rounds", headers=site.auth("organizer"))
    assert res.status_code == 401 and error_code(res) == "api_key_revoked"
    [entry] = audit(app, "apikey.revoke")
    assert entry.user_id == u["admin"] and entry.target == f"user:{u['organizer']}"


# -- the console ---------------------------------------------------------------------------

def test_console_keys_page_creates_shows_once_and_revokes(app, site):
    sec = signed_in(app, "sec_a")
    page = sec.get("/console/keys")
    assert page.status_code == 200 and "我的密钥" in page.get_data(as_text=True)
    res = post(sec, "/console/keys/new", name="积分脚本", expires="2099-01-01")
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and res.headers["Cache-Control"] == "no-store"
    raw = re.search(r'id="new-key-value">(pk_[^<]+)<', html)[1]
    assert "只显示这一次" in html
    api = app.test_client()
    assert api.get("/api/v1/points/entries", headers=bearer(raw)).status_code == 200
    again = sec.get("/console/keys").get_data(as_text=True)
    assert raw not in again and "积分脚本" in again and "2099-01-01 00:00" in again

    res = post(sec, "/console/keys/new", name="旧的", expires="2020-01-01")
    assert res.status_code == 422 and "到期时间须晚于当前时间" in res.get_data(as_text=True)
    res = post(sec, "/console/keys/new", name="乱写", expires="明年")
    assert res.status_code == 422 and "到期时间格式不正确" in res.get_data(as_text=True)
    res = post(sec, "/console/keys/new", name="", expires="")
    assert res.status_code == 422 and "请为密钥命名" in res.get_data(as_text=True)
    assert [name for _, name, _ in key_rows(app, site.users["secretary"])] == [
        "tests", "积分脚本"]

    key_id = key_rows(app, site.users["secretary"])[-1][0]
    res = post(sec, f"/console/keys/{key_id}/revoke")
    assert res.status_code == 303
    assert api.get("/api/v1/points/entries", headers=bearer(raw)).status_code == 401
    res = post(sec, f"/console/keys/{key_id}/revoke")
    assert res.status_code == 409 and "已吊销" in res.get_data(as_text=True)
    # another account's key is not found, and stays working
    res = post(sec, f"/console/keys/{_key_id(app, site.users['organizer'])}/revoke")
    assert res.status_code == 404 and "找不到该 API 密钥" in res.get_data(as_text=True)
    assert api.get("/api/v1/rounds", headers=site.auth("organizer")).status_code == 200


def test_a_deactivated_users_sessions_and_keys_stop_at_once(app, site):
    org = signed_in(app, "organizer")
    sec = signed_in(app, "sec_a")
    api = app.test_client()
    assert sec.get("/console/points/").status_code == 200
    users_page = org.get("/console/users").get_data(as_text=True)
    assert "sec_a" in users_page and "dangwei" in users_page
    assert ">admin<" not in users_page and "other_org" not in users_page

    res = post(org, f"/console/users/{site.users['secretary']}/deactivate")
    assert res.status_code == 303
    assert not is_active(app, site.users["secretary"])
    res = sec.get("/console/points/")
    assert res.status_code == 302 and "/console/login" in res.headers["Location"]
    res = api.get("/api/v1/points/entries", headers=site.auth("secretary"))
    assert res.status_code == 401 and error_code(res) == "account_disabled"
    page = api.get("/console/login").get_data(as_text=True)
    res = api.post("/console/login", data={"csrf_token": CSRF.search(page)[1],
                                           "username": "sec_a", "password": PASSWORD})
    assert res.status_code == 401 and "用户名或密码不正确" in res.get_data(as_text=True)
    res = post(org, f"/console/users/{site.users['secretary']}/deactivate")
    assert res.status_code == 409 and "已是停用状态" in res.get_data(as_text=True)

    assert post(org, f"/console/users/{site.users['secretary']}/reactivate").status_code == 303
    assert api.get("/api/v1/points/entries", headers=site.auth("secretary")).status_code == 200
    signed_in(app, "sec_a")
    res = post(org, f"/console/users/{site.users['secretary']}/reactivate")
    assert res.status_code == 409 and "已是启用状态" in res.get_data(as_text=True)
    acts = [(e.action, e.user_id, e.target) for e in audit(app, "user.deactivate")
            + audit(app, "user.reactivate")]
    target = f"user:{site.users['secretary']}"
    assert acts == [("user.deactivate", site.users["organizer"], target),
                    ("user.reactivate", site.users["organizer"], target)]


def test_the_last_organizer_of_a_committee_stays(app, site, runner):
    org = signed_in(app, "organizer")
    admin = signed_in(app, "admin")
    res = post(org, f"/console/users/{site.users['organizer']}/deactivate")
    assert res.status_code == 409 and "不能停用自己" in res.get_data(as_text=True)
    res = post(org, f"/console/users/{site.users['admin']}/deactivate")
    assert res.status_code == 404 and "找不到该用户" in res.get_data(as_text=True)
    with app.app_context():
        other = db.session.execute(db.select(User.id).filter_by(username="other_org")).scalar()
    assert post(admin, f"/console/users/{other}/deactivate").status_code == 404
    assert is_active(app, other)

    assert post(admin, f"/console/users/{site.users['organizer']}/deactivate").status_code == 303
    before = len(audit(app, "user.deactivate"))
    res = runner.invoke(args=["user", "deactivate", "admin"])
    assert res.exit_code == 1 and "最后一个可用的组织者/管理员账号" in res.output
    assert "last_organizer" in res.output
    assert is_active(app, site.users["admin"]) and len(audit(app, "user.deactivate")) == before
    assert admin.get("/console/users").status_code == 200
    # another committee's only organizer is refused the same way
    res = runner.invoke(args=["user", "deactivate", "other_org"])
    assert res.exit_code == 1 and "另一公司党委最后一个" in res.output
    # once the organizer is back, the admin may go
    assert runner.invoke(args=["user", "reactivate", "organizer"]).exit_code == 0
    res = runner.invoke(args=["user", "deactivate", "admin"])
    assert res.exit_code == 0 and "deactivated admin" in res.output
    assert admin.get("/console/users").status_code == 302


# -- the CLI -------------------------------------------------------------------------------

def test_cli_creates_lists_and_revokes_keys(app, site, runner):
    res = runner.invoke(args=["user", "api-key", "sec_a", "--name", "报表", "--expires",
                              "2099-01-01"])
    assert res.exit_code == 0, res.output
    raw = res.output.strip()
    assert raw.startswith("pk_") and "\n" not in raw
    api = app.test_client()
    assert api.get("/api/v1/points/entries", headers=bearer(raw)).status_code == 200
    listing = runner.invoke(args=["user", "keys", "sec_a"]).output
    line = next(x for x in listing.splitlines() if "报表" in x)
    assert "有效" in line and "到期 2099-01-01 00:00" in line and raw not in listing
    key_id = int(line.split("\t")[0])

    res = runner.invoke(args=["user", "revoke-key", str(key_id)])
    assert res.exit_code == 0 and f"revoked key {key_id} (报表) of sec_a" in res.output
    assert api.get("/api/v1/points/entries", headers=bearer(raw)).status_code == 401
    assert "已吊销" in next(x for x in runner.invoke(args=["user", "keys", "sec_a"])
                            .output.splitlines() if "报表" in x)
    [entry] = audit(app, "apikey.revoke")
    assert entry.user_id is None and "(command line)" in entry.detail

    before = key_rows(app, site.users["secretary"])
    for args, message in (
            (["revoke-key", str(key_id)], "api_key_already_revoked"),
            (["revoke-key", "999999"], "api_key_not_found"),
            (["api-key", "sec_a", "--expires", "明年"], "invalid_expiry"),
            (["api-key", "sec_a", "--expires", "2001-01-01"], "expiry_in_past"),
            (["api-key", "sec_a", "--name", " "], "invalid_key_name"),
            (["api-key", "nobody"], "没有用户“nobody”"),
            (["keys", "nobody"], "没有用户“nobody”"),
            (["reactivate", "sec_a"], "user_already_active")):
        res = runner.invoke(args=["user", *args])
        assert res.exit_code == 1 and message in res.output, (args, res.output)
    assert key_rows(app, site.users["secretary"]) == before
    assert runner.invoke(args=["user", "revoke-key", "0"]).exit_code == 2


def test_cli_deactivates_and_reactivates(app, site, runner):
    res = runner.invoke(args=["user", "deactivate", "sec_a"])
    assert res.exit_code == 0 and "deactivated sec_a" in res.output
    api = app.test_client()
    assert api.get("/api/v1/points/entries", headers=site.auth("secretary")).status_code == 401
    res = runner.invoke(args=["user", "deactivate", "sec_a"])
    assert res.exit_code == 1 and "user_already_inactive" in res.output
    assert runner.invoke(args=["user", "deactivate", "nobody"]).exit_code == 1
    assert runner.invoke(args=["user", "reactivate", "sec_a"]).exit_code == 0
    assert api.get("/api/v1/points/entries", headers=site.auth("secretary")).status_code == 200
    assert [e.detail for e in audit(app, "user.deactivate")] == ["sec_a (command line)"]
