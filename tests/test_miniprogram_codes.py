"""Mini-program slips: codes from getwxacodeunlimit (the fake, over real HTTP), slip ids
resolved to tokens exactly once, the PDF style, WeChat errors, the access token
cached in Redis under a lock."""

from __future__ import annotations

import base64
import shutil
import subprocess
import threading

import pytest
import redis as redis_lib
from sqlalchemy import inspect, text

from bot.wechat_fake.miniprogram import FAKE_APPID, expire_access_tokens
from server.core.db import db
from server.wechat import client as wechat
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


def _slip_codes(client, key, rid, cid, count, **extra):
    return client.post(f"/api/v1/rounds/{rid}/slip-codes", headers=key,
                       json={"category_id": cid, "count": count, **extra})


def _rows(app, sql):
    with app.app_context():
        return [tuple(r) for r in db.session.execute(text(sql))]


def test_slip_codes_resolve_once(app, client, fake, key):
    _, state = fake
    rnd = new_round(client, key)
    rid, cid = rnd["id"], rnd["categories"][1]["id"]
    res = _slip_codes(client, key, rid, cid, 3, format="json")
    assert res.status_code == 201, res.json
    slips = res.json["slips"]
    assert len({s["slip_id"] for s in slips}) == 3
    for s in slips:
        assert len(s["slip_id"]) == 26 and s["page"] == "pages/vote/vote"
        assert s["printed"].replace("-", "") == s["slip_id"]
        image = base64.b64decode(s["image"])
        assert image[:3] == b"\xff\xd8\xff"  # JPEG
        assert zbar(image) == [f"pages/vote/vote?scene={s['slip_id']}"]
    sent = [r.body for r in state.seen("/wxa/getwxacodeunlimit")]
    assert sorted(b["scene"] for b in sent) == sorted(s["slip_id"] for s in slips)
    assert all(len(b["scene"]) <= 32 and b["env_version"] == "release" for b in sent)
    assert client.get(f"/api/v1/rounds/{rid}/categories", headers=key).json["items"][1][
        "issued_count"] == 3

    # Nothing stored holds a slip id or could be read without one.
    stored = "\n".join(map(repr, _rows(app, "SELECT * FROM slip_codes")))
    assert all(s["slip_id"] not in stored for s in slips)

    assert client.post(f"/api/v1/rounds/{rid}/open", headers=key).status_code == 200
    first = client.post("/api/v1/slips/resolve", json={"scene": slips[0]["slip_id"]})
    assert first.status_code == 200 and first.json["round_id"] == rid
    token = first.json["token"]
    assert token.startswith(f"{rid}.")
    again = client.post("/api/v1/slips/resolve", json={"scene": slips[0]["slip_id"]})
    assert again.status_code == 409
    assert again.json["error"]["code"] == "slip_already_claimed"
    assert "只能使用一次" in again.json["error"]["message"]
    # Typed by hand from the printed slip: lower case, with dashes.
    typed = client.post("/api/v1/slips/resolve", json={"scene": slips[1]["printed"].lower()})
    assert typed.status_code == 200 and typed.json["token"] != token
    unknown = client.post("/api/v1/slips/resolve", json={"scene": "A" * 26})
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "slip_unknown"

    rows = _rows(app, "SELECT claimed, sealed_token FROM slip_codes")
    assert sorted(bool(c) for c, _ in rows) == [False, True, True]
    assert all((sealed is None) == bool(claimed) for claimed, sealed in rows)
    assert token not in "\n".join(map(repr, _rows(app, "SELECT * FROM slip_codes")))

    form = client.post("/api/v1/ballot-form", json={"token": token})
    assert form.status_code == 200 and form.json["category"] == "中层干部"
    vote = client.post("/api/v1/ballots", json={"token": token, "answers": answers_for(form.json)})
    assert vote.status_code == 201

    # Close: the unresolved slip's sealed token is dropped, and it resolves no more.
    assert client.post(f"/api/v1/rounds/{rid}/close", headers=key).status_code == 200
    assert all(sealed is None for _, sealed in _rows(app, "SELECT claimed, sealed_token "
                                                          "FROM slip_codes"))
    late = client.post("/api/v1/slips/resolve", json={"scene": slips[2]["slip_id"]})
    assert late.status_code == 409 and late.json["error"]["code"] == "round_closed"


def test_pdf_style(app, client, fake, key, tmp_path):
    rnd = new_round(client, key, title="小程序码选票测试")
    rid, cid = rnd["id"], rnd["categories"][0]["id"]
    res = _slip_codes(client, key, rid, cid, 3)
    assert res.status_code == 201 and res.mimetype == "application/pdf"
    assert res.data[:5] == b"%PDF-"
    if not all(shutil.which(t) for t in ("pdftotext", "pdftoppm")):
        pytest.skip("needs poppler-utils")
    words = subprocess.run(["pdftotext", "-", "-"], input=res.data, capture_output=True,
                           check=True).stdout.decode()
    assert "小程序码选票测试" in words and "公司领导" in words and "选票编号" in words
    (tmp_path / "slips.pdf").write_bytes(res.data)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(tmp_path / "slips.pdf"),
                    str(tmp_path / "page")], check=True)
    page = (tmp_path / "page.png").read_bytes()
    scenes = sorted(s.split("scene=")[1] for s in zbar(page))
    assert len(scenes) == 3
    printed = "".join(words.split()).replace("-", "")
    for scene in scenes:  # each code's slip id is printed beside it for typing in
        assert scene in printed
        assert client.post("/api/v1/slips/resolve", json={"scene": scene}).status_code == 200


