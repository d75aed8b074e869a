"""A page of a branch's leaderboard costs at most two SQL statements, whatever the
board's size: the API key's, and one for the branch, its committee, the board's
visibility and the page's names and vetoes (issue 23; the bench's board phase)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event

from server.core.db import db
from server.organization.models import Member
from server.points.calendar import Period
from tests.support.bot import approved, rebuild
from tests.support.points import build_world

YEAR = Period(2026)


@pytest.fixture
def world(app):
    """Branch A's five members with points, one of them vetoed (a year board shows it)."""
    with app.app_context():
        w = build_world()
        for i, mid in enumerate(w.members_a):
            approved(db.session.get(Member, mid), Period(2026, 1), (10 - i) * 10)
        approved(db.session.get(Member, w.members_a[4]), YEAR, 0, item="违反政治纪律",
                 kind="veto")
        db.session.commit()
        rebuild(w, w.branch_a, 2026)
        return w


@pytest.fixture
def statements(app) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn, cursor, statement, params, context, executemany) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("who,period", [("dangwei", "2026"), ("sec_a", "2026"),
                                        ("sec_a", "2026Q1")])
def test_a_board_page_is_at_most_two_statements(client, world, statements, who, period):
    url = f"/api/v1/points/boards/members/{world.branch_a}?period={period}&limit=50"
    assert client.get(url, headers=world.auth(who)).status_code == 200  # warm (Redis ready)
    statements.clear()
    body = client.get(url, headers=world.auth(who)).get_json()
    assert len(statements) <= 2, statements
    assert [r["id"] for r in body["rows"]] == world.members_a and body["total"] == 5
    assert body["rows"][0]["name"] == "王建华"
    if period == "2026":
        assert [r["vetoed"] for r in body["rows"]] == [False] * 4 + [True]
        assert body["rows"][4]["level"] == "取消评星资格" and body["rows"][0]["level"] != "取消评星资格"


def test_other_branches_and_missing_ones_are_not_found(client, world, statements):
    for scope in (world.branch_b, 999_999):
        res = client.get(f"/api/v1/points/boards/members/{scope}?period=2026",
                         headers=world.auth("sec_a"))
        assert res.status_code == 404 and res.get_json()["error"]["code"] == "branch_not_found"
        assert res.get_json()["error"]["field"] == "scope_id"
    res = client.get("/api/v1/points/boards/members/999999?period=nonsense",
                     headers=world.auth("sec_a"))
    assert res.get_json()["error"]["code"] == "branch_not_found"  # the scope first, as before
