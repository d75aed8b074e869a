"""A rehearsal's voting page in Chromium: the 演练 band on top, through the vote and its
receipt; gone once the round is purged and held for real.

Set PINGYI_SCREENSHOTS=/some/dir to save the screens.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from server.core.db import db
from server.roundbase.models import Round
from server.rounds.operations import open_round
from server.rounds.rehearsal import open_rehearsal, purge_rehearsal
from server.tokens.operations import issue_tokens
from tests.factories import make_round
from tests.support.liveserver import live_server

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("PINGYI_SCREENSHOTS")
BAND = "演练 · 不计入正式结果"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                              is_mobile=True, has_touch=True, locale="zh-CN",
                              reduced_motion="reduce")
    ctx.set_default_timeout(8000)
    yield ctx.new_page()
    ctx.close()


def _shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"rehearsal-{name}.png"))


def _vote(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/v/#{token}")
    expect(page.locator("#screen-form")).to_be_visible()
    for row in page.locator("#ballot .crit-row").all():
        row.locator(".chip").first.click()
    page.locator("#submit-btn").click()
    page.get_by_role("button", name="确认提交").click()
    expect(page.locator("#screen-done")).to_be_visible()


def test_the_vote_page_of_a_rehearsal_says_so(app: Flask, page: Page) -> None:
    with app.app_context():
        rnd, real = make_round("appraisal", n_subjects=1, open_it=False, tokens_per_category=1)
        rid = rnd.id
        open_rehearsal(rnd)
        slip = issue_tokens(db.session.get(Round, rid), rnd.categories[0].id, 1)[0]
    with live_server(app) as base:
        _vote(page, base, slip)
        band = page.locator("#rehearsal-band")
        expect(band).to_be_visible()
        expect(band).to_have_text(BAND)  # still there on the receipt
        _shot(page, "receipt")
        with app.app_context():
            purge_rehearsal(db.session.get(Round, rid))
            open_round(db.session.get(Round, rid))
        fresh = page.context.new_page()
        _vote(fresh, base, next(iter(real.values()))[0])
        expect(fresh.locator("#rehearsal-band")).to_be_hidden()
        _shot(fresh, "real-ballot")
