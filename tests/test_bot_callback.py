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
    return reply_text_for(resp, "zhangzhigang")


def reply_text_for(resp, user: str) -> str:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    fields = decrypt_reply(resp.get_data(as_text=True), **KEYS)
    assert fields["MsgType"] == "text" and fields["ToUserName"] == user
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


def test_rank_of_a_member_deep_in_a_big_board(app, client, world, monkeypatch):
    """40 more members: the asker is 35th of 45. Neither reply reads the whole board."""
    from server.core.db import db
    from server.organization.models import Member
    from server.points import boards

    with app.app_context():
        now = current_quarter()
        crowd = [Member(committee_id=world.committee_id, branch_id=world.branch_a,
                        member_no=f"K{i:03d}", name=f"众{i:02d}号") for i in range(40)]
        db.session.add_all(crowd)
        db.session.flush()
        for i, member in enumerate(crowd):  # 众00号 … 众39号: 90 points down to 51
            approved(member, now, 900 - 10 * i)
        db.session.commit()
        rebuild(world, world.branch_a, now.year)
        targets.link_user(None, "zhongsanshisi", crowd[34].id)  # 56 points, 35th
    pages: list[int] = []

    def counted(real):
        def read(board, scope_id, period, offset=0, limit=50):
            pages.append(limit)
            return real(board, scope_id, period, offset, limit)
        return read

    monkeypatch.setattr(boards, "read_page", counted(boards.read_page))
    monkeypatch.setattr(boards, "peek_page", counted(boards.peek_page))
    text = reply_text_for(ask(client, "积分", user="zhongsanshisi")[0], "zhongsanshisi")
    assert "众34号同志" in text and "本季度支部排名：第35名（共45人）" in text
    text = reply_text_for(ask(client, "排名", user="zhongsanshisi")[0], "zhongsanshisi")
    assert "1. 众00号 90分" in text and "10. 众09号 81分" in text and "11." not in text
    assert "您：第35名，56分（共45人）" in text
    assert pages and 0 not in pages  # pages of the board, never all of it


def test_frozen_board_rank_is_the_frozen_one(app, client, world):
    from server.core.db import db
    from server.organization.models import Member

    with app.app_context():
        now = current_quarter()
        set_visibility(world.user("sec_a"), "members", world.branch_a, now, "frozen")
        approved(db.session.get(Member, world.members_a[2]), now, 500)  # after the freeze
        db.session.commit()
        rebuild(world, world.branch_a, now.year)
    text = reply_text(ask(client, "积分")[0])
    assert "积分：72分" in text and "本季度支部排名：第3名（共5人）" in text
    assert "您：第3名，22分（共5人）" in reply_text(ask(client, "排名")[0])


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
