"""The console's mini-program pages: WeChat binding, a round's options, mini-program slips
(PDF), the session-QR pool and its code image. Against the WeChat fake over real HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from server.core.db import db
from tests.conftest import csrf_token
from tests.support.miniprogram import (
    bearer,
    console_login,
    make_staff,
    new_round,
    zbar,
)


@pytest.fixture
def signed_in(app):
    key = bearer(make_staff(app))
    console = app.test_client()
    console_login(console)
    return console, key


def _csrf(console, path):
    return csrf_token(console.get(path).get_data(as_text=True))


def test_binding_page(app, signed_in):
    console, _ = signed_in
    page = console.get("/console/wechat").get_data(as_text=True)
    assert "未绑定" in page and "生成绑定码" in page
    assert "尚未配置微信小程序" in page  # no AppID in this app
    assert "微信绑定" in console.get("/console/").get_data(as_text=True)  # in the top bar


def test_round_page_options_slips_and_pool(app, client, fake, signed_in):
    console, key = signed_in
    rnd = new_round(client, key)
    rid = rnd["id"]
    path = f"/console/rounds/{rid}/miniprogram"
    assert f'href="{path}"' in console.get(f"/console/rounds/{rid}").get_data(as_text=True)
    page = console.get(path).get_data(as_text=True)
    assert "会场扫码领票" in page and "小程序码选票" in page

    saved = console.post(f"{path}/options", data={
        "csrf_token": _csrf(console, path), "session_qr": "1", "comment_enabled": "1",
        "comment_label": "意见建议", "comment_max_length": "300"})
    assert saved.status_code == 303
    opts = client.get(f"/api/v1/rounds/{rid}/options", headers=key).json
    assert opts["session_qr"] is True
    assert opts["comment"] == {"enabled": True, "label": "意见建议", "max_length": 300}

    cat = rnd["categories"][0]["id"]
    pdf = console.post(f"{path}/slips", data={"csrf_token": _csrf(console, path),
                                              "category_id": str(cat), "count": "2"})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "attachment" in pdf.headers["Content-Disposition"]
    with app.app_context():
        assert db.session.execute(text("SELECT COUNT(*) FROM slip_codes")).scalar() == 2

    added = console.post(f"{path}/pool", data={"csrf_token": _csrf(console, path),
                                               "category_id": str(cat), "count": "4"})
    assert added.status_code == 303
    page = console.get(path).get_data(as_text=True)
    assert "已加入 4 张投票码" in page and "显示二维码" in page
    image = console.get(f"{path}/session-code/{cat}.jpg")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    codes = client.get(f"/api/v1/rounds/{rid}/session-codes", headers=key).json
    scene = next(i["scene"] for i in codes["items"] if i["category_id"] == cat)
    assert zbar(image.data) == [f"pages/claim/claim?scene={scene}"]

    rotated = console.post(f"{path}/rotate", data={"csrf_token": _csrf(console, path)})
    assert rotated.status_code == 303
    assert "已更换" in console.get(path).get_data(as_text=True)

    # Once open, the options are shown but no longer editable.
    client.post(f"/api/v1/rounds/{rid}/open", headers=key)
    page = console.get(path).get_data(as_text=True)
    assert "测评开始后不能再修改设置" in page
    refused = console.post(f"{path}/options", data={"csrf_token": _csrf(console, path)})
    assert refused.status_code == 303
    assert "不能再修改设置" in console.get(path).get_data(as_text=True)


def test_console_errors_are_flashed_and_change_nothing(app, client, signed_in):
    console, key = signed_in
    rnd = new_round(client, key)
    path = f"/console/rounds/{rnd['id']}/miniprogram"
    res = console.post(f"{path}/slips", data={"csrf_token": _csrf(console, path),
                                              "category_id": str(rnd["categories"][0]["id"]),
                                              "count": "2"})
    assert res.status_code == 303  # not configured: flashed, nothing issued
    assert "尚未配置微信小程序" in console.get(path).get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(text("SELECT COUNT(*) FROM tokens")).scalar() == 0
    no_csrf = console.post(f"{path}/pool", data={"category_id": "1", "count": "1"})
    assert no_csrf.status_code == 400


def test_readers_see_but_cannot_act(app, client, signed_in):
    _, key = signed_in
    rnd = new_round(client, key)
    make_staff(app, "reader", role="committee")
    reader = app.test_client()
    console_login(reader, "reader")
    path = f"/console/rounds/{rnd['id']}/miniprogram"
    page = reader.get(path)
    assert page.status_code == 200 and "保存设置" not in page.get_data(as_text=True)
    assert reader.post(f"{path}/pool", data={
        "csrf_token": _csrf(reader, path), "category_id": "1", "count": "1"}).status_code == 403
