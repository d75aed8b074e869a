"""Hiding and freezing leaderboards (as CTFd does before publication)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from server.core import audit
from server.core.clock import utcnow
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Branch, Committee
from server.points import standings
from server.points.access import MANAGERS, load_branch, require_keeper, safe_id, scope_of
from server.points.calendar import Period
from server.points.models import BoardState, PointsEntry
from server.points.models.board_state import VISIBILITIES


def _state(board: str, scope_id: int, period: Period) -> BoardState:
    state = standings.board_state(board, scope_id, period)
    if state is None:
        state = BoardState(board=board, scope_id=scope_id, year=period.year,
                           quarter=period.quarter, visibility="live")
        db.session.add(state)
    return state


def check_board_scope(user: Any, board: str, scope_id: int) -> None:
    """Branch boards belong to the branch; the branches board to the committee."""
    if board == "branches":
        committee = db.session.get(Committee, safe_id(scope_id))
        if committee is None or not scope_of(user).has_committee(committee.id):
            raise ApiError("board_not_found", "找不到该排行榜", "no such board", 404, "scope_id")
    else:
        load_branch(user, scope_id, field="scope_id")


def set_visibility(user: Any, board: str, scope_id: int, period: Period,
                   visibility: str) -> BoardState:
    """live | hidden | frozen. A secretary may do this for the own branch's boards;
    the committee's branches board only the committee."""
    require_keeper(user)
    if visibility not in VISIBILITIES:
        raise ApiError("invalid_visibility", "可见性只能是实时、隐藏或冻结",
                       f"visibility must be one of {VISIBILITIES}", 422, "visibility")
    if board not in standings.BOARD_LABELS:
        raise ApiError("unknown_board", "没有这个排行榜", f"no board {board!r}", 404, "board")
    check_board_scope(user, board, scope_id)
    if board == "branches" and user.role not in MANAGERS:
        raise ApiError("committee_only", "此操作须由党委账号执行",
                       "only the party committee may do this", 403)
    state = _state(board, scope_id, period)
    _apply(state, board, scope_id, period, visibility, user, utcnow())
    audit.record(user, "points.board_" + visibility, f"board:{board}:{scope_id}", period.code)
    db.session.commit()
    return state


def _apply(state: BoardState, board: str, scope_id: int, period: Period, visibility: str,
           user: Any, now: dt.datetime) -> None:
    state.visibility = visibility
    state.changed_by, state.changed_at = getattr(user, "id", None), now
    if visibility == "frozen":
        state.frozen_json, state.frozen_at = standings.snapshot(board, scope_id, period), now
    else:
        state.frozen_json, state.frozen_at = None, None


def freeze_period(committee_id: int, period: Period, user: Any, now: dt.datetime) -> None:
    """Freeze every board of the period (publication); the caller commits."""
    branch_ids = db.session.execute(
        db.select(Branch.id).filter_by(committee_id=committee_id)).scalars().all()
    targets = [(b, bid) for bid in branch_ids for b in ("members", "groups")]
    targets.append(("branches", committee_id))
    for board, scope_id in targets:
        _apply(_state(board, scope_id, period), board, scope_id, period, "frozen", user, now)


def refreeze_after_correction(entry: PointsEntry, user: Any, published: set[Period]) -> None:
    """A correction during the objection window updates the published (frozen) standings
    of `published`: those of the entry's period and its year that are published (the
    caller asks points/periods, which sits above this module)."""
    period = entry.period
    now = utcnow()
    for p in {period, period.year_period} & published:
        if entry.member_id is not None:
            targets = [("members", entry.branch_id), ("branches", entry.committee_id)]
        else:
            targets = [("groups", entry.branch_id)]
        for board, scope_id in targets:
            state = standings.board_state(board, scope_id, p)
            if state is not None and state.visibility == "frozen":
                _apply(state, board, scope_id, p, "frozen", user, now)
    db.session.commit()
