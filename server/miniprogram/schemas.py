"""Request and response schemas of the mini-program API (auth, slips, session QR, options)."""

from __future__ import annotations

import marshmallow as ma

from server.core.api import UtcDateTime
from server.rounds.schemas import CategoryOut

Length = ma.validate.Length
Range = ma.validate.Range

WX_CODE = {"description": "the code from wx.login() (single use, 5 minutes)"}


# -- staff sign-in ---------------------------------------------------------------------------

class WechatLoginIn(ma.Schema):
    code = ma.fields.String(required=True, validate=Length(min=1, max=128), metadata=WX_CODE)
    binding_code = ma.fields.String(load_default=None, allow_none=True, validate=Length(max=20),
                                    metadata={"description": "first sign-in only: the one-time "
                                              "code generated in the web console (微信绑定), "
                                              "e.g. K7QF-3MZA"})


class RefreshIn(ma.Schema):
    refresh_token = ma.fields.String(required=True, validate=Length(min=1, max=200))


class MeOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    username = ma.fields.String(required=True)
    display_name = ma.fields.String(required=True)
    role = ma.fields.String(required=True, metadata={
        "description": "admin | organizer | secretary | committee"})
    committee_id = ma.fields.Integer(allow_none=True)
    branch_id = ma.fields.Integer(allow_none=True)
    wechat_bound = ma.fields.Boolean(required=True)
    credential = ma.fields.String(required=True, metadata={
        "description": "how this request was authenticated: session (mini-program), "
                       "api_key, or console (a browser session, reads only)"})
    session_expires_at = UtcDateTime(allow_none=True)


class SessionOut(ma.Schema):
    access_token = ma.fields.String(required=True, metadata={
        "description": "send as `Authorization: Bearer <access_token>`"})
    token_type = ma.fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = ma.fields.Integer(required=True, metadata={"description": "seconds"})
    expires_at = UtcDateTime(required=True)
    refresh_token = ma.fields.String(required=True, metadata={
        "description": "POST /auth/refresh with it before refresh_expires_at; single use"})
    refresh_expires_at = UtcDateTime(required=True)
    user = ma.fields.Nested(MeOut, required=True)


# -- rounds: categories, exports, options ----------------------------------------------------

class CategoryListOut(ma.Schema):
    round_id = ma.fields.Integer(required=True)
    items = ma.fields.List(ma.fields.Nested(CategoryOut), required=True)


class ExportLink(ma.Schema):
    format = ma.fields.String(required=True, metadata={"example": "xlsx"})
    url = ma.fields.String(required=True, metadata={"description": "GET with the same bearer"})
    content_type = ma.fields.String(required=True)
    description = ma.fields.String(required=True)


class ExportsOut(ma.Schema):
    round_id = ma.fields.Integer(required=True)
    available = ma.fields.Boolean(required=True, metadata={
        "description": "false until the round is closed (the links then answer 409)"})
    items = ma.fields.List(ma.fields.Nested(ExportLink), required=True)


class CommentOptions(ma.Schema):
    enabled = ma.fields.Boolean(metadata={"description": "ballots may carry a comment"})
    label = ma.fields.String(validate=Length(min=1, max=30),
                             metadata={"example": "意见和建议"})
    max_length = ma.fields.Integer(strict=True, validate=Range(1, 2000))


class OptionsIn(ma.Schema):
    session_qr = ma.fields.Boolean(metadata={
        "description": "members claim a token by WeChat identity from the session code on "
                       "the projector (see docs/miniprogram.md for what this reveals)"})
    comment = ma.fields.Nested(CommentOptions)


class OptionsOut(ma.Schema):
    round_id = ma.fields.Integer(required=True)
    session_qr = ma.fields.Boolean(required=True)
    session_qr_generation = ma.fields.Integer(required=True)
    comment = ma.fields.Nested(CommentOptions, required=True)


# -- mini-program slips ----------------------------------------------------------------------

class SlipCodesIn(ma.Schema):
    category_id = ma.fields.Integer(required=True, strict=True, validate=Range(1, 2**31 - 1))
    count = ma.fields.Integer(required=True, strict=True, validate=Range(1, 20000))
    format = ma.fields.String(load_default="pdf", validate=ma.validate.OneOf(["pdf", "json"]),
                              metadata={"description": "pdf: printable slips with the "
                                        "mini-program codes; json: slip ids (and images)"})
    images = ma.fields.Boolean(load_default=True, metadata={
        "description": "json only: include each code as base64 JPEG (false: no WeChat call; "
                       "the slip ids can still be typed in the mini-program)"})


class SlipCodeOut(ma.Schema):
    slip_id = ma.fields.String(required=True, metadata={
        "description": "the code's scene: 26 characters, resolved once to a token"})
    printed = ma.fields.String(required=True, metadata={"example": "K7QF-3MZA-P2XW-..."})
    page = ma.fields.String(required=True)
    image = ma.fields.String(allow_none=True, metadata={"description": "base64 image/jpeg"})


class SlipCodesOut(ma.Schema):
    category_id = ma.fields.Integer(required=True)
    slips = ma.fields.List(ma.fields.Nested(SlipCodeOut), required=True)


class ResolveIn(ma.Schema):
    scene = ma.fields.String(required=True, validate=Length(min=1, max=64), metadata={
        "description": "the scene the mini-program was opened with (decodeURIComponent of "
                       "options.scene), or the slip id typed from the slip"})


