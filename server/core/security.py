"""CSRF for every console form, security headers on every response, input hygiene.

Every response: a CSP without inline script and with frame-ancestors 'none',
X-Content-Type-Options nosniff, Referrer-Policy no-referrer, X-Frame-Options DENY,
and HSTS when the request came over TLS (request.is_secure; behind a proxy that
needs the server's FORWARDED_ALLOW_IPS, see docs/deploy.md §7). The session cookie is HttpOnly
and SameSite=Lax (server/app.py), Secure with SESSION_COOKIE_SECURE.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from server.core.errors import ApiError, render_error
from server.core.text import check_request_text

csrf = CSRFProtect()

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    app.before_request(check_request_text)
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("REMEMBER_COOKIE_SECURE", bool(app.config.get("SESSION_COOKIE_SECURE")))

    @app.errorhandler(CSRFError)
    def _csrf_failed(exc: CSRFError) -> Response:
        # App-wide, so a console blueprint added later answers the same way.
        return render_error(ApiError("csrf_failed", "页面已过期，请刷新页面后重新提交",
                                     f"CSRF check failed: {exc.description}", 400))

    @app.after_request
    def _headers(resp: Response) -> Response:
        return add_response_headers(resp, request.path, request.is_secure)


def add_response_headers(resp: Response, path: str, secure: bool) -> Response:
    """`resp` with the headers every response carries (Flask's after_request, and the
    ballot route on the event loop, voting/asgi.py)."""
    for name, value in response_headers(path, secure):
        resp.headers.setdefault(name, value)
    return resp


def response_headers(path: str, secure: bool) -> list[tuple[str, str]]:
    """The headers every response carries."""
    out = [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
           ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY")]
    if secure:
        out.append(("Strict-Transport-Security", "max-age=31536000"))
    if path.startswith("/api/") or path.startswith("/v/"):
        out.append(("Cache-Control", "no-store"))
    return out
