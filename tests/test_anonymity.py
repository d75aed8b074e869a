"""Promise 3: nothing in the record links a ballot to a token (columns, ids, order)."""

from __future__ import annotations

import random

from sqlalchemy import text

from server.core.db import db
from server.roundbase.reads import get_round
from server.rounds.operations import close_round
from server.tokens.codec import token_hash
from tests.factories import make_round, valid_answers

N = 60


def physical_order(table: str, round_id: int) -> list[str]:
    key = "receipt" if table == "ballots" else "token_hash"
    order = "ctid" if db.engine.dialect.name == "postgresql" else "rowid"
    return [r[0] for r in db.session.execute(
        text(f"SELECT {key} FROM {table} WHERE round_id = :r ORDER BY {order}"),  # noqa: S608
        {"r": round_id})]


def pairing_hits(app, rid, truth):
    """Pair the k-th spent token with the k-th ballot by physical order; count true pairs."""
    with app.app_context():
        ballots = physical_order("ballots", rid)
        spent = physical_order("spent_tokens", rid)
    return sum(1 for h, receipt in zip(spent, ballots) if truth.get(h) == receipt)


def test_no_column_or_order_links_spent_tokens_to_ballots(app, client):
    """Before close the spent tokens pair with ballots by order; close deletes them
    and stores the ballots in an order unrelated to arrival."""
    with app.app_context():
        rnd, tokens = make_round("appraisal", tokens_per_category=N // 3)
        rid = rnd.id
        all_tokens = [t for ts in tokens.values() for t in ts]
        answers = [valid_answers(rnd, variant=i) for i in range(5)]
    random.Random(7).shuffle(all_tokens)
    truth: dict[str, str] = {}  # token hash -> receipt, known only to this test
    for i, token in enumerate(all_tokens):
        res = client.post("/api/v1/ballots", json={"token": token, "answers": answers[i % 5]})
        assert res.status_code == 201
        truth[token_hash(token)] = res.json["receipt"]

    with app.app_context():
        cols_b = {c["name"] for c in db.inspect(db.engine).get_columns("ballots")}
        cols_s = {c["name"] for c in db.inspect(db.engine).get_columns("spent_tokens")}
    assert cols_b == {"id", "round_id", "category_id", "receipt", "answers"}
    assert cols_s == {"token_hash", "round_id"}

    # While open, insertion order pairs many of them (all on SQLite; on PostgreSQL
    # each pooled connection fills its own page): the attack the close defeats.
    before = pairing_hits(app, rid, truth)
    with app.app_context():
        arrived = physical_order("ballots", rid)
    in_arrival_order = sum(a == b for a, b in zip(
        arrived, [truth[token_hash(t)] for t in all_tokens]))
    assert in_arrival_order >= 15, "ballots should be stored as they arrive before close"
    assert before >= 15, f"the attack should work before close, got {before}"

    with app.app_context():
        close_round(get_round(rid))
        rows = db.session.execute(text("SELECT * FROM ballots WHERE round_id = :r"),
                                  {"r": rid}).all()
        dump = " ".join(str(v) for row in rows for v in row)
        if db.engine.dialect.name == "postgresql":
            xmins = {x for (x,) in db.session.execute(text(
                "SELECT xmin::text FROM ballots WHERE round_id = :r"), {"r": rid})}
            assert len(xmins) == 1, "all rows rewritten in one transaction"
        # which slips were used is forgotten: nothing is left to pair a ballot with
        assert physical_order("spent_tokens", rid) == []
        stored_order = physical_order("ballots", rid)
    voting_order = [truth[token_hash(t)] for t in all_tokens]
    assert sorted(stored_order) == sorted(voting_order)
    # nor does the ballots' own order tell when each arrived.
    # A random permutation has 1 fixed point on average; P(>= 6) < 0.001.
    after = sum(a == b for a, b in zip(stored_order, voting_order))
    assert after <= 5, f"{after} of {N} ballots still stored in arrival order"
    for token in all_tokens:
        assert token not in dump and token_hash(token) not in dump
    # ids are random: sorting ballots by id does not recover the voting order either
    with app.app_context():
        by_id = [r for (r,) in db.session.execute(
            text("SELECT receipt FROM ballots WHERE round_id = :r ORDER BY id"), {"r": rid})]
    assert sum(a == b for a, b in zip(by_id, voting_order)) <= 5
