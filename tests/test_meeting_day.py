"""The meeting-day fixes (issue 20, part 4), through the HTTP API and the console.

The projector keeps results to itself until they are published (unless the round
says 当场公布); closing below the turnout threshold asks first; every role lands on
a page it may see; slips use an address phones can reach; the slip button and the
over-应到 question; a typed slip code ignores case and look-alike characters.
"""

from __future__ import annotations

import re

import pytest

from server.core.db import db
from server.roundbase.models import Round
from server.rounds.closing import shortfall
from tests.conftest import csrf_token
from tests.factories import organizer
from tests.support.rounds_http import create, issue, lifecycle, run_round


@pytest.fixture
def key(app):
    with app.app_context():
        _, raw = organizer()
    return {"Authorization": f"Bearer {raw}"}


def feed(client, key, rid):
    res = client.get(f"/api/v1/rounds/{rid}/projector", headers=key)
    assert res.status_code == 200, res.get_data(as_text=True)
    return res.json


def appraisal(**extra):
    return {"form": "appraisal", "title": "民主测评", "subjects": [{"name": "甲", "note": "书记"}],
            "categories": [{"name": "中层干部", "expected_count": 8}], **extra}


def ballots(n: int) -> dict:
    return {"中层干部": [{"#0": {c: "excellent" for c in _criteria()}}] * n}


def _criteria() -> list[str]:
    from pathlib import Path

    from server.forms.templates import load_forms

    forms = load_forms(Path(__file__).resolve().parents[1] / "config" / "forms")
    return [c["key"] for c in forms["appraisal"]["criteria"]]


def sign_in(client, username: str, password: str = "correct horse 1"):
    page = client.get("/console/login").get_data(as_text=True)
    return client.post("/console/login", data={"csrf_token": csrf_token(page),
                                               "username": username, "password": password})


# ------------------------------------------------------------------ 1. the projector


def test_projector_hides_closed_results_until_published(app, client, key):
    rnd, _ = run_round(client, key, appraisal(results={"k": 5, "min_turnout": 0}), ballots(5))
    rid = rnd["id"]
    data = feed(client, key, rid)
    assert data["status"] == "closed" and data["results"] is None
    assert data["hidden_reason"] == "投票已结束，结果发布后显示"
    assert data["turnout"]["actual"] == 5  # the turnout still shows
    # the organizer still sees them (API and console), only the hall does not
    assert client.get(f"/api/v1/rounds/{rid}/results", headers=key).json["ballots"] == 5
    assert lifecycle(client, key, rid, "publish").status_code == 200
    data = feed(client, key, rid)  # publish drops the cached screen
    assert data["status"] == "published" and data["results"]["kind"] == "appraisal"
    assert data["results"]["subjects"][0]["name"] == "甲"


def test_announce_on_close_shows_them_at_once(app, client, key):
    rnd, _ = run_round(client, key, appraisal(announce_on_close=True, results={"k": 5}),
                       ballots(5))
    assert rnd["announce_on_close"] is True
    read = client.get(f"/api/v1/rounds/{rnd['id']}", headers=key).json
    assert read["announce_on_close"] is True
    data = feed(client, key, rnd["id"])
    assert data["status"] == "closed" and data["results"]["ballots"] == 5
    assert data["hidden_reason"] is None


def test_announce_on_close_defaults_to_false(app, client, key):
    rnd = create(client, key, appraisal())
    assert rnd["announce_on_close"] is False


def test_live_results_while_open_keep_their_meaning(app, client, key):
    rnd, _ = run_round(client, key, appraisal(show_live_results=True, results={"k": 5}),
                       ballots(5), close=False)
    data = feed(client, key, rnd["id"])
    assert data["status"] == "open" and data["results"]["live"] is True


def test_console_new_round_form_has_the_checkbox(app, client, key):
    sign_in(client, "organizer")
    page = client.get("/console/rounds/new").get_data(as_text=True)
    assert 'name="announce_on_close"' in page and "当场公布结果" in page
    res = client.post("/console/rounds/new", data={
        "csrf_token": csrf_token(page), "form": "appraisal", "title": "当场公布的测评",
        "subjects": "甲 书记", "categories": "中层干部,5,1", "announce_on_close": "1"})
    assert res.status_code == 303, res.get_data(as_text=True)[:2000]
    with app.app_context():
        rnd = db.session.execute(db.select(Round).filter_by(title="当场公布的测评")).scalar_one()
        assert rnd.announce_on_close is True


