"""Counting failures per client in Redis: console logins, and guessed voting tokens.

Who the client is: the address the server gives (REMOTE_ADDR): the socket peer,
or, from a proxy the server trusts (uvicorn's FORWARDED_ALLOW_IPS, docs/deploy.md
§7), the address that proxy saw (X-Forwarded-For); never a header the client
itself writes. IPv6 clients
are counted per /64 (one customer's network, which hands out its addresses
freely). Redis keys hold a keyed hash of the address, never the address.

Limits (server/core/settings.py): LOGIN_FAIL_LIMIT failed sign-ins per user name and
address, and LOGIN_FAIL_ADDRESS_LIMIT per address, within LOGIN_FAIL_WINDOW_S;
TOKEN_GUESS_LIMIT unknown or malformed voting tokens per address (per round, and
once more for tokens with no round) within TOKEN_GUESS_WINDOW_S. Over a limit:
429 `rate_limited`; for tokens, only to unknown ones: a token of the round is looked
up first and always served (voting/livetally.py CLAIM_MANY, PEEK), since a 128-bit
token cannot be guessed and a meeting room shares one NAT address. A code short
enough to enumerate (the WeChat binding code, miniprogram/staff.py) is refused over
its limit before it is looked up, valid or not. A success resets nothing: an
attacker with one good account cannot wash their address clean.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any, cast

from flask import Flask, current_app, g, has_app_context, has_request_context, request

from server.core.errors import ApiError
from server.core.redis import get_redis, run_script, sync

# INCR with the window starting at the first failure (EXPIRE ... NX needs Redis 7).
HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def too_many(zh: str, en: str, retry_after_s: int) -> ApiError:
    err = ApiError("rate_limited", zh, en, 429)
    err.retry_after = retry_after_s  # type: ignore[attr-defined]  # read by core/errors
    return err


def bind_client(remote_addr: str | None) -> None:
    """The client this app context serves, for code running outside a Flask
    request (the ballot route on the event loop, voting/asgi.py)."""
    g.rl_remote_addr = remote_addr or ""


def _remote_addr() -> str | None:
    """The peer address; None when no client is being served (CLI, tools)."""
    if has_request_context():
        return request.remote_addr or ""
    if has_app_context():
        return g.get("rl_remote_addr")
    return None


def client_address() -> str:
    """The peer address as counted: IPv4 as is, IPv6 as its /64."""
    return counted_address(_remote_addr() or "")


def counted_address(raw: str) -> str:
    """`raw` (a REMOTE_ADDR) as counted: IPv4 as is, IPv6 as its /64."""
    try:
        addr = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return raw[:64] or "unknown"
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def client_id() -> str:
    """A keyed hash of the client's address (Redis never holds the address itself)."""
    return hashed_client(_remote_addr() or "", _secret_key(current_app))


def _secret_key(app: Flask) -> str:
    # Flask types it `str | bytes | None`; the settings (core/settings.py) make it a str
    return cast(str, app.secret_key)


_HASHED: dict[tuple[str, str], str] = {}
_HASHED_MAX = 10_000


def hashed_client(remote_addr: str, secret_key: str) -> str:
    """client_id() of `remote_addr`. Remembered per process: every ballot needs it
    (the claim script counts unknown tokens under it), and a meeting's few hundred
    phones send one to four requests each."""
    found = _HASHED.get((remote_addr, secret_key))
    if found is None:
        key = hashlib.sha256(b"pingyi-ratelimit:" + secret_key.encode()).digest()
        found = hashlib.blake2s(counted_address(remote_addr).encode(), key=key,
                                digest_size=10).hexdigest()
        if len(_HASHED) >= _HASHED_MAX:
            _HASHED.clear()
        _HASHED[(remote_addr, secret_key)] = found
    return found


def hit(key: str, window_s: int) -> int:
    """Count one failure under `key`; the count within the window."""
    return int(run_script(HIT, [key], [window_s]))


def counts(*keys: str) -> list[int]:
    """Current counts (keys in one hash slot)."""
    return [int(v or 0) for v in sync(get_redis().mget(keys))]


# -- voting tokens -----------------------------------------------------------

TOO_MANY_GUESSES = ("无效投票码的尝试次数过多，请稍后再试；如有疑问请联系会务人员",
                    "Too many unknown or malformed voting tokens from this network; "
                    "wait and retry")


def guess_key(round_id: int, client: str = "") -> str:
    """A client's failed-token counter for a round (in the round's hash slot);
    `client` a client_id (""; the key of no client)."""
    return f"{{r:{round_id}}}:guess:{client}"


def guess_limit() -> tuple[int, int]:
    """(limit, window seconds) for token guesses; (0, 0) with no client (no limit)."""
    if _remote_addr() is None:
        return 0, 0
    cfg = current_app.config
    return int(cfg["TOKEN_GUESS_LIMIT"]), int(cfg["TOKEN_GUESS_WINDOW_S"])


def guessing_refused() -> ApiError:
    return too_many(*TOO_MANY_GUESSES, guess_limit()[1])


def note_bad_token() -> None:
    """A token that is malformed or names no round: count it outside any round, and
    answer 429 instead of the error once this client is over the limit."""
    limit, window = guess_limit()
    if limit and hit(f"guess:{client_id()}", window) > limit:
        raise guessing_refused()


def round_guess_args(round_id: int) -> tuple[str, int, int]:
    """(key, limit, window) for the claim/peek scripts; limit 0 switches the check off."""
    return guess_args_for(current_app, round_id, _remote_addr())


def guess_args_for(app: Flask, round_id: int, remote_addr: str | None) -> tuple[str, int, int]:
    """round_guess_args() for the client at `remote_addr` (None: no client, no limit),
    without an app context (the ballot on the event loop, voting/asgi.py)."""
    limit = int(app.config["TOKEN_GUESS_LIMIT"]) if remote_addr is not None else 0
    if not limit:
        return guess_key(round_id), 0, 0
    return (guess_key(round_id, hashed_client(remote_addr or "", _secret_key(app))),
            limit, int(app.config["TOKEN_GUESS_WINDOW_S"]))


# -- console sign-in ----------------------------------------------------------

def _login_keys(username: str) -> tuple[str, str]:
    """(per user name and address, per address): both hold only a keyed hash."""
    client = client_id()
    pair = hashlib.sha256(f"{client}\0{username.strip().casefold()}".encode()).hexdigest()
    return f"{{login}}:ua:{pair[:24]}", f"{{login}}:a:{client}"


def login_blocked(username: str) -> ApiError | None:
    """429 when this address failed too often for this user name, or for any.

    Nothing is counted per user name alone: a storm of wrong passwords from one
    address must not lock the account's owner out from another. The answer is the
    same whether or not the user name exists (the counters do not know either).
    """
    cfg = current_app.config
    pair_limit, addr_limit = int(cfg["LOGIN_FAIL_LIMIT"]), int(cfg["LOGIN_FAIL_ADDRESS_LIMIT"])
    window = int(cfg["LOGIN_FAIL_WINDOW_S"])
    pair, addr = counts(*_login_keys(username))
    if (pair_limit and pair >= pair_limit) or (addr_limit and addr >= addr_limit):
        minutes = max(1, window // 60)
        return too_many(f"登录失败次数过多，请 {minutes} 分钟后再试",
                        "Too many failed sign-ins from this network; "
                        f"wait {minutes} minutes", window)
    return None


def login_failed(username: str) -> None:
    window = int(current_app.config["LOGIN_FAIL_WINDOW_S"])
    for key in _login_keys(username):
        hit(key, window)


def retry_after(err: Any) -> int | None:
    return getattr(err, "retry_after", None)
