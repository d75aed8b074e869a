"""Answers whose content depends on the voter are one size per round (issue #24, item 6):
the ballot form names the voter's category, so without its `pad` the byte count the
access log keeps beside the address would tell the category. Real HTTP, the ASGI app
every deployment serves."""

from __future__ import annotations

import requests
from sqlalchemy import text

from server.core.db import db
from tests.factories import make_round
from tests.support.liveserver import live_server

NAMES = ["党员", "入党积极分子和预备党员（含列席）", "Staff of the branch", "中层"]


def test_every_category_gets_a_ballot_form_of_one_size(app, client, key):
    with app.app_context():
        rnd, tokens = make_round("appraisal", open_it=False, tokens_per_category=2)
        rid, cats = rnd.id, [c.id for c in rnd.categories]
        for cat, name in zip(cats, NAMES, strict=False):
            db.session.execute(text("UPDATE voter_categories SET name = :n WHERE id = :c"),
                               {"n": name, "c": cat})
        db.session.commit()
    assert client.post(f"/api/v1/rounds/{rid}/open", headers=key).status_code == 200
    with live_server(app) as base:
        answers = [requests.post(base + "/api/v1/ballot-form", json={"token": tokens[c][0]},
                                 timeout=10) for c in cats]
    assert [a.status_code for a in answers] == [200] * len(cats)
    names = {a.json()["category"] for a in answers}
    assert len(names) == len(cats) > 1  # each voter still sees their own category
    sizes = {len(a.content) for a in answers}
    assert len(sizes) == 1, sizes
    assert {a.headers["Content-Length"] for a in answers} == {str(sizes.pop())}
    assert max(len(a.json()["pad"]) for a in answers) > 0
