"""/api/v1/api-keys: list, create and revoke API keys.

Everyone signed in manages their own keys; an admin or organizer also lists and
revokes the keys of their committee's accounts (`?user_id=`). A key is created
only for oneself (nobody mints a credential to act as someone else) and its raw
value is in the creation answer only.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from server.accounts import keys
from server.accounts.models import ROLES
from server.core.api import UtcDateTime
from server.core.auth import api_user, require_api_role, signed_in_api_user

blp = Blueprint("api_keys", __name__, url_prefix="/api/v1",
                description="API keys: named, listed, with an optional expiry, revocable")


class KeyOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    user_id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    created_at = UtcDateTime(required=True)
    expires_at = UtcDateTime(allow_none=True, metadata={"description": "null: never"})
    revoked_at = UtcDateTime(allow_none=True)
    state = ma.fields.String(required=True, metadata={
        "description": "active | expired | revoked"})


class KeyListOut(ma.Schema):
    user_id = ma.fields.Integer(required=True)
    items = ma.fields.List(ma.fields.Nested(KeyOut), required=True)


class KeyListArgs(ma.Schema):
    user_id = ma.fields.Integer(load_default=None, validate=ma.validate.Range(1, 2**31 - 1),
                                metadata={"description": "another account of your committee "
                                          "(admins and organizers); default: your own"})


class KeyIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=60),
                            metadata={"description": "what the key is for, e.g. 数据大屏"})
    expires_at = UtcDateTime(load_default=None, allow_none=True, metadata={
        "description": "when the key stops working (with an offset, or UTC); null: never"})


class KeyCreatedOut(KeyOut):
    key = ma.fields.String(required=True, metadata={
        "description": "the bearer key: shown only here, only its SHA-256 is kept"})


def _out(key: Any) -> dict[str, Any]:
    return {"id": key.id, "user_id": key.user_id, "name": key.name,
            "created_at": key.created_at, "expires_at": key.expires_at,
            "revoked_at": key.revoked_at, "state": key.state()}


def _errors(*codes: int) -> Any:
    def wrap(view: Any) -> Any:
        for code in codes:
            view = blp.alt_response(code, response="DEFAULT_ERROR")(view)
        return view

    return wrap


@blp.route("/api-keys", methods=["GET"])
@blp.arguments(KeyListArgs, location="query")
@blp.response(200, KeyListOut)
@_errors(404, 422)
@require_api_role(*ROLES)
def list_keys(args: dict[str, Any]) -> dict[str, Any]:
    """Your API keys, or (admins, organizers) those of an account of your committee;
    newest first, revoked and expired ones included. 404 user_not_found."""
    me = signed_in_api_user()
    user = keys.managed_user(me, args["user_id"] or me.id)
    return {"user_id": user.id, "items": [_out(k) for k in keys.list_keys(user)]}


@blp.route("/api-keys", methods=["POST"])
@blp.arguments(KeyIn)
@blp.response(201, KeyCreatedOut)
@_errors(422)
@require_api_role(*ROLES)
def create_key(body: dict[str, Any]) -> dict[str, Any]:
    """A new API key of your own. 422 invalid_key_name, expiry_in_past."""
    key, raw = keys.create_key(signed_in_api_user(), body["name"], body["expires_at"])
    return {**_out(key), "key": raw}


@blp.route("/api-keys/<int:key_id>", methods=["DELETE"])
@blp.response(204)
@_errors(404, 409)
@require_api_role(*ROLES)
def revoke_key(key_id: int) -> None:
    """Revoke a key (yours, or one of your committee's accounts for admins and
    organizers): it stops on the next request. 404 api_key_not_found,
    409 api_key_already_revoked."""
    keys.revoke_key(key_id, api_user())
