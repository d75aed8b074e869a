"""Sign-in limits that stop guessing, not people: failures counted per (user name,
address) and per address, never per user name alone; the refusal and the work done
are the same whether or not the user name exists. Client addresses come from
REMOTE_ADDR (environ_base), as the socket peer would give them."""

from __future__ import annotations

import re
import time

import pytest

from tests.support.hostile import PASSWORD, Site, build_site

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def site(app) -> Site:
    with app.app_context():
        return build_site()


def login(client, username: str, password: str, addr: str):
    env = {"REMOTE_ADDR": addr}
    page = client.get("/console/login", environ_base=env).get_data(as_text=True)
    return client.post("/console/login", environ_base=env, data={
        "csrf_token": CSRF.search(page)[1], "username": username, "password": password})


def test_a_storm_from_one_address_does_not_lock_the_owner_out_elsewhere(app, site):
    limit = app.config["LOGIN_FAIL_LIMIT"]
    attacker, owner = "198.51.100.20", "203.0.113.5"
    client = app.test_client()
    for i in range(limit):  # spellings of one name count as one
        name = ("organizer", "Organizer ", " ORGANIZER")[i % 3]
        assert login(client, name, f"guess {i}", attacker).status_code == 401
    for _ in range(3):  # the storm goes on: refused, the right password too
        assert login(client, "organizer", "guess", attacker).status_code == 429
    assert login(client, "organizer", PASSWORD, attacker).status_code == 429
    # the owner, elsewhere: a typo is an ordinary failure, then in
    owner_client = app.test_client()
    assert login(owner_client, "organizer", "typo", owner).status_code == 401
    assert login(owner_client, "organizer", PASSWORD, owner).status_code == 302
    # the attacker's address is not yet over its own limit for other names
    assert login(app.test_client(), "admin", PASSWORD, attacker).status_code == 302


def test_the_address_limit_spans_user_names_and_an_ipv6_network(app, site):
    app.config["LOGIN_FAIL_ADDRESS_LIMIT"] = 4
    client = app.test_client()
    for i in range(4):
        addr = f"2001:db8:1:2::{i + 1}"  # one /64: one customer's network
        assert login(client, f"name{i}", "x", addr).status_code == 401
    res = login(client, "admin", PASSWORD, "2001:db8:1:2::99")
    assert res.status_code == 429
    assert int(res.headers["Retry-After"]) == app.config["LOGIN_FAIL_WINDOW_S"]
    assert login(app.test_client(), "admin", PASSWORD, "2001:db8:1:3::1").status_code == 302
    assert login(app.test_client(), "admin", PASSWORD, "192.0.2.1").status_code == 302


def _page_text(res, username: str) -> str:
    """The page without the name typed (echoed in its input) and the per-page nonce/token."""
    html = res.get_data(as_text=True).replace(username, "NAME")
    html = re.sub(r'nonce="[^"]+"', "", html)
    return CSRF.sub("", html)


def test_the_refusal_does_not_tell_whether_the_user_exists(app, site):
    app.config["LOGIN_FAIL_LIMIT"] = 3
    known, unknown = app.test_client(), app.test_client()
    answers = []
    for step in range(5):
        a = login(known, "organizer", "wrong", "198.51.100.31")
        b = login(unknown, "no-such-user", "wrong", "198.51.100.32")
        assert a.status_code == b.status_code == (401 if step < 3 else 429), step
        assert _page_text(a, "organizer") == _page_text(b, "no-such-user"), step
        assert a.headers.get("Retry-After") == b.headers.get("Retry-After")
        answers.append(a.status_code)
    assert answers == [401, 401, 401, 429, 429]
    assert "登录失败次数过多" in _page_text(a, "organizer")


def test_an_unknown_user_name_costs_a_password_hash_too(app, site):
    """A failed sign-in for a name with no account does the same work (a dummy hash):
    its time is no measurable shortcut. Minimum of several tries each, interleaved, so
    a busy machine slows both alike."""
    known, unknown = [], []
    for i in range(6):
        for name, out in (("organizer", known), (f"nobody{i}", unknown)):
            client = app.test_client()
            start = time.perf_counter()
            res = login(client, name, "wrong password", f"198.51.100.{40 + i}")
            out.append(time.perf_counter() - start)
            assert res.status_code == 401
    ratio = min(unknown) / min(known)
    assert 0.6 < ratio < 1.7, (known, unknown)
