"""The JSON API under /api/v1/, documented by flask-smorest from its schemas."""

from __future__ import annotations

import marshmallow as ma
from flask import Flask
from flask_smorest import Api


class ErrorBody(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "stable error code"})
    message = ma.fields.String(required=True, metadata={"description": "中文说明"})
    message_en = ma.fields.String(required=True, metadata={"description": "English message"})
    field = ma.fields.String(allow_none=True, metadata={"description": "offending field"})


class ErrorEnvelope(ma.Schema):
    error = ma.fields.Nested(ErrorBody, required=True)


class PingyiApi(Api):
    """flask-smorest, but errors use the app-wide shape from core.errors."""

    ERROR_SCHEMA = ErrorEnvelope

    def _register_error_handlers(self) -> None:  # errors are handled app-wide
        return None


api = PingyiApi()


def init_app(app: Flask) -> None:
    app.config.update(
        API_TITLE="pingyi API",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": "评议 — anonymous appraisal voting. Errors always have "
                     "the shape {error: {code, message, message_en, field}}."},
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "organizer API key (pingyi user api-key)"},
            }},
        },
    )
    api.init_app(app)
