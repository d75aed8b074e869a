"""URL rules of the bot's console screens (/console/bot); handlers live in pages.py."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_wtf.csrf import CSRFError

from bot import pages
from server.core.errors import ApiError, render_error

bp = Blueprint("bot_console", __name__, url_prefix="/console/bot", template_folder="templates",
               static_folder="static", static_url_path="/static")

# (rule, endpoint, view, methods)
RULES: list[tuple[str, str, Any, list[str]]] = [
    ("/", "publish_page", pages.publish_page, ["GET"]),
    ("/preview.png", "preview_png", pages.preview_png, ["GET"]),
    ("/publish", "publish", pages.publish, ["POST"]),
    ("/history", "history_page", pages.history_page, ["GET"]),
    ("/posts/<int:post_id>/<action>", "post_action", pages.post_action, ["POST"]),
    ("/targets", "targets_page", pages.targets_page, ["GET"]),
    ("/targets", "target_add", pages.target_add, ["POST"]),
    ("/targets/<int:target_id>/disable", "target_disable", pages.target_disable, ["POST"]),
    ("/users", "users_page", pages.users_page, ["GET"]),
    ("/users", "user_link", pages.user_link, ["POST"]),
    ("/users/<int:link_id>/unlink", "user_unlink", pages.user_unlink, ["POST"]),
]

for _rule, _endpoint, _view, _methods in RULES:
    bp.add_url_rule(_rule, _endpoint, _view, methods=_methods)


@bp.errorhandler(CSRFError)
def _csrf_failed(exc: CSRFError) -> Any:
    return render_error(ApiError("csrf_failed", "页面已过期，请刷新页面后重新提交",
                                 f"CSRF check failed: {exc.description}", 400))


@bp.after_request
def _no_store(resp: Any) -> Any:
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp
