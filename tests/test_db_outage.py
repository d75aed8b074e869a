"""A database connection that dies after the answer is ready must not turn it into a 500.

Found by tests/test_faults.py (PostgreSQL stopped with `-m fast` mid-round): the
server ends every session, a request that had read from SQL has its answer
ready, and the rollback that closes its session at teardown fails; Flask
does not route teardown errors to the error handlers, so gunicorn answered a
bare 500. Here the same happens deterministically: the request's own backend
is terminated (pg_terminate_backend) after the view ran, before teardown.
PostgreSQL only (SQLite connections cannot be killed from outside).
"""

from __future__ import annotations

import pytest
from flask import Response
from sqlalchemy import create_engine, text

from server.core.db import db
from tests.factories import make_round, organizer


def test_connection_killed_before_teardown_keeps_the_answer(app, client):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("needs PostgreSQL (TEST_DATABASE_URL) to kill a session's backend")
        _, key = organizer()
        rnd, _ = make_round("appraisal")
        rid = rnd.id
        url = db.engine.url
    killer = create_engine(url)

    @app.after_request
    def _kill_my_backend(resp: Response) -> Response:
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with killer.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        return resp

    try:
        res = client.get(f"/api/v1/rounds/{rid}/turnout",
                         headers={"Authorization": f"Bearer {key}"})
        assert res.status_code == 200, res.data[:300]
        # and the pool recovers: the next request works
        app.after_request_funcs[None].remove(_kill_my_backend)
        res = client.get(f"/api/v1/rounds/{rid}/turnout",
                         headers={"Authorization": f"Bearer {key}"})
        assert res.status_code == 200, res.data[:300]
    finally:
        killer.dispose()
