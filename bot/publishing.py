"""What gets posted where and when: previews, publishing, and the schedule.

Editions (the third part of a post's identity, see bot/models/bot_post.py):
  - "final": the period's standings have been published (periods.publish_period
    froze them). The schedule posts this edition once the objection window has
    passed; a secretary who publishes by hand after publication gets the same
    edition, so the group sees the published standings once, whoever sends them.
  - "final-N": a deliberate re-post after a correction (`repost=True`).
  - "interim-YYYY-MM-DD": a 晒绩 of standings not yet published, at most once a
    day per chat.
  - "closed": a round's closed notice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot import outbox
from bot.channels import get as channel_class
from bot.channels import image_part
from bot.config import setting
from bot.content import BoardContent, board_content, notice_content
from bot.models import BotPost, ChatTarget
from bot.render import card, markdown, text
from bot.share import public_base, share_url
from server.core import audit
from server.core.clock import utcnow
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Branch
from server.points import access
from server.points.boards import BOARDS
from server.points.calendar import CHINA, Period
from server.points.models import PointsPeriod
from server.points.periods import state_of
from server.roundbase.models import Round

log = logging.getLogger(__name__)


def subject_of(board: str, scope_id: int, period: Period) -> str:
    return f"{board}:{scope_id}:{period.code}"


def check_rights(user: Any, board: str, scope_id: int) -> None:
    """Branch boards: the branch's keepers; the branches board: the committee."""
    if board not in BOARDS:
        raise ApiError("unknown_board", "没有这个排行榜", f"no board {board!r}", 404, "board")
    if user is None:  # the CLI and the schedule act for the system
        return
    access.require_keeper(user)
    if board == "branches":
        access.require_manager(user)
        if not access.scope_of(user).has_committee(scope_id):
            raise ApiError("board_not_found", "找不到该排行榜", "no such board", 404)
    else:
        access.load_branch(user, scope_id)


def targets_for_board(board: str, scope_id: int) -> list[ChatTarget]:
    q = select(ChatTarget).filter_by(active=True).order_by(ChatTarget.id)
    if board == "branches":
        q = q.where(ChatTarget.committee_id == scope_id, ChatTarget.branch_id.is_(None))
    else:
        q = q.where(ChatTarget.branch_id == scope_id)
    return [t for t in db.session.execute(q).scalars() if "points" in t.purpose_list]


def targets_for_notices(committee_id: int) -> list[ChatTarget]:
    q = (select(ChatTarget).filter_by(active=True, committee_id=committee_id)
         .where(ChatTarget.branch_id.is_(None)).order_by(ChatTarget.id))
    return [t for t in db.session.execute(q).scalars() if "notices" in t.purpose_list]


def committee_id_of(board: str, scope_id: int) -> int:
    if board == "branches":
        return scope_id
    branch = db.session.get(Branch, scope_id)
    return branch.committee_id if branch else 0


def edition_for(board: str, scope_id: int, period: Period, target_id: int | None = None,
                repost: bool = False, now: dt.datetime | None = None) -> str:
    committee_id = committee_id_of(board, scope_id)
    if state_of(committee_id, period) in ("published", "final"):
        if not repost:
            return "final"
        taken = set(db.session.execute(select(BotPost.edition).where(
            BotPost.subject == subject_of(board, scope_id, period),
            BotPost.target_id == target_id)).scalars()) if target_id else set()
        n = 2
        while f"final-{n}" in taken:
            n += 1
        return f"final-{n}"
    if repost:
        raise ApiError("not_published", "本期积分尚未公布，不需要“更正后重新发布”",
                       "repost is for published standings", 409, "repost")
    local = (now or utcnow()).replace(tzinfo=dt.UTC).astimezone(CHINA).date()
    return f"interim-{local.isoformat()}"


