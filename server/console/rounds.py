"""Console pages for rounds: the list, a new round, a round's page and its actions."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from server.console import access, round_drafts
from server.console.access import READERS, STAFF, STATUS_LABELS
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.results.official import publish_problem
from server.rounds import live
from server.rounds.models import Round
from server.rounds.operations import close_round, open_round, publish_round

SLIPS_WARNING = "选票二维码只显示这一次，系统不保存；请妥善打印保管，并随机发放给参会人员。"


def _detail(round_id: int) -> BaseResponse:
    return redirect(url_for("console.round_detail", round_id=round_id), 303)


@require_console_role(*READERS)
def round_list() -> str:
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
                           slips_warning=SLIPS_WARNING,
                           publish_block=problem[0] if problem else None)


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
def round_close(round_id: int) -> BaseResponse:
    return _lifecycle(round_id, close_round, "投票已结束，计票完成，结果已冻结。")


@require_console_role(*STAFF)
def round_publish(round_id: int) -> BaseResponse:
    return _lifecycle(round_id, publish_round, "结果已发布。")


@require_console_role(*STAFF)
def round_rehearse(round_id: int) -> BaseResponse:
    from server.rounds.rehearsal import open_rehearsal

    return _lifecycle(round_id, open_rehearsal,
                      "演练已开始：现在生成的选票都是演练票，不计入正式结果。演练结束后请清空演练数据。")


@require_console_role(*STAFF)
def round_purge(round_id: int) -> BaseResponse:
    from server.rounds.rehearsal import purge_rehearsal

    return _lifecycle(round_id, purge_rehearsal,
                      "演练数据已清空，测评已回到草稿状态，可以修改后正式开始投票。")


def _int_field(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


@require_console_role(*STAFF)
def round_slips(round_id: int) -> BaseResponse:
    """Issue N tokens of one category and answer with the printable slips (the only copy)."""
    rnd = access.load_round(round_id)
    category = next((c for c in rnd.categories if c.id == _int_field("category_id")), None)
    if category is None:
        flash("参评人员类别不存在", "error")
        return _detail(round_id)
    count = _int_field("count")
    if count is None:
        flash("发放数量应为正整数", "error")
        return _detail(round_id)
    from server.rounds.api import base_url
    from server.tokens.operations import issue_slips

    try:
        category, pdf = issue_slips(rnd, category.id, count, base_url(), access.user())
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
        return _detail(round_id)
    current_app.logger.info("console: %d slips issued for round %d category %d",
                            count, rnd.id, category.id)
    ascii_name = f"slips-round{rnd.id}-cat{category.id}.pdf"
    utf8_name = quote(f"slips-round{rnd.id}-{category.name}.pdf")
    return Response(pdf, 200, mimetype="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{utf8_name}",
        "Cache-Control": "no-store",
    })
