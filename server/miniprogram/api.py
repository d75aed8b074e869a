"""The mini-program's part of /api/v1: staff sign-in, codes, session QR, content checks.

Staff endpoints take a bearer credential: an API key, or the session token
from POST /auth/wechat. Members' endpoints take none: a slip id, a session
code plus a wx.login code, or a content check.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Response, current_app, g, request, url_for
from flask_smorest import Blueprint

from server.accounts.models import ROLES
from server.core.api import BINARY, link
from server.core.auth import api_user, require_api_role, signed_in_api_user
from server.core.db import db
from server.core.errors import ApiError
from server.miniprogram import content, session_qr, slips, staff, web_claim
from server.miniprogram.schemas import (
    BlindSignatureOut,
    CategoryListOut,
    ClaimedTokenOut,
    CommentPage,
    ContentCheckIn,
    ContentCheckOut,
    ExportsOut,
    MeOut,
    OptionsIn,
    OptionsOut,
    PageArgs,
    PoolIn,
    PoolOut,
    RefreshIn,
    ResolveIn,
    SessionClaimIn,
    SessionCodesOut,
    SessionKeyIn,
    SessionKeyOut,
    SessionOut,
    SlipCodesIn,
    SlipCodesOut,
    WechatLoginIn,
)
from server.results.api import EXPORT_DOC
from server.results.exports import FORMATS
from server.roundbase.models import Round
from server.roundbase.reads import get_round
from server.voting.comments import BallotComment, comment_options
from server.wechat.config import setting

auth_blp = Blueprint("auth", __name__, url_prefix="/api/v1",
                     description="Staff sign-in from the mini-program (WeChat login, sessions)")
blp = Blueprint("miniprogram", __name__, url_prefix="/api/v1",
                description="Mini-program: slip codes, session QR, content checks, round "
                            "options, categories, exports, comments")

STAFF = ("admin", "organizer")
READERS = ("admin", "organizer", "committee")
ROUND = "/api/v1/rounds/{round_id}"


def _errors(bp: Blueprint, *codes: int, secured: bool = True) -> Any:
    def wrap(view: Any) -> Any:
        for code in codes:
            view = bp.alt_response(code, response="DEFAULT_ERROR")(view)
        return bp.doc(security=[{"bearer": []}])(view) if secured else view

    return wrap


def _round(round_id: int) -> Round:
    user = api_user()
    scope = None if user is None or user.role == "admin" else user.committee_id
    return get_round(round_id, scope)


def _me(user: Any) -> dict[str, Any]:
    session = staff.current_session()
    if session is not None:
        credential = "session"
    elif request.headers.get("Authorization", "").startswith("Bearer "):
        credential = "api_key"
    else:
        credential = "console"
    return {"id": user.id, "username": user.username,
            "display_name": user.display_name or user.username, "role": user.role,
            "committee_id": user.committee_id, "branch_id": user.branch_id,
            "wechat_bound": staff.binding_of(user) is not None, "credential": credential,
            "session_expires_at": session.expires_at if session is not None else None}


def _session_out(issued: dict[str, Any]) -> dict[str, Any]:
    g.staff_session = None
    return {**issued, "user": _me(issued["user"]) | {"credential": "session",
                                                     "session_expires_at": issued["expires_at"]}}


# -- staff sign-in ---------------------------------------------------------------------------

_ME_LINK = {"links": {"Me": link("/api/v1/me", "get", "who is signed in"),
                      "Rounds": link("/api/v1/rounds", "get", "the rounds of the committee"),
                      "Refresh": link("/api/v1/auth/refresh", "post", "renew the session",
                                      request_body={"refresh_token":
                                                    "$response.body#/refresh_token"})}}


@auth_blp.route("/auth/wechat", methods=["POST"])
@auth_blp.arguments(WechatLoginIn)
@auth_blp.response(200, SessionOut)
@auth_blp.doc(responses={200: _ME_LINK})
@_errors(auth_blp, 400, 401, 403, 409, 413, 415, 422, 429, 503, secured=False)
def wechat_login(body: dict[str, Any]) -> dict[str, Any]:
    """Sign in with wx.login's code (code2Session); the first time with a binding code.

    401 wechat_code_invalid (40029: expired or used code), 401 wechat_not_bound
    (generate a binding code in the console first), 422 binding_code_invalid,
    409 wechat_already_bound, 429 wechat_rate_limited (45011) or too many wrong
    binding codes, 503 wechat_unavailable / wechat_not_configured.
    """
    return _session_out(staff.wechat_login(body["code"], body.get("binding_code")))


@auth_blp.route("/auth/refresh", methods=["POST"])
@auth_blp.arguments(RefreshIn)
@auth_blp.response(200, SessionOut)
@_errors(auth_blp, 400, 401, 413, 415, 422, 503, secured=False)
def refresh_session(body: dict[str, Any]) -> dict[str, Any]:
    """A new session for a refresh token (both tokens rotate; the old ones stop working).

    A refresh token used twice revokes every session of its user (it was copied).
    """
    return _session_out(staff.refresh(body["refresh_token"]))


@auth_blp.route("/auth/logout", methods=["POST"])
@auth_blp.response(204)
@_errors(auth_blp, 400, 401, 403, 503)
@require_api_role(*ROLES)
def logout() -> None:
    """End this mini-program session (its access and refresh token stop working)."""
    staff.logout()


@auth_blp.route("/me", methods=["GET"])
@auth_blp.response(200, MeOut)
@_errors(auth_blp, 400, 401, 403, 503)
@require_api_role(*ROLES)
def me() -> dict[str, Any]:
    """The signed-in staff user: role, committee, branch, WeChat binding, session expiry."""
    return _me(api_user())


@auth_blp.route("/me/wechat-binding", methods=["DELETE"])
@auth_blp.response(204)
@_errors(auth_blp, 400, 401, 403, 503)
@require_api_role(*ROLES)
def unbind() -> None:
    """Unbind the WeChat user from this account and end all its mini-program sessions."""
    staff.unbind(signed_in_api_user())


# -- rounds: categories, exports, options, comments ----------------------------------------

@blp.route("/rounds/<int:round_id>/categories", methods=["GET"])
@blp.response(200, CategoryListOut)
@_errors(blp, 400, 401, 403, 404, 503)
@require_api_role(*READERS)
def list_categories(round_id: int) -> dict[str, Any]:
    """The round's voter categories (应到, weight, tokens issued), for issuing slips."""
    rnd = _round(round_id)
    return {"round_id": rnd.id, "items": rnd.categories}


