"""The ballot path through the public JSON API: acceptance, refusals, receipts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from server.core.db import db
from server.forms.storage import decode_answers
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, publish_round
from tests.factories import make_round, valid_answers


def counts(app, round_id):
    with app.app_context():
        ballots = db.session.execute(
            text("SELECT count(*) FROM ballots WHERE round_id = :r"), {"r": round_id}).scalar()
        spent = db.session.execute(
            text("SELECT count(*) FROM spent_tokens WHERE round_id = :r"), {"r": round_id}).scalar()
    return ballots, spent


@pytest.mark.parametrize("kind", ["appraisal", "recommendation", "scoring"])
def test_vote_accepted_once_and_counted(app, client, kind):
    with app.app_context():
        rnd, tokens = make_round(kind)
        token = tokens[rnd.categories[0].id][0]
        answers = valid_answers(rnd)
        rid = rnd.id

    form = client.post("/api/v1/ballot-form", json={"token": token})
    assert form.status_code == 200, form.json
    assert form.json["round"]["id"] == rid
    assert form.json["category"] == "公司领导"
    assert len(form.json["subjects"]) == 3

    res = client.post("/api/v1/ballots", json={"token": token, "answers": answers})
    assert res.status_code == 201, res.json
    receipt = res.json["receipt"]
    assert len(receipt) == 14 and receipt[4] == "-" and receipt[9] == "-"
    assert counts(app, rid) == (1, 1)

    again = client.post("/api/v1/ballots", json={"token": token, "answers": answers})
    assert again.status_code == 409
    assert again.json["error"]["code"] == "token_spent"
    assert counts(app, rid) == (1, 1)

    used = client.post("/api/v1/ballot-form", json={"token": token})
    assert used.status_code == 409 and used.json["error"]["code"] == "token_spent"

    check = client.post("/api/v1/receipts/check", json={"round_id": rid, "receipt": receipt})
    assert check.json["found"] is True and check.json["counted"] is False

    with app.app_context():
        rnd = close_round(get_round(rid))
        assert rnd.status == "closed" and rnd.result["ballots"] == 1
    check = client.post("/api/v1/receipts/check",
                        json={"round_id": rid, "receipt": receipt.lower().replace("-", "")})
    assert check.json == {**check.json, "found": True, "counted": True}
    wrong = client.post("/api/v1/receipts/check", json={"round_id": rid, "receipt": "2222-2222-2222"})
    assert wrong.json["found"] is False


def test_stored_ballot_is_canonical_and_carries_nothing_else(app, client):
    with app.app_context():
        rnd, tokens = make_round("appraisal")
        token = tokens[rnd.categories[1].id][0]
        answers = valid_answers(rnd, variant=2)
        rid = rnd.id
    assert client.post("/api/v1/ballots", json={"token": token, "answers": answers}).status_code == 201
    with app.app_context():
        row = db.session.execute(text("SELECT * FROM ballots WHERE round_id = :r"), {"r": rid}).one()
        stored = dict(row._mapping)
        form = get_round(rid).form
    assert set(stored) == {"id", "round_id", "category_id", "receipt", "answers"}
    # an appraisal is stored compact (forms/storage.py) and reads back exactly
    assert stored["answers"].startswith("A:") and len(stored["answers"]) < 80
    assert decode_answers(form, stored["answers"]) == answers
    assert len(stored["id"]) == 32 and int(stored["id"], 16) >= 0


BAD_BODIES = [
    ({"answers": {}}, 422, "invalid_input"),
    ({"token": 5, "answers": {}}, 422, "invalid_input"),
    ({"token": "nonsense", "answers": {}}, 400, "token_malformed"),
    ({"token": "999.AAAAAAAAAAAAAAAAAAAAAA", "answers": {}}, 404, "token_unknown"),
    ({"token": "9999999999.AAAAAAAAAAAAAAAAAAAAAA", "answers": {}}, 400, "token_malformed"),
    ({"token": "TOKEN", "answers": {"x": 1}, "extra": 1}, 422, "invalid_input"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_BODIES)
def test_bad_requests_get_stable_codes(app, client, body, status, code):
    with app.app_context():
        rnd, tokens = make_round("appraisal")
        token = tokens[rnd.categories[0].id][0]
        rid = rnd.id
    body = json.loads(json.dumps(body).replace("TOKEN", token))
    res = client.post("/api/v1/ballots", json=body)
    assert res.status_code == status, res.json
    assert res.json["error"]["code"] == code
    assert res.json["error"]["message"] and res.json["error"]["message_en"]
    assert counts(app, rid) == (0, 0)


def test_unknown_token_of_existing_round(app, client):
    with app.app_context():
        rnd, _ = make_round("appraisal")
        answers, rid = valid_answers(rnd), rnd.id
    res = client.post("/api/v1/ballots",
                      json={"token": f"{rid}.AAAAAAAAAAAAAAAAAAAAAA", "answers": answers})
    assert res.status_code == 404 and res.json["error"]["code"] == "token_unknown"


@pytest.mark.parametrize(
    ("kind", "mutate", "code"),
    [
        ("appraisal", lambda a, r: a.pop(next(iter(a))), "missing_subject"),
        ("appraisal", lambda a, r: next(iter(a.values())).pop("overall"), "missing_criterion"),
        ("appraisal", lambda a, r: next(iter(a.values())).update(overall="super"), "invalid_grade"),
        ("appraisal", lambda a, r: a.update({"99999": {}}), "unknown_subject"),
        ("appraisal", lambda a, r: next(iter(a.values())).update(bogus="excellent"),
         "unknown_criterion"),
        ("recommendation", lambda a, r: a.update(choices=[s.id for s in r.subjects]),
         "too_many_choices"),
        ("recommendation", lambda a, r: a.update(choices=[]), "too_few_choices"),
        ("recommendation", lambda a, r: a.update(choices=[r.subjects[0].id] * 2),
         "duplicate_choice"),
        ("recommendation", lambda a, r: a.update(choices=[123456]), "unknown_candidate"),
        ("recommendation", lambda a, r: a.update(choices=["1"]), "answers_type"),
        ("scoring", lambda a, r: next(iter(a.values())).update(responsibility=31),
         "score_out_of_range"),
        ("scoring", lambda a, r: next(iter(a.values())).update(responsibility=-1),
         "score_out_of_range"),
        ("scoring", lambda a, r: next(iter(a.values())).update(responsibility=1.25),
         "score_precision"),
        ("scoring", lambda a, r: next(iter(a.values())).update(responsibility="10"),
         "score_not_number"),
        ("scoring", lambda a, r: next(iter(a.values())).pop("answers"), "missing_score"),
    ],
)
def test_answers_outside_the_form_are_refused(app, client, kind, mutate, code):
    with app.app_context():
        rnd, tokens = make_round(kind, n_subjects=5 if kind == "recommendation" else 3)
        token = tokens[rnd.categories[0].id][0]
        answers = valid_answers(rnd)
        mutate(answers, rnd)
        rid = rnd.id
    res = client.post("/api/v1/ballots", json={"token": token, "answers": answers})
    assert res.status_code == 422, res.json
    assert res.json["error"]["code"] == code
    assert res.json["error"]["field"].startswith("answers")
    assert counts(app, rid) == (0, 0)
    # the token is still good: the refusal changed nothing
    ok = client.post("/api/v1/ballots", json={"token": token, "answers": valid_answers(
        get_round_in(app, rid))})
    assert ok.status_code == 201


def get_round_in(app, rid):
    with app.app_context():
        rnd = get_round(rid)
        _ = rnd.subjects, rnd.categories, rnd.form
        return rnd


def test_hostile_transport(app, client):
    with app.app_context():
        rnd, tokens = make_round("appraisal")
        token = tokens[rnd.categories[0].id][0]
        rid = rnd.id
    cases = [
        client.post("/api/v1/ballots", data=b"\xff\xfe not utf8",
                    content_type="application/json"),
        client.post("/api/v1/ballots", data="token=x", content_type="application/x-www-form-urlencoded"),
        client.post("/api/v1/ballots", data="[" * 20000 + "]" * 20000,
                    content_type="application/json"),
        client.post("/api/v1/ballots", data=json.dumps({"token": token, "answers": "x" * 200000}),
                    content_type="application/json"),
        client.post("/api/v1/ballots", json=[token]),
        client.get("/api/v1/ballots"),
    ]
    for res in cases:
        assert 400 <= res.status_code < 500, (res.status_code, res.data[:200])
        assert res.json["error"]["code"]
    assert counts(app, rid) == (0, 0)


def test_round_lifecycle_refusals(app, client):
    with app.app_context():
        rnd, tokens = make_round("recommendation", n_subjects=4, open_it=False)
        token = tokens[rnd.categories[0].id][0]
        second = tokens[rnd.categories[0].id][1]
        answers, rid = valid_answers(rnd), rnd.id
    res = client.post("/api/v1/ballots", json={"token": token, "answers": answers})
    assert res.status_code == 409 and res.json["error"]["code"] == "round_not_open"
    res = client.post("/api/v1/ballot-form", json={"token": token})
    assert res.json["error"]["code"] == "round_not_open"
    with app.app_context():
        from server.rounds.operations import open_round

        open_round(get_round(rid))
        open_round(get_round(rid))  # idempotent
    assert client.post("/api/v1/ballots", json={"token": token, "answers": answers}).status_code == 201
    with app.app_context():
        close_round(get_round(rid))
        assert close_round(get_round(rid)).status == "closed"  # idempotent
    res = client.post("/api/v1/ballots", json={"token": second, "answers": answers})
    assert res.status_code == 409 and res.json["error"]["code"] == "round_closed"
    assert client.post("/api/v1/ballot-form", json={"token": second}).json["error"]["code"] == \
        "round_closed"
    with app.app_context():
        from server.core.errors import ApiError
        from server.rounds.operations import open_round

        with pytest.raises(ApiError) as err:
            open_round(get_round(rid))
        assert err.value.code == "round_already_closed"
        assert publish_round(get_round(rid)).status == "published"
    assert counts(app, rid) == (1, 0)  # the ballot kept; which slip was used forgotten at close
