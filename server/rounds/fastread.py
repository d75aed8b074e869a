"""GET /api/v1/rounds/<id>/turnout with an API key, served beneath Flask.

Dashboards and the mini-program poll turnout every few seconds through a whole
meeting, beside hundreds of ballots a second. Through Flask one read cost about
2.7 ms of worker CPU, as much as two or three ballots (the key and the round
loaded as ORM objects, then flask-smorest around the view). This layer answers
the common case with one SQL statement and one Redis round trip:

- a GET of exactly that path, no query string, `Authorization: Bearer <API key>`;
- the key is neither revoked nor expired, its user is active, may read rounds,
  and the round is its committee's (any round for an admin), in draft or open,
  its live state present in Redis.

Everything else (a console session, another kind of bearer credential, an
unknown key, a closed round, lost live state, any error) goes to Flask, which
answers as the API documents. tests/test_turnout_fastread.py holds the two paths
to the same answers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from flask import Flask
from sqlalchemy import Engine, bindparam, or_, select

from server.accounts.models import ApiKey, User, utcnow
from server.core.auth import key_digest
from server.core.db import db
from server.rounds.api import READERS
from server.rounds.live import turnout_body
from server.rounds.models import Round, VoterCategory
from server.rounds.schemas import TurnoutOut
from server.voting import livetally
from server.voting.fastpath import Environ, StartResponse, WsgiApp, respond

log = logging.getLogger(__name__)

PATH = re.compile(r"/api/v1/rounds/([1-9][0-9]{0,17})/turnout")

_k, _u = ApiKey.__table__, User.__table__
_r, _c = Round.__table__, VoterCategory.__table__
# One row per category (a draft may have none: then one row of NULLs for them).
LOOKUP = (
    select(_u.c.role, _u.c.committee_id, _u.c.active, _r.c.committee_id, _r.c.status,
           _r.c.title, _r.c.closes_at, _r.c.result_json.is_(None),
           _c.c.id, _c.c.name, _c.c.expected_count, _c.c.issued_count)
    .select_from(_k.join(_u, _u.c.id == _k.c.user_id)
                 .join(_r, _r.c.id == bindparam("round_id"))
                 .outerjoin(_c, _c.c.round_id == _r.c.id))
    .where(_k.c.key_hash == bindparam("key_hash"), _k.c.revoked_at.is_(None),
           or_(_k.c.expires_at.is_(None), _k.c.expires_at > bindparam("now")))
    .order_by(_c.c.position, _c.c.id)
)
_CLOSES_AT = TurnoutOut().fields["closes_at"]


class TurnoutFastRead:
    """The WSGI layer (create_app installs it just beneath the ballot fast path)."""

    def __init__(self, app: Flask, inner: WsgiApp) -> None:
        self.app = app
        self.inner = inner
        self._engine: Engine | None = None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        match = PATH.fullmatch(environ.get("PATH_INFO", ""))
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if (match is None or environ.get("REQUEST_METHOD") != "GET"
                or environ.get("QUERY_STRING") or not auth.startswith("Bearer ")):
            return self.inner(environ, start_response)
        try:
            body = self._turnout(int(match.group(1)), auth[7:].strip())
        except Exception:  # noqa: BLE001 - Flask answers every error as documented
            log.debug("turnout fast read handed on to Flask", exc_info=True)
            body = None
        if body is None:
            return self.inner(environ, start_response)
        return respond(environ, start_response, 200, body, [])

    def _turnout(self, round_id: int, raw_key: str) -> dict[str, Any] | None:
        with self.app.app_context():
            if self._engine is None:
                self._engine = db.engine
            # Autocommit: one statement needs no BEGIN, nor a ROLLBACK when the
            # connection goes back to the pool (two round trips of three).
            with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                rows = conn.execute(LOOKUP, {"round_id": round_id, "now": utcnow(),
                                             "key_hash": key_digest(raw_key)}).all()
            if not rows:
                return None
            role, user_committee, active, committee, status, title, closes_at, live = rows[0][:8]
            if (not active or role not in READERS or status not in ("draft", "open")
                    or not live or (role != "admin" and user_committee != committee)):
                return None
            counts = livetally.live_turnout(round_id) if status == "open" else {}
            if counts is None:
                return None  # Flask rebuilds the live state from SQL
            cats = [tuple(row[8:]) for row in rows if row[8] is not None]
            body = turnout_body(round_id, status, title, closes_at, cats, counts)
            # Every other field is already what TurnoutOut sends.
            body["closes_at"] = _CLOSES_AT.serialize("closes_at", body)
            return body
