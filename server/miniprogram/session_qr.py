"""Round options, and "session QR": members claim a token by WeChat identity.

Options live in the round's form snapshot under "options" (set while the round
is a draft; the form is frozen when it opens):

    session_qr             members may claim one token each by scanning the
                           round's session code on the projector, instead of
                           being handed a paper slip
    session_qr_generation  bumped by "rotate": earlier session codes stop working
    comment                {enabled, label, max_length}: ballots may carry a
                           comment (server/voting/comments.py)

How a claim works (POST /api/v1/session-claims {scene, code | oauth_code, blinded_msg}):

1. The session code's scene is "S<round>.<category>.<mac>": the mac (8
   characters, keyed with SECRET_KEY and the generation) shows the server made
   it. The mini-program opens with it as its scene; the mobile page in WeChat
   opens /v/s/<scene> (server/miniprogram/web_claim.py).
2. The identity: a fresh wx.login `code` (code2Session) in the mini-program, or
   the `oauth_code` of the official account's web authorization (snsapi_base) on
   the mobile page; either gives an openid of its app. The claim record is
   (round, HMAC(key, appid, openid, round)): whether this WeChat user claimed in
   this round, nothing more: no token, no category, no time. A second claim:
   409 already_claimed.
3. The member's page made its own token and sends it blinded (RFC 9474,
   server/tokens/blind.py): the server signs with the category's key and never
   sees the token, so nothing it holds pairs the claim with a ballot.
4. The member votes with the token and its unblinded signature (POST /ballots):
   the ballot path never sees the openid.

docs/miniprogram.md says what this mode reveals to the server operator
compared with paper slips.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from server.core import audit, blindrsa
from server.core.db import db
from server.core.errors import ApiError, error_kind
from server.core.redis import get_redis, run_script, sync
from server.miniprogram.crypto import identity_digest, keyed_hash
from server.miniprogram.models import SessionClaim
from server.roundbase.models import Round, VoterCategory
from server.tokens import blind
from server.tokens.codec import MAX_ROUND_ID, RECEIPT_ALPHABET
from server.voting.comments import comment_options
from server.voting.roundinfo import forget
from server.wechat import client as wechat
from server.wechat import oauth
from server.wechat.config import setting

MAC_LEN = 8
MAX_POOL_BATCH = 5000

CODE_INVALID = error_kind("session_code_invalid",
                          "该投票二维码无效或已更换，请扫描大屏上当前显示的二维码",
                          "Unknown or outdated session code", 404, "scene")


# -- options ---------------------------------------------------------------------------------

def round_options(rnd: Round) -> dict[str, Any]:
    raw = rnd.form.get("options") or {}
    return {"session_qr": bool(raw.get("session_qr")),
            "session_qr_generation": int(raw.get("session_qr_generation") or 0),
            "comment": comment_options(rnd.form)}


def _write_options(rnd: Round, options: dict[str, Any]) -> None:
    form = dict(rnd.form)
    form["options"] = options
    rnd.form_json = json.dumps(form, ensure_ascii=False)
    rnd.__dict__.pop("_form_cache", None)


def set_options(rnd: Round, body: dict[str, Any], user: Any | None) -> dict[str, Any]:
    """Change a draft round's options (anything left out keeps its value)."""
    if rnd.status != "draft":
        raise ApiError("round_not_draft", "测评已开始，不能再修改设置",
                       "Options can only change while the round is a draft", 409)
    current = round_options(rnd)
    if "session_qr" in body and body["session_qr"] is not None:
        current["session_qr"] = bool(body["session_qr"])
    if body.get("comment") is not None:
        current["comment"] = {**current["comment"], **body["comment"]}
    _write_options(rnd, current)
    audit.record(user, "round.options", f"round:{rnd.id}",
                 json.dumps(current, ensure_ascii=False)[:500])
    db.session.commit()
    forget(rnd.id)
    return round_options(rnd)


def rotate(rnd: Round, user: Any | None) -> dict[str, Any]:
    """A new generation of session codes: the ones shown so far stop working."""
    if rnd.status not in ("draft", "open"):
        raise ApiError("round_already_closed", "该测评已结束", "Round is closed", 409)
    current = round_options(rnd)
    current["session_qr_generation"] += 1
    _write_options(rnd, current)
    audit.record(user, "round.session_codes_rotated", f"round:{rnd.id}",
                 str(current["session_qr_generation"]))
    db.session.commit()
    return current


