"""Leaderboards as people see them: names, ranks, star levels; live, frozen or hidden."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from flask import g, has_app_context
from sqlalchemy import BindParameter, and_, bindparam, exists, false, func, or_
from sqlalchemy.orm import aliased, defer

from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Branch, Committee, Member, PartyGroup
from server.points import boards, ledger
from server.points.calendar import Period
from server.points.models import BoardState, PointsEntry
from server.points.rulebook import rules_for

BOARD_LABELS = {"members": "党员积分榜", "groups": "党小组考评榜", "branches": "党支部排名"}
VISIBILITY_LABELS = {"live": "实时", "hidden": "已隐藏", "frozen": "已冻结"}
MAX_LIMIT = 500
# Ids per `IN (...)` when the names of a whole board are needed (freezing, publishing):
# one statement per chunk stays small whatever the board's size (bound one parameter
# per id, psycopg refuses more than 65,535 a statement and SQLite 32,766).
NAME_CHUNK = 5_000


def board_state(board: str, scope_id: int, period: Period) -> BoardState | None:
    return db.session.execute(db.select(BoardState).filter_by(
        board=board, scope_id=scope_id, year=period.year, quarter=period.quarter)
    ).scalar_one_or_none()


def _names(model: Any, ids: list[int]) -> dict[int, str]:
    """Names of the given ids, NAME_CHUNK ids per query. The ids (integers) are written
    into the statement rather than bound one parameter each: no parameter limit, and
    5,000 bound parameters cost more to send than the names they fetch."""
    out: dict[int, str] = {}
    for start in range(0, len(ids), NAME_CHUNK):
        chunk = [int(i) for i in ids[start: start + NAME_CHUNK]]
        wanted: BindParameter[list[int]] = bindparam("ids", chunk, expanding=True,
                                                     literal_execute=True)
        out.update(db.session.execute(
            db.select(model.id, model.name).where(model.id.in_(wanted))).tuples().all())
    return out


def _committee_name(board: str, scope_id: int) -> str:
    committee_id = scope_id if board == "branches" else db.session.execute(
        db.select(Branch.committee_id).filter_by(id=scope_id)).scalar()
    committee = db.session.get(Committee, committee_id) if committee_id else None
    return committee.name if committee else ""


def live_rows(board: str, scope_id: int, period: Period, offset: int = 0,
              limit: int = 50) -> tuple[list[dict[str, Any]], int]:
    """One page of the live board, best first; limit 0 means all of it (freezing and
    publishing snapshot it; names are then read NAME_CHUNK ids a query)."""
    if board == "branches":
        return _branch_rows(scope_id, period, offset, limit)
    page = boards.read_page(board, scope_id, period, offset, limit)
    if page is None:
        page = boards.sql_page(board, scope_id, period, offset, limit)
    entries, total = page
    ids = [sid for sid, _, _ in entries]
    subject = "member" if board == "members" else "group"
    facts = PageFacts(
        None, _committee_name(board, scope_id), None,
        _names(Member if board == "members" else PartyGroup, ids),
        set(ledger.active_vetoes(subject, ids, period.year)) if period.is_year else set())
    return _rows(board, period, entries, offset, facts), total


@dataclass
class PageFacts:
    """What SQL adds to a page of a branch's board: the branch and its committee's
    name (whose rule set gives the star levels), the board's visibility, and the
    names and vetoes of the subjects on the page."""

    branch: Branch | None
    committee_name: str
    state: BoardState | None
    names: dict[int, str]
    vetoed: set[int]


def page_facts(board: str, branch_id: int, period: Period, ids: list[int]) -> PageFacts:
    """All of `PageFacts` in one statement, however big the board: the branch joined
    with its committee, its board state (without the frozen standings, loaded only
    when shown) and the page's subjects, each with an EXISTS for an active veto
    (year boards; a veto's subject index keeps it one probe per row)."""
    subject = Member if board == "members" else PartyGroup
    col = PointsEntry.member_id if board == "members" else PointsEntry.group_id
    wanted: BindParameter[list[int]] = bindparam("ids", [int(i) for i in ids], expanding=True,
                                                 literal_execute=True)
    vetoed: Any = false()
    if period.is_year:
        reversal = aliased(PointsEntry)
        vetoed = exists().where(
            PointsEntry.kind == "veto", PointsEntry.year == period.year, col == subject.id,
            PointsEntry.status == "approved",
            # not `reverses_id IS NULL`: SQLite would walk the unique index on it
            func.coalesce(PointsEntry.reverses_id, 0) == 0,
            ~exists().where(reversal.reverses_id == PointsEntry.id))
    state_on = and_(BoardState.board == board, BoardState.scope_id == Branch.id,
                    BoardState.year == period.year, BoardState.quarter == period.quarter)
    rows = db.session.execute(
        db.select(Branch, Committee.name, BoardState, subject.id, subject.name, vetoed)
        .join(Committee, Committee.id == Branch.committee_id)
        .outerjoin(BoardState, state_on)
        .outerjoin(subject, subject.id.in_(wanted))
        .where(Branch.id == branch_id)
        .options(defer(BoardState.frozen_json))).all()
    if not rows:
        return PageFacts(None, "", None, {}, set())
    return PageFacts(rows[0][0], rows[0][1], rows[0][2],
                     {r[3]: r[4] for r in rows if r[3] is not None},
                     {r[3] for r in rows if r[3] is not None and r[5]})


def _rows(board: str, period: Period, entries: list[tuple[int, int, int]], offset: int,
          facts: PageFacts) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"rank": offset + i + 1, "id": sid, "name": facts.names.get(sid, f"#{sid}"),
         "points": pts, "deductions": ded}
        for i, (sid, pts, ded) in enumerate(entries)]
    if period.is_year and rows:
        scheme = rules_for(facts.committee_name, period.year).member
        for row in rows:
            row["vetoed"] = row["id"] in facts.vetoed
            if board == "members":
                level = scheme.star_level(row["points"], row["vetoed"])
                row["stars"], row["level"] = level.stars, level.label
    return rows


