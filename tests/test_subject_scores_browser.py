"""Scoring as the reports end (逐人评分) on the voter page, in Chromium on a phone viewport:
unsent scores survive a reload without reaching the server, subjects are sent one by
one and a re-send is refused; the organizer's progress shows counts, never scores."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import text

from server.core.db import db
from tests.factories import make_round, organizer
from tests.support.browser import desk, phone, shot, sign_in
from tests.support.liveserver import live_server

pytestmark = pytest.mark.browser

FIRST = {"responsibility": "27.5", "organization": "22", "conduct": "18.5", "innovation": "13",
         "answers": "9.5"}
SECOND = {"responsibility": "24", "organization": "21.5", "conduct": "17", "innovation": "12.5",
          "answers": "8"}


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    with live_server(app) as url:
        yield url


def ballots(app: Flask, rid: int) -> list[str]:
    with app.app_context():
        return db.session.execute(text("SELECT answers FROM ballots WHERE round_id = :r"),
                                  {"r": rid}).scalars().all()


def fill(page: Page, sid: int, scores: dict[str, str]) -> None:
    for key, value in scores.items():
        page.fill(f"#in-{sid}-{key}", value)


def test_unsent_scores_survive_a_reload_and_subjects_are_sent_one_by_one(
        app: Flask, base_url: str, browser: Browser) -> None:
    with app.app_context():
        organizer()
        rnd, tokens = make_round("scoring", n_subjects=4, per_subject=True)
        rid, sids = rnd.id, [s.id for s in rnd.subjects]
        token = tokens[rnd.categories[0].id][0]
    errors: list[str] = []
    page = phone(browser, errors)
    posted: list[tuple[str, str]] = []
    page.on("request", lambda r: posted.append((r.url, r.post_data or ""))
            if r.method == "POST" else None)

    page.goto(f"{base_url}/v/#{token}")
    expect(page.locator(f"#send-{sids[0]}")).to_be_visible()
    expect(page.locator("#submit-btn")).to_be_hidden()  # no all-at-once submit
    fill(page, sids[0], FIRST)
    fill(page, sids[1], {"responsibility": "20", "organization": "19.5"})  # half typed
    expect(page.locator(f"#total-{sids[0]}")).to_have_text("90.5")
    shot(page, "per-subject-typed", full_page=True)

    page.reload()
    for key, value in FIRST.items():
        expect(page.locator(f"#in-{sids[0]}-{key}")).to_have_value(value)
    expect(page.locator(f"#in-{sids[1]}-organization")).to_have_value("19.5")
    expect(page.locator(f"#in-{sids[1]}-conduct")).to_have_value("")
    # nothing typed reached the server: no ballot, and no request carried a score
    assert ballots(app, rid) == []
    assert all("/subject-scores" not in url and "27.5" not in body for url, body in posted)
    # the phone keeps them under the round and a hash of the token, never the token
    stored = page.evaluate("Object.keys(localStorage).map(k => [k, localStorage.getItem(k)])")
    assert len(stored) == 1 and stored[0][0].startswith(f"pingyi:scores:{rid}:")
    assert token not in json.dumps(stored) and token.split(".")[1] not in json.dumps(stored)

    # the first report ends: send its scores
    page.click(f"#send-{sids[0]}")
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-body")).to_contain_text("合计 90.5 分")
    page.click("#confirm-ok")
    expect(page.locator(f"#sent-{sids[0]}")).to_contain_text("已提交")
    expect(page.locator(f"#in-{sids[0]}-conduct")).to_be_disabled()
    expect(page.locator("#progress-text")).to_have_text("已提交 1/4 位述职人")
    sent = [json.loads(b) for b in ballots(app, rid)]
    assert sent == [{str(sids[0]): {k: float(v) for k, v in FIRST.items()}}]
    shot(page, "per-subject-sent", full_page=True)

    # a subject with a score out of range is not sent
    fill(page, sids[1], {**SECOND, "conduct": "21"})
    page.click(f"#send-{sids[1]}")
    expect(page.locator("#confirm")).to_be_hidden()
    expect(page.locator(f"#row-{sids[1]}-conduct")).to_have_class(re.compile("is-invalid"))
    fill(page, sids[1], SECOND)
    page.click(f"#send-{sids[1]}")
    page.click("#confirm-ok")
    expect(page.locator(f"#sent-{sids[1]}")).to_contain_text("已提交")
    assert len(ballots(app, rid)) == 2

    # after a reload the sent subjects stay sent (the server says so), no draft is left
    page.reload()
    expect(page.locator(f"#sent-{sids[0]}")).to_be_visible()
    expect(page.locator(f"#sent-{sids[1]}")).to_be_visible()
    expect(page.locator(f"#send-{sids[2]}")).to_be_visible()
    assert page.evaluate("localStorage.length") == 0

    # a second phone with the same slip cannot send a subject again
    other = phone(browser, errors)
    other.goto(f"{base_url}/v/#{token}")
    expect(other.locator(f"#sent-{sids[0]}")).to_be_visible()
    res = other.request.post(f"{base_url}/api/v1/subject-scores", data={
        "token": token, "subject_id": sids[0], "scores": {k: 1 for k in FIRST}})
    assert res.status == 409 and res.json()["error"]["code"] == "subject_already_scored"
    assert len(ballots(app, rid)) == 2

    # the organizer sees how many scored each subject, never a score
    organizer_page = desk(browser, errors)
    sign_in(organizer_page, base_url)
    organizer_page.goto(f"{base_url}/console/rounds/{rid}/projector")
    rows = organizer_page.locator("#subject-progress tbody tr")
    expect(rows.nth(0).locator(".sp-count")).to_have_text("1")
    expect(rows.nth(1).locator(".sp-count")).to_have_text("1")
    expect(rows.nth(2).locator(".sp-count")).to_have_text("0")
    html = organizer_page.content()
    assert "27.5" not in html and "90.5" not in html
    shot(organizer_page, "per-subject-projector")
    assert not errors, errors


def test_drafts_are_forgotten_when_the_round_has_closed(app: Flask, base_url: str,
                                                         browser: Browser) -> None:
    from server.roundbase.reads import get_round
    from server.rounds.operations import close_round

    with app.app_context():
        rnd, tokens = make_round("scoring", n_subjects=2, per_subject=True)
        rid, sid = rnd.id, rnd.subjects[0].id
        token = tokens[rnd.categories[0].id][0]
    errors: list[str] = []
    page = phone(browser, errors)
    page.goto(f"{base_url}/v/#{token}")
    fill(page, sid, FIRST)
    assert page.evaluate("localStorage.length") == 1
    with app.app_context():
        close_round(get_round(rid))
    page.reload()
    expect(page.locator("#state-title")).to_have_text("投票已结束")
    assert page.evaluate("localStorage.length") == 0
    assert not errors, errors