# -- session codes ---------------------------------------------------------------------------

def _mac(round_id: int, category_id: int, generation: int) -> str:
    digest = int(keyed_hash("session-code", str(round_id), str(category_id), str(generation)), 16)
    out = []
    for _ in range(MAC_LEN):
        digest, i = divmod(digest, len(RECEIPT_ALPHABET))
        out.append(RECEIPT_ALPHABET[i])
    return "".join(out)


def session_scene(rnd: Round, category_id: int) -> str:
    """The scene of a category's session code (at most 31 characters)."""
    generation = round_options(rnd)["session_qr_generation"]
    return f"S{rnd.id}.{category_id}.{_mac(rnd.id, category_id, generation)}"


def parse_scene(raw: Any) -> tuple[Round, VoterCategory]:
    if not isinstance(raw, str) or len(raw) > 32 or not raw.startswith("S"):
        raise CODE_INVALID
    parts = raw[1:].split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() \
            or int(parts[0]) > MAX_ROUND_ID or int(parts[1]) > MAX_ROUND_ID:
        raise CODE_INVALID
    rnd = db.session.get(Round, int(parts[0]))
    category = db.session.get(VoterCategory, int(parts[1]))
    if rnd is None or category is None or category.round_id != rnd.id:
        raise CODE_INVALID
    generation = round_options(rnd)["session_qr_generation"]
    if not secrets.compare_digest(parts[2].upper(), _mac(rnd.id, category.id, generation)):
        raise CODE_INVALID
    return rnd, category


def session_code_image(rnd: Round, category_id: int) -> bytes:
    """The category's session code as an image (from WeChat; cached in Redis for an hour)."""
    scene = session_scene(rnd, category_id)
    key = f"{{r:{rnd.id}}}:sessioncode:{scene}"
    r = get_redis()
    cached = sync(r.get(key))
    if cached:
        return bytes.fromhex(cached)
    image = wechat.wxa_code(scene, setting("MINIPROGRAM_CLAIM_PAGE"))
    r.set(key, image.hex(), ex=3600)
    return image


# -- the allowance ("pool") and claims --------------------------------------------------------

def add_to_pool(rnd: Round, category_id: int, count: Any, user: Any | None) -> int:
    """Allow `count` more claims (blind signatures) in a category; its key is made now
    if it has none. They count as issued slips of the category (its 应到)."""
    if not round_options(rnd)["session_qr"]:
        raise ApiError("session_qr_disabled", "本次测评未启用扫码领票（会场二维码）",
                       "This round does not use session QR codes", 409)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_POOL_BATCH:
        raise ApiError("invalid_count", f"每次加入 1～{MAX_POOL_BATCH} 张",
                       f"count must be an integer in [1, {MAX_POOL_BATCH}]", 422, "count")
    if rnd.status not in ("draft", "open"):
        raise ApiError("round_already_closed", "该测评已结束，不能再发放选票",
                       "Cannot issue tokens for a closed round", 409)
    category = db.session.get(VoterCategory, category_id)
    if category is None or category.round_id != rnd.id:
        raise ApiError("unknown_category", "参评人员类别不存在", "Unknown voter category", 422,
                       "category_id")
    blind.ensure_key(rnd.id, category.id)
    blind.add_allowance(rnd.id, category.id, count)
    db.session.execute(
        text("UPDATE voter_categories SET issued_count = issued_count + :n WHERE id = :c"),
        {"n": count, "c": category.id})
    audit.record(user, "session_qr.allow", f"round:{rnd.id}", f"{category.name}: {count}")
    db.session.commit()
    return count


def _signed_key(round_id: int) -> str:
    return f"{{r:{round_id}}}:signed"


def pool_sizes(round_id: int) -> dict[int, int]:
    """Claims still allowed per category (allowance less blind signatures given)."""
    allowed = blind.allowances(round_id)
    signed = sync(get_redis().hgetall(_signed_key(round_id))) if allowed else {}
    return {c: max(0, n - int(signed.get(str(c), 0))) for c, n in allowed.items()}


