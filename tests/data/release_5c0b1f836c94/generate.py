"""Make `rows.json`: a database of the previous release (Alembic 5c0b1f836c94), every table
populated by that release's own code, for tests/test_upgrade.py.

Not collected by this project's suite (it lives under tests/data). It runs as a test of
the previous release, whose code and fixtures it uses:

    git archive ba13574 | tar -x -C /tmp/old      # the last commit at 5c0b1f836c94
    cp tests/data/release_5c0b1f836c94/generate.py /tmp/old/tests/test_zz_generate.py
    cd /tmp/old && RELEASE_ROWS_OUT=$PWD/rows.json \
        /work/main/.venv/bin/python -m pytest -q -p no:cacheprovider tests/test_zz_generate.py

It writes every row of every table (values as JSON; dates as ISO text) and the few
secrets the upgrade test needs to act on the data: an organizer's API key and unspent
tokens of the open round.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import redis
from sqlalchemy import inspect, text

from bot import outbox, targets
from bot.wechat_fake.miniprogram import mint_login_code
from server.core.db import db
from server.points import operations, periods, rectification
from server.points.calendar import Period
from server.points.feed import feed_round
from server.rounds.models import Round
from server.rounds.operations import close_round, publish_round
from tests.support.miniprogram import answers_for, bearer, wechat_session
from tests.support.points import build_world


def _round(client, key, title, form="appraisal", **extra):
    body = {"form": form, "title": title,
            "subjects": [{"name": "领导班子", "note": "整体"}, {"name": "王建国", "note": "党委书记"},
                         {"name": "李明华", "note": "总经理"}],
            "categories": [{"name": "公司领导", "expected_count": 5, "weight": 0.3},
                           {"name": "中层干部", "expected_count": 10, "weight": 0.7}],
            "results": {"min_turnout": 0}, **extra}
    if form == "recommendation":
        body.update(min_choices=1, max_choices=2)
    res = client.post("/api/v1/rounds", json=body, headers=key)
    assert res.status_code == 201, res.json
    return res.json


def _tokens(client, key, rnd, count, cat=0):
    res = client.post(f"/api/v1/rounds/{rnd['id']}/tokens", headers=key,
                      json={"category_id": rnd["categories"][cat]["id"], "count": count})
    assert res.status_code == 201, res.json
    return [t["token"] for t in res.json["tokens"]]


def _answers(client, token, variant):
    form = client.post("/api/v1/ballot-form", json={"token": token}).json
    if form["form"]["kind"] == "recommendation":
        ids = [s["id"] for s in form["subjects"]]
        return {"choices": ids[variant % len(ids):][:1] or ids[:1]}
    if form["form"]["kind"] == "scoring":
        return {str(s["id"]): {i["key"]: float(min(i["max"], 3 + variant)) for i in
                               form["form"]["items"]} for s in form["subjects"]}
    grades = [g["key"] for g in form["form"]["grades"]]
    return answers_for(form, grades[variant % len(grades)])


def _vote(client, tokens, **extra):
    receipts = []
    for i, token in enumerate(tokens):
        res = client.post("/api/v1/ballots",
                          json={"token": token, "answers": _answers(client, token, i), **extra})
        assert res.status_code == 201, res.json
        receipts.append(res.json["receipt"])
    return receipts


def test_generate_release_rows(app, client, fake):
    _, state = fake
    with app.app_context():
        w = build_world()
        db.session.commit()
        org = bearer(w.keys["organizer"])
        sec_a, dangwei = w.user("sec_a"), w.user("dangwei")
        # points: entries pending, approved, rejected, reversed; a closed and published
        # quarter (frozen boards), a reviewed year (stars); rectification items
        q1 = Period(2026, 1)
        made = []
        for i, mid in enumerate(w.members_a):
            for item, pts in (("branch_meeting", 4), ("post_duty", 5 - i % 3)):
                e = operations.create_entry(sec_a, "member", mid, item, pts, q1, "支部会议记录")
                made.append(e.id)
        for eid in made[:-2] + made[-1:]:
            operations.approve_entry(dangwei, eid, "支委会审定")
        operations.reject_entry(dangwei, made[-2], "佐证材料不足")
        operations.reverse_entry(dangwei, made[0], "重复录入")
        group = operations.create_entry(sec_a, "group", w.groups_a[0], "meetings", 3, q1,
                                        "主题党日")
        operations.approve_entry(dangwei, group.id, "")
        periods.close_period(dangwei, w.committee_id, q1)
        periods.publish_period(dangwei, w.committee_id, q1, now=dt.datetime(2026, 4, 2, 2, 0))
        item = rectification.add_item(sec_a, w.branch_a, "学习制度落实不到位", "2025年度支部测评",
                                      "王建华", "2026-06-30", "每月集中学习一次")
        rectification.close_item(sec_a, item.id, "已整改到位")
        rectification.add_item(dangwei, None, "台账不规范", "党委巡察", "组织部", "2026-09-30")
        # the bot: a chat, a WeCom link, posts queued (not sent)
        chat = targets.add_target(
            None, branch_id=w.branch_a, channel="wecom_webhook", name="第一党支部党员群",
            secret="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
            formats=["markdown"])
        targets.link_user(None, "wangjianhua", w.members_a[0])
        outbox.enqueue(chat, kind="board", subject="b:1:2026Q1", edition="2026Q1-v1",
                       title="第一党支部2026年第一季度积分榜", parts=[{"msgtype": "markdown",
                       "markdown": {"content": "**积分榜**"}}], source="manual")
        db.session.commit()
        organizer_key = w.keys["organizer"]

    # staff on the mini-program: binding, session
    wechat_session(app, state, "wxstaff")

    # rounds in every state
    draft = _round(client, org, "2026年度中层干部民主测评（草稿）")
    _tokens(client, org, draft, 3)

    opened = _round(client, org, "2026年度领导班子和领导人员民主测评")
    rid = opened["id"]
    assert client.put(f"/api/v1/rounds/{rid}/options", headers=org, json={
        "comment": {"enabled": True, "label": "意见和建议", "max_length": 200},
        "session_qr": True}).status_code == 200
    open_tokens = _tokens(client, org, opened, 12) + _tokens(client, org, opened, 6, cat=1)
    slips = client.post(f"/api/v1/rounds/{rid}/slip-codes", headers=org, json={
        "category_id": opened["categories"][0]["id"], "count": 3, "format": "json",
        "images": False})
    assert slips.status_code == 201, slips.json
    assert client.post(f"/api/v1/rounds/{rid}/session-pool", headers=org, json={
        "category_id": opened["categories"][1]["id"], "count": 4}).status_code == 201
    assert client.post(f"/api/v1/rounds/{rid}/open", headers=org).status_code == 200
    codes = client.get(f"/api/v1/rounds/{rid}/session-codes", headers=org).json
    scene = codes["items"][-1]["scene"]
    claimed = client.post("/api/v1/session-claims", json={
        "scene": scene, "code": mint_login_code(state, "o_member1_00000000000000000000")})
    assert claimed.status_code == 201, claimed.json
    checked = client.post("/api/v1/content-checks", json={
        "content": "建议班子加强调查研究", "code": mint_login_code(state, "o_member2_000000000000000000")})
    assert checked.status_code == 200, checked.json
    _vote(client, open_tokens[:1], comment=checked.json["content"],
          content_pass=checked.json["content_pass"])
    open_receipts = _vote(client, open_tokens[1:7])

    closing = _round(client, org, "2026年度后备干部民主推荐（计票待核）", form="recommendation")
    ctoks = _tokens(client, org, closing, 6)
    assert client.post(f"/api/v1/rounds/{closing['id']}/open", headers=org).status_code == 200
    _vote(client, ctoks[:4])
    r = redis.Redis.from_url(app.config["REDIS_URL"])
    for key in r.keys(f"{{r:{closing['id']}}}:t:*"):
        field = next(iter(r.hkeys(key)))
        r.hincrby(key, field, 1)
    assert client.post(f"/api/v1/rounds/{closing['id']}/close", headers=org).status_code == 409

    closed = _round(client, org, "2026年第一季度党支部书记述职评议", form="review")
    toks = _tokens(client, org, closed, 8)
    assert client.post(f"/api/v1/rounds/{closed['id']}/open", headers=org).status_code == 200
    _vote(client, toks[:7])
    assert client.post(f"/api/v1/rounds/{closed['id']}/close", headers=org).status_code == 200

    published = _round(client, org, "2025年度领导班子民主测评")
    toks = _tokens(client, org, published, 10) + _tokens(client, org, published, 5, cat=1)
    assert client.post(f"/api/v1/rounds/{published['id']}/open", headers=org).status_code == 200
    published_receipts = _vote(client, toks[:12])
    with app.app_context():
        rnd = db.session.get(Round, published["id"])
        subjects = list(rnd.subjects)
        subjects[1].member_id = w.members_a[0]
        db.session.commit()
        close_round(rnd)
        publish_round(rnd)
        fed = feed_round(w.user("dangwei"), rnd.id, "masses_review", "2026Q2")
        db.session.commit()
        dangwei = w.user("dangwei")
        for entry_id in fed.created:
            operations.approve_entry(dangwei, entry_id, "党委审定")
        periods.close_period(dangwei, w.committee_id, periods.year_period(2026))
        periods.review_year(dangwei, w.committee_id, 2026)

    with app.app_context():
        tables = {}
        for name in sorted(inspect(db.engine).get_table_names()):
            result = db.session.execute(text(f"SELECT * FROM {name}"))
            cols = list(result.keys())
            rows = [[v.isoformat() if isinstance(v, dt.date | dt.datetime) else v for v in row]
                    for row in result]
            tables[name] = {"columns": cols, "rows": rows}
    assert all(t["rows"] for t in tables.values()), [n for n, t in tables.items() if not t["rows"]]
    out = {
        "revision": "5c0b1f836c94",
        "secret_key": app.config["SECRET_KEY"],
        "organizer_key": organizer_key,
        "rounds": {"draft": draft["id"], "open": rid, "closing": closing["id"],
                   "closed": closed["id"], "published": published["id"]},
        "open_unspent_tokens": open_tokens[7:12],
        "open_receipts": open_receipts,
        "published_receipts": published_receipts,
        "tables": tables,
    }
    with open(os.environ["RELEASE_ROWS_OUT"], "w", encoding="utf-8") as fh:
        json.dump(out, fh, ensure_ascii=False, indent=0, sort_keys=True)
