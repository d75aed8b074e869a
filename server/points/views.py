"""URL rules of the points console (/console/points); handlers live in `pages/`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from server.points.amounts import fmt
from server.points.pages import boards, ledger, members, periods, rectification, sheets

bp = Blueprint("points_console", __name__, url_prefix="/console/points",
               template_folder="templates", static_folder="static",
               static_url_path="/static")

# (rule, endpoint, view, methods)
RULES: list[tuple[str, str, Any, list[str]]] = [
    ("/", "boards", boards.board_page, ["GET"]),
    ("/boards/visibility", "board_visibility", boards.board_visibility, ["POST"]),
    ("/entries", "entries", ledger.entries_page, ["GET"]),
    ("/entries", "entry_create", ledger.entry_create, ["POST"]),
    ("/entries/<int:entry_id>/approve", "entry_approve", ledger.entry_approve, ["POST"]),
    ("/entries/<int:entry_id>/reject", "entry_reject", ledger.entry_reject, ["POST"]),
    ("/entries/<int:entry_id>/reverse", "entry_reverse", ledger.entry_reverse, ["POST"]),
    ("/import", "import_page", sheets.import_page, ["GET"]),
    ("/import", "import_upload", sheets.import_upload, ["POST"]),
    ("/import/template.xlsx", "import_template", sheets.import_template, ["GET"]),
    ("/members/<int:member_id>", "member", members.member_page, ["GET"]),
    ("/periods", "periods", periods.periods_page, ["GET"]),
    ("/periods/<period>/close", "period_close", periods.period_close, ["POST"]),
    ("/periods/<period>/publish", "period_publish", periods.period_publish, ["POST"]),
    ("/periods/<int:year>/review", "year_review", periods.year_review, ["POST"]),
    ("/periods/<int:year>/stars.xlsx", "stars_export", periods.stars_export, ["GET"]),
    ("/ratings/<int:year>/<int:member_id>/adjust", "rating_adjust", periods.rating_adjust,
     ["POST"]),
    ("/rectifications", "rectifications", rectification.rectification_page, ["GET"]),
    ("/rectifications", "rectification_add", rectification.rectification_add, ["POST"]),
    ("/rectifications/<int:item_id>/close", "rectification_close",
     rectification.rectification_close, ["POST"]),
]

for _rule, _endpoint, _view, _methods in RULES:
    bp.add_url_rule(_rule, _endpoint, _view, methods=_methods)


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Before CSRF reads the body: a points sheet may exceed the ballot-sized default.
    if endpoint == "points_console.import_upload":
        request.max_content_length = sheets.MAX_UPLOAD_BYTES


@bp.after_request
def _no_store(resp: Any) -> Any:
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def _signed(tenths: int | None) -> str:
    return fmt(tenths, signed=True)


bp.add_app_template_filter(fmt, "pts")
bp.add_app_template_filter(_signed, "signed_pts")
