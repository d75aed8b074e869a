"""WeChat mini-program server APIs through wechatpy: login, codes, content checks.

`client.py` holds the client (the base URL comes from configuration, so tests
and the demo use bot/wechat_fake; the access token is cached in Redis and
fetched under a Redis lock); `config.py` the settings.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from server.wechat import config

    config.init_app(app)
