"""Scoring as the reports end (述职评议, 逐人评分) through the public API: each subject's
scores sent on their own and final when sent, refusals that change nothing, the
organizer's per-subject progress (counts, never scores), storage that does not pair a
slip's subjects, and results equal to the same scores sent as whole ballots."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from server.core.db import db
from tests.factories import organizer
from tests.support.rounds_http import create, issue, lifecycle, run_round
from tests.test_console import login

ITEMS = {"responsibility": 30, "organization": 25, "conduct": 20, "innovation": 15,
         "answers": 10}


@pytest.fixture
def key(app):
    with app.app_context():
        _, raw = organizer()
    return {"Authorization": f"Bearer {raw}"}


def body(n_subjects: int = 4, panel: int = 5, **extra):
    return {"form": "review", "title": "党支部书记抓基层党建述职评议",
            "subjects": [{"name": f"书记{i + 1:02d}", "note": f"第{i + 1}党支部"}
                         for i in range(n_subjects)],
            "categories": [{"name": "考评组", "expected_count": panel}], **extra}


def open_round(client, key, n_subjects=4, panel=5, **extra):
    rnd = create(client, key, body(n_subjects, panel, per_subject=True, **extra))
    assert rnd["per_subject"] is True
    tokens = issue(client, key, rnd["id"], rnd["categories"][0]["id"], panel)
    assert lifecycle(client, key, rnd["id"], "open").status_code == 200
    return rnd, tokens


def scores(base: float = 10) -> dict[str, float]:
    return {k: min(m, base + i * 0.5) for i, (k, m) in enumerate(ITEMS.items())}


def send(client, token, sid, row):
    return client.post("/api/v1/subject-scores",
                       json={"token": token, "subject_id": sid, "scores": row})


def stored(app, rid):
    with app.app_context():
        ballots = db.session.execute(text("SELECT answers FROM ballots WHERE round_id = :r"),
                                     {"r": rid}).scalars().all()
        spent = db.session.execute(text("SELECT token_hash FROM spent_tokens "
                                        "WHERE round_id = :r"), {"r": rid}).scalars().all()
    return ballots, spent


def test_each_subject_sent_once_and_final(app, client, key):
    rnd, tokens = open_round(client, key)
    rid, sids = rnd["id"], [s["id"] for s in rnd["subjects"]]
    form = client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json
    assert form["per_subject"] is True and form["scored"] == []

    res = send(client, tokens[0], sids[1], scores(12))
    assert res.status_code == 201, res.json
    assert len(res.json["receipt"]) == 14
    again = send(client, tokens[0], sids[1], scores(20))
    assert again.status_code == 409
    assert again.json["error"]["code"] == "subject_already_scored"
    assert send(client, tokens[0], sids[0], scores(11)).status_code == 201
    # the slip still opens, and says which subjects it has sent
    form = client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json
    assert sorted(form["scored"]) == sorted([sids[0], sids[1]])
    # another slip scores the same subject
    assert send(client, tokens[1], sids[1], scores(9)).status_code == 201

    ballots, spent = stored(app, rid)
    assert len(ballots) == 3 and all(len(json.loads(b)) == 1 for b in ballots)
    # a marker per subject sent, no token's hash among them
    from server.tokens.codec import token_hash

    assert len(spent) == len(set(spent)) == 3
    assert not {token_hash(t) for t in tokens} & set(spent)

    # a whole ballot is refused on such a round
    whole = client.post("/api/v1/ballots", json={"token": tokens[2], "answers": {
        str(s): scores() for s in sids}})
    assert whole.status_code == 409 and whole.json["error"]["code"] == "scored_per_subject"
    # turnout counts panel members (the most-scored subject), not subjects × members
    turnout = client.get(f"/api/v1/rounds/{rid}/turnout", headers=key).json
    assert turnout["actual"] == 2 and turnout["expected"] == 5


@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"subject_id": 999999, "scores": scores()}, 422, "unknown_subject"),
    ({"subject_id": True, "scores": scores()}, 422, "invalid_input"),
    ({"scores": {**scores(), "conduct": 21}}, 422, "score_out_of_range"),
    ({"scores": {**scores(), "conduct": -1}}, 422, "score_out_of_range"),
    ({"scores": {k: v for k, v in scores().items() if k != "answers"}}, 422, "missing_score"),
    ({"scores": {**scores(), "extra": 1}}, 422, "unknown_item"),
    ({"scores": {**scores(), "conduct": 1.25}}, 422, "score_precision"),
    ({"scores": {**scores(), "conduct": "九"}}, 422, "score_not_number"),
    ({"scores": [1, 2]}, 422, "answers_type"),
    ({"scores": None}, 422, "invalid_input"),
    ({"token": "1.AAAA"}, 400, "token_malformed"),
])
def test_bad_input_is_refused_and_changes_nothing(app, client, key, payload, status, code):
    rnd, tokens = open_round(client, key)
    full = {"token": tokens[0], "subject_id": rnd["subjects"][0]["id"], "scores": scores(),
            **payload}
    res = client.post("/api/v1/subject-scores", json=full)
    assert res.status_code == status, res.json
    assert res.json["error"]["code"] == code
    assert stored(app, rnd["id"]) == ([], [])


def test_not_open_closed_and_whole_ballot_rounds_refuse(app, client, key):
    draft = create(client, key, body(per_subject=True))
    token = issue(client, key, draft["id"], draft["categories"][0]["id"], 1)[0]
    res = send(client, token, draft["subjects"][0]["id"], scores())
    assert res.status_code == 409 and res.json["error"]["code"] == "round_not_open"

    rnd, tokens = open_round(client, key)
    assert send(client, tokens[0], rnd["subjects"][0]["id"], scores()).status_code == 201
    assert lifecycle(client, key, rnd["id"], "close").status_code == 200
    res = send(client, tokens[1], rnd["subjects"][0]["id"], scores())
    assert res.status_code == 409 and res.json["error"]["code"] == "round_closed"

    whole = create(client, key, body())
    assert whole["per_subject"] is False
    token = issue(client, key, whole["id"], whole["categories"][0]["id"], 1)[0]
    lifecycle(client, key, whole["id"], "open")
    res = send(client, token, whole["subjects"][0]["id"], scores())
    assert res.status_code == 409 and res.json["error"]["code"] == "not_per_subject"
    # only a scoring round can be scored per subject
    res = client.post("/api/v1/rounds", headers=key, json={
        **body(), "form": "appraisal", "per_subject": True})
    assert res.status_code == 422 and res.json["error"]["code"] == "per_subject_not_scoring"


def test_progress_shows_counts_never_scores(app, client, key):
    rnd, tokens = open_round(client, key, n_subjects=3, panel=4)
    rid, sids = rnd["id"], [s["id"] for s in rnd["subjects"]]
    # odd scores that no count could be mistaken for
    sent = {(0, 0): 27.5, (1, 0): 23.5, (2, 0): 21.5, (0, 1): 19.5}
    for (voter, subject), base in sent.items():
        row = {k: min(m, base) for k, m in ITEMS.items()}
        assert send(client, tokens[voter], sids[subject], row).status_code == 201
    res = client.get(f"/api/v1/rounds/{rid}/subject-progress", headers=key)
    assert res.status_code == 200, res.json
    assert [(s["id"], s["scored"]) for s in res.json["subjects"]] == [
        (sids[0], 3), (sids[1], 1), (sids[2], 0)]
    assert res.json["expected"] == 4
    text_ = res.get_data(as_text=True)
    for base in sent.values():
        assert str(base) not in text_
    for n in (10, 15, 20, 25):  # item maxima reached by the sent scores
        assert f": {n}" not in text_ and f":{n}," not in text_
    # the console's round page and the projector show the same counts, no scores
    login(client)
    for path in (f"/console/rounds/{rid}", f"/console/rounds/{rid}/projector"):
        page = client.get(path)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "逐人评分进度" in html
        for base in sent.values():
            assert str(base) not in html
    # other rounds answer with a clear refusal
    other = create(client, key, body())
    res = client.get(f"/api/v1/rounds/{other['id']}/subject-progress", headers=key)
    assert res.status_code == 409 and res.json["error"]["code"] == "not_per_subject"


def test_results_equal_those_of_whole_ballots(app, client, key):
    """Seed 001's panel: the same sheets as whole ballots and subject by subject."""
    spread = [-1, -0.5, 0, 0.5, 1, -1, -0.5]
    values = [{"responsibility": 15 + 2 * i, "organization": 20, "conduct": 16,
               "innovation": 12, "answers": 8} for i in range(6)]
    sheets = [{f"#{i}": {k: max(0, min(ITEMS[k], x + spread[r])) for k, x in v.items()}
               for i, v in enumerate(values)} for r in range(7)]
    sheets[6]["#0"] = dict(ITEMS)  # an outlier: trimmed away in both
    whole, _ = run_round(client, key, body(6, 7), {"考评组": sheets})

    rnd, tokens = open_round(client, key, n_subjects=6, panel=7)
    ids = [s["id"] for s in rnd["subjects"]]
    for subject in range(6):  # as each report ends, every member sends that subject
        for token, sheet in zip(tokens, sheets, strict=True):
            assert send(client, token, ids[subject], sheet[f"#{subject}"]).status_code == 201
    res = lifecycle(client, key, rnd["id"], "close")
    assert res.status_code == 200 and res.json["status"] == "closed", res.json

    def results(rid, subject_ids):
        """The round's results with its subject ids written as positions."""
        pos = {sid: f"#{i}" for i, sid in enumerate(subject_ids)}

        def norm(x, key=""):
            if isinstance(x, dict):
                return {pos.get(int(k), k) if k.isdigit() else k: norm(v, k)
                        for k, v in x.items()}
            if isinstance(x, list):
                return [pos[v] if key == "order" else norm(v) for v in x]
            return pos[x] if key == "id" and x in pos else x

        data = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
        return norm({k: v for k, v in data.items() if k not in ("round_id", "title")})

    a = results(whole["id"], [s["id"] for s in whole["subjects"]])
    b = results(rnd["id"], ids)
    assert a["scoring"]["subjects"][0]["total_trimmed"] is True
    assert a == b
    assert b["validity"]["total"]["cast"] == 7
    progress = client.get(f"/api/v1/rounds/{rnd['id']}/subject-progress", headers=key).json
    assert [s["scored"] for s in progress["subjects"]] == [7] * 6


