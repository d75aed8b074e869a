"""A 测评会 from slips to xlsx in Chromium (issue #21's Must-show): a meeting of three
designed forms on one slip (领导班子 好/较好/一般/差, 班子成员 优秀/称职/基本称职/不称职,
选人用人工作满意度 满意/基本满意/不满意/不了解); ten phones vote, six form by form (one
reloads in the middle, two leave before the last form) and four all at once (each form
暂存 on the phone, one reload among them, then 全部提交), while the meeting's projector
follows per-form turnout; the organizer closes the meeting; two console users enter the
paper ballots twice (双人录入: one sheet 无效 with a reason, one second entry that
disagrees and is corrected); the results page and the xlsx show 应到/实到/有效/无效
with electronic and paper apart.

The meeting is 逐份提交 ("each"), where each voter chooses per form to send it or to
hold it; 全部填写后一并提交 ("end") is tests/test_meeting_browser.py::test_all_at_the_end. The projector counts electronic
ballots (paper is entered after the close and shows in the results).

Screenshots go to PINGYI_SCREENSHOTS (default /tmp/shots): season-meeting-*.png.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from server.demo.meeting import FORMS
from server.forms.operations import create_form
from server.meetings.operations import create_meeting, issue_meeting_tokens
from server.paper.operations import issue_paper
from server.rounds.operations import create_round
from tests.factories import committee, organizer, valid_answers
from tests.support.browser import desk, phone, shot, sign_in
from tests.support.liveserver import live_server
from tests.test_meeting_browser import confirm, fill_current_form, hold

pytestmark = pytest.mark.browser

CATEGORIES = [{"name": "班子成员", "expected_count": 3}, {"name": "职工代表", "expected_count": 10}]
PAPER = 3  # 职工代表 without a smartphone, on paper, on every form


@pytest.fixture
def base(app: Flask) -> Iterator[str]:
    with live_server(app) as url:
        yield url


def build(app: Flask) -> dict[str, Any]:
    """Two organizers (keys), the three forms and their rounds, a meeting of them with
    its slips (3 + 7) and 3 paper slips of 职工代表 on every form."""
    with app.app_context():
        user, key_a = organizer("lina")
        _, key_b = organizer("zhoujie")
        cid = committee().id
        rounds = []
        for definition, title, subjects in FORMS:
            form = create_form(cid, definition, user)
            people = subjects or [("王建国", "党委书记"), ("李明华", "总经理")]
            rounds.append(create_round(cid, None, title, [{"name": n, "note": t} for n, t in people],
                                       [dict(c) for c in CATEGORIES], form_id=form.id,
                                       results={"min_turnout": 0}))
        meeting = create_meeting(cid, "2026年度述职述廉暨民主测评会", [r.id for r in rounds],
                                 "each", user)
        tokens = (issue_meeting_tokens(meeting, "班子成员", 3)
                  + issue_meeting_tokens(meeting, "职工代表", 7))
        for rnd in rounds:
            issue_paper(rnd, rnd.categories[1].id, PAPER)
        return {"meeting": meeting.id, "rounds": [r.id for r in rounds], "tokens": tokens,
                "workers": [r.categories[1].id for r in rounds],
                "answers": [valid_answers(r, 1) for r in rounds],
                "subjects": [[s.id for s in r.subjects] for r in rounds],
                "keys": [{"Authorization": f"Bearer {k}"} for k in (key_a, key_b)]}


def vote_on_a_phone(browser: Browser, base: str, token: str, forms: int,
                    errors: list[str], reload_after: int | None = None) -> None:
    """Send each form when it is filled in (逐份提交)."""
    page = phone(browser, errors)
    page.goto(f"{base}/v/m/#{token}")
    expect(page.locator("#meeting-forms li")).to_have_count(3)
    for n in range(1, forms + 1):
        page.click("#meeting-next")
        expect(page.locator("#meeting-progress")).to_have_text(f"第{n}/3份")
        fill_current_form(page)
        confirm(page)
        expect(page.locator("#meeting-count")).to_contain_text(f"已提交 {n} 份")
        if n == reload_after:
            page.reload()  # the slip and its receipts are on the phone: it resumes
            expect(page.locator("#meeting-count")).to_contain_text(f"已提交 {n} 份")
    expect(page.locator(".meeting-receipt")).to_have_count(forms)
    page.context.close()


def vote_all_at_once(browser: Browser, base: str, token: str, errors: list[str],
                     reload_after: int | None = None) -> None:
    """Hold every form on the phone (暂存), then send them all (全部提交)."""
    page = phone(browser, errors)
    page.goto(f"{base}/v/m/#{token}")
    page.click("#meeting-next")
    for n in (1, 2, 3):
        expect(page.locator("#meeting-progress")).to_have_text(f"第{n}/3份")
        fill_current_form(page)
        hold(page)
        if n == reload_after:
            page.reload()  # the held forms are on the phone: it resumes
            expect(page.locator(".meeting-form.is-held")).to_have_count(n)
            page.click("#meeting-next")
    expect(page.locator("#meeting-count")).to_contain_text("已提交 0 份")
    page.click("#meeting-send")
    expect(page.locator(".meeting-receipt")).to_have_count(3)
    expect(page.locator("#screen-meeting")).to_contain_text("全部测评表已提交")
    page.context.close()


def card(page: Page, round_id: int) -> Any:
    return page.locator(f'.mpj-form[data-round-id="{round_id}"]')


def cat_text(scope: Any, name: str) -> str:
    return " ".join(scope.locator(f'.mpj-cat[data-cat="{name}"] .mpj-cat-num').inner_text().split())


def tick(page: Page, grade: str, odd: tuple[int, str, str] | None = None) -> None:
    """Mark a paper ballot: `grade` in every cell, and in the cell `odd` (subject,
    criterion, grade) another grade."""
    page.check("#paper-entry input[name=invalid][value='']")
    for cell in page.locator(f"#paper-entry input[type=radio][value={grade}]").all():
        cell.check()
    if odd:
        page.check(f"#paper-entry input[name='a-{odd[0]}-{odd[1]}'][value={odd[2]}]")


def enter_by_api(client: Any, keys: list[dict[str, str]], rid: int, cid: int,
                 sheets: list[dict[str, Any]]) -> None:
    """The paper sheets of one form, each entered by both organizers."""
    for number, body in enumerate(sheets, start=1):
        res = client.post(f"/api/v1/rounds/{rid}/paper/ballots", headers=keys[0],
                          json={"category_id": cid, **body})
        assert res.status_code == 201 and res.json["number"] == number, res.json
        res = client.post(f"/api/v1/rounds/{rid}/paper/ballots/{number}", headers=keys[1],
                          json=body)
        assert res.status_code == 200 and res.json["status"] == "counted", res.json


def results_total(page: Page) -> list[str]:
    total = page.locator("table.result-table tfoot tr").first
    expect(total).to_contain_text("合计")
    return [c.strip() for c in total.locator("td").all_inner_texts()]


def xlsx_total(page: Page, base: str, rid: int) -> list[Any]:
    res = page.request.get(f"{base}/api/v1/rounds/{rid}/export.xlsx")
    assert res.status == 200
    ws = load_workbook(io.BytesIO(res.body()))["有效性"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] == "参评类别")
    assert rows[head][6:12:3] == ["电子票", "纸质票"]
    assert rows[head + 1][6:12] == ["实到", "有效", "无效"] * 2
    return next(r for r in rows if r[0] == "合计")


def test_a_meeting_season_with_phones_paper_projector_and_exports(app: Flask, base: str,
                                                                  browser: Browser) -> None:
    w = build(app)
    mid, rids, workers = w["meeting"], w["rounds"], w["workers"]
    errors: list[str] = []
    lina, zhou = desk(browser, errors), desk(browser, errors)
    sign_in(lina, base, "lina")
    sign_in(zhou, base, "zhoujie")

    # the meeting page: open it, then its projector
    lina.goto(f"{base}/console/meetings/{mid}")
    lina.get_by_role("button", name="开始投票（全部测评表）").click()
    expect(lina.locator(".meeting-form-row")).to_have_count(3)
    with lina.context.expect_page() as popup:
        lina.locator("#meeting-projector-link").click()
    hall = popup.value
    hall.set_viewport_size({"width": 1600, "height": 900})
    expect(hall.locator("#pj-actual")).to_have_text("0")
    expect(hall.locator("#pj-expected")).to_have_text("13")

    # ten phones: 1, 3, 5, 7 hold every form and send all at once; the others send form
    # by form, two 职工代表 of them leaving before form 3
    for i, token in enumerate(w["tokens"]):
        if i % 2 and i < 8:
            vote_all_at_once(browser, base, token, errors, reload_after=2 if i == 5 else None)
        else:
            vote_on_a_phone(browser, base, token, 2 if i >= 8 else 3, errors,
                            reload_after=1 if i == 4 else None)

    # the projector has followed, per form and per category
    expect(hall.locator("#pj-actual")).to_have_text("10")
    expect(hall.locator("#pj-rate")).to_have_text("76.9%")
    assert cat_text(hall.locator("#mpj-cats"), "班子成员") == "3 / 3"
    assert cat_text(hall.locator("#mpj-cats"), "职工代表") == "7 / 10"
    for rid, actual in zip(rids, (10, 10, 8), strict=True):
        expect(card(hall, rid).locator(".mpj-form-actual")).to_have_text(str(actual))
        expect(card(hall, rid).locator(".mpj-form-expected")).to_have_text("13")
    assert cat_text(card(hall, rids[2]), "职工代表") == "5 / 10"
    assert cat_text(card(hall, rids[2]), "班子成员") == "3 / 3"
    expect(hall.locator("#rehearsal-band")).to_be_hidden()
    expect(hall.locator(".mpj-form-results:visible")).to_have_count(0)
    shot(hall, "season-meeting-projector")

    # close the meeting from its page
    lina.get_by_role("button", name="结束投票并计票（全部测评表）").click()
    expect(lina.locator("#meeting-actions")).to_contain_text("测评会已结束")
    expect(hall.locator("#pj-status")).to_have_text("已结束", timeout=15000)

    # paper, form 1 (领导班子) in the console, each sheet by both people
    paper = f"{base}/console/rounds/{rids[0]}/paper"
    team = w["subjects"][0][0]
    lina.goto(paper)  # sheet 1: 好 everywhere, as both read it at last
    tick(lina, "good")
    lina.get_by_role("button", name="录入（第一次）").click()
    expect(lina.locator(".flash-success")).to_contain_text("已录入第 1 张")
    zhou.goto(paper)
    zhou.locator("#sheet-1").get_by_role("link", name="复核录入").click()
    tick(zhou, "good", (team, "overall", "fair"))  # misread 总体评价 as 较好
    zhou.get_by_role("button", name="录入（第二次）").click()
    expect(zhou.locator("#differences")).to_contain_text("总体评价：lina 录为“好”，zhoujie 录为“较好”")
    shot(zhou, "season-meeting-paper-mismatch", full_page=True)
    tick(zhou, "good")
    zhou.get_by_role("button", name="重新录入").click()
    expect(zhou.locator(".flash-success")).to_contain_text("第 1 张两次录入一致，已计入结果")
    zhou.check("#paper-entry input[name=invalid][value=blank]")  # sheet 2: blank
    zhou.get_by_role("button", name="录入（第一次）").click()
    expect(zhou.locator(".flash-success")).to_contain_text("已录入第 2 张")
    lina.goto(f"{paper}/2")
    lina.check("#paper-entry input[name=invalid][value=blank]")
    lina.get_by_role("button", name="录入（第二次）").click()
    expect(lina.locator("#sheet-2")).to_contain_text("已计入（无效：空白票）")
    tick(lina, "fair")  # sheet 3: 较好 everywhere
    lina.get_by_role("button", name="录入（第一次）").click()
    zhou.goto(f"{paper}/3")
    tick(zhou, "fair")
    zhou.get_by_role("button", name="录入（第二次）").click()
    expect(zhou.locator("#sheet-3")).to_contain_text("已计入")
    expect(zhou.locator("#paper-sheets .sheet-counted")).to_have_count(3)
    shot(zhou, "season-meeting-paper-entry", full_page=True)

    # paper of forms 2 and 3 through the API (form 3: one sheet unreadable)
    client = app.test_client()
    keys, answers = w["keys"], w["answers"]
    enter_by_api(client, keys, rids[1], workers[1], [{"answers": answers[1]}] * 3)
    enter_by_api(client, keys, rids[2], workers[2],
                 [{"answers": answers[2]}] * 2 + [{"invalid": "unreadable"}])

    # results: 应到 实到 有效 无效 | 参评率 | 电子票 实到 有效 无效 | 纸质票 实到 有效 无效
    want = {rids[0]: (["13", "13", "12", "1"], ["10", "10", "0", "3", "2", "1"]),
            rids[1]: (["13", "13", "13", "0"], ["10", "10", "0", "3", "3", "0"]),
            rids[2]: (["13", "11", "10", "1"], ["8", "8", "0", "3", "2", "1"])}
    for rid, (head, split) in want.items():
        lina.goto(f"{base}/console/rounds/{rid}/results")
        cells = results_total(lina)
        assert (cells[:4], cells[5:]) == (head, split), (rid, cells)
        if rid == rids[0]:
            shot(lina, "season-meeting-results")
        total = xlsx_total(lina, base, rid)
        assert [str(v) for v in total[1:5]] == head, (rid, total)
        assert [str(v) for v in total[6:12]] == split, (rid, total)

    # the hall sees a form's results only once it is published
    res = client.post(f"/api/v1/rounds/{rids[0]}/publish", headers=keys[0])
    assert res.status_code == 200, res.json
    expect(card(hall, rids[0]).locator(".mpj-form-results")).to_be_visible(timeout=20000)
    expect(hall.locator(".mpj-form-results:visible")).to_have_count(1)
    expect(card(hall, rids[0]).locator(".mpj-form-state")).to_have_text("已发布")
    shot(hall, "season-meeting-projector-published")
    assert not errors, errors