def compose(target: ChatTarget, content: BoardContent) -> list[dict[str, Any]]:
    """The message parts a board becomes on this target's channel, in order."""
    cls = channel_class(target.channel)
    if target.channel == "manual":
        return [{"msgtype": "share", "content": text.share_text(content),
                 "url": content.share_url or ""}]
    parts: list[dict[str, Any]] = []
    for fmt in target.format_list or list(cls.default_formats):
        if fmt not in cls.formats:
            continue
        if fmt == "image":
            parts.append(image_part(card.render_card(content)))
        elif fmt == "markdown":
            parts += [{"msgtype": "markdown", "content": m}
                      for m in markdown.board_messages(content)]
        elif fmt == "text":
            parts += [{"msgtype": "text", "content": m} for m in text.board_messages(content)]
    return parts


def content_for(board: str, scope_id: int, period: Period) -> BoardContent:
    """The board as members see it, with its share link (ApiError board_hidden)."""
    return board_content(board, scope_id, period, share_url=share_url(board, scope_id, period))


@dataclass
class Preview:
    content: BoardContent
    markdown: list[str]
    text: list[str]
    share_text: str
    targets: list[ChatTarget]
    edition: str
    existing: dict[int, BotPost] = field(default_factory=dict)  # target id → post


def preview(user: Any, board: str, scope_id: int, period: Period) -> Preview:
    check_rights(user, board, scope_id)
    content = content_for(board, scope_id, period)
    targets = targets_for_board(board, scope_id)
    edition = edition_for(board, scope_id, period)
    existing = {t.id: p for t in targets
                if (p := outbox.find(t.id, subject_of(board, scope_id, period), edition))}
    return Preview(content, markdown.board_messages(content), text.board_messages(content),
                   text.share_text(content), targets, edition, existing)


@dataclass
class Published:
    target: ChatTarget
    post: BotPost | None  # None on a dry run
    created: bool
    outcome: outbox.Outcome | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)


def publish_board(user: Any, board: str, scope_id: int, period: Period, *, source: str,
                  repost: bool = False, dry_run: bool = False, send: bool = True,
                  targets: list[ChatTarget] | None = None) -> list[Published]:
    """Queue the board for every chat of its scope (once per edition) and send it now."""
    check_rights(user, board, scope_id)
    content = content_for(board, scope_id, period)
    targets = targets_for_board(board, scope_id) if targets is None else targets
    if not targets:
        raise ApiError("no_targets", "还没有配置接收排行榜的群聊，请先在“群聊设置”中添加",
                       "no chat is configured for this board", 409)
    out: list[Published] = []
    subject = subject_of(board, scope_id, period)
    for target in targets:
        edition = edition_for(board, scope_id, period, target.id, repost)
        parts = compose(target, content)
        if dry_run:
            out.append(Published(target, None, False, parts=parts))
            continue
        post, created = outbox.enqueue(
            target, kind="board", subject=subject, edition=edition,
            title=f"{content.title} {period.label}（{content.edition_label}）",
            parts=parts, source=source, user=user)
        if created:
            audit.record(user, "bot.publish", f"bot_post:{post.id}",
                         f"{subject} {edition} → {target.name}")
            db.session.commit()
        out.append(Published(target, post, created, parts=parts))
    if send and not dry_run:
        owner = outbox.runner_id()
        for item in out:
            if item.post is not None and item.post.status == "pending":
                item.outcome = outbox.deliver(item.post.id, owner)
                item.post = outbox.find(item.target.id, subject, item.post.edition)
    return out


def publish_notice(rnd: Round, *, source: str, send: bool = True) -> list[Published]:
    """The round-closed notice to the committee's notice chats (once per chat)."""
    if rnd.status not in ("closed", "published"):
        raise ApiError("round_not_closed", "测评尚未结束", "the round is not closed", 409)
    notice = notice_content(rnd, public_base())
    out = []
    for target in targets_for_notices(rnd.committee_id):
        if target.channel == "manual":
            parts = [{"msgtype": "share", "content": text.notice_message(notice),
                      "url": notice.results_url}]
        elif "markdown" in target.format_list:
            parts = [{"msgtype": "markdown", "content": markdown.notice_message(notice)}]
        else:
            parts = [{"msgtype": "text", "content": text.notice_message(notice)}]
        post, created = outbox.enqueue(target, kind="notice", subject=f"round:{rnd.id}",
                                       edition="closed", title=f"测评结束通知：{rnd.title}",
                                       parts=parts, source=source)
        out.append(Published(target, post, created, parts=parts))
    if send:
        owner = outbox.runner_id()
        for item in out:
            if item.post is not None and item.post.status == "pending":
                item.outcome = outbox.deliver(item.post.id, owner)
    return out


