"""The console screens of the bot (/console/bot): preview and publish, chats, accounts,
history. Branch scoping follows the points screens: a secretary sees the own branch."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from bot import outbox, publishing, targets
from bot.channels import REGISTRY
from bot.config import setting
from bot.labels import (
    FORMAT_LABELS,
    KIND_LABELS,
    MANUAL_SENT,
    PURPOSE_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
)
from bot.models import BotPost
from bot.render import card
from bot.render.split import nbytes
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Committee, Member
from server.points import access, standings
from server.points.pages import common

READERS, KEEPERS = access.READERS, access.KEEPERS
HISTORY_LIMIT = 100


def _back(endpoint: str, **params: Any) -> BaseResponse:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return redirect(url_for(f"bot_console.{endpoint}", **clean), 303)


def _board() -> str:
    board = request.values.get("board", "members")
    return board if board in standings.BOARD_LABELS else "members"


def _scope_id(board: str, branch: Any) -> int:
    return branch.committee_id if board == "branches" else branch.id


def history_query(user: Any, branch_id: int | None = None) -> Any:
    scope = access.scope_of(user)
    q = select(BotPost).order_by(BotPost.id.desc())
    if scope.branch_id is not None:
        q = q.where(BotPost.branch_id == scope.branch_id)
    elif scope.committee_id is not None:
        q = q.where(BotPost.committee_id == scope.committee_id)
    if branch_id is not None:
        q = q.where(BotPost.branch_id == branch_id)
    if user.role not in KEEPERS:
        q = q.where(BotPost.branch_id.is_(None))
    return q


def _labels() -> dict[str, Any]:
    return {"status_labels": STATUS_LABELS, "source_labels": SOURCE_LABELS,
            "kind_labels": KIND_LABELS, "manual_sent": MANUAL_SENT,
            "purpose_labels": PURPOSE_LABELS, "format_labels": FORMAT_LABELS,
            "channels": REGISTRY, "board_labels": standings.BOARD_LABELS}


@require_console_role(*READERS)
def publish_page() -> str:
    user = common.user()
    branch = common.chosen_branch()
    period = common.chosen_period()
    board = _board()
    ctx: dict[str, Any] = {"branch": branch, "board": board, "period": period,
                           "branches": access.branches_in_scope(user), **_labels()}
    if branch is None:
        return render_template("bot/publish.html", preview=None, problem=None, periods=[period],
                               history=[], **ctx)
    committee = db.session.get(Committee, branch.committee_id)
    ctx["periods"] = common.period_choices(committee.name if committee else "", period)
    scope_id = _scope_id(board, branch)
    preview, problem = None, None
    if user.role not in KEEPERS:
        problem = "只有支部书记或党委账号可以预览和发布排行榜。"
    else:
        try:
            preview = publishing.preview(user, board, scope_id, period)
        except ApiError as err:
            if err.status in (401, 404):
                raise
            problem = err.message
    subject = publishing.subject_of(board, scope_id, period)
    history = list(db.session.execute(history_query(user).where(BotPost.subject == subject)
                                      .limit(20)).scalars())
    can_publish = bool(preview and preview.targets) and (
        board != "branches" or user.role in access.MANAGERS)
    return render_template("bot/publish.html", preview=preview, problem=problem,
                           history=history, scope_id=scope_id, can_publish=can_publish,
                           nbytes=nbytes, font=card.font_name(), **ctx)


@require_console_role(*KEEPERS)
def preview_png() -> Response:
    user = common.user()
    branch = common.chosen_branch()
    if branch is None:
        raise ApiError("branch_not_found", "找不到该党支部", "no such branch", 404)
    board, period = _board(), common.chosen_period()
    scope_id = _scope_id(board, branch)
    publishing.check_rights(user, board, scope_id)
    content = publishing.content_for(board, scope_id, period)
    png = card.render_card(content, int(setting("BOT_CARD_MAX_ROWS")))
    return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})


@require_console_role(*KEEPERS)
def publish() -> BaseResponse:
    user = common.user()
    branch = common.chosen_branch()
    board, period = _board(), common.chosen_period()
    if branch is None:
        raise ApiError("branch_not_found", "找不到该党支部", "no such branch", 404)
    scope_id = _scope_id(board, branch)
    try:
        done = publishing.publish_board(user, board, scope_id, period, source="console",
                                        repost=bool(request.form.get("repost")))
    except ApiError as err:
        db.session.rollback()
        common.flash_error(err)
    else:
        for item in done:
            post = item.post
            if post is None:
                continue
            if not item.created and item.outcome is None:
                flash(f"“{item.target.name}”已有本期排行榜的发布记录（{STATUS_LABELS[post.status]}），"
                      "不会重复发送", "info")
            elif post.status == "sent":
                flash(f"已发送到“{item.target.name}”" if item.target.channel != "manual" else
                      f"“{item.target.name}”：{MANUAL_SENT}，请在发布记录中复制链接和图片转发",
                      "success")
            elif post.status == "pending":
                flash(f"“{item.target.name}”：{post.last_error or '已排队'}，稍后自动发送", "info")
            else:
                flash(f"“{item.target.name}”：{post.last_error}", "error")
    return _back("publish_page", branch=branch.id if user.role != "secretary" else None,
                 period=period.code, board=board)


@require_console_role(*READERS)
def history_page() -> str:
    user = common.user()
    status = request.args.get("status", "")
    q = history_query(user)
    if status in STATUS_LABELS:
        q = q.where(BotPost.status == status)
    posts = list(db.session.execute(q.limit(HISTORY_LIMIT)).scalars())
    return render_template("bot/history.html", posts=posts, status=status,
                           can_act=user.role in KEEPERS or user.role == "organizer", **_labels())


ACTIONS = {"confirm": outbox.confirm_delivered, "resend": outbox.resend, "retry": outbox.retry,
           "cancel": outbox.cancel}
DONE = {"confirm": "已确认送达", "resend": "已重新排队发送", "retry": "已重新排队发送",
        "cancel": "已取消"}


@require_console_role(*READERS)
def post_action(post_id: int, action: str) -> BaseResponse:
    user = common.user()
    post = db.session.execute(history_query(user).where(BotPost.id == post_id)).scalar_one_or_none()
    if post is None or action not in ACTIONS:
        raise ApiError("post_not_found", "找不到该发布记录", "no such post", 404)
    targets.check_target_scope(user, post.branch_id, post.committee_id)
    try:
        ACTIONS[action](user, post.id)
        if action in ("resend", "retry"):
            outbox.deliver(post.id)
    except ApiError as err:
        db.session.rollback()
        common.flash_error(err)
    else:
        flash(f"{post.title}：{DONE[action]}", "success")
    return _back("history_page")


@require_console_role(*READERS)
def targets_page() -> str:
    user = common.user()
    rows = targets.visible_targets(user)
    branches = access.branches_in_scope(user) if user.role in KEEPERS else []
    can_committee = user.role in targets.COMMITTEE_ROLES
    return render_template("bot/targets.html", targets=rows, branches=branches,
                           can_committee=can_committee, describe=targets.describe_formats,
                           **_labels())


def _branch_field(raw: str | None) -> int | None:
    return None if raw in (None, "", "committee") else access.safe_id(raw)


@require_console_role(*READERS)
def target_add() -> BaseResponse:
    user = common.user()
    form = request.form
    branch_id = _branch_field(form.get("branch"))
    if user.role == "secretary":
        branch_id = access.scope_of(user).branch_id
    try:
        target = targets.add_target(user, branch_id=branch_id, channel=form.get("channel", ""),
                                    name=form.get("name", ""), secret=form.get("secret", ""),
                                    purposes=form.getlist("purposes"),
                                    formats=form.getlist("formats"))
    except ApiError as err:
        db.session.rollback()
        common.flash_error(err)
    else:
        flash(f"已添加群聊“{target.name}”（{target.secret_hint or '无需密钥'}）", "success")
    return _back("targets_page")


@require_console_role(*READERS)
def target_disable(target_id: int) -> BaseResponse:
    try:
        target = targets.disable_target(common.user(), target_id)
    except ApiError as err:
        db.session.rollback()
        common.flash_error(err)
    else:
        flash(f"已停用群聊“{target.name}”", "success")
    return _back("targets_page")


@require_console_role(*KEEPERS)
def users_page() -> str:
    user = common.user()
    links = targets.links_in_scope(user)
    scope = access.scope_of(user)
    q = select(Member).filter_by(is_party_member=True).order_by(Member.branch_id, Member.id)
    if scope.branch_id is not None:
        q = q.where(Member.branch_id == scope.branch_id)
    elif scope.committee_id is not None:
        q = q.where(Member.committee_id == scope.committee_id)
    linked = {link.member_id for link in links}
    members = [m for m in db.session.execute(q).scalars() if m.id not in linked]
    configured = bool(setting("WECOM_CORP_ID") and setting("WECOM_CALLBACK_TOKEN"))
    callback_url = url_for("bot_callback.receive", _external=True)
    return render_template("bot/users.html", links=links, members=members,
                           configured=configured, callback_url=callback_url)


@require_console_role(*KEEPERS)
def user_link() -> BaseResponse:
    try:
        targets.link_user(common.user(), request.form.get("userid", ""),
                          request.form.get("member_id"))
    except ApiError as err:
        db.session.rollback()
        common.flash_error(err)
    else:
        flash("已关联企业微信账号", "success")
    return _back("users_page")


@require_console_role(*KEEPERS)
def user_unlink(link_id: int) -> BaseResponse:
    try:
        targets.unlink_user(common.user(), link_id)
    except ApiError as err:
        db.session.rollback()
        common.flash_error(err)
    else:
        flash("已解除关联", "success")
    return _back("users_page")
