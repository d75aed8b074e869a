"""Content safety for members' free text: msgSecCheck v2, then a pass for the ballot.

POST /api/v1/content-checks {code, content}: the mini-program's fresh wx.login
code gives the member's openid (msgSecCheck v2 wants the openid of a user who
used the mini-program within two hours); the openid is used for this one call
and dropped. A passing text gets a `content_pass`: an HMAC over its SHA-256 and
an expiry, nothing about the member. The ballot request then carries the text
and the pass, and no WeChat identity at all.

With the mini-program unconfigured, or WECHAT_CONTENT_CHECK off, nothing is
sent to WeChat and the pass is issued at once (`checked: false`).
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from server.core.errors import ApiError
from server.miniprogram.crypto import keyed_hash, sha256_hex
from server.voting.comments import normalize
from server.wechat import client as wechat
from server.wechat.config import content_check_enabled, setting

MAX_CONTENT = 2500  # msgSecCheck's limit

REJECTED = ("content_rejected",
            "内容未通过微信内容安全检测，可能含有不当信息，请修改后重新提交",
            "WeChat's content check rejected the text; change it and retry")


def _signature(expires: int, digest: str) -> str:
    return keyed_hash("content-pass", str(expires), digest)[:40]


def make_pass(body: str) -> tuple[str, int]:
    expires = int(time.time()) + int(setting("CONTENT_PASS_TTL_S"))
    return f"cp1.{expires}.{_signature(expires, sha256_hex(body))}", expires


def pass_matches(content_pass: Any, body: str) -> bool:
    if not isinstance(content_pass, str) or len(content_pass) > 100:
        return False
    parts = content_pass.split(".")
    if len(parts) != 3 or parts[0] != "cp1" or not parts[1].isdigit():
        return False
    expires = int(parts[1])
    if expires < time.time():
        return False
    return hmac.compare_digest(parts[2], _signature(expires, sha256_hex(body)))


def require_pass(body: str, content_pass: Any = None) -> None:
    """Receiver of `comment_checking`: with content checks on, a ballot's comment needs
    an unexpired pass for exactly its text."""
    if content_check_enabled() and not pass_matches(content_pass, body):
        raise ApiError("content_check_required",
                       "请先完成内容安全检查（或检查已过期、内容已修改），再提交选票",
                       "Check the comment first (POST /api/v1/content-checks) and send its "
                       "content_pass; the pass must match the text and be unexpired",
                       422, "content_pass")


def check_content(code: Any, content: str, scene: int = 2) -> dict[str, Any]:
    body = normalize(content)
    if not body:
        raise ApiError("missing_field", "请填写需要检查的内容", "content is empty", 422, "content")
    if len(body) > MAX_CONTENT:
        raise ApiError("too_long", f"内容不能超过 {MAX_CONTENT} 个字",
                       f"content longer than {MAX_CONTENT} characters", 422, "content")
    checked = content_check_enabled()
    suggest = "pass"
    if checked:
        if not isinstance(code, str) or not code.strip():
            raise ApiError("wechat_code_invalid", "缺少微信登录凭证（wx.login 的 code）",
                           "code (from wx.login) is required for the content check", 401,
                           "code")
        openid = wechat.code_to_session(code.strip())
        suggest = wechat.msg_sec_check(openid, body, scene)
        del openid
        if suggest == "risky" or (suggest == "review"
                                  and setting("WECHAT_CONTENT_REVIEW_BLOCKS")):
            raise ApiError(*REJECTED, 422, "content")
    token, expires = make_pass(body)
    return {"content_pass": token, "expires_at": expires, "checked": checked,
            "suggest": suggest, "content": body}
