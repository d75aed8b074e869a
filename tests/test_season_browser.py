"""A season's round from end to end in a real Chromium, as the people in the room do it.

An organizer designs a form of two sections on two scales in the console, builds
a round from it, corrects the draft, rehearses it with three phones that scan the
printed rehearsal slips, purges the rehearsal, opens the round for real, five
phones vote, the organizer closes, publishes and reads the counts.

Screenshots go to PINGYI_SCREENSHOTS (default /tmp/shots): season-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import text

from server.core.db import db
from server.core.redis import get_redis
from server.roundbase.models import Round
from tests.factories import organizer
from tests.support.browser import desk, phone, shot, sign_in, slip_tokens
from tests.support.liveserver import live_server

pytestmark = pytest.mark.browser

FORM_NAME = "2027年度领导班子和领导人员民主测评"


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    with app.app_context():
        organizer()
    with live_server(app) as url:
        yield url


def design_form(page: Page, base_url: str) -> None:
    """领导班子 on 好/较好/一般/差, 班子成员 on 优秀/称职/基本称职/不称职/不了解."""
    page.goto(f"{base_url}/console/forms")
    page.get_by_role("link", name="＋ 新建测评表").click()
    page.fill("#d-name", FORM_NAME)
    team = page.locator(".d-section").nth(0)
    team.locator(".d-section-label").fill("领导班子")
    team.get_by_role("button", name="好/较好/一般/差").click()
    page.get_by_role("button", name="＋ 添加测评部分").click()
    members = page.locator(".d-section").nth(1)
    members.locator(".d-section-label").fill("班子成员")
    members.get_by_role("button", name="优秀/称职/基本称职/不称职/不了解").click()
    members.get_by_role("button", name="＋ 添加指标").click()
    page.keyboard.type("政治素质")
    page.locator("[data-path='results.min_turnout']").fill("2/3")
    page.locator("#preview-btn").click()
    expect(page.frame_locator("#preview-frame").locator("#preview-band")).to_be_visible()
    shot(page, "season-designer")
    page.locator("#save-btn").click()
    expect(page.locator(".flash-success")).to_contain_text("已保存测评表")


def build_round(page: Page, base_url: str) -> int:
    page.goto(f"{base_url}/console/rounds/new")
    option = page.locator("#f-form option", has_text=FORM_NAME)
    page.select_option("#f-form", value=option.get_attribute("value"))
    page.fill("#f-title", "2027年度领导班子民主侧评")  # a typo, corrected below
    sections = page.locator("fieldset.sections:visible textarea")
    expect(sections).to_have_count(2)
    sections.nth(0).fill("公司领导班子")
    sections.nth(1).fill("王建国 党委书记\n李红 总经理")
    page.fill("#f-categories", "中层干部,5,1")
    page.get_by_role("button", name="创建测评").click()
    expect(page).to_have_url(re.compile(r"/console/rounds/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def edit_title(page: Page) -> None:
    page.get_by_role("link", name="编辑").click()
    page.fill("#f-title", "2027年度领导班子民主测评")
    page.get_by_role("button", name="保存修改").click()
    expect(page.locator("h1")).to_contain_text("2027年度领导班子民主测评")


def issue_slips(page: Page, count: int) -> list[str]:
    form = page.locator("form[data-slips]").first
    form.locator("input[name=count]").fill(str(count))
    with page.expect_download() as download:
        form.get_by_role("button", name="生成选票").click()
    pdf = download.value.path().read_bytes()
    expect(form.get_by_role("button", name="生成选票")).to_be_enabled()
    tokens = slip_tokens(pdf)
    assert len(tokens) == count, tokens
    return tokens


def vote(page: Page, base_url: str, token: str, team_grade: str, member_grade: str) -> str:
    """Scan a slip (its URL, on this server), rate every criterion, submit: the receipt."""
    page.goto(f"{base_url}/v/#{token}")
    expect(page.locator("#screen-form")).to_be_visible()
    cards = page.locator(".subject-card")
    expect(cards).to_have_count(3)
    for i in range(3):
        grade = team_grade if i == 0 else member_grade
        for row in cards.nth(i).locator(".crit-row").all():
            row.locator(".chip", has_text=re.compile(f"^{grade}$")).click()
    page.locator("#submit-btn").click()
    page.get_by_role("button", name="确认提交").click()
    expect(page.locator("#screen-done")).to_be_visible()
    return page.locator("#receipt-code").inner_text()


def round_rows(app: Flask, rid: int) -> dict[str, int]:
    with app.app_context():
        return {table: db.session.execute(
            text(f"SELECT count(*) FROM {table} WHERE round_id = :r"),  # noqa: S608
            {"r": rid}).scalar_one()
            for table in ("ballots", "spent_tokens", "tokens", "ballot_comments")}


def round_keys(app: Flask, rid: int) -> list[str]:
    with app.app_context():
        client = get_redis()
        pattern = f"*{{r:{rid}}}*"
        if isinstance(client, redis.RedisCluster):
            keys = client.scan_iter(match=pattern, target_nodes=redis.RedisCluster.ALL_NODES)
        else:
            keys = client.scan_iter(match=pattern)
        return sorted(k.decode() if isinstance(k, bytes) else k for k in keys)


def test_design_build_edit_rehearse_purge_vote_publish(app: Flask, base_url: str,
                                                      browser: Browser) -> None:
    errors: list[str] = []
    page = desk(browser, errors)
    sign_in(page, base_url)
    design_form(page, base_url)
    rid = build_round(page, base_url)
    edit_title(page)

    # 演练: three phones scan rehearsal slips; every screen says 演练.
    page.get_by_role("button", name="开始演练").click()
    expect(page.locator("body")).to_contain_text("演练")
    rehearsal_slips = issue_slips(page, 3)
    phones = [phone(browser, errors) for _ in range(5)]
    for p, token in zip(phones, rehearsal_slips, strict=False):
        vote(p, base_url, token, "好", "优秀")
    shot(phones[0], "season-rehearsal-phone")
    expect(phones[0].locator("body")).to_contain_text("演练")
    page.reload()
    shot(page, "season-rehearsal-banner")
    assert round_rows(app, rid)["ballots"] == 3

    page.get_by_role("button", name="清空演练数据").click()
    expect(page.locator("body")).to_contain_text("草稿")
    assert round_rows(app, rid) == {"ballots": 0, "spent_tokens": 0, "tokens": 0,
                                    "ballot_comments": 0}
    assert round_keys(app, rid) == []
    # A rehearsal slip is dead after the purge.
    phones[0].goto(f"{base_url}/v/#{rehearsal_slips[0]}")
    expect(phones[0].locator("#screen-form")).to_be_hidden()

    # For real: five phones, three rate the team 好 and two 较好; members 优秀 / 称职.
    page.get_by_role("button", name="开始投票").click()
    expect(page.locator("body")).not_to_contain_text("演练")
    slips = issue_slips(page, 5)
    plan = [("好", "优秀"), ("好", "优秀"), ("好", "称职"), ("较好", "称职"), ("较好", "不了解")]
    receipts = [vote(p, base_url, t, *g) for p, t, g in zip(phones, slips, plan, strict=True)]
    assert len(set(receipts)) == 5
    shot(phones[3], "season-phone-receipt")

    page.get_by_role("button", name="结束投票").click()
    expect(page.locator("body")).to_contain_text("已结束")
    page.get_by_role("button", name="发布结果").click()
    expect(page.locator("body")).to_contain_text("已发布")
    page.goto(f"{base_url}/console/rounds/{rid}/results")
    shot(page, "season-results", full_page=True)
    body = page.locator("body")
    expect(body).to_contain_text("领导班子")
    expect(body).to_contain_text("班子成员")

    with app.app_context():
        rnd = db.session.get(Round, rid)
        assert (rnd.status, rnd.rehearsal, rnd.title) == ("published", False,
                                                         "2027年度领导班子民主测评")
        result = rnd.result["official"]
    assert result["validity"]["total"]["cast"] == 5
    team, members = result["appraisal"]["sections"]
    (team_subject,) = team["subjects"]
    overall = {c["key"]: c for c in team_subject["criteria"]}["overall"]
    assert {g["key"]: g["count"] for g in overall["grades"]} == {
        "good": 3, "fair": 2, "average": 0, "poor": 0}
    for subject in members["subjects"]:
        rows = {c["key"]: c for c in subject["criteria"]}
        assert {g["key"]: g["count"] for g in rows["overall"]["grades"]} == {
            "excellent": 2, "competent": 2, "basic": 0, "incompetent": 0, "unknown": 1}
    assert not errors, errors