def test_projector_page_hides_the_results_link_until_published(app, client, key):
    rnd, _ = run_round(client, key, appraisal(results={"k": 5, "min_turnout": 0}), ballots(5))
    sign_in(client, "organizer")
    html = client.get(f"/console/rounds/{rnd['id']}/projector").get_data(as_text=True)
    assert re.search(r'id="pj-results"[^>]*hidden', html)
    lifecycle(client, key, rnd["id"], "publish")
    html = client.get(f"/console/rounds/{rnd['id']}/projector").get_data(as_text=True)
    assert not re.search(r'id="pj-results"[^>]*hidden', html)


# ------------------------------------------------------------------ 2. closing below the threshold


def test_shortfall_figures():
    assert shortfall(2, 3, 0.6667) == {"cast": 2, "expected": 3, "turnout_pct": 66.67,
                                       "min_turnout_pct": 66.67}
    assert shortfall(3, 3, 0.6667) is None
    assert shortfall(0, 0, 0.0) is None and shortfall(5, 10, 0) is None
    assert shortfall(6, 10, 0.6) is None  # exactly at the threshold is enough
    assert shortfall(5, 10, 0.6)["turnout_pct"] == 50.0
    assert shortfall(0, 0, 0.5)["turnout_pct"] == 0.0  # no 应到 set: cannot be met


def test_api_close_with_check_turnout_refuses_below_it(app, client, key):
    body = appraisal(results={"min_turnout": 0.75, "k": 5})
    rnd, _ = run_round(client, key, body, ballots(4), close=False)
    rid = rnd["id"]
    res = client.post(f"/api/v1/rounds/{rid}/close", json={"check_turnout": True},
                      headers=key)
    assert res.status_code == 409
    err = res.json["error"]
    assert err["code"] == "below_turnout" and err["field"] == "check_turnout"
    assert "参评率 50%" in err["message"] and "低于规定的 75%" in err["message"]
    assert err["details"] == {"cast": 4, "expected": 8, "turnout_pct": 50.0,
                              "min_turnout_pct": 75.0}
    assert client.get(f"/api/v1/rounds/{rid}", headers=key).json["status"] == "open"
    # without the check (the default, as before) it closes, and says what that means
    res = client.post(f"/api/v1/rounds/{rid}/close", headers=key)
    assert res.status_code == 200 and res.json["status"] == "closed"
    warning = res.json["warning"]  # the engine's publish reason, in its words
    assert warning.startswith("参评率 50.0%") and "75" in warning and "不能公布" in warning
    assert lifecycle(client, key, rid, "publish").json["error"]["code"] == \
        "turnout_below_threshold"


def test_api_close_with_check_turnout_closes_when_met(app, client, key):
    body = appraisal(results={"min_turnout": 0.75, "k": 5})
    rnd, _ = run_round(client, key, body, ballots(6), close=False)
    res = client.post(f"/api/v1/rounds/{rnd['id']}/close", json={"check_turnout": True},
                      headers=key)
    assert res.status_code == 200 and res.json["status"] == "closed"
    assert res.json["warning"] is None


def test_api_close_refuses_a_bad_check_turnout(app, client, key):
    rnd, _ = run_round(client, key, appraisal(), ballots(1), close=False)
    res = client.post(f"/api/v1/rounds/{rnd['id']}/close", json={"check_turnout": "maybe"},
                      headers=key)
    assert res.status_code == 422
    assert client.get(f"/api/v1/rounds/{rnd['id']}", headers=key).json["status"] == "open"


