"""The organisation tree of the user's committee, and the roster import."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from server.console import access
from server.console.access import READERS, STAFF
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.organization.operations import import_roster, org_tree

MAX_UPLOAD_BYTES = 21 * 1024 * 1024  # the importer takes files up to 20 MB


def _tree(committee_id: int | None) -> Any:
    if committee_id is None:
        return None
    return org_tree(committee_id)


def _page(status: int = 200, **extra: Any) -> tuple[str, int]:
    cid = access.user().committee_id
    return render_template("console/org.html", tree=_tree(cid), has_committee=cid is not None,
                           **extra), status


@require_console_role(*READERS)
def org_page() -> tuple[str, int]:
    return _page()


@require_console_role(*STAFF)
def org_import() -> tuple[str, int]:
    cid = access.own_committee()
    upload = request.files.get("roster")
    dry_run = bool(request.form.get("dry_run"))
    if upload is None or not upload.filename:
        return _page(422, import_error="请选择要导入的花名册文件（.xlsx 或 .csv）", dry_run=dry_run)
    data = upload.read(MAX_UPLOAD_BYTES + 1)
    try:
        summary = import_roster(cid, upload.filename, data, dry_run=dry_run,
                                user=access.user())
    except ApiError as err:
        db.session.rollback()
        rows = getattr(err, "rows", None) or []
        return _page(err.status, import_error=err.message, row_errors=rows, dry_run=dry_run,
                     filename=upload.filename)
    return _page(summary=summary, dry_run=dry_run, filename=upload.filename)
