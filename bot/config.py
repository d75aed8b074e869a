"""The bot's settings, read from app.config (filled from server/core/settings.py,
where they are declared with their defaults: WECOM_*, BOT_*).

Secrets of the WeCom app (corp secret, callback token and AES key) live only in
configuration (environment variables); per-chat secrets (group robot webhook
keys, app chat ids) are stored encrypted in SQL (bot/vault.py).
"""

from __future__ import annotations

from typing import Any

from flask import current_app


def setting(key: str) -> Any:
    return current_app.config[key]


def api_base() -> str:
    return str(setting("WECOM_API_BASE")).rstrip("/")
