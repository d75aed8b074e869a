"""No webhook key, access token, corp secret, chat id or callback key in any log line
(every logger at DEBUG, urllib3 and requests included), stored error, audit entry, or
the database in clear."""

from __future__ import annotations

import logging
import socket

import pytest
import requests
from sqlalchemy import text

from bot import outbox, publishing, targets
from bot.channels import open_channel
from bot.models import BotPost
from bot.wechat_fake import running_fake
from bot.wechat_fake.wecom import add_robot, callback_request, expire_tokens
from server.core.db import db
from tests.support.bot import (
    AGENT,
    CB_AES,
    CB_TOKEN,
    CORP,
    CORP_SECRET,
    Q3,
    build_world,
    seed_branch_points,
    webhook_target,
    wecom_config,
)

CHAT = "chatsecretive0042"


@pytest.fixture
def fake():
    with running_fake() as (base, state):
        state.settings["corps"] = {CORP: CORP_SECRET}
        yield base, state


def test_no_secret_in_logs_errors_or_database(app, client, runner, fake, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool", "requests", "wechatpy", "werkzeug",
                 "bot", "server"):
        caplog.set_level(logging.DEBUG, logger=name)
    base, state = fake
    wecom_config(app, base)
    good, lost, slow = add_robot(state), add_robot(state), add_robot(state)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    tokens: list[str] = []
    with app.app_context():
        w = build_world()
        seed_branch_points(w)
        webhook_target(w.branch_a, good, name="好群", formats=["image", "markdown"])
        chat = targets.add_target(None, branch_id=w.branch_a, channel="wecom_appchat",
                                  name="应用群", secret=CHAT, formats=["markdown"])
        publishing.publish_board(None, "members", w.branch_a, Q3, source="cli")  # 200 OK
        expire_tokens(state)  # 42001, a new token, the request again
        open_channel(chat).send({"msgtype": "text", "content": "令牌过期后"})

        webhook_target(w.branch_b, lost, name="断网群")
        app.config["WECOM_API_BASE"] = f"http://127.0.0.1:{closed}"  # ConnectionError text
        publishing.publish_board(None, "members", w.branch_b, Q3, source="cli")
        app.config["WECOM_API_BASE"] = base
        webhook_target(None, slow, name="慢群", committee_id=w.committee_id)
        state.settings["delay"] = [{"path": "webhook/send", "seconds": 1.5}]
        publishing.publish_board(None, "branches", w.committee_id, Q3, source="cli")  # timeout
        state.settings["delay"] = []

        try:  # an exception whose text carries a URL with the key, logged with traceback
            requests.post(f"http://127.0.0.1:{closed}/cgi-bin/webhook/send",
                          params={"key": lost}, timeout=1)
        except requests.RequestException:
            logging.getLogger("bot.test").exception("post failed")

        outbox.run()
        errors = [p.last_error for p in db.session.execute(db.select(BotPost)).scalars()]
        audit = list(db.session.execute(text("SELECT detail FROM audit_log")).scalars())
        dump = "\n".join(str(row) for row in db.session.execute(
            text("SELECT * FROM bot_chat_targets")).all())
        for r in state.seen("gettoken"):
            tokens.append(r.answer.get("access_token", ""))
    params, body = callback_request(token=CB_TOKEN, aes_key=CB_AES, corp_id=CORP,
                                    agent_id=AGENT, from_user="nobody", content="帮助")
    assert client.post("/bot/wecom/callback", query_string=params, data=body,
                       content_type="text/xml").status_code == 200
    out = runner.invoke(args=["bot", "targets"]).output

    secrets = [good, lost, slow, CHAT, CORP_SECRET, CB_TOKEN, CB_AES, *[t for t in tokens if t]]
    assert len(tokens) >= 2
    logged = caplog.text + "\n".join(
        (r.getMessage() + (r.exc_text or "")) for r in caplog.records)
    assert "key=***" in logged  # urllib3's request lines were captured, redacted
    assert "Traceback" in logged and "post failed" in logged
    for secret in secrets:
        assert secret not in logged
        assert not any(secret in e for e in errors)
        assert not any(secret in a for a in audit)
        assert secret not in dump
        assert secret not in out
    assert good[-4:] in out  # masked: the last four characters only
    assert any("无法连接企业微信服务器" in e for e in errors)
    assert any("可能已经送达" in e for e in errors)