@blp.route("/rounds/<int:round_id>/exports", methods=["GET"])
@blp.response(200, ExportsOut)
@_errors(blp, 400, 401, 403, 404, 503)
@require_api_role(*READERS)
def list_exports(round_id: int) -> dict[str, Any]:
    """Links to the round's result exports (available once it is closed)."""
    rnd = _round(round_id)
    base = (current_app.config.get("PUBLIC_BASE_URL") or request.host_url).rstrip("/")
    items = [{"format": fmt, "content_type": mimetype.split(";")[0],
              "url": base + url_for(f"results.export_{fmt}", round_id=rnd.id),
              "description": EXPORT_DOC[fmt]} for fmt, (_, mimetype) in FORMATS.items()]
    return {"round_id": rnd.id, "available": rnd.status in ("closed", "published"),
            "items": items}


def _options_out(rnd: Round) -> dict[str, Any]:
    return {"round_id": rnd.id, **session_qr.round_options(rnd)}


@blp.route("/rounds/<int:round_id>/options", methods=["GET"])
@blp.response(200, OptionsOut)
@_errors(blp, 400, 401, 403, 404, 503)
@require_api_role(*READERS)
def read_options(round_id: int) -> dict[str, Any]:
    """The round's mini-program options: session QR, ballot comments."""
    return _options_out(_round(round_id))


@blp.route("/rounds/<int:round_id>/options", methods=["PUT"])
@blp.arguments(OptionsIn)
@blp.response(200, OptionsOut)
@_errors(blp, 400, 401, 403, 404, 409, 413, 415, 422, 503)
@require_api_role(*STAFF)
def write_options(body: dict[str, Any], round_id: int) -> dict[str, Any]:
    """Change options while the round is a draft (409 round_not_draft after opening)."""
    rnd = _round(round_id)
    session_qr.set_options(rnd, body, api_user())
    return _options_out(rnd)


@blp.route("/rounds/<int:round_id>/comments", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, CommentPage)
@_errors(blp, 400, 401, 403, 404, 409, 422, 503)
@require_api_role(*READERS)
def list_comments(args: dict[str, Any], round_id: int) -> dict[str, Any]:
    """Members' comments, after close (409 round_not_closed before), in random order.

    A comment is stored apart from its ballot: nothing here links one to the other.
    """
    rnd = _round(round_id)
    if rnd.status not in ("closed", "published"):
        raise ApiError("round_not_closed", "投票结束后才能查看意见建议",
                       "Comments are shown after the round is closed", 409)
    q = db.select(BallotComment).where(BallotComment.round_id == rnd.id).order_by(
        BallotComment.id)
    page = db.paginate(q, page=args["page"], per_page=args["per_page"], error_out=False)
    return {"round_id": rnd.id, "label": comment_options(rnd.form)["label"],
            "items": page.items, "total": page.total, "page": args["page"],
            "per_page": args["per_page"]}


