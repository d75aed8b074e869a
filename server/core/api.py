"""The JSON API under /api/v1/, documented by flask-smorest from its schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask import Flask, request
from flask_smorest import Api
from flask_smorest.spec.plugins import integerconverter2paramschema
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import IntegerConverter

from server.core.errors import ApiError

# Largest id in a URL: SQL INTEGER (PostgreSQL int4). A bigger <int:...> does not
# match the route (404) instead of overflowing the database driver (500).
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<int:...>` everywhere: 0..MAX_ID, documented as such in the OpenAPI document."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class JsonOnceParser(FlaskParser):
    """webargs' parser for the ballot path's blueprint, with two savings per request:

    - the JSON body Flask already parsed (and cached) in core/text.check_request_text
      is reused, not parsed a second time (a 1.7 KB ballot costs ~30 us per parse);
    - a schema given as a class is instantiated once, not per request (webargs
      builds a new instance each time, deep-copying its fields: ~6% of a ballot's
      CPU). Loading with a shared instance is safe: `load` keeps no state on it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instances: dict[type[ma.Schema], ma.Schema] = {}

    def _get_schema(self, argmap: Any, req: Any) -> ma.Schema:
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._instances.get(argmap)
            if schema is None:
                schema = self._instances[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req) or not req.get_data(cache=True).strip():
            return webargs_core.missing
        return req.get_json(cache=True)


class UtcDateTime(ma.fields.DateTime):
    """A moment in time: stored as naive UTC, sent as RFC 3339 with its offset (+00:00).

    Accepted: with an offset (converted to UTC) or without one (taken as UTC).
    """

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return super()._serialize(value, attr, obj, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.datetime:
        ret = super()._deserialize(value, attr, data, **kwargs)
        if ret.tzinfo is not None:
            try:
                ret = ret.astimezone(dt.UTC).replace(tzinfo=None)
            except OverflowError:  # e.g. 0001-01-01T00:00+01:00
                raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE) from None
        return ret


def error_docs(blp: Any, codes: tuple[int, ...]) -> Any:
    """A decorator for `blp`'s views: the error answers `codes` (the error envelope)
    and, unless `secured=False`, the bearer scheme, in the OpenAPI document."""

    def doc(view: Any, secured: bool = True) -> Any:
        for code in codes:
            view = blp.alt_response(code, response="DEFAULT_ERROR")(view)
        return blp.doc(security=[{"bearer": []}])(view) if secured else view

    return doc


def link(path: str, method: str, description: str, *, parameters: dict[str, Any] | None = None,
         request_body: Any = None) -> dict[str, Any]:
    """An OpenAPI link from a response to the operation `method path` of this API.

    Clients (and schemathesis' stateful tests) follow them: create a round → issue
    tokens → read the ballot form → vote → check the receipt.
    """
    pointer = path.replace("~", "~0").replace("/", "~1")
    out: dict[str, Any] = {"operationRef": f"#/paths/{pointer}/{method.lower()}",
                           "description": description}
    if parameters:
        out["parameters"] = parameters
    if request_body is not None:
        out["requestBody"] = request_body
    return out


# The schema of a binary answer (PDF, image, spreadsheet) in the OpenAPI document:
# `blp.response(200, BINARY, content_type="application/pdf")` documents the content
# type (without a schema flask-smorest leaves the content out); the view returns a
# flask Response, which is sent as it is.
BINARY = {"type": "string", "format": "binary"}


class ErrorBody(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "stable error code"})
    message = ma.fields.String(required=True, metadata={"description": "中文说明"})
    message_en = ma.fields.String(required=True, metadata={"description": "English message"})
    field = ma.fields.String(allow_none=True, metadata={"description": "offending field"})
    details = ma.fields.Dict(metadata={"description": "figures some errors carry "
                                       "(below_turnout: cast, expected, turnout_pct, "
                                       "min_turnout_pct)"})


class ErrorEnvelope(ma.Schema):
    error = ma.fields.Nested(ErrorBody, required=True)


class CompletingPlugin(BasePlugin):
    """Completes every operation of the document with what the app does for any request.

    - operationId: the Flask endpoint ("rounds.create" -> "rounds_create"; with the
      method appended when one endpoint serves several);
    - the errors any request can get: 400 (a body that is not JSON, NUL characters)
      and 503 (database or Redis unavailable); with a body also 413 (too large),
      415 (not JSON) and 422 (invalid input);
    - for views behind `require_api_role` (core/auth.py): the bearer security
      requirement, 401 and 403.
    Responses a view documents itself are left as they are.
    """

    def __init__(self, app: Flask) -> None:
        super().__init__()
        self.app = app

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None,
                         **kwargs: Any) -> None:
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        view = self.app.view_functions.get(rule.endpoint)
        secured = getattr(view, "api_roles", None) is not None
        methods = [m for m in operations if m in ("get", "post", "put", "patch", "delete")]
        for method in methods:
            op = operations[method]
            suffix = "" if len(methods) == 1 else f"_{method}"
            op.setdefault("operationId", rule.endpoint.replace(".", "_") + suffix)
            responses = op.setdefault("responses", {})
            codes = [400, 503]
            if method in ("post", "put", "patch"):
                codes += [413, 415, 422]
            if secured:
                codes += [401, 403]
                op.setdefault("security", [{"bearer": []}])
            for code in codes:
                if code not in responses and str(code) not in responses:
                    responses[code] = "DEFAULT_ERROR"


class PingyiApi(Api):
    """flask-smorest, but errors use the app-wide shape from core.errors."""

    ERROR_SCHEMA = ErrorEnvelope

    def _register_error_handlers(self) -> None:  # errors are handled app-wide
        return None


api = PingyiApi()

NOT_JSON = ("unsupported_media_type", "请以 JSON 格式提交（Content-Type: application/json）",
            "Send the body as application/json")


def _json_bodies_only() -> None:
    """An API body must be JSON (multipart only for uploads): anything else is 415,
    not a confusing "field missing" after the body was silently ignored."""
    if (request.path.startswith("/api/") and request.method in ("POST", "PUT", "PATCH")
            and (request.content_length or request.headers.get("Transfer-Encoding"))
            and not request.is_json and request.mimetype != "multipart/form-data"):
        raise ApiError(*NOT_JSON, 415)


def init_app(app: Flask) -> None:
    app.config.update(
        API_TITLE="pingyi API",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": "评议 — anonymous appraisal voting. Errors always have "
                     "the shape {error: {code, message, message_en, field}}. Versioned "
                     "under /api/v1/; every operationId is stable within v1. The "
                     "mini-program guide is docs/miniprogram.md."},
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "a staff API key (pingyi user api-key), or the "
                                          "mini-program session token from POST "
                                          "/api/v1/auth/wechat (expires: refresh it with "
                                          "POST /api/v1/auth/refresh)"},
            }},
        },
    )
    # Before any blueprint adds a rule: every <int:...> in the app is an IdConverter.
    app.before_request(_json_bodies_only)
    app.url_map.converters["int"] = IdConverter
    api.register_converter(IdConverter, integerconverter2paramschema)
    api.init_app(app, spec_kwargs={"extra_plugins": [CompletingPlugin(app)]})
