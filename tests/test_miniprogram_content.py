"""Content safety: members' comments go through msgSecCheck v2 (the fake, over real HTTP)
before they may travel with a ballot; rejections are clear and change nothing.
Comments are stored apart from the ballot."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.wechat_fake.miniprogram import mint_login_code
from server.core.db import db
from tests.support.miniprogram import (
    answers_for,
    bearer,
    make_staff,
    new_round,
)


@pytest.fixture
def key(app):
    return bearer(make_staff(app))


def _open_round_with_comments(client, key, tokens=3, enabled=True):
    rnd = new_round(client, key)
    rid = rnd["id"]
    opts = client.put(f"/api/v1/rounds/{rid}/options", headers=key, json={
        "comment": {"enabled": enabled, "label": "意见和建议", "max_length": 200}})
    assert opts.status_code == 200, opts.json
    issued = client.post(f"/api/v1/rounds/{rid}/tokens", headers=key,
                         json={"category_id": rnd["categories"][0]["id"], "count": tokens})
    assert client.post(f"/api/v1/rounds/{rid}/open", headers=key).status_code == 200
    return rid, [t["token"] for t in issued.json["tokens"]]


def _check(client, state, content, openid="o_member_0000000000000000000000"):
    return client.post("/api/v1/content-checks", json={
        "content": content, "code": mint_login_code(state, openid)})


def _comments(app, rid):
    with app.app_context():
        return [b for (b,) in db.session.execute(
            text("SELECT body FROM ballot_comments WHERE round_id = :r"), {"r": rid})]


def test_a_checked_comment_goes_with_the_ballot_and_is_stored_apart(app, client, fake, key):
    _, state = fake
    rid, tokens = _open_round_with_comments(client, key)
    form = client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json
    assert form["comment"] == {"enabled": True, "label": "意见和建议", "max_length": 200,
                               "check_required": True}
    checked = _check(client, state, "  建议班子\n\n\n加强  调查研究  ")
    assert checked.status_code == 200, checked.json
    assert checked.json["checked"] is True and checked.json["suggest"] == "pass"
    assert checked.json["content"] == "建议班子\n\n加强 调查研究"
    sent = state.seen("/wxa/msg_sec_check")[-1].body
    assert sent == {"version": 2, "openid": "o_member_0000000000000000000000", "scene": 2,
                    "content": "建议班子\n\n加强 调查研究"}
    vote = client.post("/api/v1/ballots", json={
        "token": tokens[0], "answers": answers_for(form), "comment": "  建议班子\n\n\n加强  调查研究  ",
        "content_pass": checked.json["content_pass"]})
    assert vote.status_code == 201, vote.json
    assert _comments(app, rid) == ["建议班子\n\n加强 调查研究"]
    # The member's openid is nowhere in the record.
    with app.app_context():
        rows = [repr(tuple(r)) for t in ("ballots", "ballot_comments", "spent_tokens")
                for r in db.session.execute(text(f"SELECT * FROM {t}"))]
    assert not any("o_member" in r for r in rows)

    # After close, organizers read the comments (never with a ballot).
    hidden = client.get(f"/api/v1/rounds/{rid}/comments", headers=key)
    assert hidden.status_code == 409 and hidden.json["error"]["code"] == "round_not_closed"
    assert client.post(f"/api/v1/rounds/{rid}/close", headers=key).status_code == 200
    page = client.get(f"/api/v1/rounds/{rid}/comments", headers=key).json
    assert page["items"] == [{"text": "建议班子\n\n加强 调查研究"}] and page["total"] == 1
    assert page["label"] == "意见和建议"


@pytest.mark.parametrize("mode", ["v2_risky", "errcode_87014"])
def test_risky_content_is_rejected(app, client, fake, key, mode):
    _, state = fake
    if mode == "errcode_87014":
        state.settings["mp_sec_check_errcode"] = 87014
    res = _check(client, state, "欢迎来赌博")
    assert res.status_code == 422
    err = res.json["error"]
    assert err["code"] == "content_rejected" and err["field"] == "content"
    assert "内容安全" in err["message"] and err["message_en"]
    last = state.seen("/wxa/msg_sec_check")[-1].answer
    if mode == "errcode_87014":
        assert last["errcode"] == 87014
    else:
        assert last["result"]["suggest"] == "risky"


def test_review_verdicts_block_unless_configured(app, client, fake, key):
    _, state = fake
    assert _check(client, state, "这条待审核").json["error"]["code"] == "content_rejected"
    app.config["WECHAT_CONTENT_REVIEW_BLOCKS"] = False
    ok = _check(client, state, "这条待审核")
    assert ok.status_code == 200 and ok.json["suggest"] == "review"


def test_wechat_rate_limit_45011_and_bad_code(app, client, fake, key):
    _, state = fake
    state.settings["mp_rate_limits"] = {"msg_sec_check": 1}
    assert _check(client, state, "好").status_code == 200
    limited = _check(client, state, "好")
    assert limited.status_code == 429 and limited.json["error"]["code"] == "wechat_rate_limited"
    bad = client.post("/api/v1/content-checks", json={"content": "好", "code": "nope"})
    assert bad.status_code == 401 and bad.json["error"]["code"] == "wechat_code_invalid"
    missing = client.post("/api/v1/content-checks", json={"content": "好"})
    assert missing.status_code == 401 and missing.json["error"]["field"] == "code"


def test_a_comment_without_a_matching_pass_is_refused_and_the_token_kept(app, client, fake,
                                                                          key):
    _, state = fake
    rid, tokens = _open_round_with_comments(client, key)
    form = client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json
    passed = _check(client, state, "原文").json["content_pass"]
    for extra in ({"comment": "原文"}, {"comment": "改过的文字", "content_pass": passed},
                  {"comment": "原文", "content_pass": "cp1.9999999999.forged"}):
        res = client.post("/api/v1/ballots",
                          json={"token": tokens[0], "answers": answers_for(form), **extra})
        assert res.status_code == 422 and res.json["error"]["code"] == "content_check_required"
    # nothing changed: the token still votes
    assert client.post("/api/v1/ballot-form", json={"token": tokens[0]}).status_code == 200
    assert client.post("/api/v1/ballots", json={
        "token": tokens[0], "answers": answers_for(form), "comment": "原文",
        "content_pass": passed}).status_code == 201
    assert client.post("/api/v1/ballots", json={
        "token": tokens[1], "answers": answers_for(form)}).status_code == 201  # optional


def test_comments_follow_the_round_options(app, client, key):
    rid, tokens = _open_round_with_comments(client, key, enabled=False)
    form = client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json
    assert form["comment"]["enabled"] is False
    res = client.post("/api/v1/ballots", json={
        "token": tokens[0], "answers": answers_for(form), "comment": "有话要说"})
    assert res.status_code == 422 and res.json["error"]["code"] == "comments_disabled"
    assert client.post("/api/v1/ballot-form", json={"token": tokens[0]}).status_code == 200
    late = client.put(f"/api/v1/rounds/{rid}/options", headers=key,
                      json={"comment": {"enabled": True}})
    assert late.status_code == 409 and late.json["error"]["code"] == "round_not_draft"


def test_without_wechat_no_check_is_needed(app, client, key):
    rid, tokens = _open_round_with_comments(client, key)
    form = client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json
    assert form["comment"]["check_required"] is False
    unchecked = client.post("/api/v1/content-checks", json={"content": "随便说说"})
    assert unchecked.status_code == 200 and unchecked.json["checked"] is False
    too_long = client.post("/api/v1/ballots", json={
        "token": tokens[0], "answers": answers_for(form), "comment": "长" * 201})
    assert too_long.status_code == 422 and too_long.json["error"]["code"] == "comment_too_long"
    ok = client.post("/api/v1/ballots", json={
        "token": tokens[0], "answers": answers_for(form), "comment": "随便说说"})
    assert ok.status_code == 201
    assert _comments(app, rid) == ["随便说说"]


def test_close_rewrites_comments_in_random_order(app, client, key):
    rid, tokens = _open_round_with_comments(client, key, tokens=12)
    form = client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json
    for i, token in enumerate(tokens):
        assert client.post("/api/v1/ballots", json={
            "token": token, "answers": answers_for(form), "comment": f"第{i:02d}条"}
        ).status_code == 201
    with app.app_context():
        before = [tuple(r) for r in db.session.execute(text(
            "SELECT id, body FROM ballot_comments WHERE round_id = :r ORDER BY rowid"
            if db.engine.dialect.name == "sqlite" else
            "SELECT id, body FROM ballot_comments WHERE round_id = :r ORDER BY ctid"),
            {"r": rid})]
    assert [b for _, b in before] == [f"第{i:02d}条" for i in range(12)]  # insertion order
    assert client.post(f"/api/v1/rounds/{rid}/close", headers=key).status_code == 200
    with app.app_context():
        after = [tuple(r) for r in db.session.execute(text(
            "SELECT id, body FROM ballot_comments WHERE round_id = :r ORDER BY rowid"
            if db.engine.dialect.name == "sqlite" else
            "SELECT id, body FROM ballot_comments WHERE round_id = :r ORDER BY ctid"),
            {"r": rid})]
    assert sorted(after) == sorted(before)
    assert after != before  # 1 chance in 12! of a false alarm
