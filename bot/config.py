"""The bot's settings: defaults here, overridden by the app config or the environment.

Secrets of the WeCom app (corp secret, callback token and AES key) live only in
configuration (environment variables); per-chat secrets (group robot webhook
keys, app chat ids) are stored encrypted in SQL (bot/vault.py).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from server.core.config import apply_defaults

DEFAULTS: dict[str, Any] = {
    # WeChat Work (企业微信) API; tests and the demo point it at bot/wechat_fake.
    "WECOM_API_BASE": "https://qyapi.weixin.qq.com",
    "WECOM_CORP_ID": "",
    "WECOM_AGENT_ID": "",
    "WECOM_APP_SECRET": "",          # the self-built app's Secret (appchat, callbacks)
    "WECOM_CALLBACK_TOKEN": "",      # 接收消息 Token
    "WECOM_CALLBACK_AES_KEY": "",    # 接收消息 EncodingAESKey (43 characters)
    "BOT_HTTP_TIMEOUT_S": 10.0,      # connect + read timeout of one WeChat request
    "BOT_RATE_LIMIT": 20,            # messages per robot (or app chat) ...
    "BOT_RATE_WINDOW_S": 60,         # ... within this many seconds (WeCom: 20/min)
    "BOT_LEASE_S": 120,              # how long a runner owns a post it claimed
    "BOT_MAX_ATTEMPTS": 8,           # then the post is `failed` (a person may retry it)
    "BOT_BACKOFF_BASE_S": 30,        # retry after 30 s, 60 s, 120 s, ... (jittered) ...
    "BOT_BACKOFF_MAX_S": 3600,       # ... at most an hour apart
    "BOT_CATCHUP_DAYS": 45,          # run-due posts what became due within this many days
    "BOT_CALLBACK_MAX_SKEW_S": 300,  # callbacks older or newer than this are refused
    "BOT_CARD_MAX_ROWS": 60,         # rows on a PNG card (the share page has them all)
}


def init_app(app: Flask) -> None:
    """Fill every bot setting the app config does not have: environment, then default."""
    apply_defaults(app.config, DEFAULTS)


def setting(key: str) -> Any:
    return current_app.config.get(key, DEFAULTS.get(key))


def api_base() -> str:
    return str(setting("WECOM_API_BASE")).rstrip("/")
