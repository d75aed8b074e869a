"""The WeChat Work app (自建应用) through wechatpy: one access token for every worker.

The token is shared through Redis and fetched under a Redis lock by one worker
for all (server/wechat/token.py, as the mini-program's client does), when it is
missing or WeCom reports it invalid (40014) or expired (42001). The API base URL
is configurable (tests and the demo use the local fake), including for gettoken,
which wechatpy hard-codes.

Redis keys carry a hash tag of their own and a keyed digest of the corp id and
secret, never the secret (wechatpy's default key holds its first 10 characters).
Every token is also handed to `redact`, so it never reaches the bot's logs.
"""

from __future__ import annotations

import hashlib
from typing import Any

from wechatpy.enterprise import WeChatClient

from bot import redact
from bot.config import api_base, setting
from server.core.errors import error_kind
from server.wechat.token import SharedToken, token_store

NOT_CONFIGURED = error_kind(
    "wecom_not_configured",
    "尚未配置企业微信应用（WECOM_CORP_ID、WECOM_APP_SECRET），无法发送到应用群聊",
    "the WeCom app is not configured (WECOM_CORP_ID, WECOM_APP_SECRET)", 409)


class PingyiWeComClient(SharedToken, WeChatClient):
    """wechatpy's enterprise client: configurable base URL, the token shared."""

    access_token_key = "access_token"  # noqa: S105 (a Redis key name, not a secret)

    def __init__(self, corp_id: str, secret: str, base: str, timeout: float) -> None:
        self.API_BASE_URL = f"{base}/cgi-bin/"
        self._base = base
        tag = hashlib.sha256(f"{corp_id}\0{secret}".encode()).hexdigest()[:16]
        super().__init__(corp_id, secret, session=token_store(f"{{wecom:{tag}}}"),
                         timeout=timeout, auto_retry=True)
        # A fresh connection per request: a reused keep-alive connection that the
        # server closed makes a sent message look "maybe delivered".
        self._http.headers["Connection"] = "close"

    def remember(self, token: str) -> None:
        redact.remember(token)

    def _request_token(self, force: bool) -> dict[str, Any]:
        return self._token_answer(self._http.get(
            f"{self._base}/cgi-bin/gettoken", timeout=self.timeout,
            params={"corpid": self.corp_id, "corpsecret": self.secret}))


def app_client() -> PingyiWeComClient:
    corp_id, secret = str(setting("WECOM_CORP_ID")), str(setting("WECOM_APP_SECRET"))
    if not corp_id or not secret:
        raise NOT_CONFIGURED
    redact.remember(secret)
    return PingyiWeComClient(corp_id, secret, api_base(), float(setting("BOT_HTTP_TIMEOUT_S")))
