"""The live tally on a real Redis Cluster (3 masters on loopback, see conftest.py).

Runs in every pass of the suite (the session cluster starts on first use), not
only under TEST_REDIS_CLUSTER=1, which runs the core tests on it as well.
"""

from __future__ import annotations

import pytest
import redis
from redis.cluster import key_slot
from redis.exceptions import RedisClusterException
from sqlalchemy import text

from server.core.db import db
from server.core.redis import get_redis, parse_cluster_nodes
from server.roundbase.reads import get_round
from server.rounds.operations import close_round
from server.tokens.codec import parse_token
from server.voting import livetally
from server.voting.rebuild import rebuild
from tests.conftest import make_app
from tests.factories import make_round, valid_answers


def node_of(app, round_id: int) -> str:
    with app.app_context():
        return get_redis().get_node_from_key(livetally.tag(round_id)).name


def vote(client, token, answers):
    return client.post("/api/v1/ballots", json={"token": token, "answers": answers})


def test_every_live_tally_script_on_every_master(cluster_app):
    app, client = cluster_app, cluster_app.test_client()
    with app.app_context():
        rounds = [make_round(kind, tokens_per_category=3)
                  for kind in ("appraisal", "recommendation", "scoring")]
        plan = [(rnd.id, [t for ts in tokens.values() for t in ts], valid_answers(rnd))
                for rnd, tokens in rounds]
    # {r:1}, {r:2}, {r:3} hash to slots owned by three different masters.
    assert len({node_of(app, rid) for rid, _, _ in plan}) == 3

    for rid, flat, answers in plan:
        form = client.post("/api/v1/ballot-form", json={"token": flat[0]})  # PEEK
        assert form.status_code == 200, form.json
        for token in flat[:5]:  # CLAIM_MANY, then SETTLE_MANY in the group commit's pipelines
            assert vote(client, token, answers).status_code == 201
        assert vote(client, flat[0], answers).json["error"]["code"] == "token_spent"
        # Redis forgot a spend: the claim passes, SQL refuses, RELEASE records it spent.
        with app.app_context():
            k, r = livetally.keys(rid), get_redis()
            lost = parse_token(flat[1])[1]
            r.srem(k.spent, lost)
            r.hset(k.tok, lost, r.hget(k.tok, parse_token(flat[8])[1]))
        assert vote(client, flat[1], answers).json["error"]["code"] == "token_spent"
        with app.app_context():
            assert livetally.peek(rid, lost)[0] == "spent"

    with app.app_context():
        for rid, _, _ in plan:
            before = livetally.read(rid, [c.id for c in get_round(rid).categories])
            assert sum(before["turnout"].values()) == 5
            rebuild(rid)  # lock, MULTI/EXEC on the slot's master
            livetally.drop(rid, [c.id for c in get_round(rid).categories])
            rebuild(rid)
            assert livetally.read(rid, [c.id for c in get_round(rid).categories]) == before
            assert close_round(get_round(rid)).result["ballots"] == 5


def test_the_cluster_refuses_keys_of_two_slots(cluster_app):
    """What the slot tests guard against really fails on a cluster."""
    with cluster_app.app_context():
        one, two = livetally.keys(1), livetally.keys(2)
        assert key_slot(one.state.encode()) != key_slot(two.state.encode())
        with pytest.raises(RedisClusterException, match="same key slot"):
            livetally._script("PEEK")(keys=[one.state, two.tok, one.spent], args=["x"])
        # A key built inside a script: refused when another master owns it. (Redis 7.0
        # lets it through when the same master owns the other slot, hence the static
        # KEYS-only check in test_cluster_slots.py.)
        r = get_redis()
        other = next(i for i in range(2, 100)
                     if r.get_node_from_key(livetally.tag(i)).name
                     != r.get_node_from_key(one.state).name)
        node = r.get_redis_connection(r.get_node_from_key(one.state))
        with pytest.raises(redis.ResponseError, match="non local key"):
            node.eval("return redis.call('GET', ARGV[1])", 1, one.state,
                      f"{livetally.tag(other)}:state")


