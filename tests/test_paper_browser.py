"""Two console users enter the same paper ballot in Chromium (双人录入): the first entry,
a second entry that disagrees and shows both which field differs, the correction that
counts it, an invalid sheet entered twice, and the results page's 纸质票 columns.

Screenshots go to PINGYI_SCREENSHOTS (default /tmp/shots): paper-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from server.paper.operations import issue_paper
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, create_round, open_round
from server.tokens.operations import issue_tokens
from server.voting.ballots import submit_ballot
from tests.factories import committee, organizer, valid_answers
from tests.support.browser import desk, shot, sign_in
from tests.support.liveserver import live_server

pytestmark = pytest.mark.browser


@pytest.fixture
def base(app: Flask) -> Iterator[str]:
    with live_server(app) as url:
        yield url


def _closed_round(app: Flask) -> tuple[int, list[tuple[int, str]]]:
    """An appraisal of two leaders, one electronic ballot, two paper slips, closed;
    returns its id and its (subject id, name)."""
    with app.app_context():
        organizer("lina")
        organizer("zhoujie")
        rnd = create_round(committee().id, "appraisal", "2026年度领导班子民主测评",
                           [{"name": "王建国", "note": "党委书记"},
                            {"name": "李明华", "note": "总经理"}],
                           [{"name": "职工代表", "expected_count": 8}],
                           results={"min_turnout": 0})
        cid = rnd.categories[0].id
        issue_paper(rnd, cid, 2)
        token = issue_tokens(rnd, cid, 1)[0]
        open_round(rnd)
        rid, subjects = rnd.id, [(s.id, s.name) for s in rnd.subjects]
        submit_ballot(token, valid_answers(rnd))
        close_round(get_round(rid))
        return rid, subjects


def _fill(page: Page, subjects: list[tuple[int, str]], grade: str,
          odd: tuple[int, str, str] | None = None) -> None:
    """Tick `grade` in every cell, and in the cell `odd` (subject, criterion) its grade."""
    for cell in page.locator("#paper-entry input[type=radio][name^='a-']").all():
        name = cell.get_attribute("name") or ""
        want = grade
        if odd and name == f"a-{odd[0]}-{odd[1]}":
            want = odd[2]
        if cell.get_attribute("value") == want:
            cell.check()


def test_two_people_enter_the_same_paper_ballot(app: Flask, base: str,
                                                browser: Browser) -> None:
    rid, subjects = _closed_round(app)
    errors: list[str] = []
    lina, zhou = desk(browser, errors), desk(browser, errors)
    sign_in(lina, base, "lina")
    sign_in(zhou, base, "zhoujie")
    paper = f"{base}/console/rounds/{rid}/paper"
    li_ming = subjects[1][0]

    # 李娜 enters the first sheet: 称职 everywhere
    lina.goto(f"{base}/console/rounds/{rid}")
    lina.locator("#paper-button").click()
    expect(lina).to_have_url(paper)
    _fill(lina, subjects, "competent")
    shot(lina, "paper-first-entry", full_page=True)
    lina.get_by_role("button", name="录入（第一次）").click()
    expect(lina.locator(".flash-success")).to_contain_text("已录入第 1 张")
    expect(lina.locator("#sheet-1")).to_contain_text("待复核")
    expect(lina.locator("#sheet-1 a")).to_have_count(0)  # not hers to enter again

    # 周杰 enters it blind and misreads 李明华's 总体评价 as 优秀
    zhou.goto(paper)
    zhou.locator("#sheet-1").get_by_role("link", name="复核录入").click()
    expect(zhou.locator("#paper-entry")).to_be_visible()
    _fill(zhou, subjects, "competent", (li_ming, "overall", "excellent"))
    zhou.get_by_role("button", name="录入（第二次）").click()
    expect(zhou.locator("#differences")).to_contain_text(
        "李明华 · 总体评价：lina 录为“称职”，zhoujie 录为“优秀”")
    shot(zhou, "paper-mismatch", full_page=True)

    # 李娜 sees the same difference on her list
    lina.goto(paper)
    expect(lina.locator("#sheet-1")).to_contain_text("两次录入不一致")
    expect(lina.locator("#sheet-1")).to_contain_text("李明华 · 总体评价")
    shot(lina, "paper-mismatch-list", full_page=True)

    # 周杰 looks at the sheet again and corrects his entry: it counts
    _fill(zhou, subjects, "competent")
    zhou.get_by_role("button", name="重新录入").click()
    expect(zhou.locator(".flash-success")).to_contain_text("第 1 张两次录入一致，已计入结果")
    expect(zhou.locator("#sheet-1")).to_contain_text("已计入")

    # a blank sheet: both enter it as 无效（空白票）
    zhou.check("#paper-entry input[name=invalid][value=blank]")
    zhou.get_by_role("button", name="录入（第一次）").click()
    expect(zhou.locator(".flash-success")).to_contain_text("已录入第 2 张")
    lina.goto(f"{paper}/2")
    lina.check("#paper-entry input[name=invalid][value=blank]")
    lina.get_by_role("button", name="录入（第二次）").click()
    expect(lina.locator("#sheet-2")).to_contain_text("已计入（无效：空白票）")
    expect(lina.locator("#paper-categories tbody tr").first).to_contain_text("2")
    shot(lina, "paper-counted", full_page=True)

    # the results: 实到 3 = 1 electronic + 2 paper, of which 1 无效
    lina.goto(f"{base}/console/rounds/{rid}/results")
    total = lina.locator("table.result-table tfoot tr").first
    expect(total).to_contain_text("合计")
    cells = [c.strip() for c in total.locator("td").all_inner_texts()]
    assert cells[:4] == ["8", "3", "2", "1"]  # 应到 实到 有效 无效
    assert cells[5:] == ["1", "1", "0", "2", "1", "1"]  # 电子票, 纸质票: 实到 有效 无效
    shot(lina, "paper-results")
    assert not errors, errors
