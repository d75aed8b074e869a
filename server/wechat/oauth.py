"""The official account's web authorization (公众号网页授权, scope snsapi_base), through
wechatpy's WeChatOAuth, for the session QR on the mobile page in WeChat:

    authorize_url(redirect_uri, state)  -> where to send the phone (WeChat answers by
                                           redirecting back with ?code=…&state=…)
    code_to_openid(code)                -> the openid (sns/oauth2/access_token)

snsapi_base asks the member nothing and gives only the openid of this official
account, which is not the mini-program's openid for the same person (see
docs/miniprogram.md). The OAuth access token that comes with it is dropped unread:
nothing here calls the user-info API. Secrets travel only in the query string WeChat
requires, and nothing logs a URL.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from wechatpy.exceptions import WeChatClientException
from wechatpy.oauth import WeChatOAuth

from server.core.errors import error_kind
from server.wechat.client import api_error
from server.wechat.config import setting

log = logging.getLogger(__name__)

NOT_CONFIGURED = error_kind(
    "wechat_oauth_not_configured", "尚未配置微信公众号网页授权，请使用小程序扫码或联系会务人员",
    "The official account's web authorization is not configured", 503)
CODE_INVALID = error_kind(
    "wechat_code_invalid", "微信授权已过期或已使用，请重新扫描大屏上的二维码",
    "Invalid, expired or used web authorization code", 401, "oauth_code")
_CODE_ERRORS = (40029, 40163, 41008)


def configured() -> bool:
    return bool(setting("WECHAT_OA_APPID") and setting("WECHAT_OA_SECRET"))


class _OAuth(WeChatOAuth):
    """WeChatOAuth at the configured base URLs, with a timeout on every call."""

    def __init__(self, redirect_uri: str = "", state: str = "") -> None:
        if not configured():
            raise NOT_CONFIGURED
        super().__init__(setting("WECHAT_OA_APPID"), setting("WECHAT_OA_SECRET"), redirect_uri,
                         scope="snsapi_base", state=state)
        self.OAUTH_BASE_URL = setting("WECHAT_OA_AUTHORIZE_BASE").rstrip("/") + "/"
        self.API_BASE_URL = setting("WECHAT_OA_API_BASE").rstrip("/") + "/"

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", float(setting("WECHAT_HTTP_TIMEOUT_S")))
        return super()._request(method, url_or_endpoint, **kwargs)


def authorize_url(redirect_uri: str, state: str) -> str:
    """WeChat's authorize page for `redirect_uri` (scope snsapi_base: no prompt)."""
    return str(_OAuth(redirect_uri, state).authorize_url)


def code_to_openid(code: str) -> str:
    """The openid behind a web authorization code (single use, 5 minutes)."""
    oauth = _OAuth()
    try:
        answer = oauth.fetch_access_token(code)
    except WeChatClientException as exc:
        if exc.errcode is not None and int(exc.errcode) in _CODE_ERRORS:
            log.info("wechat oauth: code refused (errcode %s)", exc.errcode)
            raise CODE_INVALID from None
        raise api_error(exc, "oauth2/access_token") from None
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise api_error(exc, "oauth2/access_token") from None
    openid = answer.get("openid") if isinstance(answer, dict) else None
    answer = None  # holds the OAuth access and refresh tokens: let them go now
    if not isinstance(openid, str) or not openid:
        raise api_error(ValueError("no openid"), "oauth2/access_token")
    return openid

