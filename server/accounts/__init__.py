"""Staff accounts and their API keys (/api/v1/api-keys)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from server.accounts import api as accounts_api
    from server.core.api import api
    from server.core.security import csrf

    csrf.exempt(accounts_api.blp)
    api.register_blueprint(accounts_api.blp)