def test_console_close_below_turnout_asks_first(app, client, key):
    body = appraisal(results={"min_turnout": 0.75, "k": 5})
    rnd, _ = run_round(client, key, body, ballots(4), close=False)
    rid = rnd["id"]
    sign_in(client, "organizer")
    page = client.get(f"/console/rounds/{rid}").get_data(as_text=True)
    res = client.post(f"/console/rounds/{rid}/close", data={"csrf_token": csrf_token(page)})
    html = res.get_data(as_text=True)
    assert res.status_code == 409
    assert "参评率 50%（实到 4 / 应到 8）低于规定的 75%，关闭后结果不能公布。" in html
    assert "继续等待" in html and "仍然关闭" in html and 'name="force"' in html
    with app.app_context():
        assert db.session.get(Round, rid).status == "open"
    res = client.post(f"/console/rounds/{rid}/close",
                      data={"csrf_token": csrf_token(html), "force": "1"})
    assert res.status_code == 303
    with app.app_context():
        assert db.session.get(Round, rid).status == "closed"
    page = client.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert "结果不能公布" in page and "发布结果</button>" not in page
    if "console.round_clone" in app.view_functions:  # H4's clone: 重新测评
        assert f'action="/console/rounds/{rid}/clone"' in page and "重新测评" in page


def test_console_close_above_turnout_just_closes(app, client, key):
    body = appraisal(results={"min_turnout": 0.5, "k": 5})
    rnd, _ = run_round(client, key, body, ballots(4), close=False)
    sign_in(client, "organizer")
    page = client.get(f"/console/rounds/{rnd['id']}").get_data(as_text=True)
    res = client.post(f"/console/rounds/{rnd['id']}/close",
                      data={"csrf_token": csrf_token(page)})
    assert res.status_code == 303
    with app.app_context():
        assert db.session.get(Round, rnd["id"]).status == "closed"


# ------------------------------------------------------------------ 3. where each role lands


@pytest.mark.parametrize("role,landing,marker", [
    ("admin", "/console/", "测评列表"),
    ("organizer", "/console/", "测评列表"),
    ("committee", "/console/", "测评列表"),
    ("secretary", "/console/points/entries", "积分录入与审定"),
])
def test_each_role_lands_on_a_page_it_may_see(app, role, landing, marker):
    from tests.support.hostile import build_site

    with app.app_context():
        site = build_site(ballots=0)
    client = app.test_client()
    res = sign_in(client, site.usernames[role])
    assert res.status_code == 302 and res.headers["Location"] == landing
    page = client.get(landing)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    assert marker in page.get_data(as_text=True)
    # the console's index and the brand link take every role somewhere it may be
    index = client.get("/console/", follow_redirects=True)
    assert index.status_code == 200 and marker in index.get_data(as_text=True)
    if role == "secretary":
        html = index.get_data(as_text=True)
        assert 'href="/console/org"' not in html  # no link to a 403
        again = client.get("/console/login")  # already signed in
        assert again.headers["Location"] == landing


# ------------------------------------------------------------------ 7. typing a slip code


def test_new_tokens_use_the_alphabet_without_look_alikes():
    from server.tokens.codec import RECEIPT_ALPHABET, TOKEN_RE, new_token

    for _ in range(50):
        token = new_token(7)
        rid, _, code = token.partition(".")
        assert rid == "7" and len(code) == 26 and set(code) <= set(RECEIPT_ALPHABET)
        assert TOKEN_RE.match(token)
    assert not set("01OIL") & set(RECEIPT_ALPHABET)


@pytest.mark.parametrize("typed", [
    "{t}", "{lower}", " {lower} ", "{spaced}", "{dashed}", "{fullwidth}", "{ideographic_dot}",
    "{rid_lookalike}",
])
def test_canonical_token_folds_what_people_type(typed):
    from server.tokens.codec import canonical_token, parse_token, token_hash

    token = "10.ABCDEFGHJKMNPQRSTUVWXYZ234"
    code = token[3:]
    forms = {"t": token, "lower": token.lower(),
             "spaced": "10." + " ".join(code[i:i + 4] for i in range(0, 26, 4)).lower(),
             "dashed": "10." + "-".join(code[i:i + 4] for i in range(0, 26, 4)),
             "fullwidth": "".join(chr(ord(c) + 0xFEE0) for c in token.lower()),
             "ideographic_dot": "10。" + code.lower(),
             "rid_lookalike": "lO." + code.lower()}
    raw = typed.format(**forms)
    assert canonical_token(raw) == token
    assert parse_token(raw) == (10, token_hash(token))


