"""Plain text (WeCom text messages, 2048 bytes; and what a secretary pastes into a
plain WeChat group, which has no markdown)."""

from __future__ import annotations

from bot.content import BoardContent, NoticeContent, Row
from bot.render.split import TEXT_LIMIT, cut, pack
from server.points.amounts import fmt

MAX_PARTS = 8


def _clean(text: str) -> str:
    return " ".join(text.split())


def _row(board: str, row: Row) -> str:
    points = f"人均{row.points_text}分" if board == "branches" else f"{row.points_text}分"
    line = f"{row.rank}. {_clean(row.name)}" + (f" {points}" if row.show_points else "")
    if row.deductions:
        line += f"（扣{fmt(row.deductions)}分）"
    if row.star_text:
        line += f" {row.star_text}"
    return line


def board_messages(content: BoardContent, limit: int = TEXT_LIMIT,
                   max_parts: int = MAX_PARTS) -> list[str]:
    title = cut(_clean(content.title), 300)

    def head(i: int, n: int) -> list[str]:
        mark = f"（{i}/{n}）" if n > 1 else ""
        return [f"【{title}】{content.period.label}（{content.edition_label}）{mark}"]

    def tail(i: int, n: int) -> list[str]:
        if i < n:
            return ["（未完，见下一条）"]
        lines = [f"数据截至{content.data_date}，{content.count_text}。"]
        if content.share_url:
            lines.append(f"完整排行榜：{content.share_url}")
        return lines

    rows = [_row(content.board, r) for r in content.rows] or ["本期暂无已审定的积分。"]
    return pack(rows, limit, head, tail, max_parts,
                overflow=lambda n: f"……另有{n}项未列出，请查看完整排行榜")


def share_text(content: BoardContent, top: int = 3) -> str:
    """A short text for a secretary to paste above the card in a plain WeChat group."""
    best = "，".join(f"{r.name}{r.points_text}分" if r.show_points else r.name
                    for r in content.rows[:top])
    lines = [f"【{_clean(content.title)}】{content.period.label}（{content.edition_label}）"]
    if best:
        lines.append(f"前{min(top, len(content.rows))}名：{best}。")
    lines.append(f"数据截至{content.data_date}，{content.count_text}。")
    if content.share_url:
        lines.append(f"完整排行榜：{content.share_url}")
    return cut("\n".join(lines), TEXT_LIMIT)


def notice_message(notice: NoticeContent, limit: int = TEXT_LIMIT) -> str:
    pct = "—" if notice.turnout_pct is None else f"{notice.turnout_pct:g}%"
    lines = [f"【测评已结束】{_clean(notice.title)}",
             f"应到 {notice.expected} 人，实到 {notice.cast} 人，参评率 {pct}，"
             f"有效票 {notice.valid} 张。"]
    if notice.closed_text:
        lines.append(f"结束时间：{notice.closed_text}")
    lines.append(f"测评结果（需登录）：{notice.results_url}")
    if notice.public_url:
        lines.append(f"回执公示：{notice.public_url}")
    return pack(lines, limit, max_parts=1)[0]
