"""Forms API: designed forms (versioned, exported and imported) and the presets."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from server.core.api import error_docs, link
from server.core.auth import api_user, require_api_role
from server.core.errors import ApiError
from server.core.files import attachment
from server.forms import operations as ops
from server.forms.models import Form, FormVersion
from server.forms.schemas import (
    DeletedOut,
    ExportArgs,
    FormCreateIn,
    FormFile,
    FormListArgs,
    FormOut,
    FormSummary,
    ImportIn,
    PresetOut,
    VersionIn,
    VersionOut,
    VersionUpdateIn,
)

blp = Blueprint("forms", __name__, url_prefix="/api/v1",
                description="Forms (测评表) designed by organizers, and the presets")

STAFF = ("admin", "organizer")
READERS = ("admin", "organizer", "committee")
ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 503)
MAX_FILE_BYTES = 60_000

FORM = "/api/v1/forms/{form_id}"
_ID = {"form_id": "$response.body#/id"}
_FORM_ID = {"form_id": "$response.body#/form_id"}


_alt = error_docs(blp, ERRORS)


def _links(params: dict[str, str]) -> dict[str, Any]:
    return {"links": {
        "Read": link(FORM, "get", "the form, whole", parameters=params),
        "Export": link(f"{FORM}/export", "get", "the form as a file", parameters=params),
    }}


def _committee_id() -> int | None:
    user = api_user()
    return None if user is None or user.role == "admin" else user.committee_id


def _own_committee() -> int:
    cid = getattr(api_user(), "committee_id", None)
    if cid is None:
        raise ApiError("no_committee", "该账号未关联党委", "account has no committee", 422)
    return cid


def _form(form_id: int) -> Form:
    return ops.get_form(form_id, _committee_id())


def _definition(definition: dict[str, Any]) -> dict[str, Any]:
    """What FormDefinition reads: `items` as score_items (see the schema)."""
    return {**definition, "score_items": definition.get("items", [])}


def _summary(form: Form) -> dict[str, Any]:
    return {"id": form.id, "name": form.name, "kind": form.kind, "archived": form.archived,
            "latest_version": form.latest.version if form.latest else 0,
            "version_count": len(form.versions), "created_at": form.created_at}


def _whole(form: Form) -> dict[str, Any]:
    used = ops.used_versions(form)
    return {**_summary(form),
            "versions": [{"version": v.version, "note": v.note, "created_at": v.created_at,
                          "in_use": v.version in used} for v in form.versions],
            "definition": _definition(form.latest.definition if form.latest else {})}


def _version(version: FormVersion) -> dict[str, Any]:
    return {"form_id": version.form_id, "version": version.version, "note": version.note,
            "created_at": version.created_at, "in_use": ops.version_in_use(version),
            "definition": _definition(version.definition)}


@blp.route("/form-presets", methods=["GET"])
@blp.response(200, PresetOut(many=True))
@_alt
@require_api_role(*READERS)
def list_presets() -> list[dict[str, Any]]:
    """The presets of config/forms: read-only definitions to copy into a new form."""
    return [{"key": key, "kind": p["kind"], "name": p["name"],
             "description": p.get("description", ""), "definition": _definition(p)}
            for key, p in ops.presets().items()]


@blp.route("/forms", methods=["GET"])
@blp.arguments(FormListArgs, location="query")
@blp.response(200, FormSummary(many=True))
@_alt
@require_api_role(*READERS)
def list_forms(args: dict[str, Any]) -> list[dict[str, Any]]:
    """The designed forms of the caller's committee, newest first."""
    return [_summary(f) for f in ops.list_forms(_committee_id(), args["include_archived"])]


