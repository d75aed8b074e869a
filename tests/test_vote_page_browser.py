"""The mobile voting page (/v/#<token>) driven in a real Chromium over real HTTP.

Set PINGYI_SCREENSHOTS=/some/dir to also save screenshots of the main screens.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import text

from server.core.db import db
from server.forms.storage import decode_answers
from server.roundbase.models import Round
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, open_round
from tests.factories import make_round, valid_answers
from tests.support.browser import WECHAT_UA
from tests.support.liveserver import live_server

pytestmark = pytest.mark.browser

RECEIPT = re.compile(r"^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$")
SHOTS = os.environ.get("PINGYI_SCREENSHOTS")


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    with live_server(app) as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        reduced_motion="reduce",
        user_agent=WECHAT_UA,
    )
    ctx.set_default_timeout(8000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    # CSP violations and script errors show up as console errors; HTTP 4xx/5xx of
    # fetch() and aborted requests ("Failed to load resource") are expected.
    pg.on(
        "console",
        lambda msg: (
            errors.append(f"console: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    yield pg
    ctx.close()
    assert not errors, errors


def shot(page: Page, name: str, full_page: bool = False) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page, animations="disabled"
        )


def setup_round(app: Flask, kind: str, **kw: Any) -> dict[str, Any]:
    with app.app_context():
        rnd, tokens = make_round(kind, **kw)
        return {
            "id": rnd.id,
            "subjects": [s.id for s in rnd.subjects],
            "form": rnd.form,
            "tokens": [t for ts in tokens.values() for t in ts],
            "valid": valid_answers(rnd),
        }


def stored_ballots(app: Flask, round_id: int) -> list[dict[str, Any]]:
    with app.app_context():
        form = get_round(round_id).form
        rows = (
            db.session.execute(
                text("SELECT answers FROM ballots WHERE round_id = :r"), {"r": round_id}
            )
            .scalars()
            .all()
        )
        db.session.remove()
    return [decode_answers(form, r) for r in rows]


def expect_done(page: Page) -> None:
    expect(page.locator("#screen-done")).to_be_visible()
    expect(page.locator(".done-title")).to_have_text("投票成功")


def confirm_and_get_receipt(page: Page) -> str:
    page.locator("#submit-btn").click()
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-title")).to_have_text("请确认您的选择")
    page.get_by_role("button", name="确认提交").click()
    expect_done(page)
    receipt = page.locator("#receipt-code").inner_text().strip()
    assert RECEIPT.match(receipt), receipt
    return receipt


def test_appraisal_vote_end_to_end(app: Flask, base_url: str, page: Page) -> None:
    r = setup_round(app, "appraisal", n_subjects=3)
    token = r["tokens"][0]
    s1, s2, s3 = r["subjects"]
    crits = [c["key"] for c in r["form"]["criteria"]]

    page.goto(f"{base_url}/v/#{token}")
    expect(page.locator("#round-title")).to_have_text("测试appraisal")
    # the token left the address bar at once and nothing is preselected
    assert "#" not in page.url and token not in page.url
    expect(page.locator("#ballot .crit-row")).to_have_count(3 * len(crits))
    expect(page.locator("#ballot input[type=radio]:checked")).to_have_count(0)
    expect(page.locator("#progress-text")).to_have_text("已完成 0/3")
    labels = page.locator(f"#row-{s1}-{crits[0]} .chip").all_inner_texts()
    assert labels == ["优秀", "称职", "基本称职", "不称职", "不了解"]

    # subject 1: the quick fill, then one change by hand
    page.locator(f"#subj-{s1} .quick-fill").click()
    page.locator(f"#row-{s1}-{crits[1]} [data-grade=competent]").click()
    expect(page.locator(f"#status-{s1}")).to_have_text("已完成")
    # subject 2 by hand; subject 3 all but the last criterion
    for c in crits:
        page.locator(f"#row-{s2}-{c} [data-grade=basic]").click()
    for c in crits[:-1]:
        page.locator(f"#row-{s3}-{c} [data-grade=unknown]").click()
    expect(page.locator("#progress-text")).to_have_text("已完成 2/3")
    shot(page, "vote-appraisal", full_page=True)
    shot(page, "vote-appraisal-viewport")

    # submitting with a gap: Chinese message, the row is marked, no confirmation
    page.locator("#submit-btn").click()
    expect(page.locator("#toast")).to_contain_text("请为“对象3”的“总体评价”选择等次")
    missing = page.locator(f"#row-{s3}-{crits[-1]}")
    expect(missing).to_have_class(re.compile("is-missing"))
    expect(missing).to_be_in_viewport()
    expect(page.locator("#confirm")).to_be_hidden()
    shot(page, "vote-appraisal-missing")

    page.locator(f"#row-{s3}-{crits[-1]} [data-grade=excellent]").click()
    expect(missing).not_to_have_class(re.compile("is-missing"))
    expect(page.locator("#progress-text")).to_have_text("已完成 3/3")

    page.locator("#submit-btn").click()
    expect(page.locator("#confirm-body")).to_contain_text("对象2")
    shot(page, "vote-appraisal-confirm")
    page.get_by_role("button", name="返回修改").click()
    expect(page.locator("#confirm")).to_be_hidden()
    receipt = confirm_and_get_receipt(page)
    shot(page, "vote-receipt", full_page=True)

    # the ballot is stored exactly as chosen
    [ballot] = stored_ballots(app, r["id"])
    expected_s1 = dict.fromkeys(crits, "excellent") | {crits[1]: "competent"}
    assert ballot[str(s1)] == expected_s1
    assert ballot[str(s2)] == dict.fromkeys(crits, "basic")
    assert ballot[str(s3)] == dict.fromkeys(crits[:-1], "unknown") | {crits[-1]: "excellent"}

    # the receipt is found through the API ...
    resp = page.request.post(
        f"{base_url}/api/v1/receipts/check", data={"round_id": r["id"], "receipt": receipt}
    )
    assert resp.status == 200
    assert resp.json()["found"] is True
    # ... and through the page's own check form
    page.get_by_role("button", name="核对", exact=True).click()
    expect(page.locator("#check-result")).to_contain_text("您的选票已记录")
    expect(page.locator("#check-result")).to_have_class(re.compile("check-ok"))


def test_recommendation_respects_the_limit(app: Flask, base_url: str, page: Page) -> None:
    r = setup_round(app, "recommendation", n_subjects=5)  # min 1, max 3
    ids = r["subjects"]
    page.goto(f"{base_url}/v/#{r['tokens'][0]}")
    expect(page.locator(".cand-row")).to_have_count(5)
    expect(page.locator("#progress-text")).to_have_text("已选 0/3（至少 1 人）")

    page.locator("#submit-btn").click()
    expect(page.locator("#toast")).to_contain_text("至少需要推荐 1 人")
    expect(page.locator("#confirm")).to_be_hidden()

    for sid in ids[:3]:
        page.locator(f"#cand-{sid}").click()
    expect(page.locator("#cand-counter")).to_have_text("已选 3/3")
    expect(page.locator("#cand-limit")).to_be_visible()
    for sid in ids[3:]:
        expect(page.locator(f"#cand-{sid} input")).to_be_disabled()
    page.locator(f"#cand-{ids[4]}").click(force=True)  # a fourth tap does nothing
    expect(page.locator(f"#cand-{ids[4]} input")).not_to_be_checked()
    expect(page.locator("#ballot input:checked")).to_have_count(3)
    shot(page, "vote-recommendation")

    page.locator(f"#cand-{ids[1]}").click()  # uncheck one: 2 of 3
    expect(page.locator("#cand-counter")).to_have_text("已选 2/3")
    expect(page.locator(f"#cand-{ids[4]} input")).to_be_enabled()
    expect(page.locator("#cand-limit")).to_be_hidden()

    page.locator("#submit-btn").click()
    expect(page.locator("#confirm-body li")).to_have_count(2)
    page.get_by_role("button", name="确认提交").click()
    expect_done(page)
    assert stored_ballots(app, r["id"]) == [{"choices": sorted([ids[0], ids[2]])}]


def test_scoring_out_of_range_is_refused_then_valid_submit(
    app: Flask, base_url: str, page: Page
) -> None:
    r = setup_round(app, "scoring", n_subjects=2)
    items = r["form"]["items"]  # decimals = 1
    s1, s2 = r["subjects"]
    page.goto(f"{base_url}/v/#{r['tokens'][0]}")
    expect(page.locator(".score-input")).to_have_count(2 * len(items))
    first = page.locator(f"#in-{s1}-{items[0]['key']}")
    expect(first).to_have_attribute("inputmode", "decimal")
    expect(first).to_have_attribute("step", "0.1")
    expect(first).to_have_attribute("max", "30")

    for sid in (s1, s2):
        for item in items:
            page.locator(f"#in-{sid}-{item['key']}").fill(str(item["max"] - 1))
    expect(page.locator(f"#total-{s1}")).to_have_text("95")
    page.locator(f"#in-{s2}-{items[0]['key']}").fill("35")  # max is 30
    expect(page.locator(f"#err-{s2}-{items[0]['key']}")).to_have_text(
        "党建工作责任落实的分数应在 0～30 之间"
    )

    page.locator("#submit-btn").click()
    expect(page.locator("#toast")).to_contain_text("党建工作责任落实的分数应在 0～30 之间")
    expect(page.locator(f"#row-{s2}-{items[0]['key']}")).to_have_class(re.compile("is-missing"))
    expect(page.locator("#confirm")).to_be_hidden()
    shot(page, "vote-scoring-error")
    assert stored_ballots(app, r["id"]) == []

    page.locator(f"#in-{s2}-{items[0]['key']}").fill("12.34")  # too many decimals
    page.locator("#submit-btn").click()
    expect(page.locator("#toast")).to_contain_text("分数最多保留 1 位小数")
    expect(page.locator("#confirm")).to_be_hidden()

    page.locator(f"#in-{s2}-{items[0]['key']}").fill("28.5")
    expect(page.locator(f"#err-{s2}-{items[0]['key']}")).to_be_hidden()
    expect(page.locator(f"#total-{s2}")).to_have_text("94.5")
    expect(page.locator("#progress-text")).to_have_text("已完成 2/2")
    confirm_and_get_receipt(page)
    [ballot] = stored_ballots(app, r["id"])
    assert ballot[str(s2)][items[0]["key"]] == 28.5
    assert ballot[str(s1)] == {i["key"]: i["max"] - 1 for i in items}


def test_closed_round_shows_voting_ended(app: Flask, base_url: str, page: Page) -> None:
    r = setup_round(app, "appraisal", n_subjects=1)
    crits = [c["key"] for c in r["form"]["criteria"]]
    sid = r["subjects"][0]
    # a voter has the ballot open and filled in when the organizer closes the round
    page.goto(f"{base_url}/v/#{r['tokens'][0]}")
    page.locator(f"#subj-{sid} .quick-fill").click()
    with app.app_context():
        close_round(db.session.get(Round, r["id"]))
        db.session.remove()
    page.locator("#submit-btn").click()
    page.get_by_role("button", name="确认提交").click()
    expect(page.locator("#state-title")).to_have_text("投票已结束")
    expect(page.locator("#state-extra")).to_have_text("本张选票未被记录。")
    assert stored_ballots(app, r["id"]) == []
    assert crits  # the form had criteria to answer

    # another voter scans afterwards
    page.goto(f"{base_url}/v/#{r['tokens'][1]}")
    expect(page.locator("#state-title")).to_have_text("投票已结束")
    expect(page.locator("#state-text")).to_contain_text("投票已结束")
    expect(page.locator("#bottom-bar")).to_be_hidden()
    shot(page, "vote-closed")


def test_spent_token_shows_already_used(app: Flask, base_url: str, page: Page) -> None:
    r = setup_round(app, "appraisal", n_subjects=2)
    token = r["tokens"][0]
    resp = page.request.post(
        f"{base_url}/api/v1/ballots", data={"token": token, "answers": r["valid"]}
    )
    assert resp.status == 201
    page.goto(f"{base_url}/v/#{token}")
    expect(page.locator("#state-title")).to_have_text("该投票码已使用")
    expect(page.locator("#state-text")).to_have_text("该投票码已经投过票，不能重复投票")
    expect(page.locator("#ballot .crit-row")).to_have_count(0)
    shot(page, "vote-spent")


def test_unknown_and_malformed_tokens(app: Flask, base_url: str, page: Page) -> None:
    r = setup_round(app, "appraisal", n_subjects=1)
    page.goto(f"{base_url}/v/#{r['id']}.AAAAAAAAAAAAAAAAAAAAAA")
    expect(page.locator("#state-title")).to_have_text("投票码无效")
    page.goto(f"{base_url}/v/#not-a-token")
    expect(page.locator("#state-title")).to_have_text("投票码无效")
    expect(page.locator("#state-text")).to_contain_text("格式不正确")
    # from there, the code can be typed in by hand
    page.get_by_role("button", name="手动输入投票码").click()
    page.locator("#entry-token").fill(r["tokens"][0])
    page.get_by_role("button", name="开始投票").click()
    expect(page.locator("#round-title")).to_have_text("测试appraisal")


def test_manual_entry_without_fragment(app: Flask, base_url: str, page: Page) -> None:
    r = setup_round(app, "recommendation", n_subjects=3)
    page.goto(f"{base_url}/v/")
    expect(page.locator("#screen-entry")).to_be_visible()
    shot(page, "vote-entry")
    page.locator("#entry-token").fill("12345")
    page.get_by_role("button", name="开始投票").click()
    expect(page.locator("#entry-error")).to_have_text("投票码格式不正确，请核对后重新输入")
    page.locator("#entry-token").fill(f"{r['id']}.BBBBBBBBBBBBBBBBBBBBBB")
    page.get_by_role("button", name="开始投票").click()
    expect(page.locator("#entry-error")).to_contain_text("投票码无效")
    # pasting the whole slip URL works too
    page.locator("#entry-token").fill(f"https://vote.example.test/v/#{r['tokens'][0]}")
    page.get_by_role("button", name="开始投票").click()
    expect(page.locator("#cand-counter")).to_have_text("已选 0/3")


def test_round_not_open_then_refresh(app: Flask, base_url: str, page: Page) -> None:
    r = setup_round(app, "recommendation", n_subjects=3, open_it=False)
    page.goto(f"{base_url}/v/#{r['tokens'][0]}")
    expect(page.locator("#state-title")).to_have_text("投票尚未开始")
    shot(page, "vote-not-open")
    with app.app_context():
        open_round(db.session.get(Round, r["id"]))
        db.session.remove()
    page.get_by_role("button", name="刷新").click()
    expect(page.locator("#cand-counter")).to_have_text("已选 0/3")


def test_network_failure_keeps_answers_and_retry_works(
    app: Flask, base_url: str, page: Page
) -> None:
    r = setup_round(app, "recommendation", n_subjects=3)
    ids = r["subjects"]
    page.goto(f"{base_url}/v/#{r['tokens'][0]}")
    page.locator(f"#cand-{ids[2]}").click()
    page.route("**/api/v1/ballots", lambda route: route.abort("internetdisconnected"))
    page.locator("#submit-btn").click()
    page.get_by_role("button", name="确认提交").click()
    expect(page.locator("#state-title")).to_have_text("网络连接失败")
    expect(page.locator("#state-extra")).to_contain_text("您填写的内容已保留")
    shot(page, "vote-network")
    page.get_by_role("button", name="返回查看选票").click()
    expect(page.locator(f"#cand-{ids[2]} input")).to_be_checked()
    expect(page.locator("#cand-counter")).to_have_text("已选 1/3")

    page.locator("#submit-btn").click()
    page.get_by_role("button", name="确认提交").click()
    expect(page.locator("#state-title")).to_have_text("网络连接失败")
    page.unroute("**/api/v1/ballots")
    page.get_by_role("button", name="重试").click()
    expect_done(page)
    assert stored_ballots(app, r["id"]) == [{"choices": [ids[2]]}]


def test_server_refusal_message_is_shown(app: Flask, base_url: str, page: Page) -> None:
    """A 503 from the server: its Chinese message is shown and a retry succeeds."""
    r = setup_round(app, "recommendation", n_subjects=3)
    page.goto(f"{base_url}/v/#{r['tokens'][0]}")
    page.locator(f"#cand-{r['subjects'][0]}").click()
    body = {
        "error": {
            "code": "tally_rebuilding",
            "message": "系统正在恢复计数，请几秒后重试（选票尚未记录）",
            "message_en": "rebuilding",
            "field": None,
        }
    }
    page.route(
        "**/api/v1/ballots",
        lambda route: route.fulfill(
            status=503, content_type="application/json", body=json.dumps(body)
        ),
    )
    page.locator("#submit-btn").click()
    page.get_by_role("button", name="确认提交").click()
    expect(page.locator("#state-title")).to_have_text("服务暂时不可用")
    expect(page.locator("#state-text")).to_have_text(body["error"]["message"])
    page.unroute("**/api/v1/ballots")
    page.get_by_role("button", name="重试").click()
    expect_done(page)
