"""Rounds: building them from forms and their lifecycle."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from server.core.api import api
    from server.core.security import csrf
    from server.rounds import api as rounds_api

    csrf.exempt(rounds_api.blp)
    api.register_blueprint(rounds_api.blp)
