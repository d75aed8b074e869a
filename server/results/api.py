"""Results API: the projector's cached JSON, exports, and the published receipt list."""

from __future__ import annotations

import functools

import marshmallow as ma
from flask import Response, jsonify
from flask_smorest import Blueprint

from server.core.api import BINARY, error_docs
from server.core.auth import api_user, require_api_role
from server.core.db import db
from server.core.errors import ApiError
from server.results.exports import FORMATS, export_file, published_receipts
from server.results.schemas import BoardOut
from server.results.view import projector_json
from server.roundbase.models import Round
from server.roundbase.reads import get_round
from server.voting.schemas import TurnoutOut

blp = Blueprint("results", __name__, url_prefix="/api/v1",
                description="Results: projector, exports (organizers), published receipts")

READERS = ("admin", "organizer", "committee")
ERRORS = (400, 401, 403, 404, 409, 422, 503)
EXPORT_DOC = {
    "xlsx": "Excel workbook: 汇总 (ranking), one sheet per subject (appraisal; on a form "
            "of several sections a 汇总 per section, each on its own scale) or per "
            "category group, 有效性 (应到/实到/有效/无效/参评率, rules, notes).",
    "pdf": "PDF report with the same tables (A4 landscape, CJK font embedded).",
    "csv": "Tidy CSV for programs (UTF-8 with BOM): one header (round_id, rehearsal, "
           "section, subject_id, subject, note, category, criterion, measure, label, value, "
           "unit, shown), one row per subject × measure; value a number (a rate as a "
           "fraction, 0.2308) or empty for text, unit count|ratio|points|rank|weight|bool|"
           "text, shown the text people see; withheld figures have no row. docs/results.md",
}


class ProjectorOut(ma.Schema):
    round_id = ma.fields.Integer()
    title = ma.fields.String()
    status = ma.fields.String()
    turnout = ma.fields.Nested(TurnoutOut)
    results = ma.fields.Nested(BoardOut, allow_none=True, metadata={
        "description": "what the screen draws: grade bars per subject (appraisal; "
                       "`sections`, one board per section, on a form of several) or a "
                       "ranking (recommendation, scoring); null while hidden"})
    hidden_reason = ma.fields.String(allow_none=True)
    generated_at = ma.fields.Integer(metadata={"description": "epoch seconds"})


class ReceiptsOut(ma.Schema):
    round_id = ma.fields.Integer()
    title = ma.fields.String()
    count = ma.fields.Integer()
    receipts = ma.fields.List(ma.fields.String(), metadata={
        "description": "every counted ballot's receipt code, sorted by code"})


_alt = error_docs(blp, ERRORS)


def _round(round_id: int) -> Round:
    user = api_user()
    scope = None if user is None or user.role == "admin" else user.committee_id
    return get_round(round_id, scope)


@blp.route("/rounds/<int:round_id>/projector", methods=["GET"])
@blp.response(200, ProjectorOut)
@_alt
@require_api_role(*READERS)
def projector(round_id: int) -> Response:
    """Turnout and (when they may be shown) the results for the big screen.

    Cached for one second per round, so many screens polling cost one computation.
    """
    return Response(projector_json(_round(round_id)), mimetype="application/json")


def _export_route(fmt: str) -> None:
    _, mimetype = FORMATS[fmt]

    def view(round_id: int) -> Response:
        return export_file(_round(round_id), fmt, api_user())

    view.__name__ = f"export_{fmt}"
    view.__doc__ = f"Export the results (after close; 409 round_not_closed before).\n\n" \
                   f"{EXPORT_DOC[fmt]}"
    view = require_api_role(*READERS)(view)
    view = _alt(view)
    view = blp.response(200, BINARY, content_type=mimetype.split(";")[0],
                        description=EXPORT_DOC[fmt])(view)
    blp.route(f"/rounds/<int:round_id>/export.{fmt}", methods=["GET"])(view)


for _fmt in FORMATS:
    _export_route(_fmt)


@blp.route("/rounds/<int:round_id>/receipts", methods=["GET"])
@blp.response(200, ReceiptsOut)
@functools.partial(_alt, secured=False)
def receipts(round_id: int) -> Response:
    """The published ballot list: receipt codes only (no answers), sorted by code.

    Public, once the round is published (409 round_not_published before). A voter
    finds their receipt code in it to see that their ballot was counted.
    """
    rnd = db.session.get(Round, round_id)
    if rnd is None:
        raise ApiError("round_not_found", "找不到该测评", "Round not found", 404, "round_id")
    resp = jsonify(published_receipts(rnd))
    resp.headers["Cache-Control"] = "public, max-age=60"
    return resp
