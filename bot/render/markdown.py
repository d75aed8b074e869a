"""WeChat Work markdown (the subset it renders: headings, bold, links, quotes,
inline code and <font color="info|comment|warning">), cut to 4096 bytes a message.

Names come from the roster and could hold characters that the markdown subset
would read as markup; they are replaced by their full-width look-alikes, which
read the same in Chinese text.
"""

from __future__ import annotations

from bot.content import BoardContent, NoticeContent, Row
from bot.render.split import MARKDOWN_LIMIT, cut, pack
from server.points.amounts import fmt

_MARKUP = str.maketrans({"*": "＊", "_": "＿", "`": "｀", "[": "［", "]": "］", "<": "＜",
                         ">": "＞", "#": "＃", "\n": " ", "\r": " ", "\t": " "})
MAX_PARTS = 6


def safe(text: str) -> str:
    return text.translate(_MARKUP).strip()


def font(color: str, text: str) -> str:
    return f'<font color="{color}">{text}</font>'


def _row(board: str, row: Row) -> str:
    rank = f"**第{row.rank}名**" if row.rank <= 3 else f"第{row.rank}名"
    if row.rank <= 3:
        rank = font("warning", rank)
    name = safe(row.name)
    if board == "branches":
        line = f"{rank}　{name}　人均**{row.points_text}**分"
        if row.members is not None:
            line += "　" + font("comment", f"党员{row.members}人")
    else:
        line = f"{rank}　{name}" + (f"　**{row.points_text}**分" if row.show_points else "")
    if row.deductions:
        line += "　" + font("comment", f"扣{_pts(row.deductions)}分")
    if row.star_text:
        line += "　" + (font("warning", row.star_text) if row.stars else font("comment",
                                                                             row.star_text))
    return line


def _pts(tenths: int) -> str:
    return fmt(tenths)


def board_messages(content: BoardContent, limit: int = MARKDOWN_LIMIT,
                   max_parts: int = MAX_PARTS) -> list[str]:
    """The board as one or more markdown messages, each at most `limit` bytes."""
    title = cut(safe(content.title), 300)

    def head(i: int, n: int) -> list[str]:
        mark = f"（{i}/{n}）" if n > 1 else ""
        return [f"### {title}{mark}",
                f"**{content.period.label}**　{font('comment', content.edition_label)}"]

    def tail(i: int, n: int) -> list[str]:
        if i < n:
            return [font("comment", "（未完，见下一条）")]
        lines = [font("comment", f"数据截至{content.data_date} · {content.count_text} · "
                                 "积分高者在前，同分扣分少者在前")]
        if content.share_url:
            lines.append(f"[查看完整排行榜]({content.share_url})")
        return lines

    rows = [_row(content.board, r) for r in content.rows] or ["本期暂无已审定的积分。"]
    return pack(rows, limit, head, tail, max_parts,
                overflow=lambda n: font("comment", f"……另有{n}项未列出，请查看完整排行榜"))


def notice_message(notice: NoticeContent, limit: int = MARKDOWN_LIMIT) -> str:
    pct = "—" if notice.turnout_pct is None else f"{notice.turnout_pct:g}%"
    lines = [f"### 测评已结束：{cut(safe(notice.title), 300)}",
             f"> 应到：{notice.expected} 人",
             f"> 实到：{font('info', str(notice.cast))} 人（参评率 {pct}）",
             f"> 有效票：{notice.valid} 张"]
    if notice.closed_text:
        lines.append(f"> 结束时间：{notice.closed_text}")
    lines.append(f"结果查看：[测评结果（需登录）]({notice.results_url})")
    if notice.public_url:
        lines.append(f"回执公示：[查询回执]({notice.public_url})")
    else:
        lines.append(font("comment", "结果经审核发布后公示回执。"))
    return pack(lines, limit, max_parts=1)[0]
