"""Mini-program settings: defaults here, then the environment, then the app config.

Every key can be set as an environment variable of the same name (as in
config/default.toml) or in the app config (tests). With no AppID the WeChat
features answer 503 `wechat_not_configured`; everything else works as before.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from server.core.config import apply_defaults

DEFAULTS: dict[str, Any] = {
    # The mini-program (小程序) account: AppID and AppSecret from mp.weixin.qq.com.
    "WECHAT_MINIPROGRAM_APPID": "",
    "WECHAT_MINIPROGRAM_SECRET": "",
    # Where the WeChat server APIs live; tests and the demo point it at bot/wechat_fake.
    "WECHAT_MINIPROGRAM_API_BASE": "https://api.weixin.qq.com",
    # "stable": /cgi-bin/stable_token (recommended; several hosts share one token);
    # "classic": /cgi-bin/token. Either way the token is cached in Redis under a lock.
    "WECHAT_MINIPROGRAM_TOKEN_API": "stable",
    "WECHAT_HTTP_TIMEOUT_S": 10.0,
    # msgSecCheck v2 for members' free text (ballot comments) when the mini-program is
    # configured; "review" verdicts are refused too unless this is false.
    "WECHAT_CONTENT_CHECK": True,
    "WECHAT_CONTENT_REVIEW_BLOCKS": True,
    # Mini-program pages the codes open (no leading slash, no query string).
    "MINIPROGRAM_SLIP_PAGE": "pages/vote/vote",
    "MINIPROGRAM_CLAIM_PAGE": "pages/claim/claim",
    "MINIPROGRAM_ENV_VERSION": "release",   # release | trial | develop
    "MINIPROGRAM_CHECK_PATH": True,          # false while the pages are not yet published
    "MINIPROGRAM_CODE_WIDTH": 430,           # pixels, 280..1280
    "MINIPROGRAM_MAX_SLIP_CODES": 2000,      # mini-program slips per request (one API call each)
    # Staff sessions of the mini-program (bearer tokens, stored hashed).
    "STAFF_SESSION_TTL_S": 7200,
    "STAFF_REFRESH_TTL_S": 2592000,          # 30 days
    "WECHAT_BINDING_CODE_TTL_S": 600,        # one-time binding codes from the console
    "CONTENT_PASS_TTL_S": 900,               # a content check's pass, for one ballot
}


def init_app(app: Flask) -> None:
    """Fill every setting the app config does not have: environment, then default."""
    apply_defaults(app.config, DEFAULTS)


def setting(key: str) -> Any:
    return current_app.config.get(key, DEFAULTS.get(key))


def configured() -> bool:
    return bool(setting("WECHAT_MINIPROGRAM_APPID") and setting("WECHAT_MINIPROGRAM_SECRET"))


def content_check_enabled() -> bool:
    return configured() and bool(setting("WECHAT_CONTENT_CHECK"))