def _branch_rows(committee_id: int, period: Period, offset: int,
                 limit: int) -> tuple[list[dict[str, Any]], int]:
    """Branches ranked by points per party member (人均积分), so size does not decide;
    ties: fewer deductions per member, then the lower id."""
    page = boards.read_page("branches", committee_id, period, 0, 0)
    if page is None:
        page = boards.sql_page("branches", committee_id, period, 0, 0)
    scores = {bid: (pts, ded) for bid, pts, ded in page[0]}
    counts = dict(db.session.execute(
        db.select(Member.branch_id, func.count(Member.id))
        .where(Member.committee_id == committee_id, Member.is_party_member.is_(True))
        .group_by(Member.branch_id)).tuples().all())
    branches = db.session.execute(
        db.select(Branch.id, Branch.name).filter_by(committee_id=committee_id)).all()
    rows = []
    for bid, name in branches:
        pts, ded = scores.get(bid, (0, 0))
        n = int(counts.get(bid, 0))
        per = Fraction(pts, n) if n else Fraction(0)
        rows.append({"id": bid, "name": name, "members": n, "total": pts, "deductions": ded,
                     "points": _round_half_up(per), "_key": (-per, Fraction(ded, n or 1), bid)})
    rows.sort(key=lambda r: r.pop("_key"))
    for i, row in enumerate(rows):
        row["rank"] = i + 1
    return (rows[offset: offset + limit] if limit else rows[offset:]), len(rows)


def _round_half_up(value: Fraction) -> int:
    sign = -1 if value < 0 else 1
    return sign * int(abs(value) + Fraction(1, 2))


