"""What the WeChat Work app answers in a 1:1 chat: 排名, 积分, 帮助.

The sender is a WeCom UserID; `bot_wecom_users` says which roster member it is
(a secretary links them on the console, or `pingyi bot link-user`). Standings
are shown as the share page shows them (nothing while a board is hidden, the
frozen standings while frozen); a member's own points are the member's own
record and are shown in any case. Replies are plain text within WeCom's 2048
bytes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.content import board_content
from bot.models import WecomUser
from bot.render.split import TEXT_LIMIT, cut
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Member
from server.points import ledger, standings
from server.points.amounts import fmt
from server.points.calendar import Period, current_quarter

HELP = ("可用指令：\n"
        "排名 —— 本支部本季度党员积分排名（前10名及您的名次）\n"
        "积分 —— 您本季度和本年度的积分\n"
        "帮助 —— 显示本说明")
WORDS = {"排名": "rank", "排行": "rank", "排行榜": "rank", "积分": "points", "我的积分": "points",
         "帮助": "help", "help": "help", "?": "help", "？": "help", "菜单": "help"}
TOP = 10


def member_of(userid: str) -> Member | None:
    link = db.session.execute(select(WecomUser).filter_by(userid=userid)).scalar_one_or_none()
    return link.member if link else None


def answer(userid: str, content: str) -> str:
    command = WORDS.get(content.strip().strip("/").lower())
    if command is None or command == "help":
        prefix = "" if command else f"没有“{cut(content.strip(), 60)}”这个指令。\n"
        return prefix + HELP
    member = member_of(userid)
    if member is None:
        return ("您的企业微信账号还没有关联到党员花名册，请联系支部书记在“评议”系统的"
                f"“群聊推送 → 成员账号”中关联（您的账号：{cut(userid, 64)}）。")
    text = rank_text(member) if command == "rank" else points_text(member)
    return cut(text, TEXT_LIMIT)


def rank_text(member: Member) -> str:
    period = current_quarter()
    try:
        content = board_content("members", member.branch_id, period, limit=TOP)
        own, _ = own_standing(member, period)
    except ApiError as err:
        if err.code == "board_hidden":
            return f"{member.branch.name}{period.label}的党员积分排名暂未公开。"
        raise
    lines = [f"{content.title}·{period.label}（{content.edition_label}）"]
    for row in content.rows[:TOP]:
        shown = f" {row.points_text}分" if row.show_points else ""
        lines.append(f"{row.rank}. {row.name}{shown}")
    if not content.rows:
        lines.append("本季度暂无已审定的积分。")
    if own is not None:
        lines.append(f"您：第{own['rank']}名，{fmt(own['points'])}分（{content.count_text}）")
    else:
        lines.append("您本季度暂无已审定的积分。")
    lines.append(f"数据截至{content.data_date}")
    return "\n".join(lines)


def points_text(member: Member) -> str:
    period = current_quarter()
    quarter = ledger.approved_total("member", member.id, period.year, period.quarter)
    year = ledger.approved_total("member", member.id, period.year)
    lines = [f"{member.name}同志：",
             f"{period.label}积分：{fmt(quarter)}分",
             f"{period.year}年累计积分：{fmt(year)}分"]
    try:
        own, total = own_standing(member, period)
    except ApiError:  # a hidden board: no rank, the own points still
        own, total = None, 0
    if own is not None:
        lines.append(f"本季度支部排名：第{own['rank']}名（共{total}人）")
    lines.append("如对积分有异议，请在公布后的异议期内向支部书记提出。")
    return "\n".join(lines)


def own_standing(member: Member, period: Period) -> tuple[dict[str, Any] | None, int]:
    """The member's place on the own branch's board as members see it ({rank, points},
    None when not on it) and the board's size, without reading the whole board
    (ApiError board_hidden while it is hidden)."""
    hits, total = standings.positions("members", member.branch_id, period, [member.id],
                                      staff=False)
    return hits.get(member.id), total