# -- mini-program slips --------------------------------------------------------------------

@blp.route("/rounds/<int:round_id>/slip-codes", methods=["POST"])
@blp.arguments(SlipCodesIn)
@blp.response(201, SlipCodesOut)
@blp.alt_response(201, schema=BINARY, content_type="application/pdf", success=True,
                  description="the slip ids (JSON), or the printable slips (PDF) when format "
                              "is pdf")
@blp.doc(responses={201: {"links": {"Resolve": link(
    "/api/v1/slips/resolve", "post", "what the mini-program does with a scanned slip",
    request_body={"scene": "$response.body#/slips/0/slip_id"})}}})
@_errors(blp, 400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
@require_api_role(*STAFF)
def issue_slip_codes(body: dict[str, Any], round_id: int) -> Any:
    """Issue tokens as mini-program slips (getwxacodeunlimit, one code per slip).

    The code's scene is a slip id, not the token; the mini-program resolves it
    once (POST /slips/resolve). Shown this once: PDF (default) or JSON.
    """
    rnd = _round(round_id)
    pdf = body["format"] == "pdf"
    out = slips.issue_slip_codes(rnd, body["category_id"], body["count"], api_user(),
                                 images=not pdf and body["images"], pdf=pdf)
    cat = out["category"]
    current_app.logger.info("api: %d mini-program slips for round %d category %d",
                            body["count"], rnd.id, cat.id)
    if pdf:
        return Response(out["pdf"], 201, mimetype="application/pdf", headers={
            "Content-Disposition":
                f'attachment; filename="mpslips-round{rnd.id}-cat{cat.id}.pdf"',
            "Cache-Control": "no-store"})
    page = setting("MINIPROGRAM_SLIP_PAGE")
    images = out["images"] or [None] * len(out["slip_ids"])
    return {"category_id": cat.id, "slips": [
        {"slip_id": s, "printed": slips.format_slip_id(s), "page": page,
         "image": base64.b64encode(img).decode() if img else None}
        for s, img in zip(out["slip_ids"], images, strict=True)]}


@blp.route("/slips/resolve", methods=["POST"])
@blp.arguments(ResolveIn)
@blp.response(200, ClaimedTokenOut)
@blp.doc(responses={200: {"links": {
    "ReadBallotForm": link("/api/v1/ballot-form", "post", "the ballot form for the token",
                           request_body={"token": "$response.body#/token"})}}})
@_errors(blp, 400, 404, 409, 413, 415, 422, 429, 503, secured=False)
def resolve_slip(body: dict[str, Any]) -> dict[str, Any]:
    """A mini-program slip's token, once: the slip is spent by this call.

    404 slip_unknown, 409 slip_already_claimed (a second resolve), 409 round_closed.
    """
    return slips.resolve_slip(body["scene"])


# -- session QR ----------------------------------------------------------------------------

def _codes_out(rnd: Round) -> dict[str, Any]:
    sizes = session_qr.pool_sizes(rnd.id)
    opts = session_qr.round_options(rnd)
    page = setting("MINIPROGRAM_CLAIM_PAGE")
    base = (current_app.config.get("PUBLIC_BASE_URL") or request.host_url).rstrip("/")
    scenes = {c.id: session_qr.session_scene(rnd, c.id) for c in rnd.categories}
    items = [{"category_id": c.id, "category": c.name, "page": page,
              "scene": scenes[c.id], "remaining": sizes.get(c.id, 0),
              "image_url": base + url_for("miniprogram.session_code_image", round_id=rnd.id,
                                          category_id=c.id),
              "web_url": web_claim.session_web_url(scenes[c.id])}
             for c in rnd.categories] if opts["session_qr"] else []
    return {"round_id": rnd.id, "enabled": opts["session_qr"],
            "generation": opts["session_qr_generation"],
            "claims": session_qr.claim_count(rnd.id), "items": items}


@blp.route("/rounds/<int:round_id>/session-codes", methods=["GET"])
@blp.response(200, SessionCodesOut)
@_errors(blp, 400, 401, 403, 404, 503)
@require_api_role(*STAFF)
def list_session_codes(round_id: int) -> dict[str, Any]:
    """The session codes (one per category) to show on the projector, pool sizes, claims."""
    return _codes_out(_round(round_id))


@blp.route("/rounds/<int:round_id>/session-codes/<int:category_id>/image", methods=["GET"])
@blp.response(200, BINARY, content_type="image/jpeg",
              description="the category's session code (mini-program code) as an image")
@_errors(blp, 400, 401, 403, 404, 409, 429, 503)
@require_api_role(*STAFF)
def session_code_image(round_id: int, category_id: int) -> Response:
    """The session code of a category, as a mini-program code image (cached an hour)."""
    rnd = _round(round_id)
    if not session_qr.round_options(rnd)["session_qr"]:
        raise ApiError("session_qr_disabled", "本次测评未启用扫码领票",
                       "This round does not use session QR codes", 409)
    if not any(c.id == category_id for c in rnd.categories):
        raise ApiError("unknown_category", "参评人员类别不存在", "Unknown voter category", 404,
                       "category_id")
    image = session_qr.session_code_image(rnd, category_id)
    return Response(image, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@blp.route("/rounds/<int:round_id>/session-codes/rotate", methods=["POST"])
@blp.response(200, SessionCodesOut)
@_errors(blp, 400, 401, 403, 404, 409, 503)
@require_api_role(*STAFF)
def rotate_session_codes(round_id: int) -> dict[str, Any]:
    """Replace the session codes: the ones shown (or photographed) so far stop working."""
    rnd = _round(round_id)
    session_qr.rotate(rnd, api_user())
    return _codes_out(rnd)


@blp.route("/rounds/<int:round_id>/session-pool", methods=["POST"])
@blp.arguments(PoolIn)
@blp.response(201, PoolOut)
@_errors(blp, 400, 401, 403, 404, 409, 413, 415, 422, 503)
@require_api_role(*STAFF)
def add_to_pool(body: dict[str, Any], round_id: int) -> dict[str, Any]:
    """Issue tokens of a category into the round's claim pool (session QR rounds)."""
    rnd = _round(round_id)
    added = session_qr.add_to_pool(rnd, body["category_id"], body["count"], api_user())
    return {"category_id": body["category_id"], "added": added,
            "remaining": session_qr.pool_sizes(rnd.id).get(body["category_id"], 0)}


@blp.route("/session-keys", methods=["POST"])
@blp.arguments(SessionKeyIn)
@blp.response(200, SessionKeyOut)
@_errors(blp, 400, 404, 409, 413, 415, 422, 429, 503, secured=False)
def session_key(body: dict[str, Any]) -> dict[str, Any]:
    """The public key a session code's category signs with: the page blinds its own
    token with it before claiming (POST /session-claims)."""
    return session_qr.session_key(body["scene"])


@blp.route("/session-claims", methods=["POST"])
@blp.arguments(SessionClaimIn)
@blp.response(201, BlindSignatureOut)
@_errors(blp, 400, 401, 403, 404, 409, 413, 415, 422, 429, 503, secured=False)
def claim_token(body: dict[str, Any]) -> dict[str, Any]:
    """Blind-sign this WeChat user's own token (session QR): one claim per WeChat user.

    The identity is a mini-program `code` (wx.login) or, on the mobile page in WeChat,
    an `oauth_code` (the official account's web authorization, snsapi_base); exactly
    one (422 claim_identity_invalid). Only the fact that this identity claimed is
    recorded; the server never sees the token. 409 already_claimed, 409 session_pool_empty,
    404 session_code_invalid, 422 blinded_message_invalid.
    """
    return session_qr.claim(body["scene"], body.get("code"), body["blinded_msg"],
                            oauth_code=body.get("oauth_code"))


# -- content checks ------------------------------------------------------------------------

@blp.route("/content-checks", methods=["POST"])
@blp.arguments(ContentCheckIn)
@blp.response(200, ContentCheckOut)
@_errors(blp, 400, 401, 403, 413, 415, 422, 429, 503, secured=False)
def check_content(body: dict[str, Any]) -> dict[str, Any]:
    """Check a comment with WeChat's msgSecCheck (v2) before it goes with a ballot.

    422 content_rejected when WeChat finds it risky (or for review). The pass
    names nothing about the member; the ballot carries the text and the pass.
    """
    return content.check_content(body.get("code"), body["content"], body["scene"])
