"""Meetings (测评会): several forms on one slip (models.py says how)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this feature with the app."""
    from server.core.api import api
    from server.core.security import csrf
    from server.meetings import api as meetings_api
    from server.meetings import console, pages

    for blp in (meetings_api.blp, meetings_api.voter_blp):
        csrf.exempt(blp)
        api.register_blueprint(blp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(console.bp)
