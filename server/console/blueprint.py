"""URL rules of the console; the handlers live in the modules named below."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from server.console import (
    accounts,
    audit,
    closing,
    form_pages,
    form_preview,
    org,
    rounds,
    screens,
    session,
    slips,
)
from server.console.access import KIND_LABELS, STATUS_LABELS
from server.core.clock import china_time
from server.results.official import categories_of
from server.results.rules import round_warnings, threshold_text

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")

# (rule, endpoint, view, methods)
RULES: list[tuple[str, str, Any, list[str]]] = [
    ("/login", "login", session.login, ["GET", "POST"]),
    ("/logout", "logout", session.logout, ["POST"]),
    ("/", "rounds", rounds.round_list, ["GET"]),
    ("/rounds/new", "round_new", rounds.round_new, ["GET", "POST"]),
    ("/rounds/<int:round_id>", "round_detail", rounds.round_detail, ["GET"]),
    ("/rounds/<int:round_id>/open", "round_open", rounds.round_open, ["POST"]),
    ("/rounds/<int:round_id>/close", "round_close", closing.round_close, ["POST"]),
    ("/rounds/<int:round_id>/publish", "round_publish", rounds.round_publish, ["POST"]),
    ("/rounds/<int:round_id>/rehearse", "round_rehearse", rounds.round_rehearse, ["POST"]),
    ("/rounds/<int:round_id>/purge", "round_purge", rounds.round_purge, ["POST"]),
    ("/rounds/<int:round_id>/slips", "round_slips", slips.round_slips, ["POST"]),
    ("/rounds/<int:round_id>/edit", "round_edit", rounds.round_edit, ["GET", "POST"]),
    ("/rounds/<int:round_id>/delete", "round_delete", rounds.round_delete, ["POST"]),
    ("/rounds/<int:round_id>/clone", "round_clone", rounds.round_clone, ["POST"]),
    ("/rounds/batch", "round_batch", rounds.round_batch, ["GET", "POST"]),
    ("/rounds/<int:round_id>/projector", "projector", screens.projector, ["GET"]),
    ("/rounds/<int:round_id>/results", "results", screens.results, ["GET"]),
    ("/org", "org", org.org_page, ["GET"]),
    ("/org/import", "org_import", org.org_import, ["POST"]),
    ("/audit", "audit", audit.audit_page, ["GET"]),
    ("/keys", "keys", accounts.keys_page, ["GET"]),
    ("/keys/new", "key_create", accounts.key_create, ["POST"]),
    ("/keys/<int:key_id>/revoke", "key_revoke", accounts.key_revoke, ["POST"]),
    ("/users", "users", accounts.users_page, ["GET"]),
    ("/users/<int:user_id>/deactivate", "user_deactivate", accounts.user_deactivate, ["POST"]),
    ("/users/<int:user_id>/reactivate", "user_reactivate", accounts.user_reactivate, ["POST"]),
    ("/forms", "forms", form_pages.form_list, ["GET"]),
    ("/forms/new", "form_new", form_pages.form_new, ["GET", "POST"]),
    ("/forms/presets", "form_from_preset", form_pages.form_from_preset, ["POST"]),
    ("/forms/import", "form_import", form_pages.form_import, ["POST"]),
    ("/forms/preview", "form_preview_draft", form_preview.preview_draft, ["POST"]),
    ("/forms/<int:form_id>/versions/<int:version_no>/edit", "form_edit", form_pages.form_edit,
     ["GET", "POST"]),
    ("/forms/<int:form_id>/versions/new", "form_new_version", form_pages.form_new_version,
     ["GET", "POST"]),
    ("/forms/<int:form_id>/delete", "form_delete", form_pages.form_delete, ["POST"]),
    ("/forms/<int:form_id>/export", "form_export", form_pages.form_export, ["GET"]),
    ("/forms/<int:form_id>/preview", "form_preview", form_preview.preview_page, ["GET"]),
    ("/forms/<int:form_id>/preview/frame", "form_preview_frame", form_preview.preview_frame,
     ["GET"]),
]

FORM_BODIES = {"console.form_new", "console.form_edit", "console.form_new_version",
               "console.form_import", "console.form_preview_draft"}

for _rule, _endpoint, _view, _methods in RULES:
    bp.add_url_rule(_rule, _endpoint, _view, methods=_methods)


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Runs before the app's before_request hooks (CSRF reads the body there), so a
    # roster upload may be larger than the app-wide MAX_CONTENT_LENGTH meant for ballots.
    if endpoint == "console.org_import":
        request.max_content_length = org.MAX_UPLOAD_BYTES
    elif endpoint in FORM_BODIES:  # a whole form definition, or a form file
        request.max_content_length = form_pages.MAX_BODY_BYTES


@bp.after_request
def _no_store(resp: Any) -> Any:
    # Console pages show live counts and slips; never let a shared cache keep them.
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def _status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def _kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def _percent(value: float | int | None, digits: int = 1) -> str:
    return f"{(value or 0) * 100:.{digits}f}%"


def _pct2(value: float | None) -> str:
    """An engine percentage (37.5 means 37.5%) as "37.50%"; missing as a dash."""
    return "—" if value is None else f"{value:.2f}%"


def _num2(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


bp.add_app_template_global(_status_label, "status_label")
bp.add_app_template_filter(_pct2, "pct2")
bp.add_app_template_filter(_num2, "num2")
bp.add_app_template_filter(lambda v: threshold_text(v, "at_least"), "threshold_text")
bp.add_app_template_global(
    lambda rnd: round_warnings(rnd.form, categories_of(rnd)), "round_k_warnings")
bp.add_app_template_global(_kind_label, "kind_label")
bp.add_app_template_filter(_percent, "percent")
bp.add_app_template_filter(china_time, "china_time")
