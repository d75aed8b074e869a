"""The leaderboards screen: members and groups of a branch, branches of the committee."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import flash, render_template, request, url_for
from werkzeug.wrappers import Response

from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Branch, Committee, Member
from server.points import access, ledger, standings, visibility
from server.points.calendar import Period
from server.points.models.board_state import VISIBILITIES
from server.points.pages import common
from server.points.pages.common import READERS

PAGE_SIZE = 50  # board rows a page
ABSENT_PAGE_SIZE = 100  # members without points listed a page
FIND_LIMIT = 20  # members listed for one 查找名次 query
QUERY_MAX = 40


@require_console_role(*READERS)
def board_page() -> str:
    branch = common.chosen_branch()
    period = common.chosen_period()
    board = request.args.get("board", "members")
    if board not in standings.BOARD_LABELS:
        board = "members"
    if branch is None:
        return render_template("points/boards.html", branch=None, branches=[], board=board,
                               period=period, view=None, periods=[period])
    committee = db.session.get(Committee, branch.committee_id)
    scope_id = branch.committee_id if board == "branches" else branch.id
    live = bool(request.args.get("live"))
    view, pager = _board_page(board, scope_id, period, live)
    show_members = board == "members" and view["showing"] == "live"
    absent, absent_pager = _absent(branch.id, period) if show_members else ([], None)
    query = request.args.get("q", "").strip()[:QUERY_MAX]
    found = _find(branch.id, period, query, live) if board == "members" and query else None
    can_set = common.can_keep() and (board != "branches" or common.can_manage())
    return render_template(
        "points/boards.html", branch=branch, branches=access.branches_in_scope(common.user()),
        board=board, period=period, view=view, absent=absent, absent_pager=absent_pager,
        pager=pager, query=query, found=found,
        link=partial(_link, branch, period, board, live), scope_id=scope_id,
        periods=common.period_choices(committee.name if committee else "", period),
        can_set=can_set, visibilities=VISIBILITIES, labels=standings.BOARD_LABELS,
        visibility_labels=standings.VISIBILITY_LABELS,
        pending=ledger.pending_count(branch_id=branch.id))


@dataclass(frozen=True)
class Pager:
    page: int  # 1-based
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first(self) -> int:
        """1-based position of the page's first item."""
        return min(self.total, (self.page - 1) * self.size + 1)

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.size)


def _page_arg(name: str) -> int:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 1_000_000 else 1


def _board_page(board: str, scope_id: int, period: Period,
                live: bool) -> tuple[dict[str, Any], Pager]:
    """One page of the board (?page=, PAGE_SIZE rows); past the end: the last page."""
    page = _page_arg("page")
    view = _view(board, scope_id, period, live, page)
    pager = Pager(page, PAGE_SIZE, int(view["total"]))
    if page > pager.pages:
        pager = Pager(pager.pages, PAGE_SIZE, pager.total)
        view = _view(board, scope_id, period, live, pager.page)
    return view, pager


def _view(board: str, scope_id: int, period: Period, live: bool, page: int) -> dict[str, Any]:
    return standings.view(board, scope_id, period, staff=True, live=live,
                          offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)


def _absent(branch_id: int, period: Period) -> tuple[list[Member], Pager]:
    """Party members without points this period: a page of them (?absent_page=)."""
    page = _page_arg("absent_page")
    members, total = standings.absent_members(branch_id, period, (page - 1) * ABSENT_PAGE_SIZE,
                                              ABSENT_PAGE_SIZE)
    pager = Pager(page, ABSENT_PAGE_SIZE, total)
    if page > pager.pages:
        pager = Pager(pager.pages, ABSENT_PAGE_SIZE, total)
        members, _ = standings.absent_members(
            branch_id, period, (pager.page - 1) * ABSENT_PAGE_SIZE, ABSENT_PAGE_SIZE)
    return members, pager


def _find(branch_id: int, period: Period, query: str, live: bool) -> dict[str, Any]:
    """查找名次: members matching the query with their place on the board as shown."""
    members = standings.find_members(branch_id, query, FIND_LIMIT + 1)
    shown = members[:FIND_LIMIT]
    hits, _ = standings.positions("members", branch_id, period, [m.id for m in shown],
                                  staff=True, live=live)
    rows = [{"member": m, "rank": hits[m.id]["rank"] if m.id in hits else None,
             "points": hits[m.id]["points"] if m.id in hits else None,
             "page": (hits[m.id]["rank"] - 1) // PAGE_SIZE + 1 if m.id in hits else None}
            for m in shown]
    return {"rows": rows, "more": len(members) > FIND_LIMIT}


def _link(branch: Branch, period: Period, board: str, live: bool, **params: Any) -> str:
    """This screen's address with the same branch, period, board and live flag."""
    base = {"branch": branch.id if common.user().role != "secretary" else None,
            "period": period.code, "board": board, "live": 1 if live else None}
    anchor = params.pop("_anchor", None)
    wanted = {k: v for k, v in {**base, **params}.items() if v not in (None, "")}
    for key in ("page", "absent_page"):  # the first page is the default
        if wanted.get(key) == 1:
            del wanted[key]
    return url_for("points_console.boards", _anchor=anchor, **wanted)


@require_console_role(*access.KEEPERS)
def board_visibility() -> Response:
    board = request.form.get("board", "")
    period = common.chosen_period()
    branch = common.chosen_branch()
    scope_id = (branch.committee_id if board == "branches" else branch.id) if branch else 0
    wanted = request.form.get("visibility", "")
    try:
        visibility.set_visibility(common.user(), board, scope_id, period, wanted)
    except ApiError as err:
        db.session.rollback()
        common.flash_error(err)
    else:
        done = {"live": "已恢复实时显示", "hidden": "已隐藏", "frozen": "已冻结（显示当前排名）"}
        flash(f"{standings.BOARD_LABELS.get(board, '')}{period.label}{done.get(wanted, '')}",
              "success")
    return common.back("boards", branch=branch.id if branch else None, period=period.code,
                       board=board)