def on_round_closed(rnd: Round, **_: Any) -> None:
    """server.core.signals.round_closed: queue the round's closed notice at once.

    Delivery is the outbox's (`pingyi bot run-due`), which also queues any notice
    missed here. The close is committed already, so a failure is logged, not raised.
    """
    try:
        if targets_for_notices(rnd.committee_id):
            publish_notice(rnd, source="close", send=False)
    except Exception:  # any failure: the schedule queues it later
        db.session.rollback()
        log.exception("round %s: the closed notice was not queued", rnd.id)


# --------------------------------------------------------------------------- schedule


@dataclass
class DueReport:
    queued: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    delivery: outbox.RunReport | None = None


def _final_periods(now: dt.datetime, since: dt.datetime) -> list[PointsPeriod]:
    """Periods whose objection window ended between `since` and `now` (now final)."""
    return list(db.session.execute(
        select(PointsPeriod).where(PointsPeriod.status == "published",
                                   PointsPeriod.objection_until.is_not(None),
                                   PointsPeriod.objection_until <= now,
                                   PointsPeriod.objection_until >= since)
        .order_by(PointsPeriod.objection_until)).scalars())


def queue_due(now: dt.datetime | None = None) -> DueReport:
    """Queue every post that is due (idempotent: run it as often as you like).

    - Each published quarter (and year), once its objection window has passed:
      members and party-group boards to each branch's chats, the branches
      board to the committee's chats. Empty and hidden boards are skipped.
    - Each round closed recently: a notice to the committee's notice chats.
    Only what became due within BOT_CATCHUP_DAYS, so a chat added today does
    not receive last year's boards.
    """
    now = now or utcnow()
    since = now - dt.timedelta(days=int(setting("BOT_CATCHUP_DAYS")))
    report = DueReport()
    for row in _final_periods(now, since):
        period = row.period
        branch_ids = db.session.execute(select(Branch.id).filter_by(
            committee_id=row.committee_id).order_by(Branch.id)).scalars().all()
        boards = [(b, bid) for bid in branch_ids for b in ("members", "groups")]
        boards.append(("branches", row.committee_id))
        for board, scope_id in boards:
            subject = subject_of(board, scope_id, period)
            targets = [t for t in targets_for_board(board, scope_id)
                       if outbox.find(t.id, subject, "final") is None]
            if not targets:  # no chat, or every chat has it already
                continue
            label = subject
            try:
                content = content_for(board, scope_id, period)
            except ApiError as err:
                report.skipped.append(f"{label}: {err.message}")
                continue
            if not content.rows:
                report.skipped.append(f"{label}: 没有积分")
                continue
            for target in targets:
                post, created = outbox.enqueue(
                    target, kind="board", subject=subject,
                    edition="final", parts=compose(target, content), source="schedule",
                    title=f"{content.title} {period.label}（已公布）")
                if created:
                    report.queued.append(f"{label} → {target.name}")
    rounds = db.session.execute(select(Round).where(
        Round.status.in_(("closed", "published")), Round.closed_at.is_not(None),
        Round.closed_at >= since).order_by(Round.id)).scalars().all()
    for rnd in rounds:
        targets = targets_for_notices(rnd.committee_id)
        if not targets or all(outbox.find(t.id, f"round:{rnd.id}", "closed") for t in targets):
            continue
        for item in publish_notice(rnd, source="schedule", send=False):
            if item.created:
                report.queued.append(f"round:{rnd.id} → {item.target.name}")
    return report


def run_due(now: dt.datetime | None = None, send: bool = True) -> DueReport:
    report = queue_due(now)
    if send:
        report.delivery = outbox.run()
    return report
