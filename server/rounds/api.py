"""Organizer API for rounds: create, read, lifecycle, tokens, turnout, results."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from flask_smorest import Blueprint

from server.core.api import BINARY, error_docs, link
from server.core.auth import api_user, require_api_role, signed_in_api_user
from server.core.db import db
from server.core.errors import ApiError, error_kind
from server.results.official import publish_problem
from server.roundbase.models import Round
from server.roundbase.reads import get_round
from server.rounds import live
from server.rounds.closing import refuse_below_turnout
from server.rounds.drafts import batch_create, clone_round, delete_round, update_round
from server.rounds.operations import close_round, create_round, open_round, publish_round
from server.rounds.rehearsal import (
    is_rehearsal_token,
    mark_png,
    mark_svg,
    open_rehearsal,
    purge_rehearsal,
)
from server.rounds.schemas import (
    BatchIn,
    BatchOut,
    CloneIn,
    CloseIn,
    QrIn,
    ResultsOut,
    RoundIn,
    RoundListArgs,
    RoundOut,
    RoundPage,
    RoundPatchIn,
    SubjectProgressOut,
    TokensIn,
    TokensOut,
)
from server.tokens.codec import parse_token, vote_url
from server.tokens.operations import issue_slips, issue_tokens
from server.tokens.qr import qr_png, qr_svg
from server.voting.schemas import TurnoutOut
from server.voting.subject_scores import NOT_PER_SUBJECT

blp = Blueprint("rounds", __name__, url_prefix="/api/v1",
                description="Rounds, for organizers (bearer API key)")

STAFF = ("admin", "organizer")
READERS = ("admin", "organizer", "committee")
ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 503)


_alt = error_docs(blp, ERRORS)


NO_COMMITTEE = error_kind("no_committee", "该账号未关联党委", "account has no committee", 422)


def _committee_id() -> int | None:
    user = api_user()
    return None if user is None or user.role == "admin" else user.committee_id


def _round(round_id: int) -> Round:
    return get_round(round_id, _committee_id())


ROUND = "/api/v1/rounds/{round_id}"
_ID = {"round_id": "$response.body#/id"}


def _round_links(*actions: str) -> dict[str, Any]:
    """Links from a response carrying a round (its id at /id) to what can follow."""
    targets = {
        "read": (ROUND, "get", "the round"),
        "open": (f"{ROUND}/open", "post", "open it for voting"),
        "close": (f"{ROUND}/close", "post", "close and count it"),
        "publish": (f"{ROUND}/publish", "post", "publish its results"),
        "turnout": (f"{ROUND}/turnout", "get", "live turnout"),
        "results": (f"{ROUND}/results", "get", "its results"),
        "projector": (f"{ROUND}/projector", "get", "the projector feed"),
        "export": (f"{ROUND}/export.xlsx", "get", "the Excel export"),
        "receipts": (f"{ROUND}/receipts", "get", "the published receipt list"),
    }
    links = {name.title(): link(*targets[name], parameters=_ID) for name in actions}
    if "open" in actions:  # a fresh round: issue its first tokens
        links["IssueTokens"] = link(
            f"{ROUND}/tokens", "post", "issue tokens for its first voter category",
            parameters=_ID, request_body={"category_id": "$response.body#/categories/0/id",
                                          "count": 3, "format": "json"})
    return {"links": links}


def base_url() -> str:
    return current_app.config.get("PUBLIC_BASE_URL") or request.host_url


@blp.route("/rounds", methods=["GET"])
@blp.arguments(RoundListArgs, location="query")
@blp.response(200, RoundPage)
@_alt
@require_api_role(*READERS)
def list_rounds(args: dict[str, Any]) -> dict[str, Any]:
    """Rounds of the caller's committee, newest first."""
    q = db.select(Round).order_by(Round.id.desc())
    cid = _committee_id()
    if cid is not None:
        q = q.where(Round.committee_id == cid)
    for name in ("status", "year", "branch_id", "committee_id"):
        if args.get(name) is not None:
            q = q.where(getattr(Round, name) == args[name])
    page = db.paginate(q, page=args["page"], per_page=args["per_page"], error_out=False)
    return {"items": page.items, "total": page.total, "page": args["page"],
            "per_page": args["per_page"]}


@blp.route("/rounds", methods=["POST"])
@blp.arguments(RoundIn)
@blp.response(201, RoundOut)
@blp.doc(responses={201: _round_links("read", "open", "turnout", "results", "projector")})
@_alt
@require_api_role(*STAFF)
def create(body: dict[str, Any]) -> Round:
    """Create a draft round from a preset (`form`) or a designed form's version
    (`form_id`, `form_version`; default the latest), exactly one (422 form_choice)."""
    user = signed_in_api_user()
    cid = user.committee_id
    if cid is None:
        raise NO_COMMITTEE
    body = dict(body)
    return create_round(cid, body.pop("form", None), body.pop("title"), body.pop("subjects"),
                        body.pop("categories"), user=user, **body)


