"""The ballot path: check → claim the token in Redis → durable SQL commit → count.

The order is the promise: a 2xx is returned only after SQL committed the
spent-token row and the ballot row (in a group commit, see groupcommit.py);
Redis counts it after that, and a Redis failure then loses nothing (rebuild).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import Any

from flask import current_app

from server.core import ratelimit
from server.core.db import db
from server.core.errors import ApiError, error_kind
from server.core.padding import longest, padded
from server.forms.answers import PER_SUBJECT, check_answers, pack_fields, tally_fields
from server.forms.sections import sections_of
from server.forms.storage import encode_answers
from server.tokens.codec import new_ballot_id, new_receipt, parse_token, subject_marker
from server.voting import blind, livetally
from server.voting.comments import clean_comment, comment_options
from server.voting.groupcommit import GroupCommitter, Outcome, Pending
from server.voting.rebuild import rebuild
from server.voting.roundinfo import UNKNOWN_TOKEN, RoundInfo, round_info
from server.voting.schemas import BallotFormOut
from server.wechat.config import content_check_enabled

log = logging.getLogger(__name__)

TOKEN_SPENT = error_kind("token_spent", "该投票码已经投过票，不能重复投票",
                         "This token has already been used", 409, "token")
TOKEN_BUSY = error_kind("token_in_use", "该投票码的选票正在提交中，请勿重复提交",
                        "A ballot with this token is being submitted", 409, "token")
ROUND_CLOSED = error_kind("round_closed", "投票已结束，感谢您的参与",
                          "Voting in this round is closed", 409)
ROUND_NOT_OPEN = error_kind("round_not_open", "投票尚未开始，请等待主持人宣布开始",
                            "Voting in this round has not started", 409)
SCORED_PER_SUBJECT = error_kind(
    "scored_per_subject", "本测评逐人评分，请在每位述职人述职结束后分别提交评分",
    "This round is scored per subject: send each subject's scores to /subject-scores", 409,
    "answers")
REBUILDING = error_kind("tally_rebuilding", "系统正在恢复计数，请几秒后重试（选票尚未记录）",
                        "Live tally is being rebuilt; retry in a few seconds", 503)


_FORM_OUT = BallotFormOut()  # the ballot form's answer as the view sends it

UNCONFIRMED = error_kind(
    "commit_unconfirmed",
    "系统繁忙，未能确认您的选票是否已记录。请稍后用同一投票码再次提交："
    "若提示“已经投过票”，说明您的选票已经记录。",
    "The ballot's commit was not confirmed in time; retry with the same token "
    "(token_spent then means it was recorded)", 503)


@dataclass(frozen=True)
class Accepted:
    receipt: str
    round_id: int


RECORDED = "投票成功，您的选票已记录。请保存回执码，可在公布结果后核对。"


def receipt_body(accepted: Accepted) -> dict[str, Any]:
    """The 201 answer to a ballot (voting/api.py and voting/asgi.py)."""
    return {"receipt": accepted.receipt, "round_id": accepted.round_id, "message": RECORDED}


def _status_error(status: str) -> ApiError:
    if status == "draft":
        return ROUND_NOT_OPEN()
    if status == "rebuilding":
        return REBUILDING()
    return ROUND_CLOSED()


def ensure_live(round_id: int) -> None:
    """Recreate a round's Redis state from SQL if it is gone (e.g. Redis restarted)."""
    if not livetally.has_state(round_id):
        rebuild(round_id, only_if_missing=True)


def locate(raw_token: Any) -> tuple[RoundInfo, str]:
    """(round info, token hash). A malformed token, or one naming no round, counts
    as a failed guess of this client (its unknown tokens of a real round are
    counted by the claim/peek scripts themselves: no extra Redis round trip)."""
    try:
        round_id, token_hash = parse_token(raw_token)
        info, _ = round_info(round_id)
    except ApiError:
        ratelimit.note_bad_token()
        raise
    return info, token_hash


def _committer() -> GroupCommitter:
    return current_app.extensions["pingyi_committer"]


