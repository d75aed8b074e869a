"""The ballot path: check → claim the token in Redis → durable SQL commit → count.

The order is the promise: a 2xx is returned only after SQL committed the
spent-token row and the ballot row in one transaction; Redis counts it after
that, and a Redis failure at that point loses nothing (tally rebuild).
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import redis
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from server.core.db import db
from server.core.errors import ApiError
from server.forms.answers import check_answers, tally_fields
from server.tokens.codec import new_receipt, parse_token
from server.voting import livetally
from server.voting.roundinfo import UNKNOWN_TOKEN, RoundInfo, round_info

log = logging.getLogger(__name__)

TOKEN_SPENT = ApiError("token_spent", "该投票码已经投过票，不能重复投票",
                       "This token has already been used", 409, "token")
TOKEN_BUSY = ApiError("token_in_use", "该投票码的选票正在提交中，请勿重复提交",
                      "A ballot with this token is being submitted", 409, "token")
ROUND_CLOSED = ApiError("round_closed", "投票已结束，感谢您的参与",
                        "Voting in this round is closed", 409)
ROUND_NOT_OPEN = ApiError("round_not_open", "投票尚未开始，请等待主持人宣布开始",
                          "Voting in this round has not started", 409)
REBUILDING = ApiError("tally_rebuilding", "系统正在恢复计数，请几秒后重试（选票尚未记录）",
                      "Live tally is being rebuilt; retry in a few seconds", 503)

INSERT_SPENT_SQL = (
    "INSERT INTO spent_tokens (token_hash, round_id) "
    "SELECT token_hash, round_id FROM tokens WHERE token_hash = :h AND round_id = :r"
)
INSERT_SPENT_SQLITE = (
    "INSERT INTO spent_tokens (token_hash, round_id) "
    "SELECT token_hash, round_id FROM tokens WHERE token_hash = :h AND round_id = :r "
    "AND EXISTS (SELECT 1 FROM rounds WHERE id = :r AND status = 'open')"
)
INSERT_BALLOT = (
    "INSERT INTO ballots (id, round_id, category_id, receipt, answers) "
    "VALUES (:id, :r, :c, :receipt, :answers)"
)


@dataclass(frozen=True)
class Accepted:
    receipt: str
    round_id: int


def _status_error(status: str) -> ApiError:
    if status == "draft":
        return ROUND_NOT_OPEN
    if status == "rebuilding":
        return REBUILDING
    return ROUND_CLOSED


def ensure_live(round_id: int) -> None:
    """Recreate a round's Redis state from SQL if it is gone (e.g. Redis restarted)."""
    from server.voting.rebuild import rebuild

    if not livetally.has_state(round_id):
        rebuild(round_id, only_if_missing=True)


def _claim(info: RoundInfo, token_hash: str) -> int:
    hold = current_app.config["TOKEN_CLAIM_TTL_S"]
    res = livetally.claim(info.id, token_hash, hold)
    if res[0] == "missing":
        _, status = round_info(info.id)
        if status == "draft":
            raise ROUND_NOT_OPEN
        ensure_live(info.id)
        res = livetally.claim(info.id, token_hash, hold)
    outcome = res[0]
    if outcome == "ok":
        return int(res[1])
    if outcome == "closed":
        raise _status_error(res[1])
    if outcome == "spent":
        raise TOKEN_SPENT
    if outcome == "busy":
        raise TOKEN_BUSY
    if outcome == "missing":
        raise REBUILDING
    raise UNKNOWN_TOKEN


class _Refused(Exception):
    def __init__(self, error: ApiError, spent: bool = False) -> None:
        self.error = error
        self.spent = spent


