"""Designed forms: create, version, archive, export and import (audited).

A form belongs to one committee; another committee's form is "not found". A
version used by a round past draft never changes (docs/forms.md): edit it only
while no such round uses it, otherwise add a new version. Every write checks
everything first and commits once, so a refused request changes nothing.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from sqlalchemy.orm import selectinload

from server.core import audit
from server.core.db import db
from server.core.errors import ApiError
from server.core.text import _find_bad
from server.forms import available_forms
from server.forms.models import Form, FormVersion
from server.forms.templates import FormError, check_form
from server.roundbase.models import Round

log = logging.getLogger(__name__)

FILE_FORMAT = 1  # the "pingyi_form" mark of an exported file
MAX_NAME = 200  # as templates.MAX_NAME
MAX_NOTE = 200


def _bad(code: str, zh: str, en: str, field: str | None = None, status: int = 422) -> ApiError:
    return ApiError(code, zh, en, status, field)


def presets() -> dict[str, dict[str, Any]]:
    """The read-only definitions of config/forms/*.toml, by key."""
    return available_forms()


# -- reading ---------------------------------------------------------------------------

def list_forms(committee_id: int | None, include_archived: bool = False) -> list[Form]:
    """The committee's forms (every committee's for None), newest first."""
    q = db.select(Form).options(selectinload(Form.versions)).order_by(Form.id.desc())
    if committee_id is not None:
        q = q.where(Form.committee_id == committee_id)
    if not include_archived:
        q = q.where(Form.archived.is_(False))
    return list(db.session.execute(q).scalars())


def get_form(form_id: int, committee_id: int | None) -> Form:
    form = db.session.get(Form, form_id)
    if form is None or (committee_id is not None and form.committee_id != committee_id):
        raise _bad("form_not_found", "找不到该测评表", "Form not found", "form_id", 404)
    return form


def get_version(form: Form, version_no: int) -> FormVersion:
    for version in form.versions:
        if version.version == version_no:
            return version
    raise _bad("form_version_not_found", f"该测评表没有第 {version_no} 版",
               f"Form {form.id} has no version {version_no}", "version", 404)


def resolve_version(committee_id: int | None, form_id: int,
                    version_no: int | None = None) -> FormVersion:
    """The version a round is built from: the latest when `version_no` is None."""
    form = get_form(form_id, committee_id)
    if version_no is None:
        if form.latest is None:
            raise _bad("form_version_not_found", "该测评表还没有任何版本",
                       f"Form {form.id} has no version", "version", 404)
        return form.latest
    return get_version(form, version_no)


def _used_ids(version_ids: list[int], drafts_too: bool) -> set[int]:
    if not version_ids:
        return set()
    q = db.select(Round.form_version_id).where(Round.form_version_id.in_(version_ids))
    if not drafts_too:
        q = q.where(Round.status != "draft")
    return set(db.session.execute(q.distinct()).scalars())


def used_versions(form: Form) -> set[int]:
    """Version numbers of `form` that a round past draft uses (frozen)."""
    used = _used_ids([v.id for v in form.versions], drafts_too=False)
    return {v.version for v in form.versions if v.id in used}


def version_in_use(version: FormVersion) -> bool:
    """True when a round whose status is not draft was built from this version."""
    return bool(_used_ids([version.id], drafts_too=False))


# -- checking a definition -------------------------------------------------------------

def _error_parts(exc: Exception) -> tuple[str | None, str, str]:
    """(field, zh, en) of a FormError, old style (a message only) or new."""
    en = getattr(exc, "en", None) or str(exc)
    zh = getattr(exc, "zh", None) or f"测评表定义有误：{en}"
    return getattr(exc, "field", None), zh, en


def check_definition(definition: Any, code: str = "invalid_form") -> dict[str, Any]:
    """A checked copy of `definition` (check_form), or ApiError 422 `code` whose field
    is the path inside the definition (`sections[0].grades[1].points`). A preset's
    `key` is not part of a designed form."""
    if not isinstance(definition, dict):
        raise _bad(code, "测评表定义应为一个对象", "definition must be an object", "definition")
    form = copy.deepcopy(definition)
    form.pop("key", None)
    try:
        checked = check_form(form)
    except FormError as exc:
        field, zh, en = _error_parts(exc)
        raise _bad(code, zh, en, field or "definition") from None
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        log.warning("check_form failed on a malformed definition: %r", exc)
        raise _bad(code, "测评表定义格式不正确", f"malformed definition: {exc}",
                   "definition") from None
    checked.pop("key", None)
    try:
        json.dumps(checked, allow_nan=False)
    except ValueError:
        raise _bad(code, "测评表中的数值必须是有限的数", "non-finite number in definition",
                   "definition") from None
    return checked


def _dump(definition: dict[str, Any]) -> str:
    return json.dumps(definition, ensure_ascii=False, allow_nan=False)


def _note(note: Any) -> str:
    if not isinstance(note, str):
        raise _bad("invalid_field", "版本说明应为文字", "note must be a string", "note")
    if len(note) > MAX_NOTE:
        raise _bad("too_long", f"版本说明不能超过 {MAX_NOTE} 个字", "note too long", "note")
    return note.strip()


def _follow_latest(form: Form) -> None:
    latest = form.latest
    if latest is not None:
        definition = latest.definition
        form.name, form.kind = definition["name"], definition["kind"]


def _writable(form: Form) -> None:
    if form.archived:
        raise _bad("form_archived", "该测评表已归档，不能修改", "The form is archived",
                   "form_id", 409)


# -- writing ---------------------------------------------------------------------------

def create_form(committee_id: int, definition: dict[str, Any], user: Any | None,
                note: str = "") -> Form:
    """A new form whose version 1 is `definition` (checked)."""
    checked = check_definition(definition)
    note = _note(note)
    form = Form(committee_id=committee_id, name=checked["name"], kind=checked["kind"],
                created_by=getattr(user, "id", None))
    form.versions.append(FormVersion(version=1, definition_json=_dump(checked), note=note,
                                     created_by=getattr(user, "id", None)))
    db.session.add(form)
    db.session.flush()
    audit.record(user, "form.create", f"form:{form.id}", form.name)
    db.session.commit()
    return form


def create_from_preset(committee_id: int, preset_key: str, user: Any | None,
                       name: str | None = None) -> Form:
    """A new form copied from a config/forms preset, optionally renamed."""
    preset = presets().get(preset_key) if isinstance(preset_key, str) else None
    if preset is None:
        raise _bad("unknown_preset", "没有这个预置测评表", f"unknown preset {preset_key!r}",
                   "preset")
    definition = copy.deepcopy(preset)
    if name is not None:
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
            raise _bad("invalid_field", f"测评表名称应为 1～{MAX_NAME} 个字",
                       "name must be 1-200 characters", "name")
        definition["name"] = name.strip()
    return create_form(committee_id, definition, user, note=f"由预置表“{preset['name']}”复制")


def update_version(form: Form, version_no: int, definition: dict[str, Any],
                   user: Any | None) -> FormVersion:
    """Replace a version's definition while no round past draft uses it."""
    _writable(form)
    version = get_version(form, version_no)
    if version_in_use(version):
        raise _bad("form_version_in_use",
                   f"第 {version_no} 版已被进行中或已结束的测评使用，不能修改；"
                   "请另存为新版本后再修改",
                   f"Version {version_no} is used by a round past draft; add a new version",
                   "version", 409)
    checked = check_definition(definition)
    version.definition_json = _dump(checked)
    _follow_latest(form)
    audit.record(user, "form.update_version", f"form:{form.id}", f"v{version_no}")
    db.session.commit()
    return version


def add_version(form: Form, definition: dict[str, Any], user: Any | None,
                note: str = "") -> FormVersion:
    """A new version after the latest; the form takes its name and kind."""
    _writable(form)
    checked = check_definition(definition)
    note = _note(note)
    number = (form.latest.version if form.latest else 0) + 1
    version = FormVersion(version=number, definition_json=_dump(checked), note=note,
                          created_by=getattr(user, "id", None))
    form.versions.append(version)
    _follow_latest(form)
    db.session.flush()
    audit.record(user, "form.add_version", f"form:{form.id}", f"v{number}")
    db.session.commit()
    return version


def archive_form(form: Form, user: Any | None) -> Form:
    """Hide the form from the list; its versions stay for the rounds that use them."""
    if not form.archived:
        form.archived = True
        audit.record(user, "form.archive", f"form:{form.id}", form.name)
        db.session.commit()
    return form


def delete_form(form: Form, user: Any | None) -> str:
    """Delete a form no round uses ("deleted"); archive one that is used ("archived")."""
    if _used_ids([v.id for v in form.versions], drafts_too=True):
        archive_form(form, user)
        return "archived"
    audit.record(user, "form.delete", f"form:{form.id}", form.name)
    db.session.delete(form)
    db.session.commit()
    return "deleted"


# -- files -----------------------------------------------------------------------------

def export_form(form: Form, version_no: int | None = None) -> dict[str, Any]:
    """A self-describing file of one version (the latest by default)."""
    version = form.latest if version_no is None else get_version(form, version_no)
    if version is None:
        raise _bad("form_version_not_found", "该测评表还没有任何版本",
                   f"Form {form.id} has no version", "version", 404)
    return {"pingyi_form": FILE_FORMAT, "name": form.name, "version": version.version,
            "definition": version.definition}


def parse_file(raw: bytes) -> Any:
    """The JSON in an uploaded file, or ApiError 422 `invalid_form_file`."""
    def no_constant(name: str) -> Any:
        raise ValueError(name)

    try:
        data = json.loads(raw.decode("utf-8-sig"), parse_constant=no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _bad("invalid_form_file", "文件不是有效的测评表文件（应为导出的 JSON 文件）",
                   "not a JSON form file", "file") from None
    found = _find_bad(data, "", [10_000])  # NUL or a lone surrogate, as in a JSON body
    if found is not None:
        raise _bad("invalid_form_file", "文件中包含无法识别的字符（如空字符）",
                   "the file holds a NUL character or an unpaired surrogate", found or "file")
    return data


def import_form(committee_id: int, data: Any, user: Any | None) -> Form:
    """A new form from an exported file; the wrapper and the definition are checked."""
    if not isinstance(data, dict) or data.get("pingyi_form") != FILE_FORMAT:
        raise _bad("invalid_form_file", "文件不是评议系统导出的测评表文件",
                   "not a pingyi form file (pingyi_form: 1)", "pingyi_form")
    checked = check_definition(data.get("definition"), code="invalid_form_file")
    name = data.get("name")
    source = name if isinstance(name, str) else checked["name"]
    return create_form(committee_id, checked, user, note=f"导入自文件“{source[:60]}”")

