"""What close leaves in storage: ballots rewritten, spent tokens forgotten, old row
images scrubbed; and the rewrite on a PostgreSQL role that may not skip the
foreign-key re-checks."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from server.core.db import db
from server.core.redis import get_redis
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, wait_for_scrub
from server.voting import livetally
from server.voting.rebuild import rebuild
from tests.conftest import make_app
from tests.factories import make_round, valid_answers

N = 12


def vote_all(app, client) -> tuple[int, list[str], set[str]]:
    with app.app_context():
        rnd, tokens = make_round("appraisal", tokens_per_category=N // 3)
        rid = rnd.id
        all_tokens = [t for ts in tokens.values() for t in ts]
        answers = [valid_answers(rnd, variant=i) for i in range(3)]
    receipts = set()
    for i, token in enumerate(all_tokens):
        res = client.post("/api/v1/ballots", json={"token": token, "answers": answers[i % 3]})
        assert res.status_code == 201, res.json
        receipts.add(res.json["receipt"])
    return rid, all_tokens, receipts


def count(sql: str, rid: int) -> int:
    return db.session.execute(text(sql), {"r": rid}).scalar_one()


def relfilenodes() -> dict[str, int]:
    if db.engine.dialect.name != "postgresql":
        return {}
    return dict(db.session.execute(text(
        "SELECT relname, relfilenode FROM pg_class WHERE relname IN "
        "('ballots', 'ballot_comments', 'spent_tokens', 'session_claims')")).all())


def test_close_forgets_spent_tokens_keeps_ballots_and_scrubs(app, client):
    rid, tokens, receipts = vote_all(app, client)
    with app.app_context():
        assert count("SELECT count(*) FROM spent_tokens WHERE round_id = :r", rid) == N
        k = livetally.keys(rid)
        assert get_redis().exists(k.spent) == 1  # (every issued token was used)
        files = relfilenodes()
        close_round(get_round(rid))
        assert count("SELECT count(*) FROM spent_tokens WHERE round_id = :r", rid) == 0
        assert {r for (r,) in db.session.execute(
            text("SELECT receipt FROM ballots WHERE round_id = :r"), {"r": rid})} == receipts
        assert get_round(rid).result["ballots"] == N
        answers = valid_answers(get_round(rid))
    assert wait_for_scrub(60)
    # a used slip is told the round is closed, as before close forgot it was used
    res = client.post("/api/v1/ballots", json={"token": tokens[0], "answers": answers})
    assert res.status_code == 409 and res.json["error"]["code"] == "round_closed"
    res = client.post("/api/v1/ballot-form", json={"token": tokens[0]})
    assert res.status_code == 409 and res.json["error"]["code"] == "round_closed"
    # a closed round answers any well-formed token of it by its status alone
    made_up = f"{rid}.{secrets.token_urlsafe(16)}"
    res = client.post("/api/v1/ballot-form", json={"token": made_up})
    assert res.json["error"]["code"] == "round_closed"
    assert wait_for_scrub(60), "the scrub after close did not finish"
    with app.app_context():
        # nor does the live state keep anything per token any more
        assert get_redis().exists(k.spent, k.tok) == 0
        if db.engine.dialect.name == "postgresql":
            # VACUUM FULL: every rewritten table is in a new file (tests/test_insider.py
            # reads the files themselves)
            now = relfilenodes()
            assert len(now) == 4 and not set(now.items()) & set(files.items()), (files, now)
        # the live tally of a closed round is rebuilt from the ballots alone
        get_redis().delete(k.state, k.turnout)
        summary = rebuild(rid)
        assert summary == {"ballots": N, "unspent": 0, "spent": 0}
        assert get_redis().exists(k.spent, k.tok) == 0
        assert sum(livetally.read_turnout(rid).values()) == N


@pytest.fixture(params=[False, True], ids=["no-grant", "grant-set"])
def plain_role_app(request, app, tmp_path: Path, redis_url: str):
    """The app as a PostgreSQL role that is no superuser: without, then with the
    grant docs/deploy.md suggests (`GRANT SET ON PARAMETER session_replication_role`)."""
    with app.app_context():
        url = make_url(str(db.engine.url))
    if url.get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no roles")
    role = f"pingyi_plain_{secrets.token_hex(4)}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        conn.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        if request.param:
            conn.execute(f"GRANT SET ON PARAMETER session_replication_role TO {role}")
    plain = make_app(tmp_path / "plain", redis_url,
                     DATABASE_URL=url.set(username=role).render_as_string(hide_password=False))
    plain.config["TEST_ROLE_MAY_SKIP"] = request.param
    try:
        yield plain
    finally:
        wait_for_scrub(60)
        with plain.app_context():
            db.session.remove()
            db.engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            if request.param:
                conn.execute(f"REVOKE SET ON PARAMETER session_replication_role FROM {role}")
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_rewrite_on_a_role_that_is_no_superuser(app, client, plain_role_app, caplog):
    rid, _, receipts = vote_all(app, client)
    caplog.set_level(logging.INFO, logger="server.roundbase.shuffle")
    with plain_role_app.app_context():
        closed = close_round(get_round(rid))
        assert closed.status == "closed" and closed.result["ballots"] == N
        rows = db.session.execute(text(
            "SELECT receipt, xmin::text FROM ballots WHERE round_id = :r"), {"r": rid}).all()
    assert {r for r, _ in rows} == receipts
    assert len({x for _, x in rows}) == 1, "rewritten in the close's transaction"
    may_skip = plain_role_app.config["TEST_ROLE_MAY_SKIP"]
    assert ("checks foreign keys row by row" in caplog.text) is not may_skip


def test_rewrite_skips_rechecks_when_the_role_may(app, client, caplog):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only")
        superuser = db.session.execute(text(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar_one()
        if not superuser:
            pytest.skip("the suite's role may not set session_replication_role")
    rid, _, receipts = vote_all(app, client)
    caplog.set_level(logging.INFO, logger="server.roundbase.shuffle")
    with app.app_context():
        close_round(get_round(rid))
        assert {r for (r,) in db.session.execute(
            text("SELECT receipt FROM ballots WHERE round_id = :r"), {"r": rid})} == receipts
        # the skip ended with the rewrite: the close's later statements were checked
        assert db.session.execute(text("SHOW session_replication_role")).scalar_one() == "origin"
    assert "checks foreign keys row by row" not in caplog.text