def _commit(item: Pending) -> str:
    """Hand the ballot to the group committer; its outcome ('ok' or a refusal)."""
    # Hand this request's pooled SQL connection back before waiting: the committer
    # draws from the same pool, and request threads holding connections while they
    # wait on it would starve it (a stall, then 503s for ballots it later commits).
    # (Only if this request opened a session: most find the round in the cache.)
    if db.session.registry.has():
        db.session.close()
    try:
        return _committer().submit(item, current_app.config["COMMIT_TIMEOUT_S"])
    except FutureTimeout:
        # Still queued or committing: it may yet count, but we cannot say so.
        log.warning("ballot commit timed out (round %s)", item.round_id)
        raise UNCONFIRMED from None


def prepare_ballot(info: RoundInfo, token_hash: str, raw_answers: Any, raw_comment: Any = None,
                   content_pass: Any = None, outcome: Outcome | None = None,
                   guess: tuple[str, int, int] | None = None) -> Pending:
    """The checked ballot for the group committer; raises (422) before anything changes.
    Does no I/O. Needs an app context for a comment, and for the client's guessing
    limit unless `guess` gives it (ratelimit.guess_args_for). Its outcome lands in
    `outcome`, by default a concurrent Future."""
    if info.form.get(PER_SUBJECT):
        raise SCORED_PER_SUBJECT
    codec = info.codec
    stored = codec.encode(raw_answers) if codec is not None else None
    if stored is not None:  # the live tally counts the stored code (forms/codec.py)
        tally, legend = stored, codec.legend  # type: ignore[union-attr]
    else:  # another form, or an ill-formed ballot: these checks raise the error
        answers = check_answers(info.form, info.subject_ids, raw_answers)
        stored = encode_answers(info.form, answers)
        tally, legend = pack_fields(tally_fields(info.form, answers)), ("", "")
    return Pending(
        round_id=info.id, token_hash=token_hash,
        guess=guess or ratelimit.round_guess_args(info.id),
        ballot_id=new_ballot_id(), receipt=new_receipt(),
        answers=stored,
        tally=tally, legend=legend,
        comment=clean_comment(info.form, raw_comment, content_pass),
        future=outcome or Future(),
    )


def settled(item: Pending, outcome: str) -> Accepted:
    """The ballot's answer from its committer outcome: accepted, or the refusal raised."""
    if outcome == "ok":
        return Accepted(receipt=item.receipt, round_id=item.round_id)
    raise refusal(outcome)


def submit_ballot(raw_token: Any, raw_answers: Any, raw_comment: Any = None,
                  content_pass: Any = None, signature: Any = None) -> Accepted:
    info, token_hash = locate(raw_token)
    admitted = 0
    if signature is not None:  # a blind-signed token (session QR): admitted once it verifies
        admitted = blind.admit(info.id, token_hash, raw_token, signature)
    item = prepare_ballot(info, token_hash, raw_answers, raw_comment, content_pass)
    return commit(info, replace(item, admit_category=admitted) if admitted else item)


def commit(info: RoundInfo, item: Pending) -> Accepted:
    """Commit a prepared ballot through the group committer (rebuilding a round's lost
    live state once); the receipt, or the refusal raised."""
    outcome = _commit(item)
    if outcome == "missing":  # no live state (Redis restarted): rebuild it, once
        _, status = round_info(info.id)
        if status == "draft":
            raise ROUND_NOT_OPEN
        ensure_live(info.id)
        item = replace(item, future=Future())  # nothing of it was written: only re-queue it
        outcome = _commit(item)
    return settled(item, outcome)


def refusal(outcome: str) -> ApiError:
    """The error for a committer outcome other than 'ok' (a 429 needs the client bound)."""
    if outcome == "spent":
        return TOKEN_SPENT()
    if outcome == "busy":
        return TOKEN_BUSY()
    if outcome == "limited":
        return ratelimit.guessing_refused()
    if outcome == "missing":
        return REBUILDING()
    if outcome.startswith("closed:"):
        return _status_error(outcome.split(":", 1)[1])
    return UNKNOWN_TOKEN()