@blp.route("/rounds/<int:round_id>", methods=["PATCH"])
@blp.arguments(RoundPatchIn)
@blp.response(200, RoundOut)
@_alt
@require_api_role(*STAFF)
def update(body: dict[str, Any], round_id: int) -> Round:
    """Edit a draft: the fields given replace the round's (subjects and categories as
    whole lists; a category keeps its id, matched by id or else by position, and one
    with issued slips cannot be removed: 409 category_has_slips). form/form_id/
    form_version re-snapshot the form. Not a draft: 409 round_not_draft."""
    return update_round(_round(round_id), body, api_user())


@blp.route("/rounds/<int:round_id>", methods=["DELETE"])
@blp.response(204)
@_alt
@require_api_role(*STAFF)
def delete(round_id: int) -> tuple[str, int]:
    """Delete a draft with its subjects, categories, slips and live state
    (409 round_not_draft otherwise)."""
    delete_round(_round(round_id), api_user())
    return "", 204


@blp.route("/rounds/<int:round_id>/clone", methods=["POST"])
@blp.arguments(CloneIn)
@blp.response(201, RoundOut)
@blp.doc(responses={201: _round_links("read", "open")})
@_alt
@require_api_role(*STAFF)
def clone(body: dict[str, Any], round_id: int) -> Round:
    """A new draft like this round (any state): form, subjects, categories, rules; no
    slips, no ballots. To re-hold a round closed below its turnout, or next year's."""
    return clone_round(_round(round_id), body.get("title"), body.get("year"),
                       body["form_version"], api_user())


@blp.route("/rounds/batch", methods=["POST"])
@blp.arguments(BatchIn)
@blp.response(201, BatchOut)
@_alt
@require_api_role(*STAFF)
def batch(body: dict[str, Any]) -> dict[str, Any]:
    """One draft per branch of the committee, from a template round or the round
    fields; its title gets the branch's name; subjects_from branch_members makes the
    branch's roster its subjects. All or nothing."""
    user = signed_in_api_user()
    cid = user.committee_id
    if body.get("committee_id") is not None and body["committee_id"] != cid:
        if user.role != "admin":
            raise ApiError("committee_not_found", "找不到该党委", "committee not found", 404,
                           "committee_id")
        cid = body["committee_id"]
    if cid is None:
        raise NO_COMMITTEE
    template = None
    if body.get("template_round_id") is not None:
        template = get_round(body["template_round_id"], cid)
    created = batch_create(cid, body, template, user)
    return {"ids": [r.id for r in created]}


@blp.route("/rounds/<int:round_id>", methods=["GET"])
@blp.response(200, RoundOut)
@_alt
@require_api_role(*READERS)
def read(round_id: int) -> Round:
    """One round with its subjects and voter categories."""
    return _round(round_id)


def _lifecycle(action: str) -> Any:
    ops = {"open": open_round, "close": close_round, "publish": publish_round}

    def view(*body: dict[str, Any], round_id: int) -> Round:
        rnd = _round(round_id)
        if action != "close":
            return ops[action](rnd, api_user())
        if body and body[0].get("check_turnout"):
            refuse_below_turnout(rnd)
        rnd = close_round(rnd, api_user())
        problem = publish_problem(rnd) if rnd.status == "closed" else None
        rnd.warning = problem[0] if problem else None
        return rnd

    view.__name__ = f"{action}_round"
    view.__doc__ = {"open": "Open for voting (idempotent).",
                    "close": "Stop voting, recount from SQL, compare with the live tally, "
                             "freeze (idempotent; 409 tally_mismatch on a difference).\n\n"
                             "Below the round's min_turnout it still closes (the answer's "
                             "`warning` says the results cannot be published) unless the "
                             "body says `check_turnout: true`: then 409 below_turnout with "
                             "the figures in error.details, and the round stays open.",
                    "publish": "Publish the frozen results (idempotent; 409 "
                               "turnout_below_threshold when 参评率 is below the round's "
                               "min_turnout)."}[action]
    view = require_api_role(*STAFF)(view)
    view = _alt(view)
    view = blp.doc(responses={200: _round_links(*(
        {"open": ("read", "close", "turnout", "results"),
         "close": ("publish", "results", "export", "open"),
         "publish": ("results", "receipts", "projector")}[action]))})(view)
    view = blp.response(200, RoundOut)(view)
    if action == "close":
        view = blp.arguments(CloseIn, required=False)(view)
    return blp.route(f"/rounds/<int:round_id>/{action}", methods=["POST"])(view)


