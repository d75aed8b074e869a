"""Boards bigger than what one query or one screen holds (the 100,000-member bench).

The thresholds are module constants lowered here, so a board of a few dozen rows
crosses them: names of a whole board are read NAME_CHUNK ids a query (freezing and
publishing snapshot the whole board), and the console screen shows a page of
PAGE_SIZE rows with the members without points paged too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from server.core.db import db
from server.organization.models import Member
from server.points import standings
from server.points.calendar import Period
from server.points.pages import boards as board_pages
from tests.support.bot import approved, rebuild
from tests.support.points import build_world
from tests.test_points_console import login, token

Q1 = Period(2026, 1)
CROWD = 30  # members with points, added to branch A


@pytest.fixture
def world(app):
    """Branch A: its five members without points, and CROWD members with distinct points
    (crowd member i has 100 − i points, so crowd[i] is ranked i + 1)."""
    with app.app_context():
        w = build_world()
        crowd = [Member(committee_id=w.committee_id, branch_id=w.branch_a,
                        member_no=f"K{i:03d}", name=f"众{i:02d}号") for i in range(CROWD)]
        db.session.add_all(crowd)
        db.session.flush()
        for i, member in enumerate(crowd):
            approved(member, Q1, (100 - i) * 10)
        db.session.commit()
        rebuild(w, w.branch_a, Q1.year)
        w.crowd = [m.id for m in crowd]  # type: ignore[attr-defined]
        return w


@pytest.fixture
def name_queries(app) -> Iterator[list[int]]:
    """How many ids each `members.name` lookup by id asked for."""
    sizes: list[int] = []

    def seen(conn, cursor, statement, params, context, executemany) -> None:
        if "FROM members" in statement and "members.id IN (" in statement:
            ids = re.search(r"members\.id IN \(([^)]*)\)", statement).group(1)
            sizes.append(len(ids.split(",")))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    yield sizes
    event.remove(engine, "before_cursor_execute", seen)


def expected_names(count: int) -> list[str]:
    return [f"众{i:02d}号" for i in range(count)]


def test_publishing_snapshots_a_board_bigger_than_the_name_chunk(app, runner, client, world,
                                                                 name_queries, monkeypatch):
    monkeypatch.setattr(standings, "NAME_CHUNK", 7)
    res = runner.invoke(args=["points", "close", "2026Q1", "--as", "dangwei"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(args=["points", "publish", "2026Q1", "--as", "dangwei"])
    assert res.exit_code == 0, res.output
    assert max(name_queries) <= 7 and sum(name_queries) >= CROWD

    res = client.get(f"/api/v1/points/boards/members/{world.branch_a}?period=2026Q1&limit=0",
                     headers=world.auth("sec_a"))
    body = res.get_json()
    assert res.status_code == 200 and body["showing"] == "frozen"
    assert body["total"] == CROWD
    assert [r["name"] for r in body["rows"]] == expected_names(CROWD)
    assert [r["rank"] for r in body["rows"]] == list(range(1, CROWD + 1))


def test_freezing_the_year_board_over_http_reads_names_in_chunks(app, client, world,
                                                                 name_queries, monkeypatch):
    monkeypatch.setattr(standings, "NAME_CHUNK", 4)
    res = client.post(f"/api/v1/points/boards/members/{world.branch_a}/visibility",
                      json={"period": "2026", "visibility": "frozen"},
                      headers=world.auth("sec_a"))
    assert res.status_code == 200, res.get_json()
    assert max(name_queries) <= 4 and len(name_queries) >= CROWD // 4
    res = client.get(f"/api/v1/points/boards/members/{world.branch_a}?period=2026&limit=0",
                     headers=world.auth("dangwei"))
    rows = res.get_json()["rows"]
    assert [r["name"] for r in rows] == expected_names(CROWD)
    assert all("stars" in r and "level" in r for r in rows)  # the year board's star levels


def rank_cells(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<span class="rank">(\d+)</span>', html)]


def test_console_board_is_paged(app, client, world, monkeypatch):
    monkeypatch.setattr(board_pages, "PAGE_SIZE", 12)
    login(client, "sec_a")
    first = client.get("/console/points/?period=2026Q1").get_data(as_text=True)
    assert rank_cells(first) == list(range(1, 13))
    assert "第 1 / 3 页（第 1–12 名，共 30 人）" in first and "上一页" not in first
    assert 'href="/console/points/?period=2026Q1&amp;board=members&amp;page=2" rel="next"' in first
    assert "众00号" in first and "众12号" not in first

    second = client.get("/console/points/?period=2026Q1&page=2").get_data(as_text=True)
    assert rank_cells(second) == list(range(13, 25)) and "众12号" in second
    assert "第 2 / 3 页（第 13–24 名，共 30 人）" in second and 'rel="prev"' in second

    for past_the_end in ("3", "99"):
        last = client.get(f"/console/points/?period=2026Q1&page={past_the_end}")
        html = last.get_data(as_text=True)
        assert last.status_code == 200 and rank_cells(html) == list(range(25, 31))
        assert "第 3 / 3 页（第 25–30 名，共 30 人）" in html and 'rel="next"' not in html
    garbage = client.get("/console/points/?period=2026Q1&page=-2x").get_data(as_text=True)
    assert rank_cells(garbage) == list(range(1, 13))
    # the visibility forms are still there, with their CSRF token
    assert first.count('name="csrf_token"') >= 2


def test_console_absent_members_are_counted_and_paged(app, client, world, monkeypatch):
    monkeypatch.setattr(board_pages, "ABSENT_PAGE_SIZE", 2)
    login(client, "sec_a")
    html = client.get("/console/points/?period=2026Q1").get_data(as_text=True)
    assert "本期暂无积分（5 人）" in html and "赵群众" not in html  # not a party member
    assert "王建华" in html and "李海燕" in html and "张志刚" not in html
    assert "第 1–2 人" in html and "absent_page=2" in html
    html = client.get("/console/points/?period=2026Q1&absent_page=3").get_data(as_text=True)
    assert "本期暂无积分（5 人）" in html and "陈国强" in html and "王建华" not in html
    assert "（第 5 人" in html and "absent_page=2" in html and "absent_page=4" not in html
    html = client.get("/console/points/?period=2026Q2").get_data(as_text=True)
    assert f"本期暂无积分（{5 + CROWD} 人）" in html  # nobody has points in Q2


def test_console_finds_a_members_rank_and_its_page(app, client, world, monkeypatch):
    monkeypatch.setattr(board_pages, "PAGE_SIZE", 10)
    deep = world.crowd[22]
    login(client, "dangwei")
    html = client.get(f"/console/points/?branch={world.branch_a}&period=2026Q1&q=众22"
                      ).get_data(as_text=True)
    assert "众22号" in html and "第 23 名，78 分" in html
    link = (f'/console/points/?branch={world.branch_a}&amp;period=2026Q1&amp;board=members'
            f'&amp;page=3&amp;q=%E4%BC%9722#m{deep}')
    assert link in html
    page = client.get(link.replace("&amp;", "&").split("#")[0]).get_data(as_text=True)
    assert f'id="m{deep}"' in page and rank_cells(page) == list(range(21, 31))

    html = client.get(f"/console/points/?branch={world.branch_a}&period=2026Q1&q=A002"
                      ).get_data(as_text=True)
    assert re.search(r"李海燕</a><span class=\"muted\">（A002）</span>：\s*<span class=\"muted\">"
                     r"本期暂无积分", html)  # found by roster number, no points
    html = client.get(f"/console/points/?branch={world.branch_a}&period=2026Q1&q=孙伟"
                      ).get_data(as_text=True)
    assert "本支部没有姓名或编号为“孙伟”的党员" in html  # branch B's member
    html = client.get(f"/console/points/?branch={world.branch_a}&period=2026Q1&q=%25"
                      ).get_data(as_text=True)
    assert "本支部没有姓名或编号为“%”的党员" in html  # LIKE wildcards are plain text


def test_frozen_board_pages_and_search_show_the_frozen_standings(app, client, world,
                                                                  monkeypatch):
    monkeypatch.setattr(board_pages, "PAGE_SIZE", 10)
    login(client, "dangwei")
    res = client.post("/console/points/boards/visibility", data={
        "csrf_token": token(client, "/console/points/"), "board": "members",
        "branch": str(world.branch_a), "period": "2026Q1", "visibility": "frozen"})
    assert res.status_code == 303
    with app.app_context():  # a late approval moves 王建华 to the top of the live board
        approved(db.session.get(Member, world.members_a[0]), Q1, 5000)
        db.session.commit()
        rebuild(world, world.branch_a, Q1.year)
    base = f"/console/points/?branch={world.branch_a}&period=2026Q1"
    frozen = client.get(base + "&page=2&q=王建华").get_data(as_text=True)
    assert rank_cells(frozen) == list(range(11, 21)) and "冻结时未上榜" in frozen
    assert "本期暂无积分（" not in frozen  # the absent list belongs to the live board
    live = client.get(base + "&live=1&page=2&q=王建华").get_data(as_text=True)
    assert "第 1 名，500 分" in live and "live=1" in live and "第 2 / 4 页" in live


def test_a_page_without_the_csrf_token_still_cannot_change_visibility(client, world):
    login(client, "sec_a")
    res = client.post("/console/points/boards/visibility", data={
        "board": "members", "period": "2026Q1", "visibility": "hidden"})
    assert res.status_code in (400, 403)
