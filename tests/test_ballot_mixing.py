"""Mixing (issue #24 item 2, server/voting/mixing.py): while a round is open, the
database ties a ballot to a batch of at least BALLOT_MIX_K tokens, written in an
order unrelated to arrival (and its spent tokens in another), never to its arrival;
a lone ballot waits BALLOT_MIX_WAIT_S at most; a close writes a waiting batch at once.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import event, text

from server.core import ratelimit
from server.core.db import db
from server.core.settings import Settings, SettingsError, read_settings
from server.roundbase.reads import get_round
from server.rounds.operations import close_round
from server.tokens.codec import parse_token
from server.voting import livetally
from server.voting.ballots import prepare_ballot
from server.voting.groupcommit import batch_sizes
from server.voting.mixing import Mixer
from server.voting.roundinfo import round_info
from tests.factories import make_round, valid_answers
from tests.support.liveserver import live_server

K = 8
STORAGE_ORDER = {"sqlite": "rowid", "postgresql": "ctid"}


def _mixing(app: Flask, wait_s: float) -> None:
    app.config.update(BALLOT_MIX_K=K, BALLOT_MIX_WAIT_S=wait_s, COMMIT_TIMEOUT_S=wait_s + 10,
                      BENCH_ENDPOINTS=True)


class Batches:
    """Each committed transaction's new ballots and spent tokens of a round, in the
    order the database stores them (rowid / ctid): what the file shows an insider."""

    def __init__(self, app: Flask, round_id: int) -> None:
        self.round_id, self.ballots, self.spent = round_id, [], []
        self._seen: set[str] = set()
        with app.app_context():
            self.engine = db.engine
        self.order = STORAGE_ORDER[self.engine.dialect.name]
        event.listen(self.engine, "commit", self._commit)

    def _read(self, conn: Any, table: str, column: str) -> list[str]:
        cur = conn.connection.dbapi_connection.cursor()
        cur.execute(f"SELECT {column} FROM {table} WHERE round_id = {self.round_id} "  # noqa: S608
                    f"ORDER BY {self.order}")
        return [r[0] for r in cur.fetchall() if r[0] not in self._seen]

    def _commit(self, conn: Any) -> None:
        ballots, spent = self._read(conn, "ballots", "id"), self._read(conn, "spent_tokens",
                                                                       "token_hash")
        if ballots:
            self.ballots.append(ballots)
            self.spent.append(spent)
            self._seen.update(ballots + spent)

    def stop(self) -> None:
        event.remove(self.engine, "commit", self._commit)


def test_a_burst_is_written_in_mixed_batches_in_an_order_unrelated_to_arrival(app):
    _mixing(app, wait_s=1.5)
    n = 5 * K
    with app.app_context():
        rnd, tokens = make_round("appraisal", tokens_per_category=n)
        rid, answers = rnd.id, valid_answers(rnd)
        info = round_info(rid)[0]
        guess = ratelimit.guess_args_for(app, rid, None)
        toks = [t for ts in tokens.values() for t in ts][:n]
        items = [prepare_ballot(info, parse_token(t)[1], answers, guess=guess) for t in toks]
    arrival = {p.ballot_id: i for i, p in enumerate(items)}
    token_arrival = {p.token_hash: i for i, p in enumerate(items)}
    batches = Batches(app, rid)
    committer = app.extensions["pingyi_committer"]
    try:
        # arrival order: the order the committer receives them, a few at a time
        # (batches of 9: every 3rd wave fills one; the last 4 go after the wait)
        for i, p in enumerate(items):
            committer.enqueue(p)
            if i % 3 == 2:
                time.sleep(0.02)
        assert [p.future.result(timeout=10) for p in items] == ["ok"] * n
    finally:
        batches.stop()

    sizes = [len(b) for b in batches.ballots]
    assert sum(sizes) == n
    # only the burst's last batch may be smaller (written after BALLOT_MIX_WAIT_S)
    assert all(size >= K for size in sizes[:-1]), sizes
    for stored, spent in zip(batches.ballots, batches.spent, strict=True):
        order = [arrival[b] for b in stored]
        spent_order = [token_arrival[h] for h in spent]
        assert sorted(order) == sorted(spent_order)  # the same ballots' tokens
        if len(order) >= K:  # 1 in 8! (40,320) that a shuffle leaves either as it was
            assert order != sorted(order), order
            assert spent_order != sorted(spent_order)
            assert order != spent_order  # the n-th spent token is not the n-th ballot's
    if batches.order == "ctid":  # the insider's grouping: one transaction id per batch
        with app.app_context():
            by_xmin: dict[str, set[str]] = {}
            for xmin, ballot_id in db.session.execute(text(
                    "SELECT xmin::text, id FROM ballots WHERE round_id = :r"), {"r": rid}):
                by_xmin.setdefault(xmin, set()).add(ballot_id)
        assert sorted(map(sorted, by_xmin.values())) == sorted(map(sorted, batches.ballots))
    # make bench's view (BENCH_ENDPOINTS): the same sizes, from Redis
    deadline = time.monotonic() + 3
    with app.app_context():
        while batch_sizes(rid) != Counter(sizes) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert batch_sizes(rid) == Counter(sizes)


def _post(base: str, token: str, answers: dict[str, Any]) -> tuple[int, float]:
    start = time.perf_counter()
    res = requests.post(f"{base}/api/v1/ballots", json={"token": token, "answers": answers},
                        timeout=30)
    return res.status_code, time.perf_counter() - start


def test_a_lone_ballot_waits_the_mixing_time_and_no_longer(app):
    wait_s = 1.0
    _mixing(app, wait_s)
    with app.app_context():
        rnd, tokens = make_round("appraisal")
        toks, answers = [t for ts in tokens.values() for t in ts], valid_answers(rnd)
    with live_server(app) as base:
        _post(base, toks[0], answers)  # the round read once, the committer started
        acks = [_post(base, t, answers) for t in toks[1:4]]
    assert [status for status, _ in acks] == [201, 201, 201]
    for _, seconds in acks:
        assert wait_s <= seconds < wait_s + 0.6, acks
    assert wait_s <= statistics.median(s for _, s in acks) < wait_s + 0.3


def test_a_close_writes_the_waiting_ballots_at_once_and_counts_them(app):
    wait_s = 8.0  # far longer than the close may take
    _mixing(app, wait_s)
    with app.app_context():
        rnd, tokens = make_round("appraisal")
        toks, answers, rid = [t for ts in tokens.values() for t in ts], valid_answers(rnd), rnd.id
    with live_server(app) as base, ThreadPoolExecutor(3) as pool:
        sent: list[Future[tuple[int, float]]] = [
            pool.submit(_post, base, t, answers) for t in toks[:3]]
        with app.app_context():
            deadline = time.monotonic() + 5
            while livetally.inflight(rid) < 3:  # held in Redis, waiting for their batch
                assert time.monotonic() < deadline
                time.sleep(0.02)
            start = time.perf_counter()
            closed = close_round(get_round(rid))
            took = time.perf_counter() - start
            assert closed.status == "closed" and closed.result["ballots"] == 3
        assert [f.result()[0] for f in sent] == [201, 201, 201]
    assert took < 2, took
    assert all(seconds < wait_s / 2 for _, seconds in (f.result() for f in sent))


# ---- the mixer's rule (pure) ---------------------------------------------------------


class _Ballot:
    def __init__(self, token_hash: str) -> None:
        self.token_hash = token_hash


def test_a_batch_is_due_with_k_different_tokens_after_the_wait_or_when_its_round_stops():
    mixer: Mixer[_Ballot] = Mixer()
    # a round scored per subject sends a token's subjects apart: one token, counted once
    mixer.add(1, [_Ballot(f"t{i}") for i in range(K - 1)] + [_Ballot("t0")], now=0.0)
    assert mixer.due(0.1, K, 1.5) == {} and mixer.waiting() == K
    mixer.add(1, [_Ballot("new")], now=0.2)
    batch = mixer.due(0.2, K, 1.5)[1]
    assert len(batch) == K + 1 and mixer.waiting() == 0

    mixer.add(2, [_Ballot("a")], now=10.0)
    mixer.add(3, [_Ballot("b")], now=10.5)
    assert mixer.next_due(1.5) == 11.5
    assert mixer.due(11.4, K, 1.5) == {}
    assert [b.token_hash for b in mixer.due(11.5, K, 1.5)[2]] == ["a"]  # waited long enough
    assert list(mixer.due(11.6, K, 1.5, stopped=frozenset({3}))) == [3]  # its round closes
    assert mixer.next_due(1.5) is None


def test_the_defaults_mix_eight_within_a_second_and_a_half_and_the_commit_outwaits_them():
    assert Settings.model_fields["BALLOT_MIX_K"].default == 8
    assert Settings.model_fields["BALLOT_MIX_WAIT_S"].default == 1.5
    with pytest.raises(SettingsError, match="COMMIT_TIMEOUT_S must be greater than "
                                            "BALLOT_MIX_WAIT_S"):
        read_settings(COMMIT_TIMEOUT_S=1.5, BALLOT_MIX_WAIT_S=1.5)


def test_a_round_waiting_for_its_batch_does_not_hold_up_another_rounds_full_one(app):
    _mixing(app, wait_s=3.0)
    with app.app_context():
        one, one_tokens = make_round("appraisal")
        two, two_tokens = make_round("appraisal", tokens_per_category=K)
        lone = [t for ts in one_tokens.values() for t in ts][0]
        many = [t for ts in two_tokens.values() for t in ts][:K]
        a1, a2 = valid_answers(one), valid_answers(two)
    with live_server(app) as base, ThreadPoolExecutor(K + 1) as pool:
        waiting = pool.submit(_post, base, lone, a1)
        time.sleep(0.2)
        full = [pool.submit(_post, base, t, a2) for t in many]
        assert all(f.result()[0] == 201 and f.result()[1] < 2.0 for f in full)
        status, seconds = waiting.result()
    assert status == 201 and seconds >= 3.0