def test_slips_without_images_need_no_wechat(app, client, key):
    rnd = new_round(client, key)
    res = _slip_codes(client, key, rnd["id"], rnd["categories"][0]["id"], 2, format="json",
                      images=False)
    assert res.status_code == 201 and all(s["image"] is None for s in res.json["slips"])
    pdf = _slip_codes(client, key, rnd["id"], rnd["categories"][0]["id"], 2)
    assert pdf.status_code == 503 and pdf.json["error"]["code"] == "wechat_not_configured"


@pytest.mark.parametrize("errcode,status,code", [
    (45009, 503, "wechat_quota_exceeded"),
    (45011, 429, "wechat_rate_limited"),
    (-1, 503, "wechat_unavailable"),
])
def test_wechat_errors_issue_nothing(app, client, fake, key, errcode, status, code):
    _, state = fake
    rnd = new_round(client, key)
    rid, cid = rnd["id"], rnd["categories"][0]["id"]
    assert _slip_codes(client, key, rid, cid, 1).status_code == 201
    state.settings["mp_fail_next"] = {"getwxacodeunlimit": errcode}
    res = _slip_codes(client, key, rid, cid, 3)
    assert res.status_code == status and res.json["error"]["code"] == code
    assert _rows(app, "SELECT COUNT(*) FROM tokens") == [(1,)]
    assert _rows(app, "SELECT COUNT(*) FROM slip_codes") == [(1,)]
    assert _rows(app, f"SELECT issued_count FROM voter_categories WHERE id = {cid}") == [(1,)]


def test_bad_page_is_a_clear_error(app, client, fake, key):
    _, state = fake
    state.settings["mp_pages"] = ["pages/index/index"]
    rnd = new_round(client, key)
    res = _slip_codes(client, key, rnd["id"], rnd["categories"][0]["id"], 1)
    assert res.status_code == 503 and res.json["error"]["code"] == "wechat_page_invalid"
    app.config["MINIPROGRAM_CHECK_PATH"] = False  # before the pages are published
    assert _slip_codes(client, key, rnd["id"], rnd["categories"][0]["id"], 1).status_code == 201


def test_slip_code_limits(app, client, key):
    app.config["MINIPROGRAM_MAX_SLIP_CODES"] = 5
    rnd = new_round(client, key)
    res = _slip_codes(client, key, rnd["id"], rnd["categories"][0]["id"], 6, format="json",
                      images=False)
    assert res.status_code == 422 and res.json["error"]["field"] == "count"
    other = _slip_codes(client, key, rnd["id"], 999999, 1, format="json", images=False)
    assert other.status_code == 422 and other.json["error"]["code"] == "unknown_category"


def _token_key(app) -> str:
    return f"{{wx:{FAKE_APPID}}}:{FAKE_APPID}_access_token"


def test_access_token_is_cached_in_redis_and_fetched_under_a_lock(app, fake):
    _, state = fake
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                wechat.wxa_code(f"T{i}", "pages/vote/vote")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(state.seen("/cgi-bin/stable_token")) == 1, "eight hosts, one token fetch"
    r = redis_lib.Redis.from_url(app.config["REDIS_URL"], decode_responses=True)
    ttl = r.ttl(_token_key(app))
    assert 6800 <= ttl <= 6900  # expires_in minus the 5 minutes' margin

    with app.app_context():
        wechat.wxa_code("again", "pages/vote/vote")
    assert len(state.seen("/cgi-bin/stable_token")) == 1

    # WeChat says the token expired (42001): one refetch, the call retried.
    expire_access_tokens(state)
    with app.app_context():
        assert wechat.wxa_code("after", "pages/vote/vote")[:3] == b"\xff\xd8\xff"
    codes = [r.answer.get("errcode") for r in state.seen("/wxa/getwxacodeunlimit")]
    assert codes[-2:] == [42001, None]
    assert len(state.seen("/cgi-bin/stable_token")) == 2

    # An invalid token in the cache (40001): the same.
    r.set(_token_key(app), '"not-a-token"')
    with app.app_context():
        wechat.wxa_code("bad", "pages/vote/vote")
    assert [r.answer.get("errcode") for r in state.seen("/wxa/getwxacodeunlimit")][-2:] \
        == [40001, None]


def test_classic_token_api(app, fake):
    _, state = fake
    app.config["WECHAT_MINIPROGRAM_TOKEN_API"] = "classic"
    with app.app_context():
        wechat.wxa_code("c", "pages/vote/vote")
        wechat.wxa_code("d", "pages/vote/vote")
    assert len(state.seen("/cgi-bin/token")) == 1 and not state.seen("/cgi-bin/stable_token")


def test_a_token_that_keeps_failing_is_retried_once_only(app, fake):
    _, state = fake
    with app.app_context():
        wechat.wxa_code("warm", "pages/vote/vote")
    state.settings["mp_fail_next"] = {}
    # Every token is refused from now on: one retry, then a clear error, no loop.
    state.settings["mp_access_token_ttl"] = 0
    expire_access_tokens(state)
    with app.app_context():
        with pytest.raises(Exception) as err:
            wechat.wxa_code("x", "pages/vote/vote")
    assert getattr(err.value, "status", None) == 503
    assert len(state.seen("/wxa/getwxacodeunlimit")) <= 3


def test_slip_tables_hold_no_token_or_person(app):
    with app.app_context():
        cols = {t: {c["name"] for c in inspect(db.engine).get_columns(t)}
                for t in ("slip_codes", "blind_keys", "session_claims", "ballot_comments")}
    assert cols["slip_codes"] == {"code_hash", "round_id", "sealed_token", "claimed"}
    assert cols["session_claims"] == {"round_id", "claim_hash"}
    assert cols["ballot_comments"] == {"id", "round_id", "body"}
    # no token at all: a round's signing keys and how many claims they may sign
    assert cols["blind_keys"] == {"round_id", "category_id", "public_key", "sealed_private_key",
                                  "allowance"}