def claim_count(round_id: int) -> int:
    return int(db.session.execute(text("SELECT COUNT(*) FROM session_claims WHERE round_id = :r"),
                                  {"r": round_id}).scalar() or 0)


def session_key(scene: Any) -> dict[str, Any]:
    """What the page needs to blind its token: the category's public key."""
    rnd, category = parse_scene(scene)
    public = blind.public_key_b64(rnd.id, category.id)
    if not round_options(rnd)["session_qr"] or public is None:
        raise ApiError("session_qr_disabled", "本次测评未启用扫码领票",
                       "This round does not use session QR codes", 409)
    return {"round_id": rnd.id, "category_id": category.id, "category": category.name,
            "public_key": public, "variant": blindrsa.VARIANT}


# Count one more signature of a category unless its allowance is used up. A lost
# hash (Redis restarted) starts every category at the round's claims so far (ARGV[3]),
# never lower than the truth: claims record no category (see the module's docstring).
TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  for i = 4, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], ARGV[3]) end
end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if n > tonumber(ARGV[2]) then redis.call('HINCRBY', KEYS[1], ARGV[1], -1); return 0 end
return 1
"""


def _take(round_id: int, category_id: int) -> bool:
    allowed = blind.allowances(round_id)
    fallback = claim_count(round_id) - 1  # less this claim, flushed but not committed
    return bool(run_script(TAKE, [_signed_key(round_id)],
                           [category_id, allowed.get(category_id, 0), max(fallback, 0),
                            *allowed]))


IDENTITY_INVALID = error_kind(
    "claim_identity_invalid", "请在微信中扫描大屏上的二维码领取投票码",
    "Send exactly one identity proof: code (wx.login) or oauth_code (web authorization)",
    422, "code")


def _wechat_identity(code: str | None, oauth_code: str | None) -> tuple[str, str]:
    """(appid, openid) from a mini-program wx.login code or the mobile page's web
    authorization code. Each app has its own openids: see docs/miniprogram.md."""
    if bool(code) == bool(oauth_code):
        raise IDENTITY_INVALID
    if code:
        return current_app.config["WECHAT_MINIPROGRAM_APPID"], wechat.code_to_session(code)
    return current_app.config["WECHAT_OA_APPID"], oauth.code_to_openid(str(oauth_code))


def claim(scene: Any, code: str | None, blinded_msg: Any, *,
          oauth_code: str | None = None) -> dict[str, Any]:
    """A blind signature for this WeChat user's own token, once per round."""
    rnd, category = parse_scene(scene)
    if not round_options(rnd)["session_qr"]:
        raise ApiError("session_qr_disabled", "本次测评未启用扫码领票",
                       "This round does not use session QR codes", 409)
    if rnd.status not in ("draft", "open"):
        raise ApiError("round_closed", "投票已结束，感谢您的参与", "Voting in this round is closed",
                       409)
    appid, openid = _wechat_identity(code, oauth_code)
    digest = identity_digest(appid, openid, f"round:{rnd.id}")
    del openid
    round_id, category_id = rnd.id, category.id
    db.session.add(SessionClaim(round_id=round_id, claim_hash=digest))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ApiError("already_claimed",
                       "您已经领取过本次测评的投票码，每人只能领取一次。如已投票请勿重复操作",
                       "This WeChat user already claimed a token in this round", 409) from None
    try:
        signed = blind.sign(round_id, category_id, blinded_msg)
    except ApiError:
        db.session.rollback()
        raise
    if not _take(round_id, category_id):
        db.session.rollback()
        raise ApiError("session_pool_empty", "本类别的投票码已领完，请联系会务人员",
                       "No claims left in this category", 409)
    try:
        db.session.commit()
    except Exception:
        get_redis().hincrby(_signed_key(round_id), str(category_id), -1)
        raise
    return {"round_id": round_id, "category_id": category_id, "blind_sig": signed,
            "variant": blindrsa.VARIANT}


def forget_pool(round_id: int) -> None:
    """At close: the round's signing keys are destroyed; no more claims."""
    blind.destroy_keys(round_id)
    get_redis().delete(_signed_key(round_id))
