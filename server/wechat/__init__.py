"""WeChat mini-program server APIs through wechatpy: login, codes, content checks.

`client.py` holds the client (the base URL comes from configuration, so tests
and the demo use bot/wechat_fake; the access token is cached in Redis and
fetched under a Redis lock); `config.py` reads the settings.
"""