def test_the_demo_has_a_review_scored_per_subject_under_way(app, client):
    from server.demo.seed import seed_demo
    from server.roundbase.models import Round
    from server.rounds.live import subject_progress

    with app.app_context():
        seed_demo("http://127.0.0.1:5000")
        rnd = db.session.execute(db.select(Round).filter(
            Round.title.contains("述职评议"), Round.status == "open")).scalar_one()
        assert rnd.per_subject and rnd.categories[0].issued_count == 13  # 12 slips + a sample
        scored = [s["scored"] for s in subject_progress(rnd)["subjects"]]
    assert scored[:5] == [8, 8, 6, 4, 0] and sum(scored) == 26


def test_the_console_makes_a_round_scored_per_subject(app, client):
    from tests.conftest import csrf_token

    with app.app_context():
        organizer()
    login(client)
    page = client.get("/console/rounds/new").get_data(as_text=True)
    assert 'name="per_subject"' in page
    form = {"csrf_token": csrf_token(page), "form": "review", "title": "述职评议",
            "subjects": "张三 第一党支部书记\n李四 第二党支部书记", "categories": "考评组,9,1",
            "per_subject": "1"}
    res = client.post("/console/rounds/new", data={**form, "form": "appraisal"})
    assert res.status_code == 422 and "只有评分类测评可以逐人评分" in res.get_data(as_text=True)
    assert client.post("/console/rounds/new", data=form).status_code == 303
    from server.roundbase.models import Round

    with app.app_context():
        rnd = db.session.execute(db.select(Round)).scalar_one()
        assert rnd.per_subject
        rid = rnd.id
    page = client.get(f"/console/rounds/{rid}/edit").get_data(as_text=True)
    assert 'name="per_subject" value="1" checked' in page


