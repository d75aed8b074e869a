"""Console pages for rounds: the list, a new round, a round's page and its actions."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from server.accounts.models import ROLES
from server.console import access, round_drafts
from server.console.access import READERS, STAFF, STATUS_LABELS
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.results.official import publish_problem
from server.roundbase.models import Round
from server.rounds import live
from server.rounds.operations import open_round, publish_round
from server.rounds.rehearsal import open_rehearsal, purge_rehearsal

SLIPS_WARNING = "选票二维码只显示这一次，系统不保存；请妥善打印保管，并随机发放给参会人员。"


def _detail(round_id: int) -> BaseResponse:
    return redirect(url_for("console.round_detail", round_id=round_id), 303)


@require_console_role(*ROLES)
def round_list() -> str | BaseResponse:
    if access.user().role not in READERS:  # the console's index: a secretary's home
        return redirect(access.home_url())
    q = db.select(Round).order_by(Round.id.desc())
    scope = access.committee_scope()
    if scope is not None:
        q = q.where(Round.committee_id == scope)
    yq = db.select(Round.year).distinct()
    if scope is not None:
        yq = yq.where(Round.committee_id == scope)
    years = sorted((y for y in db.session.execute(yq).scalars() if y), reverse=True)
    shown = {name: request.args.get(name, "").strip() for name in ("year", "branch_id", "status")}
    for name in ("year", "branch_id"):
        if shown[name].isdigit() and len(shown[name]) < 10:
            q = q.where(getattr(Round, name) == int(shown[name]))
    if shown["status"] in STATUS_LABELS:
        q = q.where(Round.status == shown["status"])
    rounds = db.session.execute(q.limit(500)).scalars().all()
    return render_template("console/rounds.html", rounds=rounds, years=years, shown=shown,
                           branches={b.id: b.name for b in round_drafts.branches_of(scope)},
                           statuses=STATUS_LABELS)


@require_console_role(*STAFF)
def round_new() -> str | BaseResponse | tuple[str, int]:
    return round_drafts.new_round()


@require_console_role(*STAFF)
def round_edit(round_id: int) -> str | BaseResponse | tuple[str, int]:
    return round_drafts.edit_round(round_id)


@require_console_role(*STAFF)
def round_delete(round_id: int) -> BaseResponse:
    return round_drafts.remove_round(round_id)


@require_console_role(*STAFF)
def round_clone(round_id: int) -> BaseResponse:
    return round_drafts.copy_round(round_id)


@require_console_role(*STAFF)
def round_batch() -> str | BaseResponse | tuple[str, int]:
    return round_drafts.batch_page()


@require_console_role(*READERS)
def round_detail(round_id: int) -> str:
    rnd = access.load_round(round_id)
    turnout = live.turnout(rnd)
    problem = publish_problem(rnd) if rnd.status == "closed" else None
    return render_template("console/round_detail.html", rnd=rnd, turnout=turnout,
                           progress=live.subject_progress(rnd) if rnd.per_subject else None,
                           slips_warning=SLIPS_WARNING,
                           publish_block=problem[0] if problem else None,
                           clone_url=_clone_url(rnd.id) if problem else None)


def _clone_url(round_id: int) -> str | None:
    """重新测评 (clone the round) once the console has the route."""
    if "console.round_clone" not in current_app.view_functions:
        return None
    return url_for("console.round_clone", round_id=round_id)


def _lifecycle(round_id: int, action: Any, done: str) -> BaseResponse:
    rnd = access.load_round(round_id)
    try:
        action(rnd, access.user())
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        flash(done, "success")
    return _detail(round_id)


@require_console_role(*STAFF)
def round_open(round_id: int) -> BaseResponse:
    return _lifecycle(round_id, open_round, "投票已开始。")


@require_console_role(*STAFF)
def round_publish(round_id: int) -> BaseResponse:
    return _lifecycle(round_id, publish_round, "结果已发布。")


@require_console_role(*STAFF)
def round_rehearse(round_id: int) -> BaseResponse:
    return _lifecycle(round_id, open_rehearsal,
                      "演练已开始：现在生成的选票都是演练票，不计入正式结果。演练结束后请清空演练数据。")


@require_console_role(*STAFF)
def round_purge(round_id: int) -> BaseResponse:
    return _lifecycle(round_id, purge_rehearsal,
                      "演练数据已清空，测评已回到草稿状态，可以修改后正式开始投票。")

