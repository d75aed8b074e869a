"""Session QR: members get one blind signature each by WeChat identity (the fake, over
real HTTP), on a token their own page made (RFC 9474; tests/support/blindclient.py
plays the page).

What is recorded is only that an identity claimed in a round: never which token (the
server never sees it before its ballot), no category, no time.
"""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from bot.wechat_fake.miniprogram import mint_login_code
from server.core.db import db
from tests.support import blindclient
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


def _claim(client, state, scene, openid, blinded=None):
    """The claim of a fresh blinded token (the answer gets .blinded, to finalize)."""
    if blinded is None:
        key = client.post("/api/v1/session-keys", json={"scene": scene})
        if key.status_code == 200:  # else the claim's own refusal is what is tested
            blinded = blindclient.blind(key.json["public_key"], key.json["round_id"])
    resp = client.post("/api/v1/session-claims", json={
        "scene": scene, "code": mint_login_code(state, openid),
        "blinded_msg": blinded.blinded_b64 if blinded else "QUJD"})
    resp.blinded = blinded
    return resp


def _signed(resp) -> tuple[str, str]:
    """(token, signature) from a 201 claim, unblinded as the page does."""
    assert resp.status_code == 201, resp.json
    return resp.blinded.token, resp.blinded.signature(resp.json["blind_sig"])


def _all_rows(app) -> str:
    with app.app_context():
        return "\n".join(repr(tuple(r)) for t in inspect(db.engine).get_table_names()
                         for r in db.session.execute(text(f"SELECT * FROM {t}")))


def test_one_token_per_wechat_user_and_no_record_of_which(app, client, fake, key):
    _, state = fake
    rid, cid, scene = _session_round(client, key)
    assert len(scene) <= 32 and scene.startswith(f"S{rid}.{cid}.")

    first = _claim(client, state, scene, "o_member1_00000000000000000000")
    assert first.json["variant"] == "RSABSSA-SHA384-PSS-Randomized"
    token, signature = _signed(first)
    again = _claim(client, state, scene, "o_member1_00000000000000000000")
    assert again.status_code == 409 and again.json["error"]["code"] == "already_claimed"
    second = _claim(client, state, scene, "o_member2_00000000000000000000")
    token2, signature2 = _signed(second)

    with app.app_context():
        claims = [tuple(r) for r in db.session.execute(text("SELECT * FROM session_claims"))]
    assert len(claims) == 2 and {c[0] for c in claims} == {rid}
    stored = _all_rows(app)
    for secret in ("o_member1", "o_member2", token, token2):
        assert secret not in stored

    # Without its signature the token is unknown; with it, it is the category's.
    plain = client.post("/api/v1/ballot-form", json={"token": token})
    assert plain.status_code == 404 and plain.json["error"]["code"] == "token_unknown"
    form = client.post("/api/v1/ballot-form", json={"token": token, "signature": signature})
    assert form.status_code == 200 and form.json["category"] == "中层干部"
    ballot = {"token": token, "signature": signature, "answers": answers_for(form.json)}
    assert client.post("/api/v1/ballots", json=ballot).status_code == 201
    spent = client.post("/api/v1/ballots", json=ballot)
    assert spent.status_code == 409 and spent.json["error"]["code"] == "token_spent"
    codes = client.get(f"/api/v1/rounds/{rid}/session-codes", headers=key).json
    assert codes["claims"] == 2 and codes["enabled"] is True
    assert codes["items"][1]["remaining"] == 1

    # Close destroys the signing keys: nobody claims any more; a signed token that
    # did not vote is refused as the round's.
    assert client.post(f"/api/v1/rounds/{rid}/close", headers=key).status_code == 200
    with app.app_context():
        assert db.session.execute(text(
            "SELECT COUNT(*) FROM blind_keys WHERE sealed_private_key IS NOT NULL")).scalar() == 0
    late = _claim(client, state, scene, "o_member3_00000000000000000000")
    assert late.status_code == 409 and late.json["error"]["code"] == "round_closed"
    closed = client.post("/api/v1/ballots", json={
        "token": token2, "signature": signature2, "answers": answers_for(form.json)})
    assert closed.status_code == 409 and closed.json["error"]["code"] == "round_closed"


