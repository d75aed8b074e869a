"""One access token per WeChat app for every process and host (wechatpy clients).

Both wechatpy clients of this project, the mini-program's (server/wechat/client.py)
and the WeCom app's (bot/wecom.py), mix in `SharedToken`:

- the token lives in Redis, in wechatpy's own `RedisStorage` under a hash tag of
  the client's (`{wx:<appid>}`, `{wecom:<digest>}`), so every worker uses one token
  instead of each fetching its own (with WeChat's /cgi-bin/token each fetch ends
  the last token's life after 5 minutes);
- it is fetched under redis-py's `Lock`: when it is missing, or WeChat refuses it
  (40001/40014/42001), one worker fetches and the others wait, then reuse the
  result; a worker whose request failed with a token another one has since
  replaced takes the new token instead of fetching again;
- it is kept 5 minutes less than WeChat says (refetched early, while the old one
  still works);
- wechatpy retries a refused call after a refetch, and would do so forever if the
  new token failed too: one retry per call here.

A subclass says how its app fetches a token (`_request_token`).
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from redis.exceptions import LockError
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from server.core.redis import get_redis

log = logging.getLogger(__name__)

LOCK_S = 30  # the lock expires if its holder dies
WAIT_S = 15  # how long a worker waits for another's fetch
MARGIN_S = 300  # forget a token this long before WeChat says it expires


def token_store(prefix: str) -> RedisStorage:
    """wechatpy's Redis session storage on the app's Redis client, keys under `prefix`."""
    return RedisStorage(get_redis(), prefix=prefix)


def token_ttl(expires_in: int) -> int:
    return max(60, expires_in - MARGIN_S) if expires_in > MARGIN_S + 60 else max(1, expires_in // 2)


class SharedToken:
    """A wechatpy client mix-in: the shared token store and the fetch under a lock."""

    session: RedisStorage
    access_token_key: str
    auto_retry: bool
    _http: requests.Session

    _used_token: str | None = None
    _depth = 0

    def _request_token(self, force: bool) -> dict[str, Any]:
        """The app's token endpoint's answer ({"access_token", "expires_in"});
        `force`: the token WeChat keeps handing out was refused."""
        raise NotImplementedError

    def _lock_not_acquired(self) -> Exception:
        return TimeoutError("timed out waiting for another worker to fetch the access token")

    def remember(self, token: str) -> None:
        """Told every token this client uses (the bot keeps them out of its logs)."""

    @property
    def access_token(self) -> str:
        token = self.session.get(self.access_token_key)
        if not token:
            self.fetch_access_token()
            token = self.session.get(self.access_token_key)
        self.remember(token)
        self._used_token = token
        return token

    def fetch_access_token(self) -> dict[str, Any]:
        """Fetch a token under the lock, unless another worker already has a newer one."""
        failed = self._used_token
        lock = get_redis().lock(self.session.key_name("token-lock"), timeout=LOCK_S,
                                blocking_timeout=WAIT_S)
        try:
            with lock:
                current = self.session.get(self.access_token_key)
                if current and current != failed:
                    self.remember(current)
                    return {"access_token": current}
                result = self._request_token(force=False)
                if failed and result["access_token"] == failed:
                    result = self._request_token(force=True)
                self.remember(result["access_token"])
                self.session.set(self.access_token_key, result["access_token"],
                                 token_ttl(int(result.get("expires_in") or 7200)))
                return result
        except LockError:
            log.warning("wechat: access token lock not acquired")
            raise self._lock_not_acquired() from None

    def _token_answer(self, res: requests.Response) -> dict[str, Any]:
        """A token endpoint's answer, or WeChatClientException (errcode None: HTTP error)."""
        try:
            res.raise_for_status()
        except requests.RequestException as exc:
            raise WeChatClientException(None, None, client=self, request=exc.request,
                                        response=exc.response) from None
        result = res.json()
        if result.get("errcode") or not result.get("access_token"):
            raise WeChatClientException(result.get("errcode", -1), result.get("errmsg", ""),
                                        client=self, request=res.request, response=res)
        return result

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        params = kwargs.get("params")
        if isinstance(params, dict) and params.get("access_token"):
            self._used_token = params["access_token"]  # a retry's token, after a refetch
        self._depth += 1
        saved = self.auto_retry
        if self._depth > 1:
            self.auto_retry = False
        try:
            return super()._request(method, url_or_endpoint, **kwargs)  # type: ignore[misc]  # wechatpy is untyped
        finally:
            self._depth -= 1
            self.auto_retry = saved