@pytest.mark.parametrize("raw", ["10.ABCDEFGHJKMNPQRSTUVWXYZ23", "10.ABCDEFGHJKMNPQRSTUVWXYZ230",
                                 "10.0BCDEFGHJKMNPQRSTUVWXYZ234", "0.ABCDEFGHJKMNPQRSTUVWXYZ234",
                                 "10ABCDEFGHJKMNPQRSTUVWXYZ234", "", None, 12])
def test_canonical_token_refuses_what_cannot_be_a_token(raw):
    from server.tokens.codec import canonical_token

    assert canonical_token(raw) is None


def test_old_case_sensitive_tokens_stay_valid():
    import secrets

    from server.tokens.codec import canonical_token, parse_token, token_hash

    old = f"5.{secrets.token_urlsafe(16)}"
    assert canonical_token(old) == old and parse_token(old) == (5, token_hash(old))


def test_a_typed_code_votes_through_the_api(app, client, key):
    rnd = create(client, key, appraisal(results={"k": 5}))
    rid = rnd["id"]
    tokens = issue(client, key, rid, rnd["categories"][0]["id"], 2)
    assert lifecycle(client, key, rid, "open").status_code == 200
    token = tokens[0]
    typed = f"{rid}。" + " ".join(token.split(".")[1][i:i + 4] for i in range(0, 26, 4)).lower()
    form = client.post("/api/v1/ballot-form", json={"token": typed})
    assert form.status_code == 200, form.json
    assert form.json["round"]["id"] == rid
    sid = str(rnd["subjects"][0]["id"])
    res = client.post("/api/v1/ballots", json={
        "token": typed.upper(), "answers": {sid: {c: "excellent" for c in _criteria()}}})
    assert res.status_code == 201, res.json
    again = client.post("/api/v1/ballots", json={
        "token": token, "answers": {sid: {c: "excellent" for c in _criteria()}}})
    assert again.status_code == 409  # the same slip, however it was typed
    bad = client.post("/api/v1/ballot-form", json={"token": f"{rid}.{'O' * 26}"})
    assert bad.status_code == 400 and bad.json["error"]["code"] == "token_malformed"


# ------------------------------------------------------------------ 6. the slip button


def test_over_expected_counts():
    from server.console.slips import over_expected

    assert over_expected(10, 0, 10) == 0 and over_expected(10, 8, 3) == 1
    assert over_expected(10, 12, 2) == 2  # already over: every new slip is extra
    assert over_expected(0, 0, 1) == 1


def _issued(app, rid):
    with app.app_context():
        return db.session.get(Round, rid).categories[0].issued_count


def test_console_slips_tell_the_page_the_pdf_arrived(app, client, key):
    rnd = create(client, key, appraisal())
    rid, cat = rnd["id"], rnd["categories"][0]["id"]
    sign_in(client, "organizer")
    page = client.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert 'data-expected="8"' in page and 'data-issued="0"' in page
    assert 'name="download"' in page and 'name="allow_over"' in page
    res = client.post(f"/console/rounds/{rid}/slips", data={
        "csrf_token": csrf_token(page), "category_id": cat, "count": "3",
        "download": "abc123def456"})
    assert res.status_code == 200 and res.mimetype == "application/pdf"
    cookie = next(c for c in res.headers.getlist("Set-Cookie")
                  if c.startswith("slips_download="))
    assert cookie.startswith("slips_download=abc123def456;") and "Path=/console" in cookie
    assert "HttpOnly" not in cookie  # the page reads it
    assert _issued(app, rid) == 3
    # the page the button reloads shows the new count and what happened
    page = client.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert 'data-issued="3"' in page and "已生成“中层干部”选票 3 张" in page
    # a nonce that is not one is not echoed
    res = client.post(f"/console/rounds/{rid}/slips", data={
        "csrf_token": csrf_token(page), "category_id": cat, "count": "1",
        "download": "x;Path=/"})
    assert res.status_code == 200
    assert not any(c.startswith("slips_download=") for c in res.headers.getlist("Set-Cookie"))


