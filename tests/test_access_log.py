"""PINGYI_ACCESS_LOG: one line per request (core/access_log.py, wrapped around the app by
config/gunicorn.conf.py): client, request line, status, bytes, milliseconds, for the
ballots answered on the event loop and the requests answered by Flask alike.
No line holds a token."""

from __future__ import annotations

import re

import requests

from tests.factories import make_round, valid_answers
from tests.support.faults import Gunicorn

LINE = re.compile(r'^127\.0\.0\.1 "(?P<request>[A-Z]+ \S+ HTTP/1\.1)" (?P<status>\d{3}) '
                  r"(?P<bytes>\d+|-) (?P<ms>\d+)ms$")


def test_every_request_is_one_line_with_its_time(app, tmp_path):
    with app.app_context():
        rnd, tokens = make_round("appraisal")
        toks, ans = tokens[rnd.categories[0].id], valid_answers(rnd)
    access = tmp_path / "access.log"
    with Gunicorn(app.config["DATABASE_URL"], app.config["REDIS_URL"], workers=1, threads=2,
                  access_log=access) as g:
        ballot = requests.post(f"{g.base}/api/v1/ballots", json={"token": toks[0], "answers": ans},
                               timeout=30)
        assert ballot.status_code == 201
        assert requests.post(f"{g.base}/api/v1/ballots", data="{", timeout=30,
                             headers={"Content-Type": "application/json"}).status_code == 400
        assert requests.get(f"{g.base}/healthz?probe=1", timeout=30).status_code == 200
    lines = [LINE.match(line) for line in access.read_text().splitlines()]
    assert all(lines), access.read_text()
    seen = [(m["request"], m["status"]) for m in lines]
    want = [("POST /api/v1/ballots HTTP/1.1", "201"), ("POST /api/v1/ballots HTTP/1.1", "400"),
            ("GET /healthz?probe=1 HTTP/1.1", "200")]
    assert [s for s in seen if s in want] == want  # readiness probes come before them
    first = lines[seen.index(want[0])]
    assert int(first["bytes"]) == len(ballot.content)
    text = access.read_text()
    assert toks[0] not in text and toks[0].split(".", 1)[1] not in text
