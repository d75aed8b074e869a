"""The organizer audit log page: who opened, closed, published, exported, issued what, and when.

Admins without a committee see every entry; everyone else sees the entries of
their committee: actions by its accounts, and entries without an account (the
command line, the deadline job, failed sign-ins) about its rounds and accounts.
Nothing here is about ballots or voters: the log never holds either.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from sqlalchemy import String, and_, cast, literal, or_

from server.accounts.models import User
from server.console import access
from server.console.access import STAFF
from server.core.audit import AuditEntry
from server.core.auth import require_console_role
from server.core.db import db
from server.roundbase.models import Round

PER_PAGE = 50

ACTION_LABELS = {
    "round.create": "创建测评",
    "round.open": "开始投票",
    "round.close": "结束投票并计票",
    "round.close_refused": "结束投票被拒绝",
    "round.publish": "发布结果",
    "round.publish_refused": "发布结果被拒绝",
    "round.deadline": "到期自动结束",
    "round.export": "导出结果",
    "tokens.issue": "发放选票",
    "console.login": "登录",
    "console.logout": "退出登录",
    "console.login_failed": "登录失败",
    "console.login_refused": "登录被限制（失败次数过多）",
    "user.create": "创建账号",
    "apikey.create": "创建 API 密钥",
    "apikey.revoke": "吊销 API 密钥",
    "user.deactivate": "停用账号",
    "user.reactivate": "启用账号",
    "org.import": "导入花名册",
    "round.options": "修改测评选项",
    "round.session_codes_rotated": "更换会场码",
    "points.enter": "录入积分",
    "points.approve": "审定积分",
    "points.reject": "退回积分",
    "points.reverse": "更正积分",
    "points.import": "导入积分",
    "points.feed_round": "测评结果转积分",
    "points.period_close": "关闭积分周期",
    "points.period_publish": "公布积分",
    "points.year_review": "党委综评",
    "points.export_stars": "导出评星定级资料",
    "points.board_live": "排行榜恢复实时",
    "points.board_hidden": "隐藏排行榜",
    "points.board_frozen": "冻结排行榜",
    "rectification.add": "新增整改事项",
    "rectification.close": "整改销号",
    "bot.publish": "推送排行榜",
    "bot.resend": "重发推送",
    "bot.retry": "重试推送",
    "bot.cancel": "取消推送",
    "bot.confirm_delivered": "确认已送达",
    "bot.target_add": "添加推送群",
    "bot.target_disable": "停用推送群",
    "bot.link_user": "关联企业微信账号",
    "bot.unlink_user": "解除企业微信账号",
    "wechat.binding_code": "生成微信绑定码",
    "wechat.bind": "绑定微信",
    "wechat.unbind": "解绑微信",
    "wechat.login": "微信登录",
    "wechat.logout": "微信退出",
    "wechat.sessions_revoked": "微信会话失效",
}
# What the filter offers: the part of the action before the dot.
GROUPS = {"round": "测评", "tokens": "选票", "console": "登录", "user": "账号",
          "apikey": "API 密钥", "org": "组织机构", "points": "积分",
          "rectification": "整改台账", "bot": "群聊推送", "wechat": "微信"}


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


def _scoped(q: Any, committee_id: int) -> Any:
    users = db.select(User.id).where(User.committee_id == committee_id)
    user_targets = db.select(literal("user:") + cast(User.id, String)).where(
        User.committee_id == committee_id)
    round_targets = db.select(literal("round:") + cast(Round.id, String)).where(
        Round.committee_id == committee_id)
    return q.where(or_(
        AuditEntry.user_id.in_(users),
        and_(AuditEntry.user_id.is_(None),
             or_(AuditEntry.target.in_(user_targets), AuditEntry.target.in_(round_targets),
                 AuditEntry.target == f"committee:{committee_id}")),
    ))


@require_console_role(*STAFF)
def audit_page() -> str:
    group = request.args.get("group", "")
    if group not in GROUPS:
        group = ""
    raw_page = request.args.get("page", "1")
    page_no = int(raw_page) if raw_page.isdigit() and len(raw_page) <= 6 else 1
    q = db.select(AuditEntry).order_by(AuditEntry.id.desc())
    scope = access.committee_scope()
    if scope is not None:
        q = _scoped(q, scope)
    if group:
        q = q.where(AuditEntry.action.like(f"{group}.%"))
    page = db.paginate(q, page=max(page_no, 1), per_page=PER_PAGE, error_out=False)
    ids = {e.user_id for e in page.items if e.user_id is not None}
    users = {u.id: u for u in db.session.execute(
        db.select(User).where(User.id.in_(ids))).scalars()} if ids else {}
    return render_template("console/audit.html", page=page, users=users, group=group,
                           groups=GROUPS, action_label=action_label)
