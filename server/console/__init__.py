"""The organizer console: HTML pages for rounds, slips, the projector and the roster."""

from __future__ import annotations

from flask import Flask, redirect, url_for
from werkzeug.wrappers import Response


def init_app(app: Flask) -> None:
    from server.console.blueprint import bp

    app.register_blueprint(bp)

    @app.get("/")
    def index() -> Response:
        return redirect(url_for("console.rounds"))
