"""Every setting of pingyi: one typed object, read once from the environment.

Each field is an environment variable of the same name; an unset or empty one
takes the default written here. `Settings()` reads them all when a process
starts (create_app, config/gunicorn.conf.py), and a bad value stops it with a
message naming the variable. The app copies the values into `app.config`,
where every module reads them (tests change them there). The classes below
group the fields as the docs show them; the tables in README.md and docs/ are
generated from the descriptions here (`pingyi settings docs`,
server/core/settings_docs.py).
"""

from __future__ import annotations

import logging
import os
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(RuntimeError):
    """A setting that the process cannot start with."""


def var(default: Any = None, about: str = "", *, shown: str | None = None,
        production: str | None = None, secret: bool = False, **limits: Any) -> Any:
    """A setting: its default, what it does (markdown, for the docs), how the docs show
    a default that is worked out at start (`shown`), the value production wants, and
    whether its value must never be printed (`secret`)."""
    extra: dict[str, Any] = {"shown": shown, "production": production, "secret": secret}
    if callable(default):
        return Field(default_factory=default, description=about, json_schema_extra=extra,
                     **limits)
    return Field(default, description=about, json_schema_extra=extra, **limits)


def _level(value: str) -> str:
    name = value.strip().upper()
    if not isinstance(logging.getLevelName(name), int):
        raise ValueError("a logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return name


def _aes_key(value: str) -> str:
    if value and len(value) != 43:
        raise ValueError("the EncodingAESKey has 43 characters")
    return value


LogLevel = Annotated[str, AfterValidator(_level)]


class WebSettings(BaseModel):
    """The web server's processes: config/gunicorn.conf.py and server/asgi.py."""

    PINGYI_BIND: str = var("127.0.0.1:8000", "bind to the address the proxy reaches")
    PINGYI_WORKERS: int = var(
        lambda: (os.cpu_count() or 1) + 1,
        "processes; each has its own group committer, so fewer workers make bigger batches",
        shown="cores + 1", ge=1)
    PINGYI_THREADS: int = var(
        12, "threads per worker for every request but ballots (ballots wait on the event loop)",
        ge=1)
    PINGYI_ACCESS_LOG: str = var(
        "", "a path or `-`; one line per request: "
        "client address, request line (path with its query string), status, body bytes, "
        'milliseconds, e.g. `10.0.0.5 "POST /api/v1/ballots HTTP/1.1" 201 145 11ms` (tokens '
        "never travel in URLs, so no line holds one; no timestamps)",
        shown="unset (no access log)")
    PINGYI_LOG_LEVEL: Literal["debug", "info", "warning", "error", "critical"] = var(
        "info", "gunicorn's own log (the app's is `LOG_LEVEL`)")
    PINGYI_SWITCH_INTERVAL: float = var(
        0.0005, "seconds between the interpreter's thread switches in a worker "
        "(`sys.setswitchinterval`): threads waiting on I/O, the group committer above all, "
        "get the GIL back sooner than after Python's 5 ms", gt=0)
    FORWARDED_ALLOW_IPS: str = var(
        "127.0.0.1,::1", "the proxy addresses whose `X-Forwarded-For`/`-Proto` give the "
        "client's address and scheme (uvicorn's proxy headers, gunicorn's setting; anyone "
        "else's are ignored; docs/deploy.md §7)", production="the TLS proxy's address")


class CoreSettings(BaseModel):
    """The app: storage, addresses, limits of the ballot path, sign-in limits."""

    DATABASE_URL: str = var(
        "", "the record; SQLite is for one machine only",
        shown="`sqlite:///instance/pingyi.sqlite3` (WAL, `synchronous=FULL`)",
        production="`postgresql+psycopg://pingyi:…@db.internal:5432/pingyi`", secret=True)
    DB_POOL_SIZE: int = var(10, "SQL connections per process (sizing: docs/deploy.md §4)", ge=1)
    DB_MAX_OVERFLOW: int = var(5, "connections a process may open beyond the pool", ge=0)
    REDIS_URL: str = var(
        "", "single Redis; leave unset when using a cluster",
        shown="a private redis-server on `instance/redis.sock`",
        production="`redis://:…@redis.internal:6379/0` (or `rediss://…`)", secret=True)
    REDIS_CLUSTER_NODES: str = var(
        "", "Redis Cluster instead of `REDIS_URL` (docs/deploy.md §6); the first item may be "
        "a URL carrying scheme and credentials for every node: "
        "`rediss://user:pass@10.0.0.11:7000,10.0.0.12:7000,10.0.0.13:7000`",
        shown="unset", production="`10.0.0.11:7000,10.0.0.12:7000,10.0.0.13:7000`",
        secret=True)
    SECRET_KEY: str = var(
        "", "signs console sessions and CSRF tokens; if unset, each host invents its own "
        "(`instance/secret_key`) and a login on one host is unknown on the next. Required "
        "when `DATABASE_URL` is not the embedded SQLite",
        shown="random, kept in `instance/secret_key`",
        production="64 random hex characters, **the same on every host**", secret=True)
    PUBLIC_BASE_URL: str = var(
        "", "the address printed in slip QR codes and share links; without it, the "
        "request's host is used", shown="the request's host",
        production="`https://pingyi.example.com`")
    SESSION_COOKIE_SECURE: bool = var(
        False, "the console cookie only travels over HTTPS", production="`true`")
    LOGIN_FAIL_LIMIT: int = var(
        10, "failed console sign-ins per user name and client address within "
        "`LOGIN_FAIL_WINDOW_S`; over it, 429 from that address for the rest of the window "
        "(never per user name alone: nobody can lock an account's owner out). `0`: off", ge=0)
    LOGIN_FAIL_ADDRESS_LIMIT: int = var(
        30, "failed console sign-ins per client address for any user names within "
        "`LOGIN_FAIL_WINDOW_S`; over it, 429 from that address. `0`: off", ge=0)
    LOGIN_FAIL_WINDOW_S: int = var(900, "the sign-in limits' window, in seconds", ge=1)
    TOKEN_GUESS_LIMIT: int = var(
        20, "unknown or malformed voting tokens per client address and round within "
        "`TOKEN_GUESS_WINDOW_S`; over it, 429 for further unknown tokens from that address "
        "until the window ends (a valid token is always served: a meeting room behind one "
        "address keeps voting). `0` switches it off (load tests from one machine)", ge=0)
    TOKEN_GUESS_WINDOW_S: int = var(600, "the token-guess limit's window, in seconds", ge=1)
    K_ANONYMITY: int = var(5, "smallest voter category shown on its own", ge=1)
    TOKEN_CLAIM_TTL_S: int = var(30, "how long an in-flight ballot holds its token", ge=1)
    CLOSE_DRAIN_TIMEOUT_S: float = var(
        5, "how long a close waits for in-flight ballots, in seconds", ge=0)
    COMMIT_TIMEOUT_S: float = var(
        10, "a ballot waiting longer than this many seconds for its commit gets 503; more "
        "than `BALLOT_MIX_WAIT_S`", gt=0)
    BALLOT_MIX_K: int = var(
        8, "while a round is open, its ballots are written in batches of at least this many "
        "ballots of different tokens, each batch in random order, so the live database ties "
        "a ballot to its batch only (docs/deploy.md §4). `1`: no mixing", ge=1, le=64)
    BALLOT_MIX_WAIT_S: float = var(
        1.5, "the longest a ballot waits for its batch, in seconds: then whatever waits is "
        "written (a lone voter's wait for the answer)", ge=0)
    MAX_CONTENT_LENGTH: int = var(
        65536, "largest request body in bytes (a ballot is a few KB at most)", ge=1024)
    FORMS_DIR: str = var("", "the form templates", shown="`config/forms`")
    LOG_LEVEL: LogLevel = var(
        "INFO", "the app's log; not `DEBUG` in production (urllib3 logs URLs, WeChat's "
        "with their secrets, at `DEBUG`)")
    BENCH_ENDPOINTS: bool = var(
        False, "adds `POST /healthz/echo` and `/healthz/echo-flask` for `make bench`")


class WeChatSettings(BaseModel):
    """The WeChat mini-program and the official account's web authorization (server/wechat/,
    server/miniprogram/, docs/miniprogram.md)."""

    WECHAT_MINIPROGRAM_APPID: str = var(
        "", "the mini-program's AppID (mp.weixin.qq.com); empty: the WeChat features answer "
        "503 `wechat_not_configured`")
    WECHAT_MINIPROGRAM_SECRET: str = var("", "its AppSecret", secret=True)
    WECHAT_MINIPROGRAM_API_BASE: str = var(
        "https://api.weixin.qq.com", "where the WeChat server APIs live; tests and the demo "
        "point it at `bot/wechat_fake`")
    WECHAT_MINIPROGRAM_TOKEN_API: Literal["stable", "classic"] = var(
        "stable", "`stable`: `/cgi-bin/stable_token` (several hosts share one token); "
        "`classic`: `/cgi-bin/token`. Either way the token is cached in Redis under a lock")
    WECHAT_HTTP_TIMEOUT_S: float = var(10.0, "seconds per WeChat call", gt=0)
    WECHAT_CONTENT_CHECK: bool = var(
        True, "msgSecCheck v2 for members' comments (when configured)")
    WECHAT_CONTENT_REVIEW_BLOCKS: bool = var(
        True, "refuse `review` verdicts too, not only `risky`")
    MINIPROGRAM_SLIP_PAGE: str = var(
        "pages/vote/vote", "page a slip's code opens (no leading slash, no query string)")
    MINIPROGRAM_CLAIM_PAGE: str = var("pages/claim/claim", "page a session code opens")
    MINIPROGRAM_ENV_VERSION: Literal["release", "trial", "develop"] = var(
        "release", "`release`, `trial` or `develop`")
    MINIPROGRAM_CHECK_PATH: bool = var(
        True, "set false until the pages are published (else 41030)")
    MINIPROGRAM_CODE_WIDTH: int = var(430, "code image width, 280–1280 px", ge=280, le=1280)
    MINIPROGRAM_MAX_SLIP_CODES: int = var(
        2000, "mini-program slips per request (one WeChat call each)", ge=1)
    STAFF_SESSION_TTL_S: int = var(7200, "mini-program staff session lifetime, seconds", ge=1)
    STAFF_REFRESH_TTL_S: int = var(
        2592000, "staff refresh token lifetime, seconds (30 days)", ge=1)
    WECHAT_BINDING_CODE_TTL_S: int = var(
        600, "one-time binding codes from the console, seconds", ge=1)
    CONTENT_PASS_TTL_S: int = var(900, "a content check's pass, for one ballot, seconds", ge=1)
    WECHAT_OA_APPID: str = var(
        "", "the official account's (公众号) AppID for web authorization (网页授权, "
        "`snsapi_base`): the session QR on the mobile page (`/v/s/<scene>`) in WeChat; empty: "
        "that page answers 503 `wechat_oauth_not_configured`")
    WECHAT_OA_SECRET: str = var("", "its AppSecret", secret=True)
    WECHAT_OA_AUTHORIZE_BASE: str = var(
        "https://open.weixin.qq.com/connect/", "where WeChat's authorize page lives (the phone "
        "is sent there); tests point it at `bot/wechat_fake`")
    WECHAT_OA_API_BASE: str = var(
        "https://api.weixin.qq.com", "where `sns/oauth2/access_token` lives (code → openid)")


class BotSettings(BaseModel):
    """The leaderboard bot and WeChat Work (bot/, docs/bot.md)."""

    WECOM_API_BASE: str = var(
        "https://qyapi.weixin.qq.com", "WeChat Work's API; the demo and tests: the fake")
    WECOM_CORP_ID: str = var("", "the corp id; unset: no app chat, no commands")
    WECOM_AGENT_ID: str = var("", "the self-built app's AgentId")
    WECOM_APP_SECRET: str = var(
        "", "the self-built app's Secret (app chat, callbacks)", secret=True)
    WECOM_CALLBACK_TOKEN: str = var(
        "", "接收消息 Token; unset: the callback answers 404", secret=True)
    WECOM_CALLBACK_AES_KEY: Annotated[str, AfterValidator(_aes_key)] = var(
        "", "接收消息 EncodingAESKey (43 characters)", secret=True)
    BOT_HTTP_TIMEOUT_S: float = var(
        10.0, "connect + read timeout of one WeChat request, seconds", gt=0)
    BOT_RATE_LIMIT: int = var(
        20, "messages per robot (or app chat) within `BOT_RATE_WINDOW_S` (WeCom allows 20 a "
        "minute)", ge=1)
    BOT_RATE_WINDOW_S: int = var(60, "the bot's rate window, in seconds", ge=1)
    BOT_LEASE_S: int = var(120, "how long a runner owns a post it claimed, seconds", ge=1)
    BOT_MAX_ATTEMPTS: int = var(
        8, "attempts of a post; then it is `failed` (a person may retry it)", ge=1)
    BOT_BACKOFF_BASE_S: int = var(
        30, "the first retry waits this many seconds, each next one twice as long (jittered)",
        ge=1)
    BOT_BACKOFF_MAX_S: int = var(3600, "the longest wait between two retries, in seconds", ge=1)
    BOT_CATCHUP_DAYS: int = var(
        45, "`run-due` posts what became due within this many days", ge=1)
    BOT_CALLBACK_MAX_SKEW_S: int = var(
        300, "callbacks older or newer than this many seconds are refused", ge=1)
    BOT_CARD_MAX_ROWS: int = var(60, "rows on a PNG card (the share page has them all)", ge=1)


GROUPS: dict[str, type[BaseModel]] = {
    "web": WebSettings, "core": CoreSettings, "wechat": WeChatSettings, "bot": BotSettings}


class Settings(WebSettings, CoreSettings, WeChatSettings, BotSettings, BaseSettings):
    """All of them; `Settings()` reads the environment."""

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True,
                                      extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _commit_outwaits_mixing(self) -> Settings:
        # a lone ballot waits BALLOT_MIX_WAIT_S for its batch: it must not time out first
        if self.COMMIT_TIMEOUT_S <= self.BALLOT_MIX_WAIT_S:
            raise ValueError("COMMIT_TIMEOUT_S must be greater than BALLOT_MIX_WAIT_S")
        return self


def read_settings(**overrides: Any) -> Settings:
    """The environment's settings, `overrides` (tests) taking precedence; a bad value
    raises SettingsError naming each variable (never printing a secret's value)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    lines = ["bad settings (environment variables):"]
    for error in exc.errors(include_url=False):
        if not error["loc"]:  # a rule between settings: its message names them
            lines.append(f"  {error['msg']}")
            continue
        name = str(error["loc"][0])
        field = Settings.model_fields.get(name)
        extra = field.json_schema_extra if field else None
        secret = isinstance(extra, dict) and extra.get("secret")
        got = "" if secret or error["type"] == "extra_forbidden" else f" (got {error['input']!r})"
        lines.append(f"  {name}: {error['msg']}{got}")
    return "\n".join(lines)
