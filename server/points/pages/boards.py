"""The leaderboards screen: members and groups of a branch, branches of the committee."""

from __future__ import annotations

from flask import flash, render_template, request
from werkzeug.wrappers import Response

from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Committee, Member
from server.points import access, ledger, standings, visibility
from server.points.models.board_state import VISIBILITIES
from server.points.pages import common
from server.points.pages.common import READERS


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
    view = standings.view(board, scope_id, period, staff=True,
                          live=bool(request.args.get("live")), limit=0)
    on_board = {row["id"] for row in view["rows"]} if board == "members" else set()
    absent = []
    if board == "members" and view["showing"] == "live":
        absent = list(db.session.execute(
            db.select(Member).filter_by(branch_id=branch.id, is_party_member=True)
            .order_by(Member.id)).scalars())
        absent = [m for m in absent if m.id not in on_board]
    can_set = common.can_keep() and (board != "branches" or common.can_manage())
    return render_template(
        "points/boards.html", branch=branch, branches=access.branches_in_scope(common.user()),
        board=board, period=period, view=view, absent=absent, scope_id=scope_id,
        periods=common.period_choices(committee.name if committee else "", period),
        can_set=can_set, visibilities=VISIBILITIES, labels=standings.BOARD_LABELS,
        visibility_labels=standings.VISIBILITY_LABELS,
        pending=ledger.pending_count(branch_id=branch.id))


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
