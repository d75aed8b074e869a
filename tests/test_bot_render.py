"""Rendering: WeCom markdown and text within their byte limits, split between whole
lines and never inside a character; the PNG card (Chinese in Noto Sans CJK SC, 1080 px
wide, under 2 MB); the round notice."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from bot.content import BoardContent, Row
from bot.render import card, markdown, text
from bot.render.split import MARKDOWN_LIMIT, TEXT_LIMIT, cut, nbytes, pack
from bot.wechat_fake import running_fake
from bot.wechat_fake.wecom import add_robot, delivered
from server.points.calendar import Period
from tests.support.bot import Q3, big_branch, build_world, webhook_target, wecom_config

NAME = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
               max_size=40)


def content(names: list[str], board: str = "members", period: Period = Q3,
            share: str | None = "https://vote.example.test/s/m/1/2026Q3/abc") -> BoardContent:
    rows = [Row(rank=i + 1, name=n, points=1000 - i * 7, deductions=(i % 3) * 5,
                stars=(i % 6) or None, has_level=period.is_year, level="不合格",
                members=12 if board == "branches" else None)
            for i, n in enumerate(names)]
    return BoardContent(board=board, scope_id=1, period=period, board_label="党员积分榜",
                        scope_name="第一党支部", committee_name="测试公司党委", rows=rows,
                        total=len(rows), showing="frozen", data_at=dt.datetime(2026, 10, 8, 2),
                        final=True, share_url=share)


def row_lines(board: str, c: BoardContent, kind: str) -> list[str]:
    render = markdown._row if kind == "markdown" else text._row
    return [render(board, r) for r in c.rows]


ROW = re.compile(r'^(<font color="warning">\*\*第\d+名|第\d+名|\d+\. )')


def check_split(messages: list[str], rows: list[str], limit: int) -> None:
    """Every message within the limit; each row appears once, in order, as a whole line
    (or, if it could never fit a message, cut at a character boundary with "…"); when the
    parts ran out, the rows shown are the first ones and an overflow line says so."""
    body = []
    for m in messages:
        assert nbytes(m) <= limit
        assert m.encode("utf-8").decode("utf-8") == m  # whole characters only
        body += [line for line in m.split("\n") if ROW.match(line)]
    assert len(body) <= len(rows)
    for line, row in zip(body, rows, strict=False):
        assert line == row or (line.endswith("…") and row.startswith(line[:-1])
                               and nbytes(row) > limit // 3)
    if len(body) < len(rows):
        assert "项未列出" in messages[-1]


def test_forty_member_board_in_markdown(app):
    """A real 40-member board: within 4096 bytes a message, split between rows."""
    with running_fake() as (base, state):
        wecom_config(app, base)
        key = add_robot(state)
        with app.app_context():
            w = build_world()
            b = big_branch(w, 40)
            from bot import publishing

            c = publishing.content_for("members", b.id, Q3)
            assert len(c.rows) == 40
            rows = row_lines("members", c, "markdown")
            for limit in (MARKDOWN_LIMIT, 1500, 700):
                msgs = markdown.board_messages(c, limit=limit, max_parts=20)
                check_split(msgs, rows, limit)
                lines = [line for m in msgs for line in m.split("\n")]
                assert [line for line in lines if line in rows] == rows  # all 40, whole
                if len(msgs) > 1:
                    assert msgs[0].startswith("### 第三党支部党员积分榜（1/")
                    assert "（未完，见下一条）" in msgs[0] and "查看完整排行榜" in msgs[-1]
            webhook_target(b.id, key, formats=["markdown", "text"])
            publishing.publish_board(None, "members", b.id, Q3, source="cli")
        got = delivered(state, key=key)  # and WeCom (the fake) accepted every one
        assert got and all(nbytes(x[x["msgtype"]]["content"]) <=
                           (MARKDOWN_LIMIT if x["msgtype"] == "markdown" else TEXT_LIMIT)
                           for x in got)
        assert any(x["msgtype"] == "text" for x in got)


@settings(max_examples=150, deadline=None)
@given(names=st.lists(NAME, max_size=90), limit=st.integers(800, 4096),
       board=st.sampled_from(["members", "branches"]))
def test_markdown_split_property(names, limit, board):
    c = content(names, board)
    msgs = markdown.board_messages(c, limit=limit, max_parts=50)
    check_split(msgs, row_lines(board, c, "markdown"), limit)


@settings(max_examples=100, deadline=None)
@given(names=st.lists(NAME, max_size=90), limit=st.integers(500, 2048))
def test_text_split_property(names, limit):
    c = content(names, period=Period(2026))
    msgs = text.board_messages(c, limit=limit, max_parts=50)
    check_split(msgs, row_lines("members", c, "text"), limit)


def test_too_many_parts_end_with_an_overflow_line():
    c = content([f"党员{i:03d}号很长很长的名字" for i in range(300)])
    msgs = markdown.board_messages(c, limit=1200, max_parts=3)
    assert len(msgs) == 3 and all(nbytes(m) <= 1200 for m in msgs)
    assert "另有" in msgs[-1] and "项未列出" in msgs[-1]


@given(st.text(min_size=0, max_size=300), st.integers(0, 400))
def test_cut_never_breaks_a_character(value, limit):
    out = cut(value, limit)
    assert nbytes(out) <= limit or (limit < 3 and out == "")
    if out != value and out:
        assert out.endswith("…") and value.startswith(out[:-1])


def test_pack_keeps_lines_whole():
    lines = ["甲" * 10, "乙" * 10, "丙" * 10]
    assert pack(lines, 70) == ["甲" * 10 + "\n" + "乙" * 10, "丙" * 10]  # 61 bytes, 30 bytes


def test_markup_in_names_is_neutralised():
    c = content(["*粗体*", "[链接](http://evil)", "<font color=\"info\">x</font>", "a\nb"])
    msg = markdown.board_messages(c)[0]
    assert "http://evil" in msg and "](http://evil)" not in msg
    assert "<font color=\"info\">x" not in msg and "a b" in msg


def test_card_is_a_phone_sized_png_in_noto_sans_cjk_sc():
    c = content([f"{n}{i}" for i, n in enumerate(["王建华", "欧阳明月", "李海燕"] * 14)],
                period=Period(2026))
    png = card.render_card(c)
    assert len(png) < 2 * 1024 * 1024
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.width == 1080 and 3000 < img.height < 6000
    assert card.font_name() == "Noto Sans CJK SC Regular"
    # Every character on the card has a glyph in the face (no tofu boxes).
    used = set("".join(r.name for r in c.rows) + c.title + c.committee_name + c.period.label +
               "已公布数据截至共人积分高者在前同分扣少再按花名册顺序★评议党员与小组考分")
    face = card.font(40)

    def glyph(ch: str) -> bytes:
        img = Image.new("L", (64, 64))
        ImageDraw.Draw(img).text((8, 4), ch, font=face, fill=255)
        return img.tobytes()

    notdef = glyph("\U0010fffd")  # a code point no font has: the "tofu" box
    assert any(notdef)
    missing = [ch for ch in used if ch.strip() and glyph(ch) == notdef]
    assert missing == []


def test_card_caps_rows_and_says_so():
    c = content([f"党员{i}" for i in range(200)])
    img = Image.open(io.BytesIO(card.render_card(c, max_rows=60)))
    assert img.height < 60 * card.ROW_H + 800


def test_noto_sc_face_not_japanese():
    path, index = card._face("regular")
    assert ImageFont.truetype(path, 10, index=index).getname()[0] == "Noto Sans CJK SC"


@pytest.mark.parametrize("renderer", [markdown.notice_message, text.notice_message])
def test_notice_is_short_and_says_where_to_look(renderer):
    from bot.content import NoticeContent

    n = NoticeContent(round_id=7, title="2026年度领导班子民主测评" * 30, committee_name="党委",
                      closed_at=dt.datetime(2026, 12, 20, 8, 30), expected=120, cast=112,
                      valid=110, turnout_pct=93.33, published=False,
                      results_url="https://vote.example.test/console/rounds/7/results")
    msg = renderer(n)
    assert nbytes(msg) <= (MARKDOWN_LIMIT if renderer is markdown.notice_message else TEXT_LIMIT)
    assert "112" in msg and "93.33%" in msg and "/console/rounds/7/results" in msg
    assert "2026年12月20日 16:30" in msg
