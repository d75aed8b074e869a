"""The mini-program's server APIs through wechatpy, against the configured base URL.

    code_to_session(js_code)      -> openid (the session_key is dropped at once)
    wxa_code(scene, page)         -> image bytes (getwxacodeunlimit)
    msg_sec_check(openid, text)   -> "pass" | "review" | "risky" (msgSecCheck v2)

wechatpy 1.8's WeChatClient is used with three changes (MiniProgramClient):

- Every URL starts at WECHAT_MINIPROGRAM_API_BASE (the client's API_BASE_URL,
  the wxa API object's, and the token URL), so tests reach bot/wechat_fake.
- The access token is shared by every worker and host and fetched under a
  Redis lock (server/wechat/token.py, as the bot's WeCom client does), under
  the hash tag {wx:<appid>}; /cgi-bin/stable_token (or the classic /cgi-bin/token).
- jscode2session goes without an access token (wechatpy would fetch one first).

The session_key from code2Session never leaves `code_to_session`: it is not
returned, stored or logged. Secrets (AppSecret, js_code) travel only in the
query strings WeChat requires, and nothing here logs a URL.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests
from flask import g
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from server.core.errors import ApiError, error_kind
from server.wechat.config import configured, setting
from server.wechat.token import SharedToken, token_store

log = logging.getLogger(__name__)

NOT_CONFIGURED = error_kind(
    "wechat_not_configured", "尚未配置微信小程序（AppID 和 AppSecret），请联系系统管理员",
    "The WeChat mini-program is not configured", 503)
UNAVAILABLE = error_kind(
    "wechat_unavailable", "微信服务暂时不可用，请稍后重试",
    "The WeChat API is unavailable; retry later", 503)

# errcode -> (http status, code, 中文, English)
_ERRORS: dict[int, tuple[int, str, str, str]] = {
    40029: (401, "wechat_code_invalid", "微信登录凭证无效或已过期，请重新进入小程序后再试",
            "Invalid or expired wx.login code"),
    40163: (401, "wechat_code_invalid", "微信登录凭证已被使用，请重新进入小程序后再试",
            "The wx.login code was already used"),
    41008: (401, "wechat_code_invalid", "缺少微信登录凭证，请重新进入小程序后再试",
            "Missing wx.login code"),
    40226: (403, "wechat_user_blocked", "该微信账号被微信判定为高风险，暂时无法使用",
            "WeChat refuses this high-risk user"),
    40003: (401, "wechat_code_invalid", "微信身份已失效，请重新进入小程序后再试",
            "WeChat does not know this openid (stale login)"),
    45011: (429, "wechat_rate_limited", "微信接口调用过于频繁，请一分钟后再试",
            "WeChat API minute quota reached; retry in a minute"),
    45009: (503, "wechat_quota_exceeded", "今日微信接口调用次数已达上限，请联系系统管理员",
            "WeChat API daily quota reached"),
    -1: (503, "wechat_unavailable", "微信服务繁忙，请稍后重试", "WeChat is busy; retry later"),
    41030: (503, "wechat_page_invalid",
             "小程序页面不存在或尚未发布，请系统管理员检查 MINIPROGRAM_SLIP_PAGE / "
             "MINIPROGRAM_CLAIM_PAGE，或在发布前关闭 MINIPROGRAM_CHECK_PATH",
             "WeChat does not know the mini-program page (41030)"),
    40013: (503, "wechat_misconfigured", "微信小程序 AppID 配置有误，请联系系统管理员",
            "WeChat refuses the AppID (40013)"),
    40125: (503, "wechat_misconfigured", "微信小程序 AppSecret 配置有误，请联系系统管理员",
            "WeChat refuses the AppSecret (40125)"),
}


class MiniProgramClient(SharedToken, WeChatClient):
    """wechatpy's client: configurable base URL, the token shared (server/wechat/token.py)."""

    def __init__(self, appid: str, secret: str, base: str, *, access_api: str = "stable",
                 timeout: float = 10.0) -> None:
        super().__init__(appid, secret, session=token_store(f"{{wx:{appid}}}"),
                         timeout=timeout)
        self.base = base.rstrip("/") + "/"
        self.API_BASE_URL = self.base + "cgi-bin/"
        self.wxa.API_BASE_URL = self.base
        self.access_api = access_api

    def _lock_not_acquired(self) -> Exception:
        return UNAVAILABLE()

    def _request_token(self, force: bool) -> dict[str, Any]:
        log.info("wechat: fetching an access token (%s)", self.access_api)
        if self.access_api == "classic":
            res = self._http.get(self.base + "cgi-bin/token", timeout=self.timeout, params={
                "grant_type": "client_credential", "appid": self.appid, "secret": self.secret})
        else:
            body = {"grant_type": "client_credential", "appid": self.appid,
                    "secret": self.secret, "force_refresh": force}
            res = self._http.post(self.base + "cgi-bin/stable_token", timeout=self.timeout,
                                  data=json.dumps(body).encode(),
                                  headers={"Content-Type": "application/json"})
        return self._token_answer(res)

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        if url_or_endpoint.startswith("sns/") or "/sns/" in url_or_endpoint:
            # code2Session takes appid + secret, no access token (None: not sent).
            kwargs.setdefault("params", {})["access_token"] = None
        return super()._request(method, url_or_endpoint, **kwargs)


