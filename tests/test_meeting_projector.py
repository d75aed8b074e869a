"""The meeting projector (测评会投屏) over HTTP: the page and the feed it polls show 实到/应到
per form and per category and the meeting's; a form's results link only once they may
be shown; the rehearsal band when a form is a rehearsal."""

from __future__ import annotations

import re

import pytest

from tests.factories import organizer
from tests.support.meetings import answers_for, make_meeting
from tests.support.miniprogram import console_login


@pytest.fixture
def key(app):
    with app.app_context():
        _, k = organizer()
    return {"Authorization": f"Bearer {k}"}


def vote(client, token, positions):
    """Send the slip's forms at these positions (1-based)."""
    slip = client.post("/api/v1/meeting-slip", json={"token": token}).json
    for form in slip["forms"]:
        if form["position"] in positions:
            res = client.post("/api/v1/ballots", json={
                "token": form["token"], "answers": answers_for(form["ballot"], form["position"])})
            assert res.status_code == 201, res.json


def card(html, round_id):
    """The text of one form's card on the page, tags stripped."""
    m = re.search(rf'<article class="mpj-form" data-round-id="{round_id}">(.*?)</article>',
                  html, re.S)
    assert m, round_id
    return m.group(1)


def test_turnout_per_form_and_category_then_results_after_publish(app, client, key):
    meeting = make_meeting(client, key)
    mid, rids = meeting["id"], [f["round_id"] for f in meeting["forms"]]
    res = client.post(f"/api/v1/meetings/{mid}/slips", headers=key,
                      json={"category": "职工代表", "count": 3})
    workers = [t["token"] for t in res.json["tokens"]]
    res = client.post(f"/api/v1/meetings/{mid}/slips", headers=key,
                      json={"category": "班子成员", "count": 1})
    leader = res.json["tokens"][0]["token"]
    assert client.post(f"/api/v1/meetings/{mid}/open", headers=key).status_code == 200
    vote(client, workers[0], {1, 2, 3})
    vote(client, workers[1], {1, 2})
    vote(client, workers[2], {1})
    vote(client, leader, {2})

    console = app.test_client()
    console_login(console)
    detail = console.get(f"/console/meetings/{mid}").get_data(as_text=True)
    assert f'href="/console/meetings/{mid}/projector"' in detail

    feed = console.get(f"/api/v1/meetings/{mid}/turnout")  # what the screen polls, by session
    assert feed.status_code == 200
    data = feed.json
    assert (data["expected"], data["actual"], data["rehearsal"]) == (25, 4, False)
    assert data["categories"] == [{"name": "班子成员", "expected": 5, "actual": 1},
                                  {"name": "职工代表", "expected": 20, "actual": 3}]
    assert [f["actual"] for f in data["forms"]] == [3, 3, 1]
    assert [[c["actual"] for c in f["categories"]] for f in data["forms"]] == [[0, 3], [1, 2],
                                                                              [0, 1]]
    assert not any(f["results_shown"] for f in data["forms"])

    page = console.get(f"/console/meetings/{mid}/projector")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="pj-actual">4<' in html and 'id="pj-expected">25<' in html
    assert 'id="rehearsal-band" hidden' in html
    first = card(html, rids[0])
    assert 'class="mpj-form-actual">3<' in first and "投票中" in first
    assert re.search(r'data-cat="职工代表">.*?<b>3</b> / 20', first, re.S)
    assert f'class="mpj-form-results" href="/console/rounds/{rids[0]}/projector" hidden' in first
    assert 'class="mpj-form-actual">1<' in card(html, rids[2])

    # closed: still no results (none says 当场公布); published: that form's link shows
    assert client.post(f"/api/v1/meetings/{mid}/close", headers=key).status_code == 200
    res = client.post(f"/api/v1/rounds/{rids[0]}/publish", headers=key)
    assert res.status_code == 200, res.json
    data = console.get(f"/api/v1/meetings/{mid}/turnout").json
    assert data["status"] == "closed"
    assert [f["results_shown"] for f in data["forms"]] == [True, False, False]
    assert [f["actual"] for f in data["forms"]] == [3, 3, 1]  # the official counts
    html = console.get(f"/console/meetings/{mid}/projector").get_data(as_text=True)
    assert f'href="/console/rounds/{rids[0]}/projector">' in card(html, rids[0])
    assert f'href="/console/rounds/{rids[1]}/projector" hidden' in card(html, rids[1])


def test_rehearsal_band_and_scope(app, client, key):
    meeting = make_meeting(client, key)
    mid, rid = meeting["id"], meeting["forms"][1]["round_id"]
    res = client.post(f"/api/v1/rounds/{rid}/rehearse", headers=key)
    assert res.status_code == 200, res.json
    console = app.test_client()
    console_login(console)
    data = console.get(f"/api/v1/meetings/{mid}/turnout").json
    assert data["rehearsal"] is True
    assert [f["rehearsal"] for f in data["forms"]] == [False, True, False]
    html = console.get(f"/console/meetings/{mid}/projector").get_data(as_text=True)
    assert 'id="rehearsal-band">' in html
    assert '<span class="mpj-tag">演练</span>' in card(html, rid)

    assert console.get("/console/meetings/999/projector").status_code == 404
    anon = app.test_client()
    res = anon.get(f"/console/meetings/{mid}/projector")
    assert res.status_code in (302, 401)
