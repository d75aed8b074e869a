"""Voter-facing JSON API: read the ballot form, submit, check a receipt.

Tokens travel only in POST bodies, never in URLs, so no access log holds them.
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from sqlalchemy import text

from server.core.api import JsonOnceParser, link
from server.core.db import db
from server.tokens.codec import normalize_receipt
from server.voting.ballots import ballot_form, receipt_body, submit_ballot
from server.voting.schemas import (
    BallotFormOut,
    BallotIn,
    ReceiptCheckIn,
    ReceiptCheckOut,
    ReceiptOut,
    SubjectScoresIn,
    TokenIn,
)
from server.voting.subject_scores import submit_subject_scores

blp = Blueprint("voting", __name__, url_prefix="/api/v1",
                description="Voting with a token (no account needed)")
blp.ARGUMENTS_PARSER = JsonOnceParser()  # the body is parsed once, not twice

ERRORS = (400, 403, 404, 409, 413, 415, 422, 429, 503)  # 429: too many unknown tokens


def _alt(view: Any, codes: tuple[int, ...] = ERRORS) -> Any:
    """Document the error answers. Each `alt_response` adds a pass-through wrapper at
    run time; the ballot path keeps only their documentation (eight layers less)."""
    documented = view
    for code in codes:
        documented = blp.alt_response(code, response="DEFAULT_ERROR")(documented)
    view._apidoc = documented._apidoc
    return view


@blp.route("/ballot-form", methods=["POST"])
@blp.arguments(TokenIn)
@blp.response(200, BallotFormOut)
@_alt
def read_ballot_form(body: dict[str, Any]) -> dict[str, Any]:
    """The form, subjects and voter category for a token that can still vote."""
    return ballot_form(body["token"], body.get("signature"))


@blp.route("/ballots", methods=["POST"])
@blp.arguments(BallotIn)
@blp.response(201, ReceiptOut)
@blp.doc(responses={201: {"links": {
    "CheckReceipt": link("/api/v1/receipts/check", "post", "check the receipt",
                         request_body={"round_id": "$response.body#/round_id",
                                       "receipt": "$response.body#/receipt"}),
    "PublishedReceipts": link("/api/v1/rounds/{round_id}/receipts", "get",
                              "the published receipt list, once published",
                              parameters={"round_id": "$response.body#/round_id"}),
}}})
@_alt
def submit(body: dict[str, Any]) -> dict[str, Any]:
    """Cast a ballot. 201 means it is durably recorded; keep the receipt code.

    Served on the event loop by voting/asgi.py, which hands this view what it cannot
    answer there (and a round whose live state is lost); Flask's test client too."""
    return receipt_body(submit_ballot(body["token"], body["answers"], body.get("comment"),
                                      body.get("content_pass"), body.get("signature")))


@blp.route("/subject-scores", methods=["POST"])
@blp.arguments(SubjectScoresIn)
@blp.response(201, ReceiptOut)
@_alt
def send_subject_scores(body: dict[str, Any]) -> dict[str, Any]:
    """A round scored per subject (逐人评分): one subject's scores, sent when its report
    ends and final when sent (201 once durably recorded). Sent twice: 409
    subject_already_scored; a whole-ballot round: 409 not_per_subject; a subject not in
    the round: 422 unknown_subject; scores as a ballot's rows are checked (422)."""
    return receipt_body(submit_subject_scores(body["token"], body["subject_id"], body["scores"]))


@blp.route("/receipts/check", methods=["POST"])
@blp.arguments(ReceiptCheckIn)
@blp.response(200, ReceiptCheckOut)
@_alt
def check_receipt(body: dict[str, Any]) -> dict[str, Any]:
    """Is a ballot with this receipt in the round? Reveals nothing else."""
    receipt = normalize_receipt(body["receipt"])
    status = db.session.execute(
        text("SELECT status FROM rounds WHERE id = :r"), {"r": body["round_id"]}
    ).scalar()
    found = bool(receipt and status and db.session.execute(
        text("SELECT 1 FROM ballots WHERE round_id = :r AND receipt = :c"),
        {"r": body["round_id"], "c": receipt},
    ).first())
    counted = found and status in ("closed", "published")
    if not status:
        message = "找不到该测评"
    elif not found:
        message = "未找到该回执码对应的选票，请核对回执码"
    elif counted:
        message = "您的选票已计入本次测评结果"
    else:
        message = "您的选票已记录，投票结束后计入结果"
    return {"found": found, "round_status": status or "", "counted": counted, "message": message}