class ClaimedTokenOut(ma.Schema):
    token = ma.fields.String(required=True, metadata={
        "description": "the voting token: shown this once; keep it (wx.setStorageSync) until "
                       "the ballot is accepted"})
    round_id = ma.fields.Integer(required=True)


# -- session QR ------------------------------------------------------------------------------

class SessionClaimIn(ma.Schema):
    scene = ma.fields.String(required=True, validate=Length(min=1, max=64),
                             metadata={"description": "the session code's scene"})
    code = ma.fields.String(load_default=None, allow_none=True, validate=Length(min=1, max=128),
                            metadata={"description": WX_CODE["description"]
                                      + "; in the mini-program (else oauth_code)"})
    oauth_code = ma.fields.String(load_default=None, allow_none=True,
                                  validate=Length(min=1, max=128), metadata={
        "description": "on the mobile page in WeChat: the `code` WeChat's web authorization "
                       "(公众号网页授权, snsapi_base) redirected back with; single use"})
    blinded_msg = ma.fields.String(required=True, validate=Length(min=1, max=1400), metadata={
        "description": "base64 of the member's own token, prepared and blinded with the "
                       "category's public key (RFC 9474 RSABSSA-SHA384-PSS-Randomized, e.g. "
                       "@cloudflare/blindrsa-ts); the server never sees the token"})


class SessionKeyIn(ma.Schema):
    scene = ma.fields.String(required=True, validate=Length(min=1, max=64),
                             metadata={"description": "the session code's scene"})


class SessionKeyOut(ma.Schema):
    round_id = ma.fields.Integer(required=True)
    category_id = ma.fields.Integer(required=True)
    category = ma.fields.String(required=True)
    public_key = ma.fields.String(required=True, metadata={
        "description": "the category's RSA public key, base64 of DER SubjectPublicKeyInfo "
                       "(WebCrypto importKey('spki'))"})
    variant = ma.fields.String(required=True, metadata={"example": "RSABSSA-SHA384-PSS-Randomized"})


class BlindSignatureOut(ma.Schema):
    round_id = ma.fields.Integer(required=True)
    category_id = ma.fields.Integer(required=True)
    blind_sig = ma.fields.String(required=True, metadata={
        "description": "base64 blind signature: unblind it (finalize) into the token's "
                       "signature; send base64(msg_prefix || signature) as `signature` with "
                       "the token to /ballot-form and /ballots"})
    variant = ma.fields.String(required=True)


class PoolIn(ma.Schema):
    category_id = ma.fields.Integer(required=True, strict=True, validate=Range(1, 2**31 - 1))
    count = ma.fields.Integer(required=True, strict=True, validate=Range(1, 5000))


class PoolOut(ma.Schema):
    category_id = ma.fields.Integer(required=True)
    added = ma.fields.Integer(required=True)
    remaining = ma.fields.Integer(required=True)


class SessionCodeOut(ma.Schema):
    category_id = ma.fields.Integer(required=True)
    category = ma.fields.String(required=True)
    scene = ma.fields.String(required=True)
    page = ma.fields.String(required=True)
    remaining = ma.fields.Integer(required=True,
                                  metadata={"description": "claims still allowed"})
    image_url = ma.fields.String(required=True)
    web_url = ma.fields.String(required=True, metadata={
        "description": "the same code for the mobile page in WeChat (show it as a QR code): "
                       "WeChat's web authorization (official account, snsapi_base), then the "
                       "page claims a blind-signed token itself"})


class SessionCodesOut(ma.Schema):
    round_id = ma.fields.Integer(required=True)
    enabled = ma.fields.Boolean(required=True)
    generation = ma.fields.Integer(required=True)
    claims = ma.fields.Integer(required=True, metadata={
        "description": "how many WeChat users claimed a token (not who, not which)"})
    items = ma.fields.List(ma.fields.Nested(SessionCodeOut), required=True)


# -- content checks and comments ------------------------------------------------------------

class ContentCheckIn(ma.Schema):
    content = ma.fields.String(required=True, validate=Length(min=1, max=5000))
    code = ma.fields.String(load_default=None, allow_none=True, validate=Length(max=128),
                            metadata={**WX_CODE, "description": WX_CODE["description"]
                                      + "; required when content checks are on"})
    scene = ma.fields.Integer(load_default=2, strict=True, validate=Range(1, 4), metadata={
        "description": "msgSecCheck scene: 1 资料, 2 评论, 3 论坛, 4 社交日志"})


class ContentCheckOut(ma.Schema):
    content_pass = ma.fields.String(required=True, metadata={
        "description": "send with the ballot as `content_pass` (with the same `comment`)"})
    expires_at = ma.fields.Integer(required=True, metadata={"description": "epoch seconds"})
    checked = ma.fields.Boolean(required=True, metadata={
        "description": "false when WeChat content checks are not configured"})
    suggest = ma.fields.String(required=True, metadata={"description": "pass | review"})
    content = ma.fields.String(required=True, metadata={
        "description": "the text as it will be stored (spacing normalised)"})


class PageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=Range(1, 100000))
    per_page = ma.fields.Integer(load_default=50, validate=Range(1, 200))


class CommentOut(ma.Schema):
    text = ma.fields.String(required=True, attribute="body")


class CommentPage(ma.Schema):
    round_id = ma.fields.Integer(required=True)
    label = ma.fields.String(required=True)
    items = ma.fields.List(ma.fields.Nested(CommentOut), required=True)
    total = ma.fields.Integer(required=True)
    page = ma.fields.Integer(required=True)
    per_page = ma.fields.Integer(required=True)