def test_whole_cluster_lost_then_rebuilt_from_sql(cluster_app, redis_cluster, tmp_path):
    app, client, runner = cluster_app, cluster_app.test_client(), cluster_app.test_cli_runner()
    with app.app_context():
        rnd, tokens = make_round("appraisal", tokens_per_category=5)
        rid = rnd.id
        cats = [c.id for c in rnd.categories]
        flat = [t for ts in tokens.values() for t in ts]
        answers = [valid_answers(rnd, variant=i) for i in range(len(flat))]
    for i in range(6):
        assert vote(client, flat[i], answers[i]).status_code == 201
    with app.app_context():
        before = livetally.read(rid, cats)
        for other in (1, 2, 3):  # a connection to each master
            livetally.read_turnout(other)

    redis_cluster.kill()  # SIGKILL every master: all live state is gone
    try:
        res = vote(client, flat[6], answers[6])
        assert res.status_code == 503, res.json
        assert res.json["error"]["code"] == "service_unavailable"
        with app.app_context():
            for other in (1, 2, 3):  # a failure on each master (redis-py drops its seed)
                with pytest.raises(redis.ConnectionError):
                    livetally.read_turnout(other)
        # a web process that starts while the cluster is down still serves 503s
        fresh = make_app(tmp_path / "fresh", "", REDIS_CLUSTER_NODES=redis_cluster.nodes)
        res = fresh.test_client().post("/api/v1/ballot-form", json={"token": flat[6]})
        assert res.status_code == 503, res.json
    finally:
        redis_cluster.restart()  # empty: no persistence
    with app.app_context():
        # what a failover or a resharding triggers: rediscovery from the seed nodes
        get_redis().nodes_manager.initialize()
        assert not livetally.has_state(rid)
        assert db.session.execute(text("SELECT count(*) FROM ballots WHERE round_id = :r"),
                                  {"r": rid}).scalar() == 6

    result = runner.invoke(args=["tally", "rebuild", "--all"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert livetally.read(rid, cats) == before
    assert vote(client, flat[0], answers[0]).json["error"]["code"] == "token_spent"
    for i in range(6, 9):
        assert vote(client, flat[i], answers[i]).status_code == 201
    with app.app_context():
        assert close_round(get_round(rid)).result["ballots"] == 9


def test_leaderboard_scripts_on_the_cluster(cluster_app, monkeypatch):
    boards = pytest.importorskip("server.points.boards")
    from server.points.calendar import Period

    scope = boards.Scope("b", 3, 2026)
    q1 = boards.board_key("members", 3, Period(2026, 1))
    monkeypatch.setattr(boards, "sql_boards", lambda s: (
        {q1: {boards.member_id_str(11): -boards.composite(50, 0)}} if s == scope else {}, {1}))

    class Entry:  # an approved points entry, as boards.moves() reads it
        id, kind, points_x10, year, quarter = 2, "bonus", 30, 2026, 1
        member_id, branch_id, committee_id, group_id = 12, 3, 1, None

    with cluster_app.app_context():
        assert boards.rebuild(scope)
        boards.apply([Entry()])
        boards.apply([Entry()])  # applied once only
        rows, total = boards.read_page("members", 3, Period(2026, 1))
        assert total == 2 and [r[0] for r in rows] == [11, 12]
        assert boards.read_rank("members", 3, Period(2026, 1), 12) == 2


def test_cluster_nodes_setting():
    assert parse_cluster_nodes("10.0.0.1:7000, 10.0.0.2:7001,") == (
        [("10.0.0.1", 7000), ("10.0.0.2", 7001)], {})
    assert parse_cluster_nodes("rediss://app:p%40ss@r1.example:7000,r2.example:7000") == (
        [("r1.example", 7000), ("r2.example", 7000)],
        {"ssl": True, "username": "app", "password": "p@ss"})
    for bad in ("", "10.0.0.1", "10.0.0.1:x", "h1:7000,redis://h2:7000", "http://h:1"):
        with pytest.raises(ValueError, match="REDIS_CLUSTER_NODES"):
            parse_cluster_nodes(bad)
