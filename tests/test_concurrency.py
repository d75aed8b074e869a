"""Promise 1 over real HTTP against gunicorn: one token, one ballot, under a race."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import text

from server.core.db import db
from server.roundbase.reads import get_round
from server.rounds.operations import close_round
from tests.factories import make_round, valid_answers
from tests.support.gunicorn import gunicorn

RACERS = 50
TRIALS = 10


def race(base: str, token: str, answers: dict) -> list[int]:
    barrier = threading.Barrier(RACERS)
    session_per_thread = threading.local()

    def fire(_: int) -> int:
        s = getattr(session_per_thread, "s", None) or requests.Session()
        session_per_thread.s = s
        barrier.wait()
        return s.post(f"{base}/api/v1/ballots", json={"token": token, "answers": answers},
                      timeout=30).status_code

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(fire, range(RACERS)))


def test_same_token_race_exactly_one_accepted(app):
    with app.app_context():
        rnd, tokens = make_round("appraisal", tokens_per_category=TRIALS)
        rid, cat = rnd.id, rnd.categories[0].id
        answers = valid_answers(rnd)
        db_url = str(db.engine.url.render_as_string(hide_password=False))
    with gunicorn(db_url, app.config["REDIS_URL"], workers=3, threads=20) as base:
        for token in tokens[cat][:TRIALS]:
            statuses = race(base, token, answers)
            assert statuses.count(201) == 1, statuses
            assert set(statuses) <= {201, 409}, statuses
    with app.app_context():
        n = db.session.execute(text("SELECT count(*) FROM ballots WHERE round_id = :r"),
                               {"r": rid}).scalar()
        assert n == TRIALS
        assert close_round(get_round(rid)).result["ballots"] == TRIALS
