"""Session QR: members claim one token each by WeChat identity (the fake, over real HTTP).

What is recorded is only that an identity claimed in a round: never which token,
no category, no time; the token comes at random from a pool written in advance.
"""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from bot.wechat_fake.miniprogram import mint_login_code
from server.core.db import db
from tests.support.miniprogram import (
    answers_for,
    bearer,
    make_staff,
    new_round,
    zbar,
)


@pytest.fixture
def key(app):
    return bearer(make_staff(app))


def _session_round(client, key, pool=3, open_it=True):
    rnd = new_round(client, key)
    rid = rnd["id"]
    assert client.put(f"/api/v1/rounds/{rid}/options", headers=key,
                      json={"session_qr": True}).json["session_qr"] is True
    cid = rnd["categories"][1]["id"]
    added = client.post(f"/api/v1/rounds/{rid}/session-pool", headers=key,
                        json={"category_id": cid, "count": pool})
    assert added.status_code == 201 and added.json == {"category_id": cid, "added": pool,
                                                       "remaining": pool}
    if open_it:
        assert client.post(f"/api/v1/rounds/{rid}/open", headers=key).status_code == 200
    codes = client.get(f"/api/v1/rounds/{rid}/session-codes", headers=key).json
    scene = next(i["scene"] for i in codes["items"] if i["category_id"] == cid)
    return rid, cid, scene


def _claim(client, state, scene, openid):
    return client.post("/api/v1/session-claims",
                       json={"scene": scene, "code": mint_login_code(state, openid)})


def _all_rows(app) -> str:
    with app.app_context():
        return "\n".join(repr(tuple(r)) for t in inspect(db.engine).get_table_names()
                         for r in db.session.execute(text(f"SELECT * FROM {t}")))


def test_one_token_per_wechat_user_and_no_record_of_which(app, client, fake, key):
    _, state = fake
    rid, cid, scene = _session_round(client, key)
    assert len(scene) <= 32 and scene.startswith(f"S{rid}.{cid}.")

    first = _claim(client, state, scene, "o_member1_00000000000000000000")
    assert first.status_code == 201, first.json
    token = first.json["token"]
    again = _claim(client, state, scene, "o_member1_00000000000000000000")
    assert again.status_code == 409 and again.json["error"]["code"] == "already_claimed"
    second = _claim(client, state, scene, "o_member2_00000000000000000000")
    assert second.status_code == 201 and second.json["token"] != token

    with app.app_context():
        claims = [tuple(r) for r in db.session.execute(text("SELECT * FROM session_claims"))]
        pool = db.session.execute(text("SELECT COUNT(*) FROM session_pool")).scalar()
    assert len(claims) == 2 and {c[0] for c in claims} == {rid} and pool == 1
    stored = _all_rows(app)
    for secret in ("o_member1", "o_member2", token, second.json["token"]):
        assert secret not in stored

    form = client.post("/api/v1/ballot-form", json={"token": token})
    assert form.status_code == 200 and form.json["category"] == "中层干部"
    assert client.post("/api/v1/ballots", json={"token": token, "answers": answers_for(
        form.json)}).status_code == 201
    codes = client.get(f"/api/v1/rounds/{rid}/session-codes", headers=key).json
    assert codes["claims"] == 2 and codes["enabled"] is True

    # Close drops the unclaimed pool; nobody claims any more.
    assert client.post(f"/api/v1/rounds/{rid}/close", headers=key).status_code == 200
    with app.app_context():
        assert db.session.execute(text("SELECT COUNT(*) FROM session_pool")).scalar() == 0
    late = _claim(client, state, scene, "o_member3_00000000000000000000")
    assert late.status_code == 409 and late.json["error"]["code"] == "round_closed"


def test_claim_hashes_differ_between_rounds(app, client, fake, key):
    _, state = fake
    _, _, scene1 = _session_round(client, key)
    _, _, scene2 = _session_round(client, key)
    assert _claim(client, state, scene1, "o_same_0000000000000000000000").status_code == 201
    assert _claim(client, state, scene2, "o_same_0000000000000000000000").status_code == 201
    with app.app_context():
        hashes = [h for (h,) in db.session.execute(text("SELECT claim_hash FROM session_claims"))]
    assert len(set(hashes)) == 2


def test_an_empty_pool_records_no_claim(app, client, fake, key):
    _, state = fake
    rid, cid, scene = _session_round(client, key, pool=1)
    assert _claim(client, state, scene, "o_a_000000000000000000000000").status_code == 201
    empty = _claim(client, state, scene, "o_b_000000000000000000000000")
    assert empty.status_code == 409 and empty.json["error"]["code"] == "session_pool_empty"
    client.post(f"/api/v1/rounds/{rid}/session-pool", headers=key,
                json={"category_id": cid, "count": 1})
    assert _claim(client, state, scene, "o_b_000000000000000000000000").status_code == 201


def test_session_codes_rotate_and_show_as_images(app, client, fake, key):
    _, state = fake
    rid, cid, scene = _session_round(client, key)
    img = client.get(f"/api/v1/rounds/{rid}/session-codes/{cid}/image", headers=key)
    assert img.status_code == 200 and img.mimetype == "image/jpeg"
    assert zbar(img.data) == [f"pages/claim/claim?scene={scene}"]
    rotated = client.post(f"/api/v1/rounds/{rid}/session-codes/rotate", headers=key).json
    new_scene = next(i["scene"] for i in rotated["items"] if i["category_id"] == cid)
    assert rotated["generation"] == 1 and new_scene != scene
    old = _claim(client, state, scene, "o_late_00000000000000000000000")
    assert old.status_code == 404 and old.json["error"]["code"] == "session_code_invalid"
    assert _claim(client, state, new_scene, "o_late_00000000000000000000000").status_code == 201
    forged = _claim(client, state, f"S{rid}.{cid}.AAAAAAAA", "o_x_000000000000000000000000")
    assert forged.status_code == 404


def test_session_qr_must_be_enabled_while_a_draft(app, client, fake, key):
    _, state = fake
    rnd = new_round(client, key)
    rid, cid = rnd["id"], rnd["categories"][0]["id"]
    refused = client.post(f"/api/v1/rounds/{rid}/session-pool", headers=key,
                          json={"category_id": cid, "count": 2})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "session_qr_disabled"
    assert client.get(f"/api/v1/rounds/{rid}/session-codes", headers=key).json["items"] == []
    client.post(f"/api/v1/rounds/{rid}/open", headers=key)
    late = client.put(f"/api/v1/rounds/{rid}/options", headers=key, json={"session_qr": True})
    assert late.status_code == 409 and late.json["error"]["code"] == "round_not_draft"


def test_a_bad_wechat_code_claims_nothing(app, client, fake, key):
    _, state = fake
    _, _, scene = _session_round(client, key)
    bad = client.post("/api/v1/session-claims", json={"scene": scene, "code": "forged"})
    assert bad.status_code == 401 and bad.json["error"]["code"] == "wechat_code_invalid"
    with app.app_context():
        assert db.session.execute(text("SELECT COUNT(*) FROM session_claims")).scalar() == 0
        assert db.session.execute(text("SELECT COUNT(*) FROM session_pool")).scalar() == 3
