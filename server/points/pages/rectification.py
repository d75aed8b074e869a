"""The rectification ledger screen (问题台账): add problems, close them one by one (销号)."""

from __future__ import annotations

from typing import Any

from flask import flash, render_template, request
from werkzeug.wrappers import Response

from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.points import access, rectification
from server.points.calendar import china_date
from server.points.pages import common
from server.points.pages.common import KEEPERS, READERS


def _page(status: int = 200, **extra: Any) -> tuple[str, int]:
    user = common.user()
    show = request.args.get("show", "open")
    branch = request.args.get("branch") if user.role != "secretary" else None
    items = rectification.list_items(user, branch, status=None if show in ("all", "overdue")
                                     else show, overdue=show == "overdue")
    today = china_date()
    all_open = rectification.list_items(user, branch, status="open")
    return render_template(
        "points/rectifications.html", items=items, today=today, show=show,
        branches=access.branches_in_scope(user), branch=branch,
        overdue_count=sum(1 for i in all_open if i.is_overdue(today)),
        open_count=len(all_open), can_keep=common.can_keep(),
        form=extra.pop("form", {}), **extra), status


@require_console_role(*READERS)
def rectification_page() -> tuple[str, int]:
    return _page()


@require_console_role(*KEEPERS)
def rectification_add() -> Response | tuple[str, int]:
    f = request.form
    form = {k: f.get(k, "") for k in ("branch_id", "problem", "source", "owner", "deadline",
                                      "measure")}
    try:
        rectification.add_item(common.user(), form["branch_id"], form["problem"], form["source"],
                               form["owner"], form["deadline"], form["measure"])
    except ApiError as err:
        db.session.rollback()
        if err.status in (401, 403, 404):
            raise
        return _page(err.status, form=form, error=err)
    flash("已加入问题台账", "success")
    return common.back("rectifications")


@require_console_role(*KEEPERS)
def rectification_close(item_id: int) -> Response:
    try:
        item = rectification.close_item(common.user(), item_id, request.form.get("note", ""))
    except ApiError as err:
        db.session.rollback()
        common.flash_error(err)
    else:
        flash(f"已销号：{item.problem}", "success")
    return common.back("rectifications", show=request.form.get("show"))
