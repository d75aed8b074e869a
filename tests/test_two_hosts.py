"""Two web hosts, one SQL database, one Redis (or Redis Cluster): nothing lives in a process.

Two gunicorn instances on two ports stand for two machines behind a load
balancer. Votes go through both, interleaved; the same token raced through
both is accepted once; a console session signed in on one is valid on the
other; turnout read on either host is the same; after a close on one host the
other refuses ballots, and the counts match SQL.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import text

from server.core.db import db
from tests.conftest import csrf_token
from tests.factories import make_round, organizer, valid_answers
from tests.support.gunicorn import gunicorn

RACERS = 24


def test_two_hosts_share_votes_sessions_and_close(app):
    with app.app_context():
        _, key = organizer()
        rnd, tokens = make_round("appraisal", tokens_per_category=8)
        rid, title = rnd.id, rnd.title
        flat = [t for ts in tokens.values() for t in ts]
        answers = [valid_answers(rnd, variant=i) for i in range(len(flat))]
        db_url = db.engine.url.render_as_string(hide_password=False)
    auth = {"Authorization": f"Bearer {key}"}
    env = {"REDIS_CLUSTER_NODES": app.config.get("REDIS_CLUSTER_NODES") or ""}
    with gunicorn(db_url, app.config["REDIS_URL"], workers=2, threads=8, extra_env=env) as a, \
            gunicorn(db_url, app.config["REDIS_URL"], workers=2, threads=8, extra_env=env) as b:
        hosts = [a, b]

        # the form read on one host, the ballot cast on the other
        form = requests.post(f"{a}/api/v1/ballot-form", json={"token": flat[0]}, timeout=10)
        assert form.status_code == 200, form.text
        res = requests.post(f"{b}/api/v1/ballots",
                            json={"token": flat[0], "answers": answers[0]}, timeout=10)
        assert res.status_code == 201, res.text
        receipt = res.json()["receipt"]

        # interleaved: ballot i through host i % 2, many at once
        def cast(i: int) -> int:
            return requests.post(f"{hosts[i % 2]}/api/v1/ballots",
                                 json={"token": flat[i], "answers": answers[i]},
                                 timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(cast, range(1, 16))) == [201] * 15
        # each token again, through the other host: already used
        again = requests.post(f"{a}/api/v1/ballots",
                              json={"token": flat[1], "answers": answers[1]}, timeout=10)
        assert again.status_code == 409 and again.json()["error"]["code"] == "token_spent"

        # one token raced through both hosts: exactly one accepted
        barrier = threading.Barrier(RACERS)

        def racer(i: int) -> int:
            barrier.wait()
            return requests.post(f"{hosts[i % 2]}/api/v1/ballots",
                                 json={"token": flat[16], "answers": answers[16]},
                                 timeout=30).status_code

        with ThreadPoolExecutor(RACERS) as pool:
            statuses = list(pool.map(racer, range(RACERS)))
        assert statuses.count(201) == 1 and set(statuses) <= {201, 409}, statuses

        # live turnout is the same wherever it is read
        turnouts = [requests.get(f"{h}/api/v1/rounds/{rid}/turnout", headers=auth,
                                 timeout=10).json() for h in hosts]
        assert turnouts[0]["actual"] == turnouts[1]["actual"] == 17

        # a console session (and its CSRF token) from one host is valid on the other
        s = requests.Session()
        token = csrf_token(s.get(f"{a}/console/login", timeout=10).text)
        login = s.post(f"{b}/console/login", timeout=10, allow_redirects=False, data={
            "csrf_token": token, "username": "organizer", "password": "correct horse 1"})
        assert login.status_code == 302, login.text
        page = s.get(f"{a}/console/rounds/{rid}", timeout=10, allow_redirects=False)
        assert page.status_code == 200 and title in page.text

        # close on one host; the other stops taking ballots at once
        closed = requests.post(f"{b}/api/v1/rounds/{rid}/close", headers=auth, timeout=30)
        assert closed.status_code == 200, closed.text
        late = requests.post(f"{a}/api/v1/ballots",
                             json={"token": flat[17], "answers": answers[17]}, timeout=10)
        assert late.status_code == 409 and late.json()["error"]["code"] == "round_closed"
        again = requests.post(f"{a}/api/v1/rounds/{rid}/close", headers=auth, timeout=30)
        assert again.status_code == 200 and again.json()["status"] == "closed"
        check = requests.post(f"{a}/api/v1/receipts/check", json={"round_id": rid, "receipt": receipt},
                              timeout=10)
        assert check.status_code == 200 and check.json()["counted"] is True, check.text
        final = requests.get(f"{a}/api/v1/rounds/{rid}/turnout", headers=auth, timeout=10)
        assert final.json()["actual"] == 17

    with app.app_context():
        n = db.session.execute(text("SELECT count(*) FROM ballots WHERE round_id = :r"),
                               {"r": rid}).scalar()
        spent = db.session.execute(text("SELECT count(*) FROM spent_tokens WHERE round_id = :r"),
                                   {"r": rid}).scalar()
        status = db.session.execute(text("SELECT status FROM rounds WHERE id = :r"),
                                    {"r": rid}).scalar()
    assert (n, spent, status) == (17, 0, "closed")  # spent tokens are forgotten at close
