"""Leaderboards as people see them: names, ranks, star levels; live, frozen or hidden."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from sqlalchemy import func

from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Branch, Member, PartyGroup
from server.points import boards, ledger
from server.points.calendar import Period
from server.points.models import BoardState
from server.points.rulebook import rules_for_committee

BOARD_LABELS = {"members": "党员积分榜", "groups": "党小组考评榜", "branches": "党支部排名"}
VISIBILITY_LABELS = {"live": "实时", "hidden": "已隐藏", "frozen": "已冻结"}
MAX_LIMIT = 500


def board_state(board: str, scope_id: int, period: Period) -> BoardState | None:
    return db.session.execute(db.select(BoardState).filter_by(
        board=board, scope_id=scope_id, year=period.year, quarter=period.quarter)
    ).scalar_one_or_none()


def _names(model: Any, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(db.select(model.id, model.name).where(model.id.in_(ids))).all())


def _committee_of(board: str, scope_id: int) -> int:
    if board == "branches":
        return scope_id
    branch = db.session.get(Branch, scope_id)
    return branch.committee_id if branch else 0


def live_rows(board: str, scope_id: int, period: Period, offset: int = 0,
              limit: int = 50) -> tuple[list[dict[str, Any]], int]:
    """One page of the live board, best first; limit 0 means all of it."""
    if board == "branches":
        return _branch_rows(scope_id, period, offset, limit)
    page = boards.read_page(board, scope_id, period, offset, limit)
    if page is None:
        page = boards.sql_page(board, scope_id, period, offset, limit)
    entries, total = page
    ids = [sid for sid, _, _ in entries]
    names = _names(Member if board == "members" else PartyGroup, ids)
    rows = [{"rank": offset + i + 1, "id": sid, "name": names.get(sid, f"#{sid}"),
             "points": pts, "deductions": ded}
            for i, (sid, pts, ded) in enumerate(entries)]
    if period.is_year and rows:
        subject = "member" if board == "members" else "group"
        vetoes = ledger.active_vetoes(subject, ids, period.year)
        scheme = rules_for_committee(_committee_of(board, scope_id), period.year).member
        for row in rows:
            row["vetoed"] = row["id"] in vetoes
            if board == "members":
                level = scheme.star_level(row["points"], row["vetoed"])
                row["stars"], row["level"] = level.stars, level.label
    return rows, total


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
        .group_by(Member.branch_id)).all())
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
         offset: int = 0, limit: int = 50) -> dict[str, Any]:
    """The board as a viewer may see it.

    hidden: staff see the live board (marked hidden); anyone else gets 403 board_hidden.
    frozen: everyone sees the standings as frozen; staff may ask for `live` instead.
    """
    if board not in boards.BOARDS:
        raise ApiError("unknown_board", "没有这个排行榜", f"no board {board!r}", 404, "board")
    limit = max(0, min(int(limit), MAX_LIMIT))
    state = board_state(board, scope_id, period)
    visibility = state.visibility if state else "live"
    if visibility == "hidden" and not staff:
        raise ApiError("board_hidden", "该排行榜暂未公开", "this board is hidden", 403, "board")
    if visibility == "frozen" and not (live and staff):
        frozen = state.frozen_rows if state else []
        rows = frozen[offset: offset + limit] if limit else frozen[offset:]
        total, showing = len(frozen), "frozen"
    else:
        rows, total = live_rows(board, scope_id, period, offset, limit)
        showing = "live"
    return {"board": board, "label": BOARD_LABELS[board], "scope_id": scope_id,
            "period": period.code, "period_label": period.label, "visibility": visibility,
            "showing": showing, "frozen_at": state.frozen_at if state else None,
            "total": total, "offset": offset, "rows": rows}


def snapshot(board: str, scope_id: int, period: Period) -> str:
    rows, _ = live_rows(board, scope_id, period, 0, 0)
    return json.dumps(rows, ensure_ascii=False)


def member_rank(member: Member, period: Period) -> int | None:
    rank = boards.read_rank("members", member.branch_id, period, member.id)
    if rank is None:
        rows, _ = boards.sql_page("members", member.branch_id, period, 0, 0)
        rank = next((i + 1 for i, (sid, _, _) in enumerate(rows) if sid == member.id), None)
    return rank
