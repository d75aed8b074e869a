"""A phone votes a meeting (测评会) of three forms on one slip, in Chromium over real HTTP:
form by form (with a reload in the middle: it resumes), all at the end, and in
逐份提交 some forms sent at once and the others held on the phone and sent at the end."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import text

from server.core.db import db
from tests.factories import organizer
from tests.support.browser import phone, shot
from tests.support.liveserver import live_server
from tests.support.meetings import make_meeting

pytestmark = pytest.mark.browser
RECEIPT = re.compile(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}")


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    with live_server(app) as url:
        yield url


def meeting_slip(app: Flask, mode: str) -> tuple[dict, str]:
    with app.app_context():
        _, key = organizer(f"org-{mode}")
    auth = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    meeting = make_meeting(client, auth, submit_mode=mode)
    res = client.post(f"/api/v1/meetings/{meeting['id']}/slips", headers=auth,
                      json={"category": "职工代表", "count": 1})
    assert client.post(f"/api/v1/meetings/{meeting['id']}/open", headers=auth).status_code == 200
    return meeting, res.json["tokens"][0]["token"]


def fill_current_form(page: Page) -> None:
    """Fill whichever form vote.js shows: quick-fill the grades, tick the first
    candidate, or type a score in every box."""
    page.wait_for_selector("#screen-form:not([hidden])")
    for btn in page.locator(".quick-fill").all():
        btn.click()
    rows = page.locator(".cand-row")
    if rows.count():
        rows.first.click()
    for box in page.locator(".score-input").all():
        box.fill("8")


def confirm(page: Page) -> None:
    page.click("#submit-btn")
    page.click("#confirm-ok")


def ballots(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(text("SELECT count(*) FROM ballots")).scalar()


def test_form_by_form_with_a_reload(app, browser, base_url):
    meeting, token = meeting_slip(app, "each")
    errors: list[str] = []
    page = phone(browser, errors)
    page.goto(f"{base_url}/v/m/#{token}")
    expect(page.locator("#meeting-forms li")).to_have_count(3)
    expect(page.locator("#meeting-count")).to_contain_text("已提交 0 份")
    shot(page, "meeting-each-overview")
    page.click("#meeting-next")
    expect(page.locator("#meeting-progress")).to_have_text("第1/3份")
    expect(page.locator("#submit-btn")).to_have_text("提交本份")
    fill_current_form(page)
    confirm(page)
    expect(page.locator("#meeting-count")).to_contain_text("已提交 1 份")
    first = page.locator(".meeting-form.is-ok .receipt-inline").first.inner_text()
    assert RECEIPT.fullmatch(first)

    page.reload()  # the slip and its receipts are kept on the phone: it resumes
    expect(page.locator("#meeting-count")).to_contain_text("已提交 1 份")
    expect(page.locator(".meeting-form.is-ok .receipt-inline")).to_have_text(first)
    for n in (2, 3):
        page.click("#meeting-next")
        expect(page.locator("#meeting-progress")).to_have_text(f"第{n}/3份")
        fill_current_form(page)
        if n == 3:
            shot(page, "meeting-each-form3")
        confirm(page)
        expect(page.locator("#meeting-count")).to_contain_text(f"已提交 {n} 份")
    expect(page.locator(".meeting-receipt")).to_have_count(3)
    expect(page.locator("#screen-meeting")).to_contain_text("全部测评表已提交")
    shot(page, "meeting-each-done")
    assert ballots(app) == 3
    assert not errors, errors


def test_all_at_the_end(app, browser, base_url):
    meeting, token = meeting_slip(app, "end")
    errors: list[str] = []
    page = phone(browser, errors)
    page.goto(f"{base_url}/v/m/#{token}")
    page.click("#meeting-next")
    for n in (1, 2, 3):
        expect(page.locator("#meeting-progress")).to_have_text(f"第{n}/3份")
        expect(page.locator("#submit-btn")).to_have_text("完成填写" if n == 3 else "下一份")
        fill_current_form(page)
        confirm(page)
    expect(page.locator(".meeting-form.is-held")).to_have_count(3)
    assert ballots(app) == 0  # nothing sent before the voter says so
    page.reload()  # what was filled in survives a reload, on this phone
    expect(page.locator(".meeting-form.is-held")).to_have_count(3)
    shot(page, "meeting-end-ready")
    page.click("#meeting-send")
    expect(page.locator(".meeting-receipt")).to_have_count(3)
    expect(page.locator("#screen-meeting")).to_contain_text("全部测评表已提交")
    shot(page, "meeting-end-done")
    assert ballots(app) == 3
    assert not errors, errors


def hold(page: Page) -> None:
    """Confirm the form but keep it on the phone (暂存), to send with the others."""
    page.click("#submit-btn")
    page.click("#meeting-hold")


def test_each_mode_lets_the_voter_hold_forms_and_send_them_at_the_end(app, browser, base_url):
    """In 逐份提交 a voter may still keep forms on the phone and send them all at once:
    here form 1 is sent at once, forms 2 and 3 held (one reload between), then sent."""
    _, token = meeting_slip(app, "each")
    errors: list[str] = []
    page = phone(browser, errors)
    page.goto(f"{base_url}/v/m/#{token}")
    expect(page.locator("#meeting-how")).to_contain_text("暂存")
    page.click("#meeting-next")
    fill_current_form(page)
    page.click("#submit-btn")
    expect(page.locator("#confirm .sheet-sub")).to_contain_text("也可暂存在本机")
    expect(page.locator("#meeting-hold")).to_have_text("暂存，继续填写下一份")
    shot(page, "meeting-each-hold-choice")
    page.click("#confirm-ok")  # form 1: sent now
    expect(page.locator("#meeting-count")).to_contain_text("已提交 1 份")
    page.click("#meeting-next")
    fill_current_form(page)
    hold(page)  # form 2: held, and straight on to form 3
    expect(page.locator("#meeting-progress")).to_have_text("第3/3份")
    assert ballots(app) == 1
    page.reload()  # the held form survives a reload
    expect(page.locator(".meeting-form.is-held")).to_have_count(1)
    expect(page.locator(".meeting-form.is-ok")).to_have_count(1)
    page.click("#meeting-next")
    expect(page.locator("#meeting-progress")).to_have_text("第3/3份")
    fill_current_form(page)
    page.click("#submit-btn")
    expect(page.locator("#meeting-hold")).to_have_text("暂存，回到列表一并提交")
    page.click("#meeting-hold")
    expect(page.locator(".meeting-form.is-held")).to_have_count(2)
    expect(page.locator("#meeting-send")).to_have_text("全部提交（2 份）")
    assert ballots(app) == 1
    shot(page, "meeting-each-held-ready")
    page.click("#meeting-send")
    expect(page.locator(".meeting-receipt")).to_have_count(3)
    expect(page.locator("#screen-meeting")).to_contain_text("全部测评表已提交")
    assert ballots(app) == 3
    assert not errors, errors


def test_end_mode_offers_no_choice(app, browser, base_url):
    _, token = meeting_slip(app, "end")
    errors: list[str] = []
    page = phone(browser, errors)
    page.goto(f"{base_url}/v/m/#{token}")
    expect(page.locator("#meeting-how")).to_have_count(0)
    page.click("#meeting-next")
    fill_current_form(page)
    page.click("#submit-btn")
    expect(page.locator("#confirm-ok")).to_be_visible()
    expect(page.locator("#meeting-hold")).to_be_hidden()
    assert not errors, errors


def test_a_meeting_code_typed_on_the_plain_page_opens_the_meeting(app, browser, base_url):
    _, token = meeting_slip(app, "each")
    errors: list[str] = []
    page = phone(browser, errors)
    page.goto(f"{base_url}/v/")
    mid, code = token.split(".")
    typed = f"{mid.lower()} . {'-'.join(code[i:i + 4] for i in range(0, 26, 4)).lower()}"
    page.fill("#entry-token", typed)
    page.press("#entry-token", "Enter")
    expect(page).to_have_url(re.compile(r"/v/m/$"))  # the code left the address bar again
    expect(page.locator("#meeting-forms li")).to_have_count(3)
    expect(page.locator("#meeting-count")).to_contain_text("已提交 0 份")
    assert not errors, errors


def test_a_form_already_sent_elsewhere_leads_back_to_the_list(app, browser, base_url):
    """The same slip on two phones ("each"): the second to send form 1 is told it was
    already submitted, and goes back to the slip's forms from there."""
    _, token = meeting_slip(app, "each")
    errors: list[str] = []
    first, second = phone(browser, errors), phone(browser, errors)
    for page in (first, second):
        page.goto(f"{base_url}/v/m/#{token}")
        page.click("#meeting-next")
        fill_current_form(page)
    confirm(first)
    expect(first.locator("#meeting-count")).to_contain_text("已提交 1 份")
    confirm(second)
    expect(second.locator("#state-title")).to_have_text("该投票码已使用")
    back = second.locator("#state-primary")
    expect(back).to_have_text("返回测评表列表")
    shot(second, "meeting-each-already-sent")
    back.click()
    expect(second.locator("#meeting-count")).to_contain_text("已提交 1 份")
    expect(second.locator(".meeting-form").first).to_contain_text("已提交")
    expect(second.locator("#meeting-next")).to_contain_text("第2份")
    assert ballots(app) == 1
    assert not errors, errors