def ballot_form(raw_token: Any, signature: Any = None) -> dict[str, Any]:
    """What the voting page shows for a token, or the reason it cannot vote."""
    info, token_hash = locate(raw_token)
    round_id = info.id
    if signature is not None:
        blind.admit(round_id, token_hash, raw_token, signature)
    guess = ratelimit.round_guess_args(round_id)
    res = livetally.peek(round_id, token_hash, guess)
    if res[0] == "missing":
        _, status = round_info(round_id)  # "" when cached, i.e. no longer a draft
        if status == "draft":
            raise ROUND_NOT_OPEN
        ensure_live(round_id)
        res = livetally.peek(round_id, token_hash, guess)
        if res[0] == "missing":
            raise REBUILDING
    if res[0] == "limited":
        raise ratelimit.guessing_refused()
    state, status = res[0], res[1]
    if status != "open":  # answered by the round's status alone (livetally PEEK)
        raise _status_error(status)
    if state == "unknown":
        raise UNKNOWN_TOKEN
    if state == "spent":
        raise TOKEN_SPENT
    closes_at = res[2]
    body = {
        "round": {"id": info.id, "title": info.title, "kind": info.kind,
                  "closes_at": int(closes_at) if closes_at else None},
        "form": public_form(info.form),
        "subjects": info.subjects,
        "category": info.categories.get(int(res[3]), ""),
        "comment": {**comment_options(info.form), "check_required": content_check_enabled()},
        "rehearsal": info.rehearsal,
        **per_subject_state(info, raw_token),
    }
    # One size for every voter of the round: the category's name and the subjects a
    # slip has scored would tell the access log who asked (core/padding.py).
    # The longest answer depends on the round and on what else may vary (closing time,
    # the content check): computed once per round and kept with its RoundInfo.
    key = (body["round"]["closes_at"], body["comment"]["check_required"], "scored" in body)
    size = info.form_sizes.get(key)
    if size is None:
        scored = {"scored": info.subject_ids} if "scored" in body else {}
        size = info.form_sizes[key] = longest(
            ({**body, "category": name, **scored} for name in info.categories.values()),
            _FORM_OUT.dump)
    return padded(body, size, _FORM_OUT.dump)


def per_subject_state(info: RoundInfo, raw_token: Any) -> dict[str, Any]:
    """On a round scored per subject (voting/subject_scores.py): the flag, and which
    subjects this slip has already sent (its markers in the spent set)."""
    if not info.form.get(PER_SUBJECT):
        return {}
    sent = livetally.spent_among(info.id, [subject_marker(raw_token, s) for s in info.subject_ids])
    return {"per_subject": True,
            "scored": [sid for sid, done in zip(info.subject_ids, sent, strict=True) if done]}


def _public_section(section: dict[str, Any]) -> dict[str, Any]:
    return {"key": section["key"], "label": section.get("label", ""),
            "description": section.get("description", ""),
            "criteria": [{"key": c["key"], "label": c["label"]} for c in section["criteria"]],
            "grades": [{"key": g["key"], "label": g["label"], "abstain": bool(g.get("abstain"))}
                       for g in section["grades"]]}


def public_form(form: dict[str, Any]) -> dict[str, Any]:
    """The parts of a form a voter needs (no scoring points; an appraisal's sections,
    the first one's criteria and grades also at the top, as before sections)."""
    out: dict[str, Any] = {"key": form.get("key", ""), "kind": form["kind"], "name": form["name"],
                           "description": form.get("description", "")}
    if form["kind"] == "appraisal":
        sections = [_public_section(s) for s in sections_of(form)]
        out["criteria"], out["grades"] = sections[0]["criteria"], sections[0]["grades"]
        out["sections"] = sections
    elif form["kind"] == "recommendation":
        out["min_choices"] = form["min_choices"]
        out["max_choices"] = form["max_choices"]
    else:
        out["decimals"] = form["decimals"]
        out["score_items"] = [
            {k: i[k] for k in ("key", "label", "min", "max", "weight")} for i in form["items"]
        ]
    return out
