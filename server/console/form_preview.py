"""A form shown exactly as a voter sees it: the real voting page, fed inline.

The voting page (voting/templates/vote/index.html, static/vote.js) reads the
ballot-form answer from an inline JSON blob instead of the API when the page is
a preview, and never submits. The answer is built by the same code and schema as
POST /api/v1/ballot-form, with a few sample subjects per section. The frame may
be shown inside a console page (same origin only).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from flask import Response, render_template, request

from server.console import access
from server.console.access import STAFF
from server.console.form_pages import BAD_DEFINITION, located
from server.core.auth import require_console_role
from server.core.errors import ApiError
from server.core.security import CSP
from server.forms import operations as ops
from server.forms.sections import bind_subjects, sections_of
from server.voting.ballots import public_form
from server.voting.comments import comment_options
from server.voting.schemas import BallotFormOut

NUMBERS = "一二三四五六七八九十"


def _samples(form: dict[str, Any]) -> list[dict[str, Any]]:
    """Sample subjects: two per appraisal section (three with one section), five
    candidates, or two people to score."""
    if form["kind"] == "recommendation":
        return [{"id": i, "name": f"示例候选人{NUMBERS[i - 1]}", "note": "", "section": ""}
                for i in range(1, 6)]
    if form["kind"] == "scoring":
        return [{"id": i, "name": f"示例对象{NUMBERS[i - 1]}", "note": "述职人", "section": ""}
                for i in (1, 2)]
    sections = sections_of(form)
    per = 3 if len(sections) == 1 else 2
    out: list[dict[str, Any]] = []
    for section in sections:
        for n in range(per):
            out.append({"id": len(out) + 1, "name": f"示例对象{NUMBERS[n]}",
                        "note": section.get("label") or "", "section": section["key"]})
    return out


def preview_payload(definition: dict[str, Any]) -> dict[str, Any]:
    """What POST /ballot-form would answer for a round of this (checked) definition."""
    form = copy.deepcopy(definition)
    form["key"] = form.get("key") or "preview"
    subjects = _samples(form)
    bound = bind_subjects(form, ((s["id"], s["section"]) for s in subjects))
    data = {"round": {"id": 0, "title": form["name"], "kind": form["kind"], "closes_at": None},
            "form": public_form(bound), "subjects": subjects, "category": "",
            "comment": {**comment_options(form), "check_required": False}}
    return BallotFormOut().dump(data)


def _frame(preview: dict[str, Any], status: int = 200) -> Response:
    html = render_template("vote/index.html", preview=preview)
    resp = Response(html, status=status, mimetype="text/html")
    # Shown inside the console's phone frame: same-origin framing only.
    resp.headers["Content-Security-Policy"] = CSP.replace("frame-ancestors 'none'",
                                                          "frame-ancestors 'self'")
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    return resp


def _error_frame(err: ApiError, definition: Any = None) -> Response:
    shown = located(err, definition)
    return _frame({"error": {"code": err.code, "message": shown["where"] + shown["message"],
                             "field": shown["field"]}}, err.status)


def _version(form_id: int) -> Any:
    """The version ?v= names, else the latest (404 for another committee's form)."""
    return ops.resolve_version(access.committee_scope(), form_id,
                               request.args.get("v", type=int))


@require_console_role(*STAFF)
def preview_page(form_id: int) -> str:
    version = _version(form_id)
    return render_template("console/form_preview.html", form=version.form, version=version)


@require_console_role(*STAFF)
def preview_frame(form_id: int) -> Response:
    version = _version(form_id)
    return _frame(preview_payload(ops.check_definition(version.definition)))


@require_console_role(*STAFF)
def preview_draft() -> Response:
    """The designer's unsaved definition (posted into the preview frame)."""
    try:
        definition = json.loads(request.form.get("definition", ""))
    except ValueError:
        return _error_frame(BAD_DEFINITION())
    try:
        checked = ops.check_definition(definition)
    except ApiError as err:
        return _error_frame(err, definition)
    return _frame(preview_payload(checked))
