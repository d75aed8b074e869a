"""Delivering posts at most once: claims with a lease, a mark before each request.

Every state change is one conditional UPDATE committed on its own (a compare-
and-set that SQLite and PostgreSQL both execute atomically), so any number of
runners (`pingyi bot run-due` from cron on several hosts, a publish from the
console) may work on the outbox at once:

1. claim: `pending` (due) → `sending`, with lease_owner = this runner and a
   lease; only one runner's UPDATE matches. A `sending` post whose lease has
   expired and that had no request in flight (its runner died between claim and
   send) may be claimed again.
2. before each message part: `inflight_part = i` is committed. Only then is the
   request made.
3. after WeCom's errcode 0: `parts_sent = i + 1`, `inflight_part = NULL`
   (and `sent` after the last part).

A request that fails without reaching WeCom, or that WeCom refuses with an
errcode, delivered nothing: the post goes back to `pending` with exponential
backoff (or `failed` after BOT_MAX_ATTEMPTS, or at once for a permanent error
such as an invalid webhook key). A request that may have been delivered (read
timeout, connection lost after sending, a 5xx gateway page), and a post whose
runner died with `inflight_part` set, become `uncertain`: WeCom's group robot
and app chat APIs neither deduplicate nor let us ask what arrived, so resending
could post twice. Nothing resends an uncertain part by itself; a person looks
at the group and either confirms it arrived or asks for a resend (bot/pages.py).

Remaining risk, by design: a message that timed out without arriving waits for
that person (it is flagged on the history screen, in `run-due` output and the
log); a runner that dies after marking a part and before sending it also
leaves it `uncertain` although nothing was sent.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot import errors, ratelimit
from bot.channels import open_channel
from bot.config import setting
from bot.labels import STATUS_LABELS
from bot.models import BotPost, ChatTarget
from bot.redact import redact
from server.core import audit
from server.core.clock import utcnow
from server.core.db import db
from server.core.errors import ApiError

log = logging.getLogger(__name__)
T = BotPost.__table__


def runner_id() -> str:
    return f"{socket.gethostname()[:12]}-{os.getpid()}-{secrets.token_hex(3)}"[:32]


def _cas(stmt: Any) -> int:
    """Execute one conditional UPDATE in a transaction of its own; rows changed."""
    with db.engine.begin() as conn:
        return int(conn.execute(stmt).rowcount or 0)


# --------------------------------------------------------------------------- enqueue


def find(target_id: int, subject: str, edition: str) -> BotPost | None:
    return db.session.execute(
        select(BotPost).filter_by(target_id=target_id, subject=subject, edition=edition)
        .execution_options(populate_existing=True)).scalar_one_or_none()


def enqueue(target: ChatTarget, *, kind: str, subject: str, edition: str, title: str,
            parts: list[dict[str, Any]], source: str, user: Any = None) -> tuple[BotPost, bool]:
    """The post for (target, subject, edition), created if it did not exist yet.

    The unique constraint decides between concurrent enqueuers; the loser gets
    the winner's row. (Commits the session first: the insert has its own
    transaction, and SQLite must not see two writers from one thread.)
    """
    db.session.commit()
    existing = find(target.id, subject, edition)
    if existing is not None:
        return existing, False
    values = dict(target_id=target.id, committee_id=target.committee_id,
                  branch_id=target.branch_id, kind=kind, subject=subject, edition=edition,
                  title=title[:200], parts_json=json.dumps(parts, ensure_ascii=False),
                  parts_total=len(parts), parts_sent=0, status="pending", attempts=0,
                  next_attempt_at=utcnow(), source=source, last_error="",
                  created_by=getattr(user, "id", None), created_at=utcnow())
    try:
        with db.engine.begin() as conn:
            conn.execute(insert(T).values(**values))
    except IntegrityError:
        created = False
    else:
        created = True
    post = find(target.id, subject, edition)
    assert post is not None
    if created:
        log.info("bot post %s queued: %s → target %s (%s part(s))", post.id, subject,
                 target.id, len(parts))
    return post, created


# --------------------------------------------------------------------------- delivery


@dataclass
class Outcome:
    post_id: int
    result: str  # sent | deferred | retry | failed | uncertain | skipped | lost
    message: str = ""


@dataclass
class RunReport:
    outcomes: list[Outcome] = field(default_factory=list)
    swept: int = 0

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)


def _claim(post_id: int, owner: str, now: dt.datetime) -> bool:
    lease = now + dt.timedelta(seconds=int(setting("BOT_LEASE_S")))
    return _cas(update(T).where(
        T.c.id == post_id,
        or_((T.c.status == "pending") & (T.c.next_attempt_at <= now),
            (T.c.status == "sending") & (T.c.lease_until < now) & T.c.inflight_part.is_(None)),
    ).values(status="sending", lease_owner=owner, lease_until=lease)) == 1


def _mark_inflight(post_id: int, owner: str, part: int) -> bool:
    lease = utcnow() + dt.timedelta(seconds=int(setting("BOT_LEASE_S")))
    return _cas(update(T).where(
        T.c.id == post_id, T.c.lease_owner == owner, T.c.status == "sending",
        T.c.inflight_part.is_(None), T.c.parts_sent == part,
    ).values(inflight_part=part, lease_until=lease)) == 1


def _part_done(post_id: int, owner: str, part: int, total: int) -> bool:
    now = utcnow()
    where = update(T).where(T.c.id == post_id, T.c.lease_owner == owner,
                            T.c.inflight_part == part)
    if part + 1 >= total:
        stmt = where.values(parts_sent=part + 1, inflight_part=None, status="sent", sent_at=now,
                            lease_owner=None, lease_until=None, last_error="", last_errcode=None)
    else:
        # A part confirmed by WeCom resolves an `uncertain` a sweeper set meanwhile.
        stmt = where.values(parts_sent=part + 1, inflight_part=None, last_error="",
                            last_errcode=None,
                            status=case((T.c.status == "uncertain", "pending"),
                                        else_=T.c.status))
    return _cas(stmt) == 1


def _release(post_id: int, owner: str, when: dt.datetime, message: str = "") -> None:
    """Give a claimed post back untouched (nothing in flight), to be tried at `when`."""
    _cas(update(T).where(T.c.id == post_id, T.c.lease_owner == owner,
                         T.c.inflight_part.is_(None), T.c.status == "sending")
         .values(status="pending", lease_owner=None, lease_until=None, next_attempt_at=when,
                 last_error=message[:500]))


def backoff_s(attempts: int, retry_after_s: int | None = None) -> float:
    base = float(setting("BOT_BACKOFF_BASE_S"))
    delay = min(float(setting("BOT_BACKOFF_MAX_S")), base * 2 ** max(0, attempts - 1))
    delay *= random.uniform(0.8, 1.2)  # runners that failed together do not retry together
    return max(delay, float(retry_after_s or 0))


def _failed_attempt(post_id: int, owner: str, part: int, err: errors.Delivery,
                    attempts: int) -> str:
    attempts += 1
    permanent = isinstance(err, errors.Rejected) and err.permanent
    give_up = permanent or attempts >= int(setting("BOT_MAX_ATTEMPTS"))
    retry_after = err.retry_after_s if isinstance(err, errors.Rejected) else None
    when = utcnow() + dt.timedelta(seconds=backoff_s(attempts, retry_after))
    message = err.zh if not give_up or permanent else f"{err.zh}（已尝试 {attempts} 次，停止重试）"
    _cas(update(T).where(T.c.id == post_id, T.c.lease_owner == owner,
                         T.c.inflight_part == part)
         .values(status="failed" if give_up else "pending", inflight_part=None,
                 attempts=attempts, next_attempt_at=when, lease_owner=None, lease_until=None,
                 last_error=message[:500], last_errcode=err.errcode))
    return "failed" if give_up else "retry"


def _uncertain(post_id: int, owner: str, part: int, err: errors.Delivery) -> None:
    _cas(update(T).where(T.c.id == post_id, T.c.lease_owner == owner,
                         T.c.inflight_part == part)
         .values(status="uncertain", lease_until=None, last_error=err.zh[:500],
                 last_errcode=err.errcode))


def deliver(post_id: int, owner: str | None = None) -> Outcome:
    """Claim one post and send its remaining parts, in order."""
    owner = owner or runner_id()
    if not _claim(post_id, owner, utcnow()):
        return Outcome(post_id, "skipped")
    post = db.session.execute(select(BotPost).filter_by(id=post_id)
                              .execution_options(populate_existing=True)).scalar_one()
    target = db.session.get(ChatTarget, post.target_id)
    parts = post.parts
    try:
        if target is None or not target.active:
            raise ApiError("target_inactive", "该群聊已停用", "the chat target is inactive", 409)
        channel = open_channel(target)
    except ApiError as err:
        _cas(update(T).where(T.c.id == post_id, T.c.lease_owner == owner)
             .values(status="failed", lease_owner=None, lease_until=None,
                     last_error=err.message[:500]))
        return Outcome(post_id, "failed", err.message)
    try:
        for i in range(post.parts_sent, post.parts_total):
            if channel.rate_limited:
                wait_ms = ratelimit.acquire(target.rate_key)
                if wait_ms:
                    when = utcnow() + dt.timedelta(milliseconds=wait_ms + 50)
                    _release(post_id, owner, when, "等待发送：每个群机器人每分钟最多 20 条消息")
                    return Outcome(post_id, "deferred", f"{wait_ms} ms")
            if not _mark_inflight(post_id, owner, i):
                log.warning("bot post %s: lost its claim before part %s", post_id, i + 1)
                return Outcome(post_id, "lost")
            try:
                channel.send(parts[i])
            except errors.Uncertain as err:
                _uncertain(post_id, owner, i, err)
                log.warning("bot post %s part %s/%s may or may not have arrived: %s", post_id,
                            i + 1, post.parts_total, err.zh)
                return Outcome(post_id, "uncertain", err.zh)
            except (errors.Rejected, errors.NotDelivered) as err:
                result = _failed_attempt(post_id, owner, i, err, post.attempts)
                log.warning("bot post %s part %s/%s not delivered (%s): %s", post_id, i + 1,
                            post.parts_total, result, err.zh)
                return Outcome(post_id, result, err.zh)
            if not _part_done(post_id, owner, i, post.parts_total):
                log.warning("bot post %s: part %s delivered but the post changed meanwhile",
                            post_id, i + 1)
                return Outcome(post_id, "lost")
    except Exception as exc:  # a bug or an outage of our own (Redis, SQL): nothing in flight
        log.error("bot post %s: delivery stopped (%s)", post_id, redact(type(exc).__name__))
        _release(post_id, owner, utcnow() + dt.timedelta(seconds=backoff_s(1)),
                 "发送过程出错，稍后自动重试")
        raise
    finally:
        channel.close()
    log.info("bot post %s sent (%s part(s)) to target %s", post_id, post.parts_total, target.id)
    return Outcome(post_id, "sent")


def sweep(now: dt.datetime | None = None) -> int:
    """Posts whose runner died with a request in flight become `uncertain`."""
    now = now or utcnow()
    n = _cas(update(T).where(T.c.status == "sending", T.c.lease_until < now,
                             T.c.inflight_part.is_not(None))
             .values(status="uncertain", lease_until=None,
                     last_error=f"发送过程中断（进程退出或超时）：消息可能已经送达。"
                                f"{errors.CHECK_GROUP}"))
    if n:
        log.warning("bot: %s post(s) interrupted mid-request are now uncertain", n)
    return n


def due_ids(now: dt.datetime | None = None, limit: int = 200) -> list[int]:
    now = now or utcnow()
    return list(db.session.execute(
        select(T.c.id).where(or_(
            (T.c.status == "pending") & (T.c.next_attempt_at <= now),
            (T.c.status == "sending") & (T.c.lease_until < now) & T.c.inflight_part.is_(None)))
        .order_by(T.c.next_attempt_at, T.c.id).limit(limit)).scalars())


def run(owner: str | None = None, ids: list[int] | None = None) -> RunReport:
    """Deliver what is due (or the given posts, if due)."""
    owner = owner or runner_id()
    report = RunReport(swept=sweep())
    for post_id in (due_ids() if ids is None else ids):
        report.outcomes.append(deliver(post_id, owner))
    return report


# --------------------------------------------------------------------------- people


def _load(post_id: int) -> BotPost:
    post = db.session.execute(select(BotPost).filter_by(id=post_id)
                              .execution_options(populate_existing=True)).scalar_one_or_none()
    if post is None:
        raise ApiError("post_not_found", "找不到该发布记录", "no such post", 404)
    return post


def _refused(post: BotPost, action: str) -> ApiError:
    state = STATUS_LABELS.get(post.status)
    return ApiError("post_state", f"该发布记录当前为“{state}”，不能{action}",
                    f"post is {post.status}", 409)


def confirm_delivered(user: Any, post_id: int) -> BotPost:
    """Someone saw the uncertain part in the group: count it as sent, go on with the rest."""
    post = _load(post_id)
    part = post.inflight_part
    if post.status != "uncertain" or part is None:
        raise _refused(post, "确认送达")
    done = part + 1 >= post.parts_total
    n = _cas(update(T).where(T.c.id == post.id, T.c.status == "uncertain",
                             T.c.inflight_part == part)
             .values(parts_sent=part + 1, inflight_part=None, lease_owner=None,
                     status="sent" if done else "pending", next_attempt_at=utcnow(),
                     sent_at=utcnow() if done else None, last_error="",
                     resolved_by=getattr(user, "id", None)))
    if n != 1:
        raise _refused(_load(post_id), "确认送达")
    audit.record(user, "bot.confirm_delivered", f"bot_post:{post.id}", f"part {part + 1}")
    db.session.commit()
    return _load(post_id)


def resend(user: Any, post_id: int) -> BotPost:
    """Someone checked the group and the uncertain part is not there: send it again."""
    post = _load(post_id)
    if post.status != "uncertain":
        raise _refused(post, "重新发送")
    n = _cas(update(T).where(T.c.id == post.id, T.c.status == "uncertain")
             .values(status="pending", inflight_part=None, lease_owner=None, lease_until=None,
                     next_attempt_at=utcnow(), resolved_by=getattr(user, "id", None)))
    if n != 1:
        raise _refused(_load(post_id), "重新发送")
    audit.record(user, "bot.resend", f"bot_post:{post.id}", f"part {(post.inflight_part or 0) + 1}")
    db.session.commit()
    return _load(post_id)


def retry(user: Any, post_id: int) -> BotPost:
    """A failed post (e.g. after the webhook address was corrected) gets fresh attempts."""
    post = _load(post_id)
    if post.status != "failed":
        raise _refused(post, "重试")
    _cas(update(T).where(T.c.id == post.id, T.c.status == "failed")
         .values(status="pending", attempts=0, next_attempt_at=utcnow(), lease_owner=None))
    audit.record(user, "bot.retry", f"bot_post:{post.id}")
    db.session.commit()
    return _load(post_id)


def cancel(user: Any, post_id: int) -> BotPost:
    post = _load(post_id)
    if post.status not in ("pending", "failed", "uncertain"):
        raise _refused(post, "取消")
    _cas(update(T).where(T.c.id == post.id, T.c.status.in_(("pending", "failed", "uncertain")))
         .values(status="cancelled", lease_owner=None, lease_until=None))
    audit.record(user, "bot.cancel", f"bot_post:{post.id}")
    db.session.commit()
    return _load(post_id)
