"""A round by id, as forms, tokens, voting, results and the features above read it."""

from __future__ import annotations

from sqlalchemy.orm import joinedload

from server.core.db import db
from server.core.errors import ApiError
from server.roundbase.models import Round


def get_round(round_id: int, committee_id: int | None = None) -> Round:
    # Categories come in the same query: every reader of a round (turnout polled by
    # dashboards above all) lists them, and a lazy load is a second round trip.
    rnd = db.session.get(Round, round_id, options=[joinedload(Round.categories)])
    if rnd is None or (committee_id is not None and rnd.committee_id != committee_id):
        raise ApiError("round_not_found", "找不到该测评", "Round not found", 404, "round_id")
    return rnd
