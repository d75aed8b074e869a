"""Rehearsal (演练): a draft round opened with rehearsal slips, then wiped back to draft.

`open_rehearsal` marks a draft round `rehearsal` and opens it the normal way: the
same ballot path, live tally and close. While the mark is set every token issued
is a rehearsal token (tokens.rehearsal, set from the round row in the INSERT),
and only tokens whose mark matches the round's are accepted (the live state is
rebuilt from those only, and the ballot SQL checks the marks match): a real slip
printed before the rehearsal cannot vote in it, and works afterwards.

A rehearsal is never official: publishing it is refused (409
`rehearsal_not_publishable`), points refuse it, and every screen and export
carries 演练 (results/report.py's `REHEARSAL_LABEL`).

`purge_rehearsal` stops voting (as close does: the round row leaves `open`,
in-flight batches drain), then in one transaction deletes the round's ballots,
spent tokens, comments, rehearsal tokens and mini-program rows, recounts the
categories' issued slips and returns the round to draft; then deletes every
Redis key of the round and this process's cached round info. Mini-program rows
(slip codes, the session pool, session claims) cannot be told apart by mark, so
a rehearsal is refused while the round has any (409 `miniprogram_rows_exist`):
every such row at purge time was made during the rehearsal.
"""

from __future__ import annotations

import io
import re
from typing import Any

from flask import current_app
from sqlalchemy import text

from server.core import audit
from server.core.db import changed_rows, db
from server.core.errors import ApiError, error_kind
from server.core.fonts import cjk_any_font_face
from server.core.redis import get_redis
from server.roundbase.models import Round
from server.rounds.operations import _scrub_old_row_images, open_round, wait_for_scrub
from server.voting import livetally
from server.voting.roundinfo import forget

SLIP_LABEL = "演练票 — 不计入正式结果"

NOT_FOR_POINTS = error_kind("rehearsal", "演练数据不能计入积分", "A rehearsal never feeds points",
                            409, "round_id")

# Rows kept per round beside the ballots, all made during the rehearsal (see above).
_ROUND_TABLES = ("ballots", "spent_tokens", "ballot_comments", "slip_codes", "blind_keys",
                 "session_claims")
_MINIPROGRAM_TABLES = ("slip_codes", "blind_keys", "session_claims")


def _count(table: str, round_id: int) -> int:
    # `table` is one of the constants above, never input.
    query = text(f"SELECT COUNT(*) FROM {table} WHERE round_id = :r")  # noqa: S608
    return int(db.session.execute(query, {"r": round_id}).scalar() or 0)


def open_rehearsal(rnd: Round, user: Any | None = None) -> Round:
    """draft → open as a rehearsal (409 `round_not_draft` otherwise)."""
    if rnd.status != "draft":
        raise ApiError("round_not_draft", "只有草稿状态的测评可以开始演练",
                       "Only a draft round can be rehearsed", 409)
    if any(_count(t, rnd.id) for t in _MINIPROGRAM_TABLES):
        raise ApiError("miniprogram_rows_exist",
                       "该测评已生成小程序码选票或扫码领票，不能再演练（演练应在生成正式选票之前进行）",
                       "The round already has mini-program slips, session-QR keys or claims; "
                       "rehearse before issuing them", 409)
    if not changed_rows(
            text("UPDATE rounds SET rehearsal = :t WHERE id = :r AND status = 'draft'"),
            {"t": True, "r": rnd.id}):
        db.session.rollback()
        raise ApiError("round_not_draft", "只有草稿状态的测评可以开始演练",
                       "Only a draft round can be rehearsed", 409)
    audit.record(user, "round.rehearse", f"round:{rnd.id}")
    db.session.commit()
    db.session.refresh(rnd)
    return open_round(rnd, user)


def _stop_voting(round_id: int) -> None:
    """No ballot is taken from here on: the round row leaves `open` (a batch's SQL
    takes ballots only while it is open) and held claims settle, as close does."""
    livetally.set_state(round_id, "closing")  # first: held ballots are written at once
    livetally.wait_drained(round_id, current_app.config["CLOSE_DRAIN_TIMEOUT_S"])
    if db.engine.dialect.name == "postgresql":
        # Waits for every ballot transaction holding KEY SHARE on this row.
        db.session.execute(text("SELECT id FROM rounds WHERE id = :r FOR UPDATE"),
                           {"r": round_id})
    db.session.execute(
        text("UPDATE rounds SET status = 'closing' WHERE id = :r AND status = 'open'"),
        {"r": round_id})
    db.session.commit()
    livetally.set_state(round_id, "closing")
    livetally.wait_drained(round_id, current_app.config["CLOSE_DRAIN_TIMEOUT_S"])


def round_keys(round_id: int, client: Any = None) -> list[str]:
    """Every Redis key of the round (all carry its hash tag {r:R})."""
    client = client or get_redis()
    pattern = f"{livetally.tag(round_id)}:*"
    return sorted({k.decode() if isinstance(k, bytes) else k
                   for k in client.scan_iter(match=pattern, count=1000)})


