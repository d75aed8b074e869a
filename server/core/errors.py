"""One error shape everywhere: a stable code, a Chinese message, an English one.

API responses: {"error": {"code", "message", "message_en", "field"}}.
Pages show the Chinese message. Unknown exceptions become 500 `internal_error`
(and are logged); database/Redis outages become 503 with a clear message.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import redis
from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# NUL and unpaired surrogates: a message echoing client input must still encode.
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def _safe(value: str | None) -> str | None:
    return _UNSAFE.sub("\ufffd", value) if value and _UNSAFE.search(value) else value


class ApiError(Exception):
    """A client-facing error with a stable code."""

    def __init__(
        self,
        code: str,
        message: str,
        message_en: str,
        status: int = 400,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message_en)
        self.code = code
        self.message = message
        self.message_en = message_en
        self.status = status
        self.field = field
        self.details = details  # figures a client may show (e.g. below_turnout)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "message": _safe(self.message),
            "message_en": _safe(self.message_en),
            "field": _safe(self.field),
        }
        if self.details is not None:
            out["details"] = self.details
        return out


class FixedError(ApiError):
    """An ApiError whose code, messages, status and field its class fixes (see error_kind)."""

    spec: tuple[str, str, str, int, str | None]

    def __init__(self) -> None:
        super().__init__(*self.spec)


def error_kind(code: str, message: str, message_en: str, status: int = 400,
               field: str | None = None) -> type[FixedError]:
    """One documented error raised from several places, as a class: `raise KIND` makes a
    fresh exception each time (one shared instance would keep the frames of its last
    raiser alive in its __traceback__); a function that hands one back returns `KIND()`."""
    return type(f"ApiError[{code}]", (FixedError,),
                {"spec": (code, message, message_en, status, field), "__doc__": message_en})


HTTP_CODES: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "请求格式不正确", "Malformed request"),
    401: ("unauthorized", "请先登录", "Authentication required"),
    403: ("forbidden", "没有权限执行此操作", "Not allowed"),
    404: ("not_found", "找不到该页面或资源", "Not found"),
    405: ("method_not_allowed", "不支持该请求方法", "Method not allowed"),
    413: ("body_too_large", "提交的内容过大", "Request body too large"),
    415: ("unsupported_media_type", "请以 JSON 格式提交", "Send application/json"),
    422: ("invalid_input", "提交的数据不符合要求", "Invalid input"),
    429: ("rate_limited", "操作过于频繁，请稍后再试", "Too many requests"),
}

UNAVAILABLE = error_kind(
    "service_unavailable",
    "服务暂时不可用，请稍候重试（您的选票尚未记录）",
    "Service temporarily unavailable; nothing was recorded, please retry",
    503,
)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.is_json


def retry_headers(err: ApiError) -> list[tuple[str, str]]:
    """Retry-After for a 503 (seconds) or a 429 (the limit's window)."""
    if err.status == 503:
        return [("Retry-After", "2")]
    if err.status == 429:
        return [("Retry-After", str(getattr(err, "retry_after", None) or 60))]
    return []


def render_error(err: ApiError) -> Response:
    if _wants_json():
        return json_error(err)
    resp = Response(render_template("error.html", error=err), mimetype="text/html")
    resp.status_code = err.status
    for name, value in retry_headers(err):
        resp.headers[name] = value
    return resp


def json_error(err: ApiError) -> Response:
    """The JSON answer to `err` (API paths, and the ballot route on the event loop)."""
    resp = jsonify({"error": err.to_dict()})
    resp.status_code = err.status
    for name, value in retry_headers(err):
        resp.headers[name] = value
    return resp


INTERNAL = error_kind("internal_error", "服务器内部错误", "Internal error", 500)
TOO_DEEP = error_kind("json_too_deep", "提交的数据嵌套层级过深", "JSON nested too deeply", 400)


def error_for(exc: Exception) -> ApiError:
    """What the client is told for an exception a view let escape (logged here).

    Outages of Redis or the database are 503 with a clear message; anything
    unexpected is 500 `internal_error` with its traceback in the log.
    """
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, HTTPException):
        return from_http(exc)
    if isinstance(exc, redis.RedisError):
        log.error("redis unavailable: %s", type(exc).__name__)
        return UNAVAILABLE()
    if isinstance(exc, DBAPIError):
        if getattr(exc, "connection_invalidated", False) or isinstance(exc, OperationalError):
            log.error("database unavailable: %s", type(exc.orig).__name__)
            return UNAVAILABLE()
        log.error("database error", exc_info=exc)
        return INTERNAL()
    if isinstance(exc, RecursionError):
        return TOO_DEEP()
    log.error("unhandled error", exc_info=exc)
    return INTERNAL()


def from_http(exc: HTTPException) -> ApiError:
    status = exc.code or 500
    code, zh, en = HTTP_CODES.get(status, ("http_error", "请求失败", exc.name))
    field = None
    data = getattr(exc, "data", None)  # flask-smorest / webargs validation details
    if isinstance(data, dict) and data.get("messages"):
        messages = data["messages"]
        for location in messages.values():
            if isinstance(location, dict) and location:
                field = next(iter(location))
                en = f"{en}: {field}: {location[field]}"
                break
    elif exc.description and status not in HTTP_CODES:
        en = exc.description
    return ApiError(code, zh, en, status, field)


def init_app(app: Flask) -> None:
    # One handler per family, so Flask picks these before the catch-all.
    @app.errorhandler(ApiError)
    @app.errorhandler(HTTPException)
    @app.errorhandler(redis.RedisError)
    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    @app.errorhandler(RecursionError)
    @app.errorhandler(Exception)
    def _render(exc: Exception) -> Response:
        return render_error(error_for(exc))