def view(board: str, scope_id: int, period: Period, *, staff: bool, live: bool = False,
         offset: int = 0, limit: int = 50,
         check: Callable[[Branch | None], Any] | None = None) -> dict[str, Any]:
    """The board as a viewer may see it.

    hidden: staff see the live board (marked hidden); anyone else gets 403 board_hidden.
    frozen: everyone sees the standings as frozen; staff may ask for `live` instead.

    A page of a branch's board (members, groups) costs one SQL statement (`page_facts`)
    once its Redis board is ready; `check` then sees the branch (None: no such branch)
    before anything is shown, and refuses it by raising.
    """
    limit = max(0, min(int(limit), MAX_LIMIT))
    if board != "branches" and limit:
        return _branch_view(board, scope_id, period, staff=staff, live=live, offset=offset,
                            limit=limit, check=check)
    state = board_state(board, scope_id, period)
    showing = _showing(board, state, staff=staff, live=live)
    if showing == "frozen":
        frozen = _frozen_rows(state)
        rows = frozen[offset: offset + limit] if limit else frozen[offset:]
        total = len(frozen)
    else:
        rows, total = live_rows(board, scope_id, period, offset, limit)
    return _answer(board, scope_id, period, state, showing, total, offset, rows)


def _branch_view(board: str, branch_id: int, period: Period, *, staff: bool, live: bool,
                 offset: int, limit: int,
                 check: Callable[[Branch | None], Any] | None) -> dict[str, Any]:
    # Redis first, without rebuilding: the scope is not checked yet.
    page = boards.peek_page(board, branch_id, period, offset, limit)
    facts = page_facts(board, branch_id, period, [sid for sid, _, _ in page[0]] if page else [])
    if check is not None:
        check(facts.branch)
    showing = _showing(board, facts.state, staff=staff, live=live)
    if showing == "frozen":
        frozen = _frozen_rows(facts.state)
        return _answer(board, branch_id, period, facts.state, showing, len(frozen), offset,
                       frozen[offset: offset + limit])
    if page is None:  # the board is being (re)built, or Redis is down: the slower way
        page = boards.read_page(board, branch_id, period, offset, limit)
        if page is None:
            page = boards.sql_page(board, branch_id, period, offset, limit)
        facts = page_facts(board, branch_id, period, [sid for sid, _, _ in page[0]])
    entries, total = page
    return _answer(board, branch_id, period, facts.state, showing, total, offset,
                   _rows(board, period, entries, offset, facts))


def _answer(board: str, scope_id: int, period: Period, state: BoardState | None,
            showing: str, total: int, offset: int,
            rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"board": board, "label": BOARD_LABELS[board], "scope_id": scope_id,
            "period": period.code, "period_label": period.label,
            "visibility": state.visibility if state else "live",
            "showing": showing, "frozen_at": state.frozen_at if state else None,
            "total": total, "offset": offset, "rows": rows}


def _showing(board: str, state: BoardState | None, *, staff: bool, live: bool) -> str:
    """"live" or "frozen": which standings this viewer sees (ApiError when none)."""
    if board not in boards.BOARDS:
        raise ApiError("unknown_board", "没有这个排行榜", f"no board {board!r}", 404, "board")
    visibility = state.visibility if state else "live"
    if visibility == "hidden" and not staff:
        raise ApiError("board_hidden", "该排行榜暂未公开", "this board is hidden", 403, "board")
    return "frozen" if visibility == "frozen" and not (live and staff) else "live"


def _frozen_rows(state: BoardState | None) -> list[dict[str, Any]]:
    """The frozen standings, parsed once per request (a frozen board of 100,000 rows is
    10+ MB of JSON; the bot's 排名 reads it for the top and for the own row). Shared:
    do not change them."""
    if state is None or not state.frozen_json:
        return []
    if not has_app_context():
        return state.frozen_rows
    memo: dict[tuple[int, Any], list[dict[str, Any]]] = g.setdefault("pingyi_frozen_rows", {})
    key = (state.id, state.frozen_at)
    if key not in memo:
        memo.clear()  # one board at a time: the memo never holds more than one
        memo[key] = state.frozen_rows
    return memo[key]


