"""Configuring chats (per branch, or the committee's own) and WeCom account links.

Who may configure what: a branch's chats by its keepers (the secretary, the
committee, an admin: server/points/access.py); the committee's chats (the
branches board and round-closed notices) by the committee, an admin or an
organizer of that committee. A secret is checked by its channel, encrypted
(bot/vault.py) and never shown again; the same robot or chat cannot be added
twice (a second target would post every board to it twice).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot import channels, vault
from bot.labels import FORMAT_LABELS, PURPOSE_LABELS
from bot.models import ChatTarget, WecomUser
from server.core import audit
from server.core.db import db
from server.core.errors import ApiError
from server.core.text import display_text
from server.organization.models import Branch, Committee, Member
from server.points import access

COMMITTEE_ROLES = ("admin", "committee", "organizer")


def _committee_id(user: Any, committee_id: Any = None) -> int:
    scope = access.scope_of(user)
    if scope.committee_id is not None:
        return scope.committee_id
    found = db.session.get(Committee, access.safe_id(committee_id)) if committee_id else None
    if found is None:
        found = db.session.execute(select(Committee).order_by(Committee.id)).scalars().first()
    if found is None:
        raise access.NO_COMMITTEE
    return found.id


def check_target_scope(user: Any, branch_id: int | None, committee_id: int) -> None:
    if user is None:
        return
    if branch_id is None:
        if user.role not in COMMITTEE_ROLES:
            raise ApiError("committee_only", "党委群聊须由党委或组织部门账号设置",
                           "only the committee may configure its chats", 403)
        if not access.scope_of(user).has_committee(committee_id):
            raise ApiError("target_not_found", "找不到该群聊", "no such chat", 404)
    else:
        access.require_keeper(user)
        access.load_branch(user, branch_id)


def visible_targets(user: Any) -> list[ChatTarget]:
    """Targets the user may see and change, active first."""
    scope = access.scope_of(user)
    q = select(ChatTarget).order_by(ChatTarget.active.desc(), ChatTarget.branch_id,
                                    ChatTarget.id)
    if scope.branch_id is not None:
        q = q.where(ChatTarget.branch_id == scope.branch_id)
    elif scope.committee_id is not None:
        q = q.where(ChatTarget.committee_id == scope.committee_id)
    rows = list(db.session.execute(q).scalars())
    if user.role not in access.KEEPERS:  # organizers: the committee's own chats only
        rows = [t for t in rows if t.branch_id is None]
    return rows


def load_target(user: Any, target_id: Any) -> ChatTarget:
    target = db.session.get(ChatTarget, access.safe_id(target_id))
    if target is None or (user is not None and target not in visible_targets(user)):
        raise ApiError("target_not_found", "找不到该群聊", "no such chat", 404)
    return target


def add_target(user: Any, *, branch_id: int | None, channel: str, name: str, secret: str = "",
               purposes: list[str] | None = None, formats: list[str] | None = None,
               committee_id: int | None = None) -> ChatTarget:
    cls = channels.get(channel)
    if branch_id is not None:
        branch = access.load_branch(user, branch_id) if user is not None else \
            db.session.get(Branch, branch_id)
        if branch is None:
            raise ApiError("branch_not_found", "找不到该党支部", "no such branch", 404)
        committee = branch.committee_id
    else:
        committee = committee_id if user is None and committee_id else _committee_id(
            user, committee_id)
    check_target_scope(user, branch_id, committee)
    name = display_text(name or "")[:60]
    if not name:
        raise ApiError("name_required", "请填写群聊名称（如“第一党支部党员群”）",
                       "name is required", 422, "name")
    purposes = [p for p in (purposes or ["points"]) if p in PURPOSE_LABELS]
    if not purposes:
        raise ApiError("purpose_required", "请至少选择一项推送内容", "choose what to post", 422,
                       "purposes")
    if "notices" in purposes and branch_id is not None:
        raise ApiError("notices_committee_only", "测评结束通知只发到党委（组织部门）群聊",
                       "round notices go to committee chats only", 422, "purposes")
    formats = [f for f in (formats or list(cls.default_formats)) if f in cls.formats]
    if not formats:
        raise ApiError("format_required", "请至少选择一种消息形式", "choose a message format", 422,
                       "formats")
    clean = cls.clean_secret(secret) if cls.secret_label else None
    digest = vault.digest(clean) if clean else None
    existing = db.session.execute(select(ChatTarget).filter_by(
        channel=channel, secret_digest=digest)).scalar_one_or_none() if digest else None
    if existing is not None and existing.active:
        raise ApiError("target_exists", f"该{cls.secret_label}已经添加过（“{existing.name}”）",
                       "this robot or chat is already configured", 409, "secret")
    target = existing or ChatTarget(channel=channel, secret_digest=digest)
    target.committee_id, target.branch_id, target.name = committee, branch_id, name
    target.secret_enc = vault.encrypt(clean) if clean else None
    target.secret_hint = vault.mask(clean) if clean else ""
    target.purposes, target.formats = ",".join(purposes), ",".join(formats)
    target.active, target.created_by = True, getattr(user, "id", None)
    db.session.add(target)
    db.session.flush()
    audit.record(user, "bot.target_add", f"bot_target:{target.id}",
                 f"{channel} {name} {target.secret_hint}")
    db.session.commit()
    return target


def disable_target(user: Any, target_id: Any) -> ChatTarget:
    target = load_target(user, target_id)
    check_target_scope(user, target.branch_id, target.committee_id)
    target.active = False
    audit.record(user, "bot.target_disable", f"bot_target:{target.id}", target.name)
    db.session.commit()
    return target


def describe_formats(target: ChatTarget) -> str:
    return "、".join(FORMAT_LABELS.get(f, f) for f in target.format_list)


# --------------------------------------------------------------------------- WeCom accounts


def links_in_scope(user: Any) -> list[WecomUser]:
    scope = access.scope_of(user)
    q = select(WecomUser).join(Member).order_by(Member.branch_id, Member.id)
    if scope.branch_id is not None:
        q = q.where(Member.branch_id == scope.branch_id)
    elif scope.committee_id is not None:
        q = q.where(Member.committee_id == scope.committee_id)
    return list(db.session.execute(q).scalars())


def link_user(user: Any, userid: str, member_id: Any) -> WecomUser:
    """WeCom UserID ↔ roster member (either side once)."""
    if user is not None:
        access.require_keeper(user)
        member = access.load_member(user, member_id, status=422)
    else:
        found = db.session.get(Member, access.safe_id(member_id))
        if found is None:
            raise ApiError("unknown_member", "找不到该党员", "no such member", 422, "member_id")
        member = found
    userid = (userid or "").strip()
    if not userid or len(userid) > 64 or any(c.isspace() for c in userid):
        raise ApiError("invalid_userid", "企业微信账号（UserID）不正确：1-64 个字符，不含空格",
                       "a WeCom UserID is 1-64 characters without spaces", 422, "userid")
    taken = db.session.execute(select(WecomUser).where(
        (WecomUser.userid == userid) | (WecomUser.member_id == member.id))).scalars().all()
    for row in taken:
        if row.userid == userid and row.member_id == member.id:
            return row
        if row.userid == userid:
            raise ApiError("userid_taken", "该企业微信账号已关联到其他党员",
                           "userid already linked", 409, "userid")
        raise ApiError("member_linked", "该党员已关联了其他企业微信账号，请先解除",
                       "member already linked", 409, "member_id")
    link = WecomUser(userid=userid, member_id=member.id)
    db.session.add(link)
    db.session.flush()
    audit.record(user, "bot.link_user", f"member:{member.id}", userid)
    db.session.commit()
    return link


def unlink_user(user: Any, link_id: Any) -> None:
    link = db.session.get(WecomUser, access.safe_id(link_id))
    if link is None or (user is not None and link not in links_in_scope(user)):
        raise ApiError("link_not_found", "找不到该关联", "no such link", 404)
    if user is not None:
        access.require_keeper(user)
    audit.record(user, "bot.unlink_user", f"member:{link.member_id}", link.userid)
    db.session.delete(link)
    db.session.commit()
