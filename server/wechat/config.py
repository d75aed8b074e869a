"""Mini-program settings, read from app.config (filled from server/core/settings.py,
where they are declared with their defaults). With no AppID the WeChat features
answer 503 `wechat_not_configured`; everything else works as before.
"""

from __future__ import annotations

from typing import Any

from flask import current_app


def setting(key: str) -> Any:
    return current_app.config[key]


def configured() -> bool:
    return bool(setting("WECHAT_MINIPROGRAM_APPID") and setting("WECHAT_MINIPROGRAM_SECRET"))


def content_check_enabled() -> bool:
    return configured() and bool(setting("WECHAT_CONTENT_CHECK"))
