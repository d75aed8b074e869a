"""The secretary's screens (preview, publish, history, chats, accounts), the public share
page, and `pingyi bot ...` (publish, run-due with the schedule's rules)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import text

from bot import publishing, share
from bot.models import BotPost, ChatTarget
from bot.wechat_fake import running_fake
from bot.wechat_fake.wecom import add_robot, delivered
from server.core.db import db
from server.core.errors import ApiError
from server.points.visibility import set_visibility
from tests.conftest import csrf_token
from tests.support.bot import (
    AFTER_OBJECTIONS,
    Q3,
    build_world,
    publish_quarter,
    seed_branch_points,
    webhook_target,
    wecom_config,
)
from tests.support.points import PASSWORD


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


def login(client, username):
    page = client.get("/console/login")
    res = client.post("/console/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                              "username": username, "password": PASSWORD})
    assert res.status_code == 302


def token(client, path="/console/bot/targets"):
    return csrf_token(client.get(path).get_data(as_text=True))


def test_secretary_adds_a_chat_previews_and_publishes(app, client, fake, world):
    base, state = fake
    key = add_robot(state)
    login(client, "sec_a")
    res = client.post("/console/bot/targets", data={
        "csrf_token": token(client), "channel": "wecom_webhook", "name": "第一党支部党员群",
        "secret": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}",
        "purposes": "points", "formats": ["image", "markdown"]})
    assert res.status_code == 303
    page = client.get("/console/bot/targets").get_data(as_text=True)
    assert "第一党支部党员群" in page and "••••" + key[-4:] in page and key not in page

    page = client.get("/console/bot/?period=2026Q3").get_data(as_text=True)
    assert "第一党支部党员积分榜" in page and "王建华" in page and "/ 4096 字节" in page
    assert "阶段排名" in page and 'src="/console/bot/preview.png?period=2026Q3' in page
    png = client.get("/console/bot/preview.png?period=2026Q3&board=members")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")

    res = client.post("/console/bot/publish", data={
        "csrf_token": token(client), "board": "members", "period": "2026Q3"})
    assert res.status_code == 303
    done = client.get(res.headers["Location"]).get_data(as_text=True)
    assert "已发送到“第一党支部党员群”" in done
    assert [b["msgtype"] for b in delivered(state, key=key)] == ["image", "markdown"]
    # Clicking again sends nothing: the same edition was posted to that chat.
    res = client.post("/console/bot/publish", data={
        "csrf_token": token(client), "board": "members", "period": "2026Q3"})
    again = client.get(res.headers["Location"]).get_data(as_text=True)
    assert "不会重复发送" in again
    assert len(delivered(state, key=key)) == 2
    hist = client.get("/console/bot/history").get_data(as_text=True)
    assert "第一党支部党员积分榜 2026年第三季度（阶段排名）" in hist and "已发送" in hist


def test_secretary_stays_in_the_own_branch(app, client, fake, world):
    base, state = fake
    with app.app_context():
        webhook_target(world.branch_b, add_robot(state), name="第二党支部党员群")
    login(client, "sec_a")
    assert "第二党支部党员群" not in client.get("/console/bot/targets").get_data(as_text=True)
    assert client.get(f"/console/bot/?branch={world.branch_b}").status_code == 404
    res = client.post("/console/bot/publish", data={
        "csrf_token": token(client), "board": "members", "period": "2026Q3",
        "branch": str(world.branch_b)})
    assert res.status_code == 404
    page = client.get("/console/bot/?board=branches&period=2026Q3").get_data(as_text=True)
    assert "此操作须由党委账号执行" in page  # the branches board is the committee's
    with app.app_context():
        t = db.session.execute(db.select(ChatTarget)).scalar_one()
        tid = t.id
    res = client.post(f"/console/bot/targets/{tid}/disable", data={"csrf_token": token(client)})
    assert res.status_code == 404
    assert delivered(state) == []


def test_hidden_board_cannot_be_published_and_its_link_shows_nothing(app, client, fake, world):
    base, state = fake
    with app.app_context():
        webhook_target(world.branch_a, add_robot(state))
        url = share.share_path("members", world.branch_a, Q3)
        set_visibility(world.user("sec_a"), "members", world.branch_a, Q3, "hidden")
    login(client, "sec_a")
    page = client.get("/console/bot/?period=2026Q3").get_data(as_text=True)
    assert "该排行榜暂未公开" in page and 'action="/console/bot/publish"' not in page
    client.get("/console/logout")
    res = client.get(url)
    assert res.status_code == 403 and "暂未公开" in res.get_data(as_text=True)
    assert client.get(url + "/card.png").status_code == 403
    with app.app_context():
        with pytest.raises(ApiError) as exc:
            publishing.publish_board(None, "members", world.branch_a, Q3, source="cli")
        assert exc.value.code == "board_hidden"
    assert delivered(state) == []


def test_share_page_is_public_signed_and_follows_freeze(app, client, world):
    with app.app_context():
        url = share.share_path("members", world.branch_a, Q3)
        set_visibility(world.user("sec_a"), "members", world.branch_a, Q3, "frozen")
        from server.points.models import PointsEntry

        db.session.add(PointsEntry(  # approved after the freeze: not on the shared board
            committee_id=world.committee_id, branch_id=world.branch_a,
            member_id=world.members_a[4], rule_set="default-2026", category_key="performance",
            item_key="post_duty", kind="award", points_x10=900, year=2026, quarter=3,
            reason="x", source="secretary", status="approved"))
        db.session.commit()
    res = client.get(url)
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and res.headers["Cache-Control"] == "no-store"
    assert "第一党支部党员积分榜" in html and "2026年第三季度" in html
    assert html.index("王建华") < html.index("陈国强")  # frozen order, not the new one
    assert "<script" not in html
    card = client.get(url + "/card.png")
    assert card.status_code == 200 and card.mimetype == "image/png"
    assert client.get(url[:-2] + "xx").status_code == 404  # a forged signature
    other = re.sub(r"/s/m/\d+/", f"/s/m/{world.branch_b}/", url)
    assert client.get(other).status_code == 404  # another branch needs its own link


def test_manual_share_channel_prepares_what_the_secretary_forwards(app, client, world):
    with app.app_context():
        from bot import targets

        targets.add_target(None, branch_id=world.branch_a, channel="manual", name="党员微信群")
        [done] = publishing.publish_board(None, "members", world.branch_a, Q3, source="cli")
        assert done.post.status == "sent"
        [part] = done.post.parts
        assert part["msgtype"] == "share" and "/s/m/" in part["url"]
        assert part["content"].startswith("【第一党支部党员积分榜】2026年第三季度（阶段排名）")
    login(client, "sec_a")
    hist = client.get("/console/bot/history").get_data(as_text=True)
    assert "已生成，待书记转发" in hist and "打开分享页面" in hist


def test_uncertain_post_is_resolved_on_screen(app, client, fake, world):
    base, state = fake
    key = add_robot(state)
    state.settings["delay"] = [{"path": "webhook/send", "seconds": 2.0}]
    with app.app_context():
        webhook_target(world.branch_a, key)
        [done] = publishing.publish_board(None, "members", world.branch_a, Q3, source="cli")
        post_id = done.post.id
        assert done.post.status == "uncertain"
    login(client, "sec_a")
    hist = client.get("/console/bot/history").get_data(as_text=True)
    assert "待核对" in hist and "群里已收到" in hist and "没收到，重发" in hist
    res = client.post(f"/console/bot/posts/{post_id}/confirm",
                      data={"csrf_token": token(client, "/console/bot/history")})
    assert res.status_code == 303
    with app.app_context():
        assert db.session.get(BotPost, post_id).status == "sent"
        assert "bot.confirm_delivered" in db.session.execute(
            text("SELECT action FROM audit_log")).scalars().all()


def test_linking_wecom_accounts(app, client, world):
    login(client, "sec_a")
    page = client.get("/console/bot/users").get_data(as_text=True)
    assert "尚未配置" not in page and "王建华（A001）" in page
    res = client.post("/console/bot/users", data={
        "csrf_token": token(client, "/console/bot/users"), "userid": "wangjianhua",
        "member_id": str(world.members_a[0])})
    assert res.status_code == 303
    page = client.get("/console/bot/users").get_data(as_text=True)
    assert "wangjianhua" in page
    res = client.post("/console/bot/users", data={
        "csrf_token": token(client, "/console/bot/users"), "userid": "sunwei",
        "member_id": str(world.members_b[0])})  # another branch's member
    assert "找不到该党员" in client.get(res.headers["Location"]).get_data(as_text=True)


def test_cli_publish_dry_run_then_for_real(app, runner, fake, world):
    base, state = fake
    key = add_robot(state)
    with app.app_context():
        webhook_target(world.branch_a, key, formats=["image", "markdown"])
    res = runner.invoke(args=["bot", "publish", "--branch", "第一党支部", "--board", "members",
                              "--period", "2026Q3", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "-- image: PNG of about" in res.output and "### 第一党支部党员积分榜" in res.output
    assert delivered(state) == []
    res = runner.invoke(args=["bot", "publish", "--branch", "第一党支部", "--period", "2026Q3"])
    assert res.exit_code == 0 and "已发送 [2/2]" in res.output, res.output
    res = runner.invoke(args=["bot", "publish", "--branch", "第一党支部", "--period", "2026Q3"])
    assert "already queued before: not sent again" in res.output
    assert len(delivered(state, key=key)) == 2
    res = runner.invoke(args=["bot", "publish", "--branch", "第九党支部", "--period", "2026Q3"])
    assert res.exit_code != 0 and "not found" in res.output
    res = runner.invoke(args=["bot", "publish", "--branch", "第二党支部", "--period", "2026Q3"])
    assert res.exit_code != 0 and "还没有配置接收排行榜的群聊" in res.output


def test_cli_add_target_reads_the_secret_from_stdin(app, runner, fake, world):
    base, state = fake
    key = add_robot(state)
    res = runner.invoke(args=["bot", "add-target", "--branch", "第一党支部", "--channel",
                              "wecom_webhook", "--name", "党员群"], input=key + "\n")
    assert res.exit_code == 0 and key not in res.output and key[-4:] in res.output, res.output
    res = runner.invoke(args=["bot", "add-target", "--branch", "第一党支部", "--channel",
                              "wecom_webhook", "--name", "又一个"], input=key + "\n")
    assert res.exit_code != 0 and "已经添加过" in res.output


def test_run_due_posts_published_quarters_and_round_notices_once(app, runner, fake, world):
    base, state = fake
    member_key, committee_key = add_robot(state), add_robot(state)
    with app.app_context():
        webhook_target(world.branch_a, member_key)
        webhook_target(None, committee_key, name="党委群", committee_id=world.committee_id,
                       purposes=["points", "notices"])
        publish_quarter(world)
        assert publishing.queue_due(AFTER_OBJECTIONS - dt.timedelta(days=2)).queued == []

        report = publishing.run_due(AFTER_OBJECTIONS)
        assert sorted(report.queued) == sorted([
            f"members:{world.branch_a}:2026Q3 → 第一党支部党员群",
            f"branches:{world.committee_id}:2026Q3 → 党委群"])
        assert any("groups" in s for s in report.skipped)  # no party-group scores: skipped
        assert publishing.run_due(AFTER_OBJECTIONS).queued == []
        too_late = AFTER_OBJECTIONS + dt.timedelta(days=60)
        db.session.execute(text("DELETE FROM bot_posts"))
        db.session.commit()
        assert publishing.queue_due(too_late).queued == []  # older than BOT_CATCHUP_DAYS

    [member_post] = delivered(state, key=member_key)
    assert '<font color="comment">已公布</font>' in member_post["markdown"]["content"]
    assert "党支部排名" in delivered(state, key=committee_key)[0]["markdown"]["content"]

    # A round closes: the bot hears it (signals.round_closed) and queues a short notice
    # to the committee's notice chat; the schedule sends it, once.
    with app.app_context():
        from server.rounds.operations import close_round
        from tests.factories import make_round

        rnd, _tokens = make_round()
        close_round(rnd)
        rid = rnd.id
        [queued] = db.session.execute(text(
            "SELECT source, status FROM bot_posts WHERE subject = :s"), {"s": f"round:{rid}"}).all()
        assert tuple(queued) == ("close", "pending")
    app.config["BOT_CATCHUP_DAYS"] = 100_000
    res = runner.invoke(args=["bot", "run-due"])
    assert res.exit_code == 0 and "queued round" not in res.output, res.output
    assert "delivery: sent" in res.output, res.output
    res = runner.invoke(args=["bot", "run-due"])
    assert "queued round" not in res.output

    # A notice the close could not queue (no bot then, or a failure) is queued by the schedule.
    with app.app_context():
        rnd, _tokens = make_round()
        close_round(rnd)
        rid = rnd.id
        db.session.execute(text("DELETE FROM bot_posts WHERE subject = :s"), {"s": f"round:{rid}"})
        db.session.commit()
    res = runner.invoke(args=["bot", "run-due"])
    assert res.exit_code == 0 and f"queued round:{rid} → 党委群" in res.output, res.output
    notices = [b for b in delivered(state, key=committee_key)
               if "测评已结束" in b["markdown"]["content"]]
    assert len(notices) == 2  # one per round, each once
    body = notices[-1]["markdown"]["content"]
    assert "应到：120 人" in body and f"/console/rounds/{rid}/results" in body


def test_demo_publishes_to_a_robot_on_the_fake(app, fake):
    from bot.demo import publish_demo

    base, state = fake
    with app.app_context():
        build_world()
        info = publish_demo(base)
        assert info["entries_made"] > 0 and info["secretary"] == "demo-sec"
        assert [status for _label, status in info["posts"]] == ["sent", "sent"]
    got = delivered(state)
    assert [b["msgtype"] for b in got] == ["image", "markdown", "image", "markdown"]
    assert "★" in got[3]["markdown"]["content"]  # the year board shows star levels