def test_bad_or_borrowed_signatures_are_refused_and_change_nothing(app, client, fake, key):
    _, state = fake
    rid, cid, scene = _session_round(client, key)
    other_rid, _, other_scene = _session_round(client, key)
    token, signature = _signed(_claim(client, state, scene, "o_member1_00000000000000000000"))
    form = client.post("/api/v1/ballot-form", json={"token": token, "signature": signature})
    answers = answers_for(form.json)
    # the same token with another round's id, signed for this round: refused there
    moved = f"{other_rid}." + token.split(".", 1)[1]
    # a token signed by the other round's key, sent to this round
    theirs = _claim(client, state, other_scene, "o_member1_00000000000000000000",
                    blinded=blindclient.blind(client.post("/api/v1/session-keys", json={
                        "scene": other_scene}).json["public_key"], rid))
    stolen_token, stolen_sig = _signed(theirs)
    tampered = signature[:-6] + ("AAAA" if signature[-6:-2] != "AAAA" else "BBBB") + \
        signature[-2:]
    for body in ({"token": moved, "signature": signature},
                 {"token": stolen_token, "signature": stolen_sig},
                 {"token": token, "signature": tampered},
                 {"token": token, "signature": "not base64!"},
                 {"token": token, "signature": ""},
                 {"token": token, "signature": "QUJD"}):
        for path in ("/api/v1/ballot-form", "/api/v1/ballots"):
            extra = {"answers": answers} if path.endswith("ballots") else {}
            resp = client.post(path, json={**body, **extra})
            assert resp.status_code == 403, (body, resp.json)
            assert resp.json["error"]["code"] == "token_signature_invalid"
    with app.app_context():
        assert db.session.execute(text("SELECT COUNT(*) FROM ballots")).scalar() == 0
        assert db.session.execute(text("SELECT COUNT(*) FROM tokens")).scalar() == 0
    assert client.post("/api/v1/ballots", json={"token": token, "signature": signature,
                                                "answers": answers}).status_code == 201


@pytest.mark.parametrize("blinded", ["", "%%%", "QUJD", "A" * 1400])
def test_a_malformed_blinded_message_claims_nothing(app, client, fake, key, blinded):
    _, state = fake
    _, _, scene = _session_round(client, key)
    resp = client.post("/api/v1/session-claims", json={
        "scene": scene, "code": mint_login_code(state, "o_member1_00000000000000000000"),
        "blinded_msg": blinded})
    assert resp.status_code == 422, resp.json
    with app.app_context():
        assert db.session.execute(text("SELECT COUNT(*) FROM session_claims")).scalar() == 0


def test_the_stored_claims_say_nothing_of_the_tokens_even_with_the_secret_key(
        app, client, fake, key):
    """The insider's view: every row of every table, SECRET_KEY and the signing keys.
    A claim row is (round, HMAC(key, appid, openid, round)): computed from the identity
    alone, nothing in it or written with it derives from the token, which the server
    first sees at its ballot. The blind signature is a uniformly random number to
    the signer (RFC 9474 §6), so even the private key pairs no blinded message with
    its token: the insider can only guess, 1 in N."""
    _, state = fake
    rid, cid, scene = _session_round(client, key, pool=5)
    voted = []
    for i in range(5):
        token, signature = _signed(_claim(client, state, scene, f"o_member{i}_0000000000000000000"))
        form = client.post("/api/v1/ballot-form", json={"token": token, "signature": signature})
        assert client.post("/api/v1/ballots", json={"token": token, "signature": signature,
                                                    "answers": answers_for(form.json)}
                           ).status_code == 201
        voted.append(token)
    with app.app_context():
        claims = db.session.execute(text("SELECT * FROM session_claims")).all()
        columns = set(db.session.execute(text("SELECT * FROM session_claims")).keys())
    assert columns == {"round_id", "claim_hash"} and len(claims) == 5
    stored = _all_rows(app)
    import hashlib
    for token in voted:  # the tokens themselves are stored as hashes only, with the ballots
        assert token not in stored and hashlib.sha256(token.encode()).hexdigest() in stored
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
    rid, _, scene = _session_round(client, key)
    bad = client.post("/api/v1/session-claims", json={"scene": scene, "code": "forged",
                                                      "blinded_msg": "QUJD"})
    assert bad.status_code == 401 and bad.json["error"]["code"] == "wechat_code_invalid"
    with app.app_context():
        assert db.session.execute(text("SELECT COUNT(*) FROM session_claims")).scalar() == 0
    codes = client.get(f"/api/v1/rounds/{rid}/session-codes", headers=key).json
    assert [i["remaining"] for i in codes["items"]] == [0, 3]
