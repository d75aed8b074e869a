"""Promise 2/4: Redis holds nothing that SQL cannot rebuild; close compares them."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import text

from server.core.db import db
from server.roundbase.reads import get_round
from server.rounds.operations import close_round
from server.voting import livetally
from tests.conftest import make_app
from tests.factories import make_round, valid_answers
from tests.support.redisproc import RedisProcess


def live_counts(app, rid):
    with app.app_context():
        rnd = get_round(rid)
        return livetally.read(rid, [c.id for c in rnd.categories])


@pytest.mark.single_redis  # its own redis-server; tests/test_cluster.py does this on a cluster
def test_kill_redis_restart_empty_and_rebuild(tmp_path):
    proc = RedisProcess(tmp_path / "redis").start()
    try:
        app = make_app(tmp_path, proc.url)
        with app.app_context():
            db.create_all()
            rnd, tokens = make_round("appraisal", tokens_per_category=6)
            rid = rnd.id
            flat = [t for ts in tokens.values() for t in ts]
            answers = [valid_answers(rnd, variant=i) for i in range(len(flat))]
        client = app.test_client()
        for token, ans in zip(flat[:10], answers):
            assert client.post("/api/v1/ballots", json={"token": token, "answers": ans}
                               ).status_code == 201
        before = live_counts(app, rid)
        assert sum(before["turnout"].values()) == 10

        proc.kill()
        res = client.post("/api/v1/ballots", json={"token": flat[10], "answers": answers[10]})
        assert res.status_code == 503 and res.json["error"]["code"] == "service_unavailable"
        proc.start()  # empty: no persistence
        assert redis.Redis.from_url(proc.url).dbsize() == 0

        result = app.test_cli_runner().invoke(args=["tally", "rebuild", str(rid)])
        assert result.exit_code == 0, result.output
        assert "10 ballots" in result.output
        assert live_counts(app, rid) == before

        # spent tokens stay spent, fresh ones still vote
        res = client.post("/api/v1/ballots", json={"token": flat[0], "answers": answers[0]})
        assert res.json["error"]["code"] == "token_spent"
        assert client.post("/api/v1/ballots", json={"token": flat[10], "answers": answers[10]}
                           ).status_code == 201
        # a second loss is healed lazily by the next request, without the CLI
        proc.kill()
        proc.start()
        assert client.post("/api/v1/ballots", json={"token": flat[11], "answers": answers[11]}
                           ).status_code == 201
        assert sum(live_counts(app, rid)["turnout"].values()) == 12
        with app.app_context():
            assert close_round(get_round(rid)).result["ballots"] == 12
            db.session.remove()
            db.engine.dispose()
    finally:
        proc.stop()


def test_close_refuses_on_mismatch_until_rebuilt(app, client, runner):
    with app.app_context():
        rnd, tokens = make_round("recommendation", n_subjects=4)
        rid, cat = rnd.id, rnd.categories[0].id
        flat = tokens[cat]
        answers = valid_answers(rnd)
    for token in flat[:3]:
        assert client.post("/api/v1/ballots", json={"token": token, "answers": answers}
                           ).status_code == 201
    with app.app_context():
        # Simulate a lost update: the live tally is one vote short.
        field = str(answers["choices"][0])
        livetally.get_redis().hincrby(livetally.keys(rid).tally(cat), field, -1)
    result = runner.invoke(args=["round", "close", str(rid)])
    assert result.exit_code != 0
    assert "tally_mismatch" in result.output
    with app.app_context():
        rnd = get_round(rid)
        assert rnd.status == "closing" and "SQL 3, live 2" in rnd.close_problem
        assert rnd.result_json is None
    # no votes while closing
    res = client.post("/api/v1/ballots", json={"token": flat[3], "answers": answers})
    assert res.status_code == 409 and res.json["error"]["code"] == "round_closed"

    assert runner.invoke(args=["tally", "rebuild", str(rid)]).exit_code == 0
    result = runner.invoke(args=["round", "close", str(rid)])
    assert result.exit_code == 0, result.output
    assert "3 ballots counted" in result.output
    with app.app_context():
        assert db.session.execute(text("SELECT status FROM rounds WHERE id = :r"),
                                  {"r": rid}).scalar() == "closed"
