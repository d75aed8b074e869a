"""Channels against the WeCom fake over real HTTP: the shared rate limiter, error codes
in Chinese, the app chat's shared access token, images with base64 + md5."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import update

from bot import errors, outbox, publishing, ratelimit, targets
from bot.channels import image_part, open_channel
from bot.channels.webhook import WeComWebhook
from bot.models import BotPost, ChatTarget
from bot.wechat_fake import running_fake
from bot.wechat_fake.wecom import (
    add_robot,
    delivered,
    expire_tokens,
    gettoken_calls,
    remove_robot,
)
from server.core.clock import utcnow
from server.core.db import db
from tests.support.bot import (
    CORP,
    CORP_SECRET,
    Q3,
    build_world,
    seed_branch_points,
    webhook_target,
    wecom_config,
)


@pytest.fixture
def fake():
    with running_fake() as (base, state):
        state.settings["corps"] = {CORP: CORP_SECRET}
        yield base, state


@pytest.fixture
def world(app, fake):
    wecom_config(app, fake[0])
    with app.app_context():
        w = build_world()
        seed_branch_points(w)
        return w


def _queue(target: ChatTarget, n: int, prefix: str = "t") -> list[int]:
    ids = []
    for i in range(n):
        post, _ = outbox.enqueue(target, kind="notice", subject=f"{prefix}:{i}", edition="x",
                                 title=f"消息{i}", parts=[{"msgtype": "text",
                                                           "content": f"第{i}条"}],
                                 source="cli")
        ids.append(post.id)
    return ids


def test_rate_limit_twenty_per_window_shared_by_runners(app, fake, world):
    """25 messages for one robot from four runners at once: 20 go in the window, the
    rest wait; WeCom never has to answer 45009."""
    base, state = fake
    app.config["BOT_RATE_WINDOW_S"] = 3
    state.settings.update({"rate_limit": 20, "rate_window_s": 3})
    key = add_robot(state)
    with app.app_context():
        target = webhook_target(world.branch_a, key, formats=["text"])
        _queue(target, 25)
    gate = threading.Barrier(4)

    def run() -> None:
        with app.app_context():
            gate.wait()
            outbox.run()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(delivered(state, key=key)) == 20
    with app.app_context():
        waiting = db.session.execute(db.select(BotPost).filter_by(status="pending")).scalars()
        waiting = list(waiting)
        assert len(waiting) == 5
        assert all("每分钟最多 20 条" in p.last_error for p in waiting)
        assert all(p.attempts == 0 for p in waiting)  # waiting is not failing
        time.sleep(3.2)
        outbox.run()
    assert len(delivered(state, key=key)) == 25
    assert not [r for r in state.seen("webhook/send") if r.answer["errcode"] == 45009]


def test_rate_limiter_window_slides(app):
    with app.app_context():
        assert [ratelimit.acquire("robot-a", 3, 1) for _ in range(3)] == [0, 0, 0]
        wait = ratelimit.acquire("robot-a", 3, 1)
        assert 0 < wait <= 1000
        assert ratelimit.acquire("robot-b", 3, 1) == 0  # per robot
        time.sleep(wait / 1000 + 0.05)
        assert ratelimit.acquire("robot-a", 3, 1) == 0


def test_45009_from_wecom_waits_a_minute(app, fake, world):
    base, state = fake
    state.settings["rate_limit"] = 1  # someone else's messages filled the robot's minute
    key = add_robot(state)
    with app.app_context():
        target = webhook_target(world.branch_a, key, formats=["text"])
        a, b = _queue(target, 2)
        assert outbox.deliver(a).result == "sent"
        assert outbox.deliver(b).result == "retry"
        post = db.session.get(BotPost, b)
        db.session.refresh(post)
        assert post.status == "pending" and post.last_errcode == 45009
        assert "发送太频繁" in post.last_error and "20 条" in post.last_error
        assert (post.next_attempt_at - utcnow()).total_seconds() >= 59


@pytest.mark.parametrize(("errcode", "words", "status"), [
    (93000, "群机器人地址无效", "failed"),
    (-1, "系统繁忙", "pending"),
    (40058, "消息格式不正确", "failed"),
    (45033, "并发调用过多", "pending"),
    (77777, "错误码 77777", "pending"),
])
def test_error_codes_become_clear_chinese(app, fake, world, errcode, words, status):
    base, state = fake
    key = add_robot(state)
    with app.app_context():
        target = webhook_target(world.branch_a, key, formats=["text"])
        if errcode == 93000:
            remove_robot(state, key)  # the robot was removed from the group
        else:
            state.settings["fail"] = [{"path": "webhook/send", "errcode": errcode}]
        (post_id,) = _queue(target, 1)
        outbox.deliver(post_id)
        post = db.session.get(BotPost, post_id)
        db.session.refresh(post)
        assert post.status == status and words in post.last_error
        assert post.last_errcode == errcode
    assert delivered(state, key=key) == []


def test_error_table_and_classification():
    assert errors.rejected(93000).permanent
    assert errors.rejected(45009).retry_after_s == 60
    assert errors.rejected(42001).kind == errors.TOKEN
    assert isinstance(errors.from_status(502), errors.Uncertain)
    assert isinstance(errors.from_status(404), errors.Rejected)


def test_fake_checks_payloads_as_documented(app, fake, world):
    base, state = fake
    key = add_robot(state)
    with app.app_context():
        ch = WeComWebhook(key)
        with pytest.raises(errors.Rejected) as exc:
            ch.send({"msgtype": "markdown", "content": "好" * 1366})  # 4098 bytes
        assert exc.value.errcode == 40058
        ch.send({"msgtype": "markdown", "content": "好" * 1365})  # 4095 bytes
        with pytest.raises(errors.Rejected) as exc:
            ch.send({"msgtype": "text", "content": "a" * 2049})
        assert exc.value.errcode == 40058
        png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
        bad = {**image_part(png), "md5": "0" * 32}
        with pytest.raises(errors.Rejected) as exc:
            ch.send(bad)
        assert exc.value.errcode == 301019
        with pytest.raises(errors.Rejected) as exc:
            ch.send(image_part(b"\x89PNG\r\n\x1a\n" + b"0" * (2 * 1024 * 1024)))
        assert exc.value.errcode == 40009
        ch.send(image_part(png))
        with pytest.raises(errors.Rejected) as exc:
            WeComWebhook("0000-not-a-robot").send({"msgtype": "text", "content": "x"})
        assert exc.value.errcode == 93000 and exc.value.permanent
    assert [b["msgtype"] for b in delivered(state, key=key)] == ["markdown", "image"]


def test_app_chat_token_is_fetched_once_for_all_workers(app, fake, world):
    """Six workers need a token at once: one gettoken. The token expires: one refresh,
    and every message is delivered exactly once."""
    base, state = fake
    state.settings["chats"] = ["chatdangwei01"]
    with app.app_context():
        target_id = targets.add_target(None, branch_id=world.branch_a, channel="wecom_appchat",
                                       name="第一党支部应用群", secret="chatdangwei01",
                                       formats=["markdown"]).id
    gate = threading.Barrier(6)
    sent: list[str] = []

    def worker(tag: str) -> None:
        with app.app_context():
            ch = open_channel(db.session.get(ChatTarget, target_id))
            gate.wait()
            ch.send({"msgtype": "markdown", "content": f"**{tag}**"})
            sent.append(tag)

    def wave(prefix: str) -> None:
        threads = [threading.Thread(target=worker, args=(f"{prefix}{i}",)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)

    wave("a")
    assert gettoken_calls(state) == 1 and len(sent) == 6
    expire_tokens(state)
    wave("b")
    assert gettoken_calls(state) == 2 and len(sent) == 12
    got = [b["markdown"]["content"] for b in delivered(state, "appchat/send")]
    assert sorted(got) == sorted(f"**{t}**" for t in sent)
    expired = [r for r in state.seen("appchat/send") if r.answer["errcode"] == 42001]
    assert 1 <= len(expired) <= 6  # each worker that met the expired token retried once


def test_app_chat_publishes_card_and_markdown(app, fake, world):
    base, state = fake
    with app.app_context():
        targets.add_target(None, branch_id=world.branch_a, channel="wecom_appchat",
                           name="第一党支部应用群", secret="chat42", formats=["image", "markdown"])
        done = publishing.publish_board(None, "members", world.branch_a, Q3, source="cli")
        assert done[0].post.status == "sent"
    got = delivered(state, "appchat/send", chatid="chat42")
    assert [b["msgtype"] for b in got] == ["image", "markdown"]
    assert len(state.seen("media/upload")) == 1


def test_app_chat_unknown_chat_and_bad_secret(app, fake, world):
    base, state = fake
    state.settings["chats"] = ["chatknown"]
    with app.app_context():
        t = targets.add_target(None, branch_id=world.branch_a, channel="wecom_appchat",
                               name="错群", secret="chatunknown", formats=["markdown"])
        post = publishing.publish_board(None, "members", world.branch_a, Q3,
                                        source="cli")[0].post
        assert post.status == "failed" and "群聊不存在" in post.last_error
        app.config["WECOM_APP_SECRET"] = "wrong-secret-000000"
        with db.engine.begin() as conn:
            conn.execute(update(BotPost.__table__).values(
                status="pending", next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
        state.settings["chats"] = ["chatunknown"]
        outbox.run()
        post = outbox.find(t.id, post.subject, post.edition)
        assert post.status == "failed" and "Secret 不正确" in post.last_error
