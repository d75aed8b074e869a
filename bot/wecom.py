"""The WeChat Work app (自建应用) through wechatpy: one access token for every worker.

wechatpy's `WeChatClient` keeps the access token in a session storage; here it
is Redis (the app's client, `RedisTokenStorage`), so every process and host
shares one token instead of each fetching its own. Fetching happens under a
Redis lock (SET NX PX + compare-and-delete): when the token is missing or WeCom
reports it invalid (40014) or expired (42001), one worker calls gettoken and
the others wait for it and reuse the result. A worker whose request failed with
a token another worker has since replaced takes the new token instead of
fetching again. The API base URL is configurable (tests and the demo use the
local fake), including for gettoken, which wechatpy hard-codes.

Redis keys carry a hash tag of their own and a keyed digest of the corp id and
secret, never the secret (wechatpy's default key holds its first 10 characters).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from wechatpy.enterprise import WeChatClient
from wechatpy.session import SessionStorage

from bot import redact
from bot.config import api_base, setting
from server.core.errors import error_kind
from server.core.redis import get_redis, run_script

TOKEN_MARGIN_S = 300  # forget a token this long before WeCom says it expires
LOCK_MS = 15_000
WAIT_S = 15.0

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

NOT_CONFIGURED = error_kind(
    "wecom_not_configured",
    "尚未配置企业微信应用（WECOM_CORP_ID、WECOM_APP_SECRET），无法发送到应用群聊",
    "the WeCom app is not configured (WECOM_CORP_ID, WECOM_APP_SECRET)", 409)


class RedisTokenStorage(SessionStorage):
    """wechatpy session storage on the app's Redis client."""

    def __init__(self, redis: Any, tag: str) -> None:
        self.redis = redis
        self.tag = tag

    def key_name(self, key: str) -> str:
        return f"{{wecom:{self.tag}}}:{key}"

    def get(self, key: str, default: Any = None) -> Any:
        raw = self.redis.get(self.key_name(key))
        if raw is None:
            return default
        value = json.loads(raw)
        redact.remember(value)
        return value

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        if value is None:
            return
        redact.remember(value)
        if ttl:
            ttl = max(60, int(ttl) - TOKEN_MARGIN_S)
        self.redis.set(self.key_name(key), json.dumps(value), ex=ttl)

    def delete(self, key: str) -> None:
        self.redis.delete(self.key_name(key))


class PingyiWeComClient(WeChatClient):
    """wechatpy's enterprise client: configurable base URL, token shared under a lock."""

    def __init__(self, corp_id: str, secret: str, base: str, timeout: float) -> None:
        self.API_BASE_URL = f"{base}/cgi-bin/"
        self._base = base
        self._used_token: str | None = None
        tag = hashlib.sha256(f"{corp_id}\0{secret}".encode()).hexdigest()[:16]
        super().__init__(corp_id, secret, session=RedisTokenStorage(get_redis(), tag),
                         timeout=timeout, auto_retry=True)
        self.fetches = 0  # gettoken calls this client made (tests)
        self._depth = 0
        # A fresh connection per request: a reused keep-alive connection that the
        # server closed makes a sent message look "maybe delivered".
        self._http.headers["Connection"] = "close"

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        params = kwargs.setdefault("params", {})
        if isinstance(params, dict):
            if "access_token" not in params:
                params["access_token"] = self.access_token
            self._used_token = params["access_token"]
        return super()._request(method, url_or_endpoint, **kwargs)

    def _handle_result(self, res: Any, method: Any = None, url: Any = None,
                       result_processor: Any = None, **kwargs: Any) -> Any:
        # wechatpy retries a call once per token refresh, recursively; one refresh is enough.
        self._depth += 1
        try:
            if self._depth > 1:
                self.auto_retry = False
            return super()._handle_result(res, method, url, result_processor, **kwargs)
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.auto_retry = True

    @property
    def access_token_key(self) -> str:
        return "access_token"

    @property
    def access_token(self) -> str:
        token = self.session.get(self.access_token_key)
        if not token:
            self.fetch_access_token()
            token = self.session.get(self.access_token_key)
        self._used_token = token
        return token

    def _lock_key(self) -> str:
        return self.session.key_name("token_lock")

    def fetch_access_token(self) -> dict[str, Any]:
        """Refresh the shared token, once for all workers (wechatpy calls this on 40014/42001)."""
        r = self.session.redis
        deadline = time.monotonic() + WAIT_S
        stale = self._used_token
        while True:
            current = self.session.get(self.access_token_key)
            if current and current != stale:  # another worker already has a fresh one
                return {"access_token": current}
            owner = secrets.token_hex(8)
            if r.set(self._lock_key(), owner, nx=True, px=LOCK_MS):
                try:
                    current = self.session.get(self.access_token_key)
                    if current and current != stale:
                        return {"access_token": current}
                    self.fetches += 1
                    return self._fetch_access_token(
                        url=f"{self._base}/cgi-bin/gettoken",
                        params={"corpid": self.corp_id, "corpsecret": self.secret})
                finally:
                    run_script(_UNLOCK, [self._lock_key()], [owner], client=r)
            if time.monotonic() > deadline:
                raise TimeoutError("timed out waiting for another worker to fetch the token")
            time.sleep(0.05)


def app_client() -> PingyiWeComClient:
    corp_id, secret = str(setting("WECOM_CORP_ID")), str(setting("WECOM_APP_SECRET"))
    if not corp_id or not secret:
        raise NOT_CONFIGURED
    redact.remember(secret)
    return PingyiWeComClient(corp_id, secret, api_base(), float(setting("BOT_HTTP_TIMEOUT_S")))
