"""Points: the ledger behind member star ratings (党员评星定级) and party-group
quarterly scores (党小组动态考评), live leaderboards, and the rectification ledger."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from server.core.api import api
    from server.core.security import csrf
    from server.points import api as points_api
    from server.points.views import bp

    csrf.exempt(points_api.blp)
    api.register_blueprint(points_api.blp)
    app.register_blueprint(bp)
