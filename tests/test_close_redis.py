"""What Redis keeps of a round (issue #24, item 4): after close nothing per token (no
key, field or member derived from a token; any well-formed token of the round is
answered 投票已结束 without a look-up), and live tally fields that exist, at 0, in a
fixed order from the moment the round opens, so their order tells no arrival."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from server.core.redis import get_redis
from server.forms.answers import all_tally_fields
from server.forms.sections import round_form
from server.rounds.operations import wait_for_scrub
from server.tokens.codec import subject_marker, token_hash
from server.voting import livetally
from tests.factories import make_round, valid_answers


def _dump(round_id: int) -> dict[str, Any]:
    """Every key of the round with its whole value (fields, members), as an insider
    with a copy of Redis reads it."""
    r = get_redis()
    out: dict[str, Any] = {}
    for key in r.scan_iter(match=f"{livetally.tag(round_id)}:*", count=1000):
        key = key.decode() if isinstance(key, bytes) else key
        kind = r.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "hash":
            out[key] = list(r.hscan_iter(key, count=1000))
        elif kind == "set":
            out[key] = list(r.sscan_iter(key, count=1000))
        elif kind == "string":
            out[key] = r.get(key)
        else:
            out[key] = kind
    return out


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value)
    return str(value)


def test_close_leaves_nothing_per_token_in_redis(app, client, key):
    with app.app_context():
        rnd, tokens = make_round("appraisal", tokens_per_category=6)
        rid, answers = rnd.id, valid_answers(rnd)
        subject_ids = [s.id for s in rnd.subjects]
    every = [t for ts in tokens.values() for t in ts]
    voted, unused = every[::2], every[1::2]
    for token in voted:
        assert client.post("/api/v1/ballots", json={"token": token, "answers": answers}
                           ).status_code == 201
    made_up = [f"{rid}.{secrets.token_urlsafe(16)}" for _ in range(3)]
    for token in made_up:  # counted as this client's guesses while open
        assert client.post("/api/v1/ballot-form", json={"token": token}).status_code == 404
    with app.app_context():
        derived = {token_hash(t) for t in every} | {
            subject_marker(t, s) for t in every for s in subject_ids}
        before = _text(list(_dump(rid).items()))
        assert any(h in before for h in derived)  # the check can see them while open
    assert client.post(f"/api/v1/rounds/{rid}/close", headers=key).status_code == 200
    with app.app_context():
        assert wait_for_scrub(60)
        dump = _dump(rid)
        seen = _text(list(dump.items()))
        assert not [h for h in derived if h in seen or h[:16] in seen]
        assert not [k for k in dump if ":guess:" in k or ":p:" in k]
        assert {k.rsplit(":", 1)[-1] for k in dump if ":t:" not in k} <= {
            "state", "turnout", "inflight", "live", "pj"}, sorted(dump)
    # every well-formed token of the closed round: 投票已结束, voted, unused or made up
    for token in [voted[0], unused[0], made_up[0], f"{rid}.{secrets.token_urlsafe(16)}"]:
        for path, body in (("/api/v1/ballot-form", {"token": token}),
                           ("/api/v1/ballots", {"token": token, "answers": answers})):
            res = client.post(path, json=body)
            assert (res.status_code, res.json["error"]["code"]) == (409, "round_closed"), path
            assert res.json["error"]["message"].startswith("投票已结束")
    with app.app_context():  # answering looked nothing up and wrote nothing
        assert _dump(rid) == dump


@pytest.mark.parametrize("kind,n_subjects", [("appraisal", 1), ("recommendation", 4),
                                             ("scoring", 2)])
def test_tally_fields_exist_from_open_in_a_fixed_order(app, client, key, kind, n_subjects):
    with app.app_context():
        rnd, tokens = make_round(kind, n_subjects=n_subjects, tokens_per_category=4)
        rid = rnd.id
        category_ids = [c.id for c in rnd.categories]
        fields = all_tally_fields(round_form(rnd), [s.id for s in rnd.subjects])
        answers = [valid_answers(rnd, variant=i) for i in (3, 1, 2, 0)]
        r = get_redis()
        k = livetally.keys(rid)

        def order() -> tuple[list[str], dict[int, list[str]]]:
            turnout = [_text(f) for f, _ in r.hscan_iter(k.turnout)]
            return turnout, {c: [_text(f) for f, _ in r.hscan_iter(k.tally(c))]
                             for c in category_ids}

        expected = ([str(c) for c in category_ids], dict.fromkeys(category_ids, fields))
        assert order() == expected  # at open, before any ballot, all at 0
        assert all(int(n) == 0 for _, n in r.hscan_iter(k.tally(category_ids[0])))
        assert _text(r.object("encoding", k.tally(category_ids[0]))) in ("listpack", "ziplist")
    # ballots of the last category first, with other choices first
    for i, cat in enumerate(reversed(category_ids)):
        for j, token in enumerate(tokens[cat][:2]):
            res = client.post("/api/v1/ballots",
                              json={"token": token, "answers": answers[(i + j) % 4]})
            assert res.status_code == 201, res.json
    with app.app_context():
        assert order() == expected
        assert sum(livetally.read_turnout(rid).values()) == 2 * len(category_ids)
    res = client.post(f"/api/v1/rounds/{rid}/close", headers=key)
    assert res.status_code == 200, res.json  # the live tally agrees with SQL's recount
    with app.app_context():
        assert order() == expected
