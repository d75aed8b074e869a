"""The meeting-day fixes in a real Chromium: the projector after close, the close
warning, the slip button after the PDF, more slips than 应到, a typed slip code.

Screenshots go to PINGYI_SCREENSHOTS (e.g. /tmp/shots) when it is set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from server.core.db import db
from server.roundbase.models import Round
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, publish_round
from server.tokens.operations import issue_tokens
from server.voting.ballots import submit_ballot
from tests.factories import CATEGORIES, organizer, valid_answers
from tests.support.liveserver import live_server

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("PINGYI_SCREENSHOTS")


@pytest.fixture
def base(app: Flask) -> Iterator[str]:
    with live_server(app) as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN",
                              accept_downloads=True)
    ctx.set_default_timeout(10000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    ctx.close()
    assert not errors, errors


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), animations="disabled")


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", "organizer")
    page.fill("input[name=password]", "correct horse 1")
    page.locator("button[type=submit]").click()
    expect(page).to_have_url(f"{base}/console/")


def make(app: Flask, ballots: int, min_turnout: float, open_it: bool = True,
         **options) -> tuple[int, list[str]]:
    """An appraisal round of 10 expected (one category) with `ballots` cast."""
    from server.rounds.operations import create_round, open_round
    from tests.factories import committee

    with app.app_context():
        organizer()
        rnd = create_round(committee().id, "appraisal", "2026年度领导班子民主测评",
                           [{"name": "王建国", "note": "党委书记"}, {"name": "李明华", "note": "总经理"}],
                           [{**CATEGORIES[0], "weight": 1.0}],
                           results={"min_turnout": min_turnout}, **options)
        tokens = issue_tokens(rnd, rnd.categories[0].id, 10) if open_it else []
        if open_it:
            open_round(rnd)
            for t in tokens[:ballots]:
                submit_ballot(t, valid_answers(rnd))
        return rnd.id, tokens[ballots:]


def test_projector_after_close_waits_for_publish(app: Flask, base: str, page: Page) -> None:
    rid, _ = make(app, 6, 0.5)
    with app.app_context():
        close_round(get_round(rid))
    sign_in(page, base)
    page.goto(f"{base}/console/rounds/{rid}/projector")
    expect(page.locator("#pj-updated")).to_have_text("投票已结束，结果发布后显示")
    expect(page.locator("#pj-turnout-view")).to_be_visible()
    expect(page.locator("#pj-actual")).to_have_text("6")
    expect(page.locator("#pj-results-view")).to_be_hidden()
    expect(page.locator("#pj-results")).to_be_hidden()
    expect(page.get_by_text("王建国")).to_have_count(0)
    shot(page, "projector-closed-unpublished")
    with app.app_context():
        publish_round(get_round(rid))
    page.reload()
    expect(page.locator("#pj-results-view")).to_be_visible()
    expect(page.locator("#pj-board")).to_contain_text("王建国")
    expect(page.locator("#pj-updated")).to_have_text("结果已发布")
    shot(page, "projector-published")


def test_close_below_turnout_warns_and_offers_to_wait(app: Flask, base: str, page: Page) -> None:
    rid, _ = make(app, 4, 0.6667)
    sign_in(page, base)
    page.goto(f"{base}/console/rounds/{rid}")
    page.once("dialog", lambda d: d.accept())  # 确定结束投票吗？
    page.get_by_role("button", name="结束投票").click()
    warning = page.locator("#close-warning")
    expect(warning).to_contain_text("参评率 40%（实到 4 / 应到 10）低于规定的 66.67%，关闭后结果不能公布。")
    shot(page, "close-warning")
    page.get_by_role("link", name="继续等待").click()
    expect(page).to_have_url(f"{base}/console/rounds/{rid}")
    with app.app_context():
        assert db.session.get(Round, rid).status == "open"
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="结束投票").click()
    page.get_by_role("button", name="仍然关闭").click()
    expect(page.locator(".flash-success")).to_contain_text("投票已结束")
    expect(page.locator(".alert-warn").first).to_contain_text("结果不能公布")
    expect(page.get_by_role("button", name="发布结果")).to_have_count(0)
    reheld = page.locator("#reclone-button")
    if "console.round_clone" not in app.view_functions:
        return
    shot(page, "closed-below-turnout-reheld")
    page.once("dialog", lambda d: d.accept())
    reheld.click()
    expect(page).not_to_have_url(f"{base}/console/rounds/{rid}")
    with app.app_context():
        drafts = db.session.execute(db.select(Round).filter(Round.id != rid)).scalars().all()
        assert [r.status for r in drafts] == ["draft"]


def test_slip_button_comes_back_and_over_expected_asks(app: Flask, base: str, page: Page) -> None:
    rid, _ = make(app, 0, 0.0, open_it=False)
    sign_in(page, base)
    page.goto(f"{base}/console/rounds/{rid}")
    form = page.locator("form[data-slips]")
    button = form.get_by_role("button", name="生成选票")
    expect(form.locator("input[name=count]")).to_have_value("10")
    form.locator("input[name=count]").fill("4")
    with page.expect_download() as dl:
        button.click()
    assert dl.value.suggested_filename.endswith(".pdf")
    # the page reloads with the new count, the message, and the button back
    expect(page.locator(".flash-success")).to_contain_text("已生成“公司领导”选票 4 张")
    expect(form).to_have_attribute("data-issued", "4")
    expect(button).to_be_enabled()
    expect(form.locator("input[name=count]")).to_have_value("6")

    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    form.locator("input[name=count]").fill("9")
    button.click()
    page.wait_for_timeout(300)
    assert asked == ["“公司领导”应到 10 人，已发放 4 张，本次再发 9 张将超出应到人数 3 张。确定要多发吗？"]
    expect(button).to_be_enabled()
    with app.app_context():
        assert db.session.get(Round, rid).categories[0].issued_count == 4
    page.once("dialog", lambda d: d.accept())
    with page.expect_download():
        button.click()
    expect(form).to_have_attribute("data-issued", "13")
    expect(button).to_be_enabled()


def test_a_typed_code_opens_the_ballot(app: Flask, base: str, page: Page) -> None:
    rid, tokens = make(app, 0, 0.0)
    code = tokens[0].split(".")[1]
    typed = f"{rid}。" + " ".join(code[i:i + 4] for i in range(0, len(code), 4)).lower()
    page.goto(f"{base}/v/")
    page.locator("#entry-token").fill(typed)
    page.get_by_role("button", name="开始投票").click()
    expect(page.locator("#round-title")).to_have_text("2026年度领导班子民主测评")
    assert re.fullmatch(r"\d+\.[2-9A-HJKMNP-Z]{26}", tokens[0])