for _action in ("open", "close", "publish"):
    _lifecycle(_action)


@blp.route("/rounds/<int:round_id>/tokens", methods=["POST"])
@blp.arguments(TokensIn)
@blp.response(201, TokensOut)
@blp.alt_response(201, schema=BINARY, content_type="application/pdf", success=True,
                  description="the tokens (JSON), or the printable slips (PDF) when format "
                              "is pdf")
@blp.doc(responses={201: {"links": {
    "ReadBallotForm": link("/api/v1/ballot-form", "post", "what a voter with the token sees",
                           request_body={"token": "$response.body#/tokens/0/token"}),
    "SubmitBallot": link("/api/v1/ballots", "post", "vote with the token",
                         request_body={"token": "$response.body#/tokens/0/token"}),
    "Qr": link("/api/v1/qr", "post", "the token's QR code",
               request_body={"token": "$response.body#/tokens/0/token"}),
}}})
@_alt
@require_api_role(*STAFF)
def issue(body: dict[str, Any], round_id: int) -> Any:
    """Issue tokens for one voter category. They are shown this once and never again."""
    rnd = _round(round_id)
    base = base_url()
    if body["format"] == "pdf":
        cat, pdf = issue_slips(rnd, body["category_id"], body["count"], base, api_user())
        return Response(pdf, 201, mimetype="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="slips-round{rnd.id}-cat{cat.id}.pdf"'})
    tokens = issue_tokens(rnd, body["category_id"], body["count"], api_user())
    return {"category_id": body["category_id"],
            "tokens": [{"token": t, "url": vote_url(base, t)} for t in tokens]}


@blp.route("/qr", methods=["POST"])
@blp.arguments(QrIn)
@blp.response(200, BINARY, content_type="image/png",
              description="the QR code of the token's voting URL (image/png or image/svg+xml)")
@blp.alt_response(200, schema=BINARY, content_type="image/svg+xml", success=True,
                  description="the QR code of the token's voting URL (image/png or "
                              "image/svg+xml)")
@_alt
@require_api_role(*STAFF)
def qr(body: dict[str, Any]) -> Response:
    """One slip's QR code as PNG or SVG."""
    round_id, token_hash = parse_token(body["token"])
    _round(round_id)
    url = vote_url(base_url(), body["token"].strip())
    marked = is_rehearsal_token(token_hash)  # its image says 演练
    if body["format"] == "svg":
        svg = qr_svg(url)
        return Response(mark_svg(svg) if marked else svg, mimetype="image/svg+xml")
    png = qr_png(url)
    return Response(mark_png(png) if marked else png, mimetype="image/png")


@blp.route("/rounds/<int:round_id>/turnout", methods=["GET"])
@blp.response(200, TurnoutOut)
@_alt
@require_api_role(*READERS)
def read_turnout(round_id: int) -> dict[str, Any]:
    """应到/实到 per category, live."""
    return live.turnout(_round(round_id))


@blp.route("/rounds/<int:round_id>/subject-progress", methods=["GET"])
@blp.response(200, SubjectProgressOut)
@_alt
@require_api_role(*READERS)
def read_subject_progress(round_id: int) -> dict[str, Any]:
    """A round scored per subject (逐人评分): how many panel members have sent each
    subject's scores, live; never a score (409 not_per_subject on other rounds)."""
    rnd = _round(round_id)
    if not rnd.per_subject:
        raise NOT_PER_SUBJECT
    return live.subject_progress(rnd)


@blp.route("/rounds/<int:round_id>/results", methods=["GET"])
@blp.response(200, ResultsOut)
@_alt
@require_api_role(*READERS)
def read_results(round_id: int) -> dict[str, Any]:
    """The results engine's k-safe output: frozen after close; while open only if the
    round shows live results (a snapshot advanced every k ballots, no categories)."""
    return live.results(_round(round_id))


@blp.route("/rounds/<int:round_id>/rehearse", methods=["POST"])
@blp.response(200, RoundOut)
@_alt
@require_api_role(*STAFF)
def rehearse(round_id: int) -> Round:
    """Open a draft as a rehearsal (演练): slips issued now are rehearsal slips, real
    ones are refused until the purge; it closes as usual but is never published
    (409 round_not_draft when not a draft)."""
    return open_rehearsal(_round(round_id), api_user())


@blp.route("/rounds/<int:round_id>/purge", methods=["POST"])
@blp.response(200, RoundOut)
@_alt
@require_api_role(*STAFF)
def purge(round_id: int) -> Round:
    """清空演练数据: stop voting, delete the rehearsal's ballots, spent and rehearsal
    tokens, comments, mini-program rows and every Redis key, and return the round
    to draft (409 not_rehearsal when it is not a rehearsal)."""
    return purge_rehearsal(_round(round_id), api_user())