def test_a_rebuilt_live_tally_keeps_sent_subjects_and_turnout(app, client, key):
    from server.voting.rebuild import rebuild

    rnd, tokens = open_round(client, key)
    rid, sids = rnd["id"], [s["id"] for s in rnd["subjects"]]
    for token in tokens[:3]:
        assert send(client, token, sids[0], scores()).status_code == 201
    assert send(client, tokens[0], sids[1], scores()).status_code == 201
    with app.app_context():
        rebuild(rid)
    turnout = client.get(f"/api/v1/rounds/{rid}/turnout", headers=key).json
    assert turnout["actual"] == 3
    assert client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json["scored"] == sids[:2]
    res = send(client, tokens[0], sids[1], scores())
    assert res.status_code == 409 and res.json["error"]["code"] == "subject_already_scored"
    assert send(client, tokens[1], sids[1], scores()).status_code == 201
    res = lifecycle(client, key, rid, "close")
    assert res.status_code == 200 and res.json["status"] == "closed", res.json


def test_live_results_divide_each_subject_by_its_own_scorers(app, client, key):
    """Live results (show_live_results) of a round scored per subject: a subject's mean
    is over the members who scored it (its own 实到), as in the official results, not
    over the category's turnout (the most-scored subject's count)."""
    rnd, tokens = open_round(client, key, n_subjects=2, panel=6, show_live_results=True,
                             results={"trim": 0, "min_turnout": 0})
    rid, sids = rnd["id"], [s["id"] for s in rnd["subjects"]]
    for i, token in enumerate(tokens):  # all six score the first report, two the second
        assert send(client, token, sids[0], scores(10 + i)).status_code == 201
        if i < 2:
            assert send(client, token, sids[1], scores(20 + 2 * i)).status_code == 201
    live = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
    assert live["live"] is True and live["ballots"] == 6
    means = {s["id"]: {i["key"]: i["mean"] for i in s["items"]}
             for s in live["scoring"]["subjects"]}
    assert means[sids[1]]["answers"] == 10  # both gave the item's maximum
    assert means[sids[1]]["conduct"] == 20  # 20 and 20 (capped), not 40 / 6
    assert means[sids[1]]["responsibility"] == 21  # (20 + 22) / 2, not 42 / 6
    assert lifecycle(client, key, rid, "close").status_code == 200
    final = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
    assert final["live"] is False
    assert [(s["id"], s["total"], s["items"]) for s in final["scoring"]["subjects"]] == [
        (s["id"], s["total"], s["items"]) for s in live["scoring"]["subjects"]]
