"""`pingyi bot ...`: publish boards, run what is due (cron), configure chats, link accounts.

    pingyi bot publish --branch 第一党支部 --board members --period 2026Q3 [--dry-run]
    pingyi bot publish --committee 某某公司党委 --board branches --period 2026Q3
    pingyi bot run-due            # cron / systemd timer, every few minutes
    pingyi bot deliver            # only retry what is queued
    pingyi bot targets | add-target | disable-target ID
    pingyi bot history [--status uncertain] | confirm ID | resend ID
    pingyi bot link-user USERID MEMBER_NO [--committee ...]

The command acts for the system (no user): every branch may be published.
Secrets are read from standard input (`add-target ... < key.txt`, or typed at
the prompt without echo), never from the command line, where they would land
in shell history and the process list.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from bot import outbox, publishing, targets
from bot.demo import publish_demo
from bot.labels import MANUAL_SENT, STATUS_LABELS
from bot.models import BotPost, ChatTarget
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Branch, Committee, Member
from server.points.calendar import PeriodError, parse_period

bot_cli = click.Group("bot", help="The leaderboard bot: publish to group chats.")


def _fail(err: ApiError) -> click.ClickException:
    return click.ClickException(f"{err.message} ({err.code})")


def _committee(name: str | None) -> Committee:
    q = select(Committee).order_by(Committee.id)
    if name:
        q = q.where((Committee.name == name) | (Committee.id == _int(name)))
    found = db.session.execute(q).scalars().first()
    if found is None:
        raise click.ClickException(f"no committee {name!r}" if name else "no committee yet")
    return found


def _int(text: str) -> int:
    return int(text) if text.isdigit() else -1


def _branch(name: str, committee: str | None) -> Branch:
    q = select(Branch).where((Branch.name == name) | (Branch.id == _int(name)))
    if committee:
        q = q.where(Branch.committee_id == _committee(committee).id)
    rows = db.session.execute(q).scalars().all()
    if len(rows) != 1:
        raise click.ClickException(f"branch {name!r}: {'not found' if not rows else 'ambiguous'}"
                                   " (use its id, or --committee)")
    return rows[0]


def _echo_post(target: ChatTarget, post: BotPost | None, created: bool) -> None:
    if post is None:
        return
    state = MANUAL_SENT if post.status == "sent" and target.channel == "manual" else \
        STATUS_LABELS[post.status]
    note = "" if created else " (already queued before: not sent again)"
    extra = f" — {post.last_error}" if post.last_error else ""
    click.echo(f"  post {post.id} → {target.name}: {state} "
               f"[{post.parts_sent}/{post.parts_total}]{note}{extra}")


@bot_cli.command("publish")
@click.option("--branch", help="branch name or id (members and groups boards)")
@click.option("--committee", help="committee name or id (branches board; or to pick a branch)")
@click.option("--board", type=click.Choice(["members", "groups", "branches"]), default="members",
              show_default=True)
@click.option("--period", required=True, help="e.g. 2026Q3 or 2026")
@click.option("--dry-run", is_flag=True, help="render and show, queue and send nothing")
@click.option("--repost", is_flag=True, help="after a correction: post published standings again")
@with_appcontext
def publish_cmd(branch: str | None, committee: str | None, board: str, period: str,
                dry_run: bool, repost: bool) -> None:
    """Publish a leaderboard to its chats (once per chat and edition)."""
    try:
        per = parse_period(period)
    except PeriodError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from None
    if board == "branches":
        scope_id = _committee(committee).id
    else:
        if not branch:
            raise click.UsageError("--branch is required for the members and groups boards")
        scope_id = _branch(branch, committee).id
    try:
        done = publishing.publish_board(None, board, scope_id, per, source="cli",
                                        dry_run=dry_run, repost=repost)
    except ApiError as err:
        raise _fail(err) from None
    for item in done:
        if dry_run:
            click.echo(f"== {item.target.name} ({item.target.channel}): "
                       f"{len(item.parts)} message(s)")
            for part in item.parts:
                if part["msgtype"] == "image":
                    size = len(part["base64"]) * 3 // 4
                    click.echo(f"-- image: PNG of about {size // 1024} KB, md5 {part['md5']}")
                else:
                    body = part["content"]
                    click.echo(f"-- {part['msgtype']} ({len(body.encode())} bytes):\n{body}")
        else:
            _echo_post(item.target, item.post, item.created)


@bot_cli.command("run-due")
@click.option("--no-send", is_flag=True, help="only queue what is due")
@with_appcontext
def run_due_cmd(no_send: bool) -> None:
    """Queue and send what is due: published quarters after their objection window,
    round-closed notices; then retry what failed. Safe to run from several hosts."""
    report = publishing.run_due(send=not no_send)
    for line in report.queued:
        click.echo(f"queued {line}")
    for line in report.skipped:
        click.echo(f"skipped {line}")
    _echo_delivery(report.delivery)


def _echo_delivery(delivery: outbox.RunReport | None) -> None:
    if delivery is None:
        return
    counts = {r: delivery.count(r) for r in ("sent", "deferred", "retry", "failed",
                                             "uncertain", "skipped", "lost")}
    click.echo("delivery: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v) +
               (f", swept {delivery.swept}" if delivery.swept else "") if any(counts.values())
               or delivery.swept else "delivery: nothing due")
    for o in delivery.outcomes:
        if o.result in ("failed", "uncertain"):
            click.echo(f"  post {o.post_id} {o.result}: {o.message}", err=True)


@bot_cli.command("deliver")
@with_appcontext
def deliver_cmd() -> None:
    """Send (or retry) what is queued and due."""
    _echo_delivery(outbox.run())


@bot_cli.command("targets")
@with_appcontext
def targets_cmd() -> None:
    """List the configured chats (secrets masked)."""
    for t in db.session.execute(select(ChatTarget).order_by(ChatTarget.id)).scalars():
        where = t.branch.name if t.branch else "committee"
        click.echo(f"{t.id}\t{'active' if t.active else 'off'}\t{t.channel}\t{where}\t{t.name}\t"
                   f"{t.secret_hint or '-'}\t{t.purposes}\t{t.formats}")


@bot_cli.command("add-target")
@click.option("--branch", help="branch name or id; omit for a committee chat")
@click.option("--committee", help="committee name or id")
@click.option("--channel", type=click.Choice(["wecom_webhook", "wecom_appchat", "manual"]),
              required=True)
@click.option("--name", required=True)
@click.option("--purposes", default="points", show_default=True, help="points,notices")
@click.option("--formats", default="", help="image,markdown,text (default: the channel's)")
@with_appcontext
def add_target_cmd(branch: str | None, committee: str | None, channel: str, name: str,
                   purposes: str, formats: str) -> None:
    """Add a chat; the webhook URL/key or chat id is read from standard input."""
    secret = ""
    if channel != "manual":
        secret = sys.stdin.readline().strip() if not sys.stdin.isatty() else \
            click.prompt("webhook URL or key / chat id", hide_input=True)
    try:
        target = targets.add_target(
            None, branch_id=_branch(branch, committee).id if branch else None,
            committee_id=_committee(committee).id, channel=channel, name=name, secret=secret,
            purposes=[p for p in purposes.split(",") if p],
            formats=[f for f in formats.split(",") if f] or None)
    except ApiError as err:
        raise _fail(err) from None
    click.echo(f"target {target.id} added: {target.name} {target.secret_hint}")


@bot_cli.command("disable-target")
@click.argument("target_id", type=int)
@with_appcontext
def disable_target_cmd(target_id: int) -> None:
    target = db.session.get(ChatTarget, target_id)
    if target is None:
        raise click.ClickException(f"no target {target_id}")
    target.active = False
    db.session.commit()
    click.echo(f"target {target_id} disabled")


@bot_cli.command("history")
@click.option("--status", type=click.Choice(list(STATUS_LABELS)), default=None)
@click.option("--limit", default=30, show_default=True)
@with_appcontext
def history_cmd(status: str | None, limit: int) -> None:
    """Recent posts (newest first)."""
    q = select(BotPost).order_by(BotPost.id.desc()).limit(limit)
    if status:
        q = q.where(BotPost.status == status)
    for p in db.session.execute(q).scalars():
        click.echo(f"{p.id}\t{p.status}\t{p.parts_sent}/{p.parts_total}\t{p.subject}\t"
                   f"{p.edition}\t{p.target.name}\t{p.last_error}")


def _act(action: Any, post_id: int, word: str) -> None:
    try:
        post = action(None, post_id)
    except ApiError as err:
        raise _fail(err) from None
    click.echo(f"post {post.id}: {word}, now {post.status}")


@bot_cli.command("confirm")
@click.argument("post_id", type=int)
@with_appcontext
def confirm_cmd(post_id: int) -> None:
    """An uncertain part was seen in the group: count it as delivered."""
    _act(outbox.confirm_delivered, post_id, "confirmed")


@bot_cli.command("resend")
@click.argument("post_id", type=int)
@with_appcontext
def resend_cmd(post_id: int) -> None:
    """An uncertain part is not in the group: queue it again."""
    _act(outbox.resend, post_id, "queued again")


@bot_cli.command("link-user")
@click.argument("userid")
@click.argument("member_no")
@click.option("--committee", help="committee name or id (when member numbers repeat)")
@with_appcontext
def link_user_cmd(userid: str, member_no: str, committee: str | None) -> None:
    """Link a WeCom UserID to a roster member (for 排名 / 积分)."""
    q = select(Member).filter_by(member_no=member_no)
    if committee:
        q = q.where(Member.committee_id == _committee(committee).id)
    rows = db.session.execute(q).scalars().all()
    if len(rows) != 1:
        raise click.ClickException(f"member {member_no!r}: "
                                   f"{'not found' if not rows else 'ambiguous, use --committee'}")
    try:
        targets.link_user(None, userid, rows[0].id)
    except ApiError as err:
        raise _fail(err) from None
    click.echo(f"{userid} → {rows[0].name}")


@bot_cli.command("demo")
@click.option("--fake-url", required=True, help="the WeChat fake, e.g. http://127.0.0.1:5101")
@with_appcontext
def demo_cmd(fake_url: str) -> None:
    """Publish the demo branch's leaderboards to a group robot on the WeChat fake."""
    info = publish_demo(fake_url)
    posts = "、".join(f"{label} {STATUS_LABELS.get(status, status)}"
                     for label, status in info["posts"])
    click.echo(f"  WeChat fake  : {info['fake_page']}   {info['branch']} leaderboards: {posts}")
    click.echo(f"  secretary    : login {info['secretary']} / {info['password']} "
               "(lands on the branch's points ledger; 群聊推送 in the console)")
    click.echo(f"  share page   : {info['share_url']}")