def _record(round_id: int, token_hash: str, category_id: int, answers: str) -> str:
    """One transaction: spent-token row + ballot row. Returns the receipt."""
    receipt = new_receipt()
    params = {"h": token_hash, "r": round_id}
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # KEY SHARE on the round row: close() takes FOR UPDATE, so it waits for
            # every ballot that saw the round open, and later ballots see it closed.
            status = conn.execute(
                text("SELECT status FROM rounds WHERE id = :r FOR KEY SHARE"), params
            ).scalar()
            if status != "open":
                raise _Refused(_status_error(status or "closed"))
            insert_spent = INSERT_SPENT_SQL
        else:
            insert_spent = INSERT_SPENT_SQLITE
        try:  # the first write of the transaction: a failure leaves nothing behind
            inserted = conn.execute(text(insert_spent), params).rowcount
        except IntegrityError:
            raise _Refused(TOKEN_SPENT, spent=True) from None
        if inserted != 1:
            status = conn.execute(
                text("SELECT status FROM rounds WHERE id = :r"), params
            ).scalar()
            raise _Refused(UNKNOWN_TOKEN if status == "open" else _status_error(status or ""))
        conn.execute(text(INSERT_BALLOT), {
            "id": secrets.token_hex(16), "r": round_id, "c": category_id,
            "receipt": receipt, "answers": answers,
        })
    return receipt


def submit_ballot(raw_token: Any, raw_answers: Any) -> Accepted:
    round_id, token_hash = parse_token(raw_token)
    info, _ = round_info(round_id)
    answers = check_answers(info.form, info.subject_ids, raw_answers)
    category_id = _claim(info, token_hash)
    canonical = json.dumps(answers, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    try:
        receipt = _record(round_id, token_hash, category_id, canonical)
    except _Refused as refused:
        livetally.release(round_id, token_hash, spent=refused.spent)
        raise refused.error from None
    except BaseException:
        try:
            livetally.release(round_id, token_hash)
        except redis.RedisError:
            pass
        raise
    try:
        livetally.commit(round_id, token_hash, category_id, tally_fields(info.form, answers))
    except redis.RedisError as exc:
        # The ballot is durable; only the live count lags until `tally rebuild`.
        log.warning("ballot stored but live tally not updated (round %s): %s",
                    round_id, type(exc).__name__)
    return Accepted(receipt=receipt, round_id=round_id)


def ballot_form(raw_token: Any) -> dict[str, Any]:
    """What the voting page shows for a token, or the reason it cannot vote."""
    round_id, token_hash = parse_token(raw_token)
    info, _ = round_info(round_id)
    res = livetally.peek(round_id, token_hash)
    if res[0] == "missing":
        _, status = round_info(round_id)  # "" when cached, i.e. no longer a draft
        if status == "draft":
            raise ROUND_NOT_OPEN
        ensure_live(round_id)
        res = livetally.peek(round_id, token_hash)
        if res[0] == "missing":
            raise REBUILDING
    state, status = res[0], res[1]
    if state == "unknown":
        raise UNKNOWN_TOKEN
    if status != "open":
        raise _status_error(status)
    if state == "spent":
        raise TOKEN_SPENT
    closes_at = res[2]
    return {
        "round": {"id": info.id, "title": info.title, "kind": info.kind,
                  "closes_at": int(closes_at) if closes_at else None},
        "form": public_form(info.form),
        "subjects": info.subjects,
        "category": info.categories.get(int(res[3]), ""),
    }


def public_form(form: dict[str, Any]) -> dict[str, Any]:
    """The parts of a form a voter needs (no scoring points)."""
    out: dict[str, Any] = {"key": form["key"], "kind": form["kind"], "name": form["name"],
                           "description": form.get("description", "")}
    if form["kind"] == "appraisal":
        out["criteria"] = [{"key": c["key"], "label": c["label"]} for c in form["criteria"]]
        out["grades"] = [{"key": g["key"], "label": g["label"]} for g in form["grades"]]
    elif form["kind"] == "recommendation":
        out["min_choices"] = form["min_choices"]
        out["max_choices"] = form["max_choices"]
    else:
        out["decimals"] = form["decimals"]
        out["score_items"] = [
            {k: i[k] for k in ("key", "label", "min", "max", "weight")} for i in form["items"]
        ]
    return out