def drop_round_keys(round_id: int) -> int:
    """Delete every Redis key of the round; returns how many there were."""
    client = get_redis()
    found = round_keys(round_id, client)
    for i in range(0, len(found), 500):  # one slot (one hash tag): multi-key DEL is fine
        client.delete(*found[i:i + 500])
    return len(found)


def purge_rehearsal(rnd: Round, user: Any | None = None) -> Round:
    """A rehearsal (open, closing or closed) → draft with nothing of it left."""
    if not rnd.rehearsal:
        raise ApiError("not_rehearsal", "该测评不是演练，不能清空", "The round is not a rehearsal",
                       409)
    round_id = rnd.id
    if rnd.status in ("open", "closing"):
        _stop_voting(round_id)
    params = {"r": round_id}
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT id FROM rounds WHERE id = :r FOR UPDATE"), params)
    if not changed_rows(text(
            "UPDATE rounds SET status = 'draft', rehearsal = :f, opened_at = NULL, "
            "closed_at = NULL, published_at = NULL, result_json = NULL, close_problem = '' "
            "WHERE id = :r AND rehearsal = :t AND status IN ('open', 'closing', 'closed')"),
            {**params, "t": True, "f": False}):
        db.session.rollback()
        db.session.refresh(rnd)
        raise ApiError("not_rehearsal", "该测评不是演练，不能清空", "The round is not a rehearsal",
                       409)
    counts = {}
    for table in _ROUND_TABLES:
        query = text(f"DELETE FROM {table} WHERE round_id = :r")  # noqa: S608 - constants
        counts[table] = changed_rows(query, params)
    counts["tokens"] = changed_rows(
        text("DELETE FROM tokens WHERE round_id = :r AND rehearsal = :t"),
        {**params, "t": True})
    db.session.execute(text(
        "UPDATE voter_categories SET issued_count = (SELECT COUNT(*) FROM tokens "
        "WHERE tokens.category_id = voter_categories.id) WHERE round_id = :r"), params)
    audit.record(user, "round.purge_rehearsal", f"round:{round_id}",
                 f"{counts['ballots']} ballots, {counts['tokens']} slips")
    db.session.commit()
    db.session.expire_all()
    db.session.refresh(rnd)
    # A close's background scrub may still be moving spent tokens back in Redis.
    wait_for_scrub(30)
    drop_round_keys(round_id)
    forget(round_id)
    _scrub_old_row_images(round_id)  # the deleted rows' old images, as close does
    return rnd


# -- marks on what is printed and exported -----------------------------------------------


def is_rehearsal_token(token_hash: str) -> bool:
    return bool(db.session.execute(text("SELECT rehearsal FROM tokens WHERE token_hash = :h"),
                                   {"h": token_hash}).scalar())


def mark_png(png: bytes) -> bytes:
    """A QR code PNG with a band 演练票 — 不计入正式结果 beneath it."""
    from PIL import Image, ImageDraw, ImageFont


    qr = Image.open(io.BytesIO(png)).convert("RGB")
    band = max(40, qr.height // 7)
    out = Image.new("RGB", (qr.width, qr.height + band), "white")
    out.paste(qr, (0, band))
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, 0, qr.width, band - 4), fill=(200, 30, 30))
    face = cjk_any_font_face()
    size = band // 2
    label = SLIP_LABEL if face else "REHEARSAL - NOT COUNTED"
    font = (ImageFont.truetype(face[0], size, index=face[1]) if face
            else ImageFont.load_default())
    draw.text((qr.width / 2, (band - 4) / 2), label, fill="white", font=font, anchor="mm")
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()


def mark_svg(svg: bytes) -> bytes:
    """A QR code SVG with a band 演练票 — 不计入正式结果 above it (the code untouched)."""
    body = svg.decode()
    box = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', body)
    if box is None:
        return svg
    w, h = float(box.group(1)), float(box.group(2))
    band = round(w * 0.16, 2)
    body = body.replace(box.group(0), f'viewBox="0 {-band} {w:g} {h + band:g}"', 1)
    size = re.search(r'height="([\d.]+)mm"', body)
    if size:
        body = body.replace(size.group(0),
                            f'height="{float(size.group(1)) * (h + band) / h:.2f}mm"', 1)
    mark = (f'<rect x="0" y="{-band}" width="{w:g}" height="{band * 0.9:.2f}" fill="#c81e1e"/>'
            f'<text x="{w / 2:g}" y="{-band * 0.55:.2f}" text-anchor="middle" '
            f'dominant-baseline="central" font-size="{band * 0.45:.2f}" fill="#ffffff">'
            f"{SLIP_LABEL}</text>")
    end = body.rfind("</svg>")
    return (body[:end] + mark + body[end:]).encode()
