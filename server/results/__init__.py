"""Results: the pure engine (engine.py, config.py) and what is built on it — the
round's rules, official and live results, the projector feed, exports, receipts."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from server.core.api import api
    from server.core.security import csrf
    from server.results import api as results_api
    from server.results import pages

    csrf.exempt(results_api.blp)
    api.register_blueprint(results_api.blp)
    app.register_blueprint(pages.bp)