@blp.route("/forms", methods=["POST"])
@blp.arguments(FormCreateIn)
@blp.response(201, FormOut)
@blp.doc(responses={201: _links(_ID)})
@_alt
@require_api_role(*STAFF)
def create(body: dict[str, Any]) -> dict[str, Any]:
    """Create a form from a definition, or copy a preset (optionally renamed)."""
    cid = _own_committee()
    if "preset" in body:
        form = ops.create_from_preset(cid, body["preset"], api_user(), body.get("name"))
    elif "definition" in body:
        form = ops.create_form(cid, body["definition"], api_user())
    else:
        raise ApiError("missing_field", "请提供测评表定义（definition）或预置表（preset）",
                       "send definition or preset", 422, "definition")
    return _whole(form)


@blp.route("/forms/<int:form_id>", methods=["GET"])
@blp.response(200, FormOut)
@_alt
@require_api_role(*READERS)
def read(form_id: int) -> dict[str, Any]:
    """The whole form: its versions and the latest version's definition."""
    return _whole(_form(form_id))


@blp.route("/forms/<int:form_id>", methods=["DELETE"])
@blp.response(200, DeletedOut)
@_alt
@require_api_role(*STAFF)
def delete(form_id: int) -> dict[str, Any]:
    """Delete a form no round uses; a form a round uses is archived instead."""
    form = _form(form_id)
    return {"id": form_id, "outcome": ops.delete_form(form, api_user())}


@blp.route("/forms/<int:form_id>/versions", methods=["POST"])
@blp.arguments(VersionIn)
@blp.response(201, VersionOut)
@blp.doc(responses={201: _links(_FORM_ID)})
@_alt
@require_api_role(*STAFF)
def add_version(body: dict[str, Any], form_id: int) -> dict[str, Any]:
    """Add a version after the latest (the form takes its name and kind)."""
    return _version(ops.add_version(_form(form_id), body["definition"], api_user(),
                                    body["note"]))


@blp.route("/forms/<int:form_id>/versions/<int:version>", methods=["GET"])
@blp.response(200, VersionOut)
@_alt
@require_api_role(*READERS)
def read_version(form_id: int, version: int) -> dict[str, Any]:
    """One version of a form."""
    return _version(ops.get_version(_form(form_id), version))


@blp.route("/forms/<int:form_id>/versions/<int:version>", methods=["PUT"])
@blp.arguments(VersionUpdateIn)
@blp.response(200, VersionOut)
@_alt
@require_api_role(*STAFF)
def update_version(body: dict[str, Any], form_id: int, version: int) -> dict[str, Any]:
    """Replace a version's definition; 409 form_version_in_use once a round past draft
    uses it (add a new version instead)."""
    return _version(ops.update_version(_form(form_id), version, body["definition"],
                                       api_user()))


@blp.route("/forms/<int:form_id>/export", methods=["GET"])
@blp.arguments(ExportArgs, location="query")
@blp.response(200, FormFile, description="the form file (a JSON download)")
@_alt
@require_api_role(*READERS)
def export(args: dict[str, Any], form_id: int) -> Response:
    """The form as a file (JSON) to import elsewhere."""
    form = _form(form_id)
    data = ops.export_form(form, args.get("version"))
    body = json.dumps(data, ensure_ascii=False, indent=2)
    name = f"{form.name}-v{data['version']}.json"
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": attachment(f"form{form.id}-v{data['version']}.json", name)})


@blp.route("/forms/import", methods=["POST"])
@blp.response(201, FormOut)
@blp.doc(requestBody={"required": True, "content": {
    "application/json": {"schema": ImportIn},
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary",
                                "description": "a file from GET /forms/{form_id}/export"}}}},
}}, responses={201: _links(_ID)})
@_alt
@require_api_role(*STAFF)
def import_file() -> dict[str, Any]:
    """Import a form file (as exported): the JSON as the body, or a multipart upload."""
    cid = _own_committee()
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiError("invalid_form_file", "请选择要导入的测评表文件", "file is required",
                           422, "file")
        raw = upload.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ApiError("invalid_form_file", "文件过大，不是有效的测评表文件",
                           "file too large", 422, "file")
        data = ops.parse_file(raw)
    else:
        data = request.get_json(silent=True)
    return _whole(ops.import_form(cid, data, api_user()))
