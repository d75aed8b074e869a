"""Markup in names, in a real Chromium: the mobile page (/v/), the projector and the
receipt page show it as text. No script runs, no element is injected, and the
CSP reports nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from server.roundbase.reads import get_round
from server.rounds.operations import close_round, create_round, open_round, publish_round
from server.tokens.operations import issue_tokens
from tests.factories import committee, organizer
from tests.support.liveserver import live_server

pytestmark = pytest.mark.browser

TITLE = "测评<script>window.__pwned = 1</script>"
NAME = '<img src=x onerror="window.__pwned = 2">'
NOTE = '"><svg onload="window.__pwned = 3">'
CATEGORY = "<b>干部</b>\u202e"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    ctx.set_default_timeout(8000)
    pg = ctx.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield pg
    ctx.close()
    assert not dialogs, dialogs


def _not_pwned(page: Page) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x'], svg[onload], script:not([src])").count() == 0


def test_markup_in_names_is_text_in_the_browser(app: Flask, page: Page) -> None:
    with app.app_context():
        organizer()
        rnd = create_round(committee().id, "appraisal", TITLE,
                           [{"name": NAME, "note": NOTE}, {"name": "李四", "note": ""}],
                           [{"name": CATEGORY, "expected_count": 5}], results={"min_turnout": 0})
        tokens = issue_tokens(rnd, rnd.categories[0].id, 3)
        open_round(rnd)
        rid = rnd.id
    with live_server(app) as base:
        # the mobile page: title, subject and note as text
        page.goto(f"{base}/v/#{tokens[0]}")
        expect(page.locator("#round-title")).to_have_text(TITLE)
        expect(page.get_by_text(NAME, exact=True)).to_have_count(1)
        _not_pwned(page)
        # vote through the page, so the projector and the receipt page have a ballot
        for quick in page.locator(".quick-fill").all():
            quick.click()
        page.locator("#submit-btn").click()
        page.get_by_role("button", name="确认提交").click()
        expect(page.locator("#screen-done")).to_be_visible()
        receipt = page.locator("#receipt-code").inner_text().strip()
        _not_pwned(page)

        # the projector, signed in
        page.goto(f"{base}/console/login")
        page.fill("input[name=username]", "organizer")
        page.fill("input[name=password]", "correct horse 1")
        page.locator("button[type=submit]").click()
        page.goto(f"{base}/console/rounds/{rid}/projector")
        expect(page.locator("#pj-title")).to_have_text(TITLE)
        page.wait_for_timeout(2500)  # one poll of the live feed has redrawn the screen
        expect(page.locator("#pj-title")).to_have_text(TITLE)
        _not_pwned(page)
        page.goto(f"{base}/console/rounds/{rid}")
        expect(page.get_by_text(NAME).first).to_be_visible()
        _not_pwned(page)

        with app.app_context():
            close_round(get_round(rid))
            publish_round(get_round(rid))
        page.goto(f"{base}/console/rounds/{rid}/results")
        _not_pwned(page)
        page.goto(f"{base}/r/{rid}")
        expect(page.locator("h1")).to_have_text(TITLE)
        page.fill("#rc-code", receipt)
        page.locator("#rc-form button").click()
        expect(page.locator("body")).to_contain_text(re.compile("已计入|找到"))
        _not_pwned(page)
