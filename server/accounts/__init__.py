"""Staff accounts and their API keys (/api/v1/api-keys)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from server.accounts import api as accounts_api
    from server.accounts import keys
    from server.core import auth
    from server.core.api import api
    from server.core.security import csrf

    auth.login_manager.user_loader(keys.load_user)
    auth.add_bearer_resolver(keys.resolve_bearer, last=True)
    csrf.exempt(accounts_api.blp)
    api.register_blueprint(accounts_api.blp)
