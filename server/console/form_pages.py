"""Console pages for designed forms (测评表): the list, the designer, files.

The designer (static/form_designer.js) posts the whole definition as JSON in one
hidden field; a refused save re-renders the designer with what was typed and the
error placed at its field (server/forms/operations.py checks and writes).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from server.console import access
from server.console.access import STAFF
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError, error_kind
from server.core.files import attachment
from server.forms import operations as ops
from server.forms.models import Form, FormVersion

MAX_BODY_BYTES = 2 * 1024 * 1024  # a definition or a form file (see blueprint._upload_limit)
MAX_FILE_BYTES = 1024 * 1024
BAD_DEFINITION = error_kind("invalid_form", "测评表内容无法读取，请刷新页面后重试",
                            "definition is not JSON", 422, "definition")

_PARTS = {"sections": "测评部分", "criteria": "指标", "grades": "等次", "items": "评分项目",
          "flags": "标记规则"}
_TOKEN = re.compile(r"(\w+)(?:\[(\d+)\])?")


def _list_page() -> BaseResponse:
    return redirect(url_for("console.forms"), 303)


def _editor(form_id: int, version_no: int) -> BaseResponse:
    return redirect(url_for("console.form_edit", form_id=form_id, version_no=version_no), 303)


def where(field: str | None, definition: Any) -> str:
    """Where a field path points, in the organizer's words, e.g.
    第 2 个测评部分“班子成员” › 第 5 个等次“不了解”."""
    node: Any = definition if isinstance(definition, dict) else {}
    out: list[str] = []
    for part in (field or "").split("."):
        m = _TOKEN.fullmatch(part)
        if not m:
            break
        name, index = m.group(1), m.group(2)
        node = node.get(name) if isinstance(node, dict) else None
        if index is None or name not in _PARTS:
            continue
        i = int(index)
        node = node[i] if isinstance(node, list) and i < len(node) else None
        label = node.get("label") if isinstance(node, dict) else None
        out.append(f"第 {i + 1} 个{_PARTS[name]}" + (f"“{label}”" if label else ""))
    return " › ".join(out)


def located(err: ApiError, definition: Any = None) -> dict[str, str]:
    """The error as the designer shows it: its field (a path in the definition)."""
    field = re.sub(r"^definition\.?", "", err.field or "")
    place = where(field, definition)
    return {"field": field, "message": err.message, "code": err.code,
            "where": f"{place}：" if place else ""}


def _posted_definition() -> tuple[str, Any]:
    raw = request.form.get("definition", "")
    try:
        return raw, json.loads(raw)
    except ValueError:
        raise BAD_DEFINITION from None


# -- the list ---------------------------------------------------------------------------

def _rows(forms: list[Form]) -> list[dict[str, Any]]:
    rows = []
    for form in forms:
        used = ops.used_versions(form)
        latest = form.latest
        rows.append({"form": form, "latest": latest, "used": used,
                     "latest_used": latest is not None and latest.version in used})
    return rows


def _forms_page(**extra: Any) -> str:
    scope = access.committee_scope()
    return render_template("console/forms.html",
                           rows=_rows(ops.list_forms(scope, include_archived=True)),
                           presets=ops.presets(), **extra)


@require_console_role(*STAFF)
def form_list() -> str:
    return _forms_page()


@require_console_role(*STAFF)
def form_from_preset() -> BaseResponse | tuple[str, int]:
    try:
        form = ops.create_from_preset(access.own_committee(), request.form.get("preset", ""),
                                      access.user())
    except ApiError as err:
        db.session.rollback()
        return _forms_page(error=located(err)), err.status
    flash(f"已从模板复制测评表“{form.name}”，可在下方修改后保存。", "success")
    return _editor(form.id, 1)


@require_console_role(*STAFF)
def form_import() -> BaseResponse | tuple[str, int]:
    upload = request.files.get("file")
    data: Any = None
    try:
        if upload is None or not upload.filename:
            raise ApiError("file_required", "请选择要导入的测评表文件（.json）",
                           "no file uploaded", 422, "file")
        raw = upload.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ApiError("file_too_large", "文件过大（测评表文件不超过 1 MB）",
                           "form file larger than 1 MB", 413, "file")
        data = ops.parse_file(raw)
        form = ops.import_form(access.own_committee(), data, access.user())
    except ApiError as err:
        db.session.rollback()
        definition = data.get("definition") if isinstance(data, dict) else None
        return _forms_page(import_error=located(err, definition)), err.status
    flash(f"已导入测评表“{form.name}”。", "success")
    return _list_page()


@require_console_role(*STAFF)
def form_delete(form_id: int) -> BaseResponse:
    form = ops.get_form(form_id, access.committee_scope())
    name = form.name
    try:
        outcome = ops.delete_form(form, access.user())
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
        return _list_page()
    if outcome == "archived":
        flash(f"测评表“{name}”已有测评使用，不能删除，已归档。", "info")
    else:
        flash(f"已删除测评表“{name}”。", "success")
    return _list_page()


@require_console_role(*STAFF)
def form_export(form_id: int) -> Response:
    form = ops.get_form(form_id, access.committee_scope())
    version_no = request.args.get("v", type=int)
    data = ops.export_form(form, version_no)
    safe = re.sub(r'[\\/:*?"<>|\s]+', "_", form.name)[:60] or "form"
    body = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": attachment(f"form{form.id}-v{data['version']}.json",
                                          f"{safe}-第{data['version']}版.json")})


# -- the designer -----------------------------------------------------------------------

def _designer(definition_json: str, action: str, title: str, *, status: int = 200,
              form: Form | None = None, version: FormVersion | None = None,
              locked: bool = False, error: dict[str, str] | None = None,
              note: str = "") -> tuple[str, int]:
    new_version_url = (url_for("console.form_new_version", form_id=form.id) if form else None)
    return render_template(
        "console/form_designer.html", definition_json=definition_json, action=action,
        title=title, form=form, version=version, locked=locked, error=error, note=note,
        new_version_url=new_version_url), status


@require_console_role(*STAFF)
def form_new() -> tuple[str, int] | BaseResponse:
    action = url_for("console.form_new")
    if request.method == "GET":
        return _designer("", action, "新建测评表")
    note = request.form.get("note", "")
    raw, definition = "", None
    try:
        raw, definition = _posted_definition()
        form = ops.create_form(access.own_committee(), definition, access.user(), note=note)
    except ApiError as err:
        db.session.rollback()
        return _designer(raw, action, "新建测评表", status=err.status, note=note,
                         error=located(err, definition))
    flash(f"已保存测评表“{form.name}”（第 1 版）。", "success")
    return _list_page()


@require_console_role(*STAFF)
def form_edit(form_id: int, version_no: int) -> tuple[str, int] | BaseResponse:
    form = ops.get_form(form_id, access.committee_scope())
    version = ops.get_version(form, version_no)
    action = url_for("console.form_edit", form_id=form_id, version_no=version_no)
    title = f"编辑测评表 · 第 {version_no} 版"
    if request.method == "GET":
        locked = ops.version_in_use(version)
        return _designer(version.definition_json,
                         url_for("console.form_new_version", form_id=form_id) if locked else action,
                         title, form=form, version=version, locked=locked)
    raw, definition = "", None
    try:
        raw, definition = _posted_definition()
        ops.update_version(form, version_no, definition, access.user())
    except ApiError as err:
        db.session.rollback()
        locked = err.code == "form_version_in_use"
        return _designer(raw, url_for("console.form_new_version", form_id=form_id)
                         if locked else action, title, status=err.status, form=form,
                         version=version, locked=locked, error=located(err, definition))
    flash(f"已保存“{form.name}”第 {version_no} 版。", "success")
    return _list_page()


@require_console_role(*STAFF)
def form_new_version(form_id: int) -> tuple[str, int] | BaseResponse:
    form = ops.get_form(form_id, access.committee_scope())
    action = url_for("console.form_new_version", form_id=form_id)
    number = (form.latest.version if form.latest else 0) + 1
    title = f"新版本 · 第 {number} 版"
    if request.method == "GET":
        base = form.latest.definition_json if form.latest else ""
        return _designer(base, action, title, form=form)
    note = request.form.get("note", "")
    raw, definition = "", None
    try:
        raw, definition = _posted_definition()
        version = ops.add_version(form, definition, access.user(), note=note)
    except ApiError as err:
        db.session.rollback()
        return _designer(raw, action, title, status=err.status, form=form, note=note,
                         error=located(err, definition))
    flash(f"已保存“{form.name}”第 {version.version} 版。", "success")
    return _list_page()