def test_console_asks_before_issuing_more_than_expected(app, client, key):
    rnd = create(client, key, appraisal())
    rid, cat = rnd["id"], rnd["categories"][0]["id"]
    sign_in(client, "organizer")
    page = client.get(f"/console/rounds/{rid}").get_data(as_text=True)
    res = client.post(f"/console/rounds/{rid}/slips", follow_redirects=True, data={
        "csrf_token": csrf_token(page), "category_id": cat, "count": "10"})
    html = res.get_data(as_text=True)
    assert res.mimetype == "text/html"
    assert "“中层干部”应到 8 人，已发放 0 张，再发 10 张将超出应到人数 2 张" in html
    assert _issued(app, rid) == 0
    res = client.post(f"/console/rounds/{rid}/slips", data={
        "csrf_token": csrf_token(page), "category_id": cat, "count": "10", "allow_over": "1"})
    assert res.status_code == 200 and res.mimetype == "application/pdf"
    assert _issued(app, rid) == 10
    # the API is unchanged for its clients: no question asked there
    assert len(issue(client, key, rid, cat, 2)) == 2


# ------------------------------------------------------------------ 4, 5. make run's address and summary


def test_public_base_url_is_never_a_wildcard():
    from server.demo.address import public_base_url

    def lan():
        return "192.168.1.23"

    assert public_base_url("0.0.0.0", 5000, None, lan) == (  # noqa: S104
        "http://192.168.1.23:5000", "HOST=0.0.0.0: this machine's LAN address")
    assert public_base_url("::", "8080", "", lan)[0] == "http://192.168.1.23:8080"
    assert public_base_url("127.0.0.1", 5000, None, lan) == ("http://127.0.0.1:5000",
                                                            "HOST=127.0.0.1")
    assert public_base_url("10.0.0.5", 80, "  ", lan)[0] == "http://10.0.0.5:80"
    assert public_base_url("fe80::1", 80, None, lan)[0] == "http://[fe80::1]:80"
    assert public_base_url("0.0.0.0", 5000, "https://pingyi.example.com/", lan) == (  # noqa: S104
        "https://pingyi.example.com", "PUBLIC_BASE_URL")
    url, why = public_base_url("0.0.0.0", 5000, None, lambda: None)  # noqa: S104
    assert url == "http://127.0.0.1:5000" and "no LAN address" in why


def test_lan_address_sends_nothing_and_is_not_loopback():
    from server.demo.address import _usable, lan_address

    found = lan_address()
    assert found is None or _usable(found)
    assert lan_address(("not-an-address",)) is None
    assert not _usable("127.0.0.1") and not _usable("0.0.0.0")  # noqa: S104
    assert not _usable("169.254.1.2") and _usable("192.168.1.23")


def test_address_command_prints_the_url_and_why(capsys, monkeypatch):
    from server.demo import address

    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    address.main(["--host", "127.0.0.1", "--port", "5077", "--explain"])
    assert capsys.readouterr().out == "http://127.0.0.1:5077  (HOST=127.0.0.1)\n"
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://vote.example.org")
    address.main(["--host", "0.0.0.0", "--port", "5077"])  # noqa: S104
    assert capsys.readouterr().out == "https://vote.example.org\n"


def test_demo_seed_prints_a_short_summary_at_the_address_it_is_given(app, runner):
    res = runner.invoke(args=["demo", "seed", "--base-url", "http://192.168.1.23:5077"])
    assert res.exit_code == 0, res.output
    lines = res.output.rstrip().splitlines()
    assert len(lines) <= 16, res.output
    assert lines[0].startswith("  console      : http://192.168.1.23:5077/console/")
    assert "login demo / pingyi-demo" in lines[0]
    assert "/console/rounds/1/projector" in res.output and "slips (PDF)" in res.output
    votes = [ln for ln in lines if "/v/#" in ln]
    assert len(votes) == 3 and all("http://192.168.1.23:5077/v/#" in v for v in votes)
    assert "0.0.0.0" not in res.output and "INFO" not in res.output
    # seeded once: a later run at another address re-bases the links, names the slips'
    again = runner.invoke(args=["demo", "seed", "--base-url", "http://10.1.2.3:5000"])
    assert again.exit_code == 0, again.output
    assert "http://10.1.2.3:5000/v/#" in again.output
    assert "printed for http://192.168.1.23:5077" in again.output
