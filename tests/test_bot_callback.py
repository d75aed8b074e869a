"""The WeChat Work app's callback: signature, decryption, replay refusal, and the
排名 / 积分 / 帮助 answers (encrypted passive replies)."""

from __future__ import annotations

import time

import pytest

from bot import targets
from bot.wechat_fake.wecom import callback_request, decrypt_reply, verify_url_request
from server.points.calendar import current_quarter
from server.points.visibility import set_visibility
from tests.support.bot import (
    AGENT,
    CB_AES,
    CB_TOKEN,
    CORP,
    approved,
    build_world,
    rebuild,
    wecom_config,
)

URL = "/bot/wecom/callback"
KEYS = {"token": CB_TOKEN, "aes_key": CB_AES, "corp_id": CORP}


@pytest.fixture
def world(app):
    wecom_config(app, "http://127.0.0.1:9")
    with app.app_context():
        from server.core.db import db
        from server.organization.models import Member

        w = build_world()
        now = current_quarter()
        for i, mid in enumerate(w.members_a):
            approved(db.session.get(Member, mid), now, 300 - 40 * i)
        db.session.commit()
        rebuild(w, w.branch_a, now.year)
        targets.link_user(None, "zhangzhigang", w.members_a[2])
        return w


def ask(client, content: str, user: str = "zhangzhigang", **kw):
    params, body = callback_request(agent_id=AGENT, from_user=user, content=content, **KEYS, **kw)
    return client.post(URL, query_string=params, data=body, content_type="text/xml"), params, body


def reply_text(resp) -> str:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    fields = decrypt_reply(resp.get_data(as_text=True), **KEYS)
    assert fields["MsgType"] == "text" and fields["ToUserName"] == "zhangzhigang"
    return fields["Content"]


def test_url_verification(client, world):
    params = verify_url_request(echo="hello-wecom", **KEYS)
    resp = client.get(URL, query_string=params)
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "hello-wecom"
    bad = {**params, "msg_signature": "0" * 40}
    assert client.get(URL, query_string=bad).status_code == 403


def test_help_rank_and_points(client, world):
    assert "排名" in reply_text(ask(client, "帮助")[0])
    text = reply_text(ask(client, "排名")[0])
    assert text.startswith("第一党支部党员积分榜")
    assert "1. 王建华 30分" in text and "您：第3名，22分" in text
    text = reply_text(ask(client, " 积分 ")[0])
    assert "张志刚同志" in text and "积分：22分" in text and "本季度支部排名：第3名" in text
    text = reply_text(ask(client, "跳舞")[0])
    assert "没有“跳舞”这个指令" in text and "帮助" in text


def test_unlinked_member_is_told_how_to_link(client, world):
    resp, _, _ = ask(client, "积分", user="stranger")
    fields = decrypt_reply(resp.get_data(as_text=True), **KEYS)
    assert fields["ToUserName"] == "stranger"
    assert "还没有关联到党员花名册" in fields["Content"] and "stranger" in fields["Content"]


def test_hidden_board_is_not_shown_but_own_points_are(app, client, world):
    with app.app_context():
        set_visibility(world.user("sec_a"), "members", world.branch_a, current_quarter(),
                       "hidden")
    assert "暂未公开" in reply_text(ask(client, "排名")[0])
    text = reply_text(ask(client, "积分")[0])
    assert "积分：22分" in text and "排名" not in text


def test_bad_signature_is_refused(client, world):
    params, body = callback_request(agent_id=AGENT, from_user="zhangzhigang", content="积分",
                                    **KEYS)
    params["msg_signature"] = "f" * 40
    resp = client.post(URL, query_string=params, data=body, content_type="text/xml")
    assert resp.status_code == 403 and resp.json["error"]["code"] == "callback_bad_signature"
    # The ciphertext changed in transit: the signature no longer covers it.
    params, body = callback_request(agent_id=AGENT, from_user="x", content="积分", **KEYS)
    tampered = body.replace("<Encrypt><![CDATA[", "<Encrypt><![CDATA[A")
    resp = client.post(URL, query_string=params, data=tampered, content_type="text/xml")
    assert resp.status_code == 403 and resp.json["error"]["code"] == "callback_bad_signature"


def test_replay_is_refused(client, world):
    resp, params, body = ask(client, "积分")
    assert resp.status_code == 200
    again = client.post(URL, query_string=params, data=body, content_type="text/xml")
    assert again.status_code == 403 and again.json["error"]["code"] == "callback_replayed"


def test_stale_or_future_timestamp_is_refused(client, world):
    for ts in (int(time.time()) - 3600, int(time.time()) + 3600):
        resp, _, _ = ask(client, "积分", timestamp=ts)
        assert resp.status_code == 403 and resp.json["error"]["code"] == "callback_stale"


def test_other_corp_or_key_cannot_talk_to_us(client, world):
    other = {**KEYS, "corp_id": "wwsomeoneelse0000"}
    params, body = callback_request(agent_id=AGENT, from_user="x", content="积分", **other)
    resp = client.post(URL, query_string=params, data=body, content_type="text/xml")
    assert resp.status_code == 403 and resp.json["error"]["code"] == "callback_bad_payload"
    wrong_key = {**KEYS, "aes_key": "B" * 43}
    params, body = callback_request(agent_id=AGENT, from_user="x", content="积分", **wrong_key)
    resp = client.post(URL, query_string=params, data=body, content_type="text/xml")
    assert resp.status_code == 403


def test_other_agent_and_garbage_are_refused(client, world):
    params, body = callback_request(agent_id="999", from_user="x", content="积分", **KEYS)
    resp = client.post(URL, query_string=params, data=body, content_type="text/xml")
    assert resp.status_code == 403 and resp.json["error"]["code"] == "callback_wrong_agent"
    resp = client.post(URL, query_string={"msg_signature": "a", "timestamp": str(int(time.time())),
                                          "nonce": "n"}, data=b"<xml><nope", content_type="text/xml")
    assert resp.status_code == 403
    assert client.post(URL).status_code == 400


def test_not_configured_is_404(app, client, world):
    app.config["WECOM_CALLBACK_TOKEN"] = ""
    resp, _, _ = ask(client, "积分")
    assert resp.status_code == 404


def test_over_real_http(app, world):
    from bot.wechat_fake.wecom import post_callback
    from tests.support.liveserver import live_server

    with live_server(app) as base:
        status, reply = post_callback(base + URL, agent_id=AGENT, from_user="zhangzhigang",
                                      content="排名", **KEYS)
    assert status == 200 and "您：第3名" in reply["Content"]
