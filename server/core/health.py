"""Health check for load balancers, and the benchmark's ceiling endpoint.

`GET /healthz` answers 200 when SQL and Redis both answer, 503 otherwise.
With BENCH_ENDPOINTS=true, two endpoints parse a ballot-sized JSON body and
answer 200: `POST /healthz/echo`, served on the event loop as ballots are
(voting/asgi.py), the ceiling `make bench` compares votes with; and
`POST /healthz/echo-flask`, the same through Flask's full request handling
(what the framework costs per request, reported beside it).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy import text

from server.core.db import db
from server.core.errors import ApiError
from server.core.redis import get_redis
from server.core.security import csrf

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    db.session.execute(text("SELECT 1"))
    get_redis().ping()
    return jsonify(ok=True)


def echo() -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "token" not in body:
        raise ApiError("bad_request", "请求格式不正确", "expected a ballot-shaped body", 400)
    return jsonify(ok=True)


def init_app(app: Flask) -> None:
    if app.config.get("BENCH_ENDPOINTS"):
        app.add_url_rule("/healthz/echo-flask", view_func=echo, methods=["POST"])

        csrf.exempt(echo)
    app.register_blueprint(bp)