def client() -> MiniProgramClient:
    """This request's client (one per request: the object is not thread-safe)."""
    if not configured():
        raise NOT_CONFIGURED
    made = g.get("wechat_client")
    if made is None:
        made = g.wechat_client = MiniProgramClient(
            setting("WECHAT_MINIPROGRAM_APPID"), setting("WECHAT_MINIPROGRAM_SECRET"),
            setting("WECHAT_MINIPROGRAM_API_BASE"),
            access_api=setting("WECHAT_MINIPROGRAM_TOKEN_API"),
            timeout=float(setting("WECHAT_HTTP_TIMEOUT_S")))
    return made


def api_error(exc: Exception, what: str) -> ApiError:
    """The client-facing error for a failed WeChat call (logged without secrets)."""
    if isinstance(exc, ApiError):
        return exc
    errcode = getattr(exc, "errcode", None)
    if isinstance(exc, WeChatClientException) and errcode is not None:
        known = _ERRORS.get(int(errcode))
        log.warning("wechat %s failed: errcode %s", what, errcode)
        if known is not None:
            status, code, zh, en = known
            err = ApiError(code, zh, en, status)
            if status == 429:
                err.retry_after = 60  # type: ignore[attr-defined]  # read by core/errors
            return err
        return ApiError("wechat_error",
                        f"微信接口返回错误（{errcode}），请稍后重试或联系系统管理员",
                        f"WeChat {what} failed with errcode {errcode}", 503)
    log.warning("wechat %s failed: %s", what, type(exc).__name__)
    return UNAVAILABLE()


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except (WeChatClientException, requests.RequestException, ValueError) as exc:
        raise api_error(exc, what) from None


def code_to_session(js_code: str) -> str:
    """The openid behind a wx.login code. The session_key is dropped here, unread."""
    c = client()
    result = _call("code2Session", c.wxa.code_to_session, js_code)
    openid = result.get("openid") if isinstance(result, dict) else None
    result = None  # the answer holds the session_key: let it go now
    if not isinstance(openid, str) or not openid:
        raise UNAVAILABLE
    return openid


def wxa_code(scene: str, page: str, *, width: int | None = None) -> bytes:
    """A mini-program code (getwxacodeunlimit) opening `page` with `scene` (<= 32 chars).

    Posted through the client with the documented body (wechatpy 1.8's
    get_wxa_code_unlimited has no check_path or env_version).
    """
    c = client()
    body = {"scene": scene, "page": page,
            "width": int(width or setting("MINIPROGRAM_CODE_WIDTH")),
            "check_path": bool(setting("MINIPROGRAM_CHECK_PATH")),
            "env_version": setting("MINIPROGRAM_ENV_VERSION")}
    res = _call("getwxacodeunlimit", c.post, "wxa/getwxacodeunlimit", data=body,
                api_base_url=c.base)
    if isinstance(res, requests.Response) and res.headers.get(
            "Content-Type", "").startswith("image/") and res.content:
        return res.content
    log.warning("wechat getwxacodeunlimit: no image in the answer")
    raise UNAVAILABLE


def msg_sec_check(openid: str, content: str, scene: int = 2) -> str:
    """msgSecCheck version 2: "pass", "review" or "risky" (errcode 87014: "risky").

    wechatpy 1.8 has only version 1 (check_text_security); version 2 is posted
    through the client, which adds the access token and handles its renewal.
    """
    c = client()
    body = {"version": 2, "openid": openid, "scene": scene, "content": content}
    try:
        result = c.post("wxa/msg_sec_check", data=body, api_base_url=c.base)
    except WeChatClientException as exc:
        if exc.errcode is not None and int(exc.errcode) == 87014:
            return "risky"
        raise api_error(exc, "msgSecCheck") from None
    except (requests.RequestException, ValueError) as exc:
        raise api_error(exc, "msgSecCheck") from None
    suggest = (result.get("result") or {}).get("suggest") if isinstance(result, dict) else None
    if suggest not in ("pass", "review", "risky"):
        log.warning("wechat msgSecCheck: unexpected answer")
        raise UNAVAILABLE
    return suggest