def positions(board: str, scope_id: int, period: Period, subject_ids: Iterable[int], *,
              staff: bool, live: bool = False) -> tuple[dict[int, dict[str, Any]], int]:
    """Where some subjects stand on the board as this viewer may see it (the rules of
    `view`): {id: {rank, id, points, deductions}} of those on it, and the board's size.
    A live board is not read whole: one Redis round trip however big it is."""
    state = board_state(board, scope_id, period)
    if _showing(board, state, staff=staff, live=live) == "frozen":
        wanted = set(subject_ids)
        frozen = _frozen_rows(state)
        return {r["id"]: r for r in frozen if r.get("id") in wanted}, len(frozen)
    return live_positions(board, scope_id, period, subject_ids)


def live_positions(board: str, scope_id: int, period: Period,
                   subject_ids: Iterable[int]) -> tuple[dict[int, dict[str, Any]], int]:
    """`positions` on the live board (Redis; the whole board from SQL if Redis fails)."""
    ids = list(subject_ids)
    wanted = set(ids)
    if board == "branches":
        rows, total = _branch_rows(scope_id, period, 0, 0)
        return {r["id"]: r for r in rows if r["id"] in wanted}, total
    found = boards.read_positions(board, scope_id, period, ids)
    if found is None:
        entries, total = boards.sql_page(board, scope_id, period, 0, 0)
        found = ({sid: (i + 1, pts, ded) for i, (sid, pts, ded) in enumerate(entries)
                  if sid in wanted}, total)
    hits, total = found
    return {sid: {"rank": rank, "id": sid, "points": pts, "deductions": ded}
            for sid, (rank, pts, ded) in hits.items()}, total


def snapshot(board: str, scope_id: int, period: Period) -> str:
    rows, _ = live_rows(board, scope_id, period, 0, 0)
    return json.dumps(rows, ensure_ascii=False)


def member_rank(member: Member, period: Period) -> int | None:
    """The member's place on the live board of the own branch (None: not on it)."""
    hits, _ = live_positions("members", member.branch_id, period, [member.id])
    return hits[member.id]["rank"] if member.id in hits else None


def absent_members(branch_id: int, period: Period, offset: int = 0,
                   limit: int = 100) -> tuple[list[Member], int]:
    """Party members of the branch who are not on its members board of the period (no
    approved entry with points in it, as `boards.sql_boards` counts), in roster order:
    one page of them and how many there are."""
    where = [Member.branch_id == branch_id, Member.is_party_member.is_(True),
             _not_on_board(branch_id, period)]
    # One anti-join gives the page and the count (a window over all of them) ...
    page = db.session.execute(
        db.select(Member, func.count().over()).where(*where)
        .order_by(Member.id).offset(offset).limit(limit)).all()
    if page:
        return [m for m, _ in page], int(page[0][1])
    # ... unless the page is past the end: then only the count.
    total = db.session.execute(db.select(func.count(Member.id)).where(*where)).scalar_one()
    return [], int(total)


def _not_on_board(branch_id: int, period: Period) -> Any:
    """The condition "this Member has no approved entry with points in the period"."""
    entries = db.select(PointsEntry.member_id).where(
        PointsEntry.branch_id == branch_id, PointsEntry.status == "approved",
        PointsEntry.year == period.year, PointsEntry.points_x10 != 0)
    if not period.is_year:
        entries = entries.where(PointsEntry.quarter == period.quarter)
    if db.engine.dialect.name == "sqlite":
        # SQLite would probe a correlated NOT EXISTS through the (branch, year, status)
        # index, which matches the whole board for every member (n², minutes at 100k);
        # NOT IN builds the subquery's list once.
        return Member.id.not_in(entries.where(PointsEntry.member_id.is_not(None)))
    # PostgreSQL: an anti-join (NOT IN hashes the list only while it fits work_mem).
    return ~entries.where(PointsEntry.member_id == Member.id).exists()


def find_members(branch_id: int, text: str, limit: int = 20) -> list[Member]:
    """Members of the branch whose name contains the text, or whose roster number is
    the text, in roster order (at most `limit`)."""
    text = text.strip()
    if not text:
        return []
    return list(db.session.execute(
        db.select(Member).where(Member.branch_id == branch_id,
                                or_(Member.name.contains(text, autoescape=True),
                                    Member.member_no == text))
        .order_by(Member.id).limit(limit)).scalars())
