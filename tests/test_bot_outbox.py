"""Promise 6, the bot posts once: over real HTTP against the WeCom fake, a leaderboard
for (board, period, chat) arrives at most once across timeouts, retries, crashes and
racing runners; failures retry with backoff."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import update

from bot import outbox, publishing
from bot.models import BotPost
from bot.wechat_fake import running_fake
from bot.wechat_fake.wecom import add_robot, delivered
from server.core.clock import utcnow
from server.core.db import db
from tests.support.bot import (
    Q3,
    big_branch,
    build_world,
    publish_quarter,
    seed_branch_points,
    webhook_target,
    wecom_config,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake():
    with running_fake() as (base, state):
        yield base, state


@pytest.fixture
def world(app, fake):
    wecom_config(app, fake[0])
    with app.app_context():
        w = build_world()
        seed_branch_points(w)
        return w


def test_first_answer_times_out_then_retries_post_nothing_twice(app, fake, world):
    base, state = fake
    key = add_robot(state)
    state.settings["delay"] = [{"path": "webhook/send", "seconds": 2.5, "times": 1}]
    with app.app_context():
        webhook_target(world.branch_a, key)
        started = time.monotonic()
        done = publishing.publish_board(None, "members", world.branch_a, Q3, source="cli")
        assert time.monotonic() - started < 2.4  # the client gave up (timeout 1 s)
        post = done[0].post
        assert post.status == "uncertain" and post.inflight_part == 0
        assert "可能已经送达" in post.last_error
        assert len(delivered(state, key=key)) == 1  # WeCom got it all the same

        # Retries of every kind: the outbox, run-due, publishing again, a later runner
        # after the lease would have expired. None of them resends.
        assert outbox.run().outcomes == []
        publishing.run_due()
        again = publishing.publish_board(None, "members", world.branch_a, Q3, source="cli")
        assert again[0].created is False and again[0].post.status == "uncertain"
        later = utcnow() + dt.timedelta(hours=3)
        assert outbox.sweep(later) == 0 and outbox.due_ids(later) == []
        time.sleep(1.7)  # the fake's late answer comes and goes
        assert len(delivered(state, key=key)) == 1

        # A person looks at the group: it is there.
        post = outbox.confirm_delivered(None, post.id)
        assert post.status == "sent" and post.parts_sent == 1
        outbox.run()
        assert len(delivered(state, key=key)) == 1


def test_uncertain_middle_part_then_resend_only_that_part(app, fake, world):
    """Two messages (card, then markdown); the second times out; a person finds it
    missing and asks for a resend: the card is not sent again."""
    base, state = fake
    key = add_robot(state)
    with app.app_context():
        webhook_target(world.branch_a, key, formats=["image", "markdown"])
        # the second request (the markdown) arrives, but its answer is a gateway error
        state.settings["status"] = [{"path": "webhook/send", "status": 502, "after": 1}]
        done = publishing.publish_board(None, "members", world.branch_a, Q3, source="console")
        post = done[0].post
        assert post.parts_total == 2 and post.parts_sent == 1 and post.status == "uncertain"
        assert "HTTP 502" in post.last_error
        kinds = [b["msgtype"] for b in delivered(state, key=key)]
        assert kinds == ["image", "markdown"]  # both arrived; we only know about the first
        outbox.run()
        assert len(delivered(state, key=key)) == 2
        outbox.resend(None, post.id)  # (a person decided it had not arrived)
        outbox.run()
        kinds = [b["msgtype"] for b in delivered(state, key=key)]
        assert kinds == ["image", "markdown", "markdown"]  # the image never twice
        assert outbox.find(post.target_id, post.subject, post.edition).status == "sent"


def test_not_delivered_is_retried_with_backoff_and_sent_once(app, fake, world):
    base, state = fake
    key = add_robot(state)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with app.app_context():
        webhook_target(world.branch_a, key)
        app.config["WECOM_API_BASE"] = f"http://127.0.0.1:{closed}"
        done = publishing.publish_board(None, "members", world.branch_a, Q3, source="cli")
        post = done[0].post
        assert post.status == "pending" and post.attempts == 1
        assert "无法连接企业微信服务器" in post.last_error
        wait = (post.next_attempt_at - utcnow()).total_seconds()
        assert 20 <= wait <= 40  # 30 s ± jitter
        assert outbox.run().outcomes == []  # not due yet

        app.config["WECOM_API_BASE"] = base
        state.settings["fail"] = [{"path": "webhook/send", "errcode": -1, "times": 1}]
        _due_now(post.id)
        assert outbox.run().outcomes[0].result == "retry"
        post = outbox.find(post.target_id, post.subject, post.edition)
        assert post.attempts == 2 and "系统繁忙" in post.last_error
        assert 45 <= (post.next_attempt_at - utcnow()).total_seconds() <= 75  # doubled
        _due_now(post.id)
        assert outbox.run().outcomes[0].result == "sent"
        _due_now(post.id)
        outbox.run()
        assert len(delivered(state, key=key)) == 1


def test_gives_up_after_max_attempts_and_a_person_can_retry(app, fake, world):
    base, state = fake
    key = add_robot(state)
    app.config["BOT_MAX_ATTEMPTS"] = 2
    with app.app_context():
        webhook_target(world.branch_a, key)
        state.settings["fail"] = [{"path": "webhook/send", "errcode": -1, "times": 2}]
        post = publishing.publish_board(None, "members", world.branch_a, Q3, source="cli")[0].post
        _due_now(post.id)
        outbox.run()
        post = outbox.find(post.target_id, post.subject, post.edition)
        assert post.status == "failed" and "停止重试" in post.last_error
        outbox.retry(None, post.id)
        assert outbox.run().outcomes[0].result == "sent"
        assert len(delivered(state, key=key)) == 1


def _due_now(post_id):
    with db.engine.begin() as conn:
        conn.execute(update(BotPost.__table__).where(BotPost.__table__.c.id == post_id)
                     .values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))


def test_two_runners_race_in_threads(app, fake, world):
    """Eight runners at once over five chats of a 40-member branch: each chat gets each
    message exactly once."""
    base, state = fake
    with app.app_context():
        b = big_branch(world)
        keys = [add_robot(state) for _ in range(5)]
        for i, k in enumerate(keys):
            webhook_target(b.id, k, name=f"群{i}", formats=["image", "markdown"])
        publishing.publish_board(None, "members", b.id, Q3, source="cli", send=False)
        total_parts = sum(p.parts_total for p in db.session.execute(
            db.select(BotPost)).scalars())
    gate = threading.Barrier(8)
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            with app.app_context():
                gate.wait()
                outbox.run()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    with app.app_context():
        posts = db.session.execute(db.select(BotPost)).scalars().all()
        assert {p.status for p in posts} == {"sent"}
    for k in keys:
        got = delivered(state, key=k)
        parts = [b.get("markdown", b.get("image")) for b in got]
        assert len(got) == total_parts // 5
        assert len({str(p) for p in parts}) == len(parts)  # no message twice


@pytest.mark.skipif(os.environ.get("TEST_REDIS_CLUSTER") == "1", reason="single Redis URL")
def test_two_runner_processes_race(app, fake, world, redis_url, tmp_path):
    """`pingyi bot run-due` twice at once (cron on two hosts): one copy of each message."""
    if not redis_url:
        pytest.skip("cluster mode")
    base, state = fake
    with app.app_context():
        keys = [add_robot(state) for _ in range(3)]
        for i, k in enumerate(keys):
            webhook_target(world.branch_a, k, name=f"群{i}", formats=["image", "markdown"])
        publishing.publish_board(None, "members", world.branch_a, Q3, source="cli", send=False)
        url = str(db.engine.url.render_as_string(hide_password=False))
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url,
           "SECRET_KEY": "test-secret", "WECOM_API_BASE": base, "BOT_HTTP_TIMEOUT_S": "5"}
    env.pop("REDIS_CLUSTER_NODES", None)
    cmd = [sys.executable, "-c", "from server.cli import main; main()", "bot", "run-due"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    for k in keys:
        got = delivered(state, key=k)
        assert [b["msgtype"] for b in got] == ["image", "markdown"], outs


def test_enqueue_is_idempotent_per_chat_board_period_edition(app, fake, world):
    base, state = fake
    key = add_robot(state)
    with app.app_context():
        webhook_target(world.branch_a, key)
        first = publishing.publish_board(None, "members", world.branch_a, Q3, source="cli")
        second = publishing.publish_board(None, "members", world.branch_a, Q3, source="console")
        assert first[0].created and not second[0].created
        assert first[0].post.edition.startswith("interim-")
        publish_quarter(world)  # published: the final standings are a new edition ...
        third = publishing.publish_board(None, "members", world.branch_a, Q3, source="console")
        fourth = publishing.publish_board(None, "members", world.branch_a, Q3, source="cli")
        assert third[0].post.edition == "final" and not fourth[0].created
        # ... and a correction may be posted again, deliberately, once per request
        fifth = publishing.publish_board(None, "members", world.branch_a, Q3, source="console",
                                         repost=True)
        assert fifth[0].post.edition == "final-2"
        assert len(delivered(state, key=key)) == 3


def test_a_runner_that_dies_is_taken_over_or_flagged(app, fake, world):
    """Died after its claim, before any request: another runner sends the post. Died
    with a request in flight: the post becomes uncertain and is not sent again."""
    base, state = fake
    key = add_robot(state)
    with app.app_context():
        target = webhook_target(world.branch_a, key, formats=["text"])
        a, _ = outbox.enqueue(target, kind="notice", subject="t:a", edition="x", title="a",
                              parts=[{"msgtype": "text", "content": "甲"}], source="cli")
        b, _ = outbox.enqueue(target, kind="notice", subject="t:b", edition="x", title="b",
                              parts=[{"msgtype": "text", "content": "乙"}], source="cli")
        past = utcnow() - dt.timedelta(hours=1)
        assert outbox._claim(a.id, "dead-1", utcnow())
        with db.engine.begin() as conn:  # ... and its lease ran out long ago
            conn.execute(update(BotPost.__table__).where(BotPost.__table__.c.id == a.id)
                         .values(lease_until=past))
        assert outbox._claim(b.id, "dead-2", utcnow())
        assert outbox._mark_inflight(b.id, "dead-2", 0)
        assert outbox.run().outcomes == [outbox.Outcome(a.id, "sent")]  # b is still leased
        with db.engine.begin() as conn:
            conn.execute(update(BotPost.__table__).where(BotPost.__table__.c.id == b.id)
                         .values(lease_until=past))
        report = outbox.run()
        assert report.swept == 1 and report.outcomes == []
        b = outbox.find(target.id, "t:b", "x")
        assert b.status == "uncertain" and "发送过程中断" in b.last_error
    assert [x["text"]["content"] for x in delivered(state, key=key)] == ["甲"]
