"""Rehearsal (演练): open a draft with rehearsal slips, vote, close, purge back to draft
with nothing left in SQL or Redis, then hold the round for real."""

from __future__ import annotations

import shutil
import subprocess
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from server.core.db import db
from server.core.redis import get_redis
from server.roundbase.models import Round
from server.rounds.operations import close_round
from server.rounds.rehearsal import open_rehearsal, round_keys
from server.tokens.operations import issue_tokens
from tests.conftest import csrf_token
from tests.factories import make_round, organizer, valid_answers
from tests.support.points import build_world

ROUND = {
    "form": "appraisal",
    "title": "2026年度领导班子民主测评",
    "subjects": [{"name": "领导班子", "note": "整体"}, {"name": "王建国", "note": "书记"}],
    "categories": [{"name": "公司领导", "expected_count": 5, "weight": 0.3},
                   {"name": "中层干部", "expected_count": 10, "weight": 0.7}],
    "results": {"min_turnout": 0},
}
TABLES = ("ballots", "spent_tokens", "ballot_comments", "slip_codes", "blind_keys",
          "session_claims")


@pytest.fixture
def key(app):
    with app.app_context():
        _, raw = organizer()
    return {"Authorization": f"Bearer {raw}"}


def _issue(client, key, rid, cat, count):
    res = client.post(f"/api/v1/rounds/{rid}/tokens", headers=key,
                      json={"category_id": cat, "count": count})
    assert res.status_code == 201, res.json
    return [t["token"] for t in res.json["tokens"]]


def _answers(form, grade_index=0):
    grades = [g["key"] for g in form["form"]["grades"]]
    return {str(s["id"]): {c["key"]: grades[grade_index] for c in form["form"]["criteria"]}
            for s in form["subjects"]}


def _vote(client, token, form, comment=None):
    body = {"token": token, "answers": _answers(form)}
    if comment:
        body["comment"] = comment
    return client.post("/api/v1/ballots", json=body)


def _rows(app, rid):
    """Rows of the round in every table that keeps something of a rehearsal."""
    with app.app_context():
        out = {t: db.session.execute(text(f"SELECT COUNT(*) FROM {t} WHERE round_id = :r"),
                                     {"r": rid}).scalar() for t in TABLES}
        out["rehearsal_tokens"] = db.session.execute(text(
            "SELECT COUNT(*) FROM tokens WHERE round_id = :r AND rehearsal = :t"),
            {"r": rid, "t": True}).scalar()
        out["tokens"] = db.session.execute(text(
            "SELECT COUNT(*) FROM tokens WHERE round_id = :r"), {"r": rid}).scalar()
        return out


def _all_keys(app):
    with app.app_context():
        return {k.decode() if isinstance(k, bytes) else k for k in get_redis().scan_iter("*")}


def _error(res):
    return res.status_code, res.json["error"]["code"]


def test_rehearse_vote_close_purge_then_hold_it_for_real(app, client, key):
    res = client.post("/api/v1/rounds", json=ROUND, headers=key)
    assert res.status_code == 201, res.json
    rid, cats = res.json["id"], [c["id"] for c in res.json["categories"]]
    assert res.json["rehearsal"] is False
    assert client.put(f"/api/v1/rounds/{rid}/options", headers=key, json={
        "comment": {"enabled": True, "max_length": 200}}).status_code == 200
    real = _issue(client, key, rid, cats[1], 2)  # printed before the rehearsal
    keys_before, rows_before = _all_keys(app), _rows(app, rid)
    assert rows_before["tokens"] == 2 and rows_before["rehearsal_tokens"] == 0

    opened = client.post(f"/api/v1/rounds/{rid}/rehearse", headers=key)
    assert opened.status_code == 200, opened.json
    assert (opened.json["status"], opened.json["rehearsal"]) == ("open", True)
    again = client.post(f"/api/v1/rounds/{rid}/rehearse", headers=key)
    assert _error(again) == (409, "round_not_draft")
    slips = _issue(client, key, rid, cats[1], 3)

    # a real slip printed before the rehearsal cannot vote in it
    form = client.post("/api/v1/ballot-form", json={"token": slips[0]}).json
    assert form["rehearsal"] is True
    refused = client.post("/api/v1/ballot-form", json={"token": real[0]})
    assert _error(refused) == (404, "token_unknown")
    assert _error(_vote(client, real[0], form)) == (404, "token_unknown")

    for i, token in enumerate(slips):
        vote = _vote(client, token, form, comment="演练中的意见" if i == 0 else None)
        assert vote.status_code == 201, vote.json
    assert _error(_vote(client, slips[0], form)) == (409, "token_spent")
    turnout = client.get(f"/api/v1/rounds/{rid}/turnout", headers=key).json
    assert turnout["actual"] == 3
    assert client.get(f"/api/v1/rounds/{rid}/projector", headers=key).status_code == 200
    with app.app_context():
        assert round_keys(rid), "the rehearsal has live state in Redis"

    closed = client.post(f"/api/v1/rounds/{rid}/close", headers=key)
    assert closed.status_code == 200 and closed.json["status"] == "closed"
    results = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
    assert results["ballots"] == 3
    refused = client.post(f"/api/v1/rounds/{rid}/publish", headers=key)
    assert _error(refused) == (409, "rehearsal_not_publishable")
    assert client.get(f"/api/v1/rounds/{rid}", headers=key).json["status"] == "closed"

    xlsx = client.get(f"/api/v1/rounds/{rid}/export.xlsx", headers=key)
    assert xlsx.status_code == 200
    disposition = xlsx.headers["Content-Disposition"]
    assert "rehearsal" in disposition and "results" not in disposition
    book = load_workbook(BytesIO(xlsx.data))
    assert all(name.startswith("演练-") for name in book.sheetnames)
    first = book[book.sheetnames[0]]
    assert first["A1"].value.startswith("【演练】") and "不计入正式结果" in first["A3"].value
    csv = client.get(f"/api/v1/rounds/{rid}/export.csv", headers=key).data.decode("utf-8-sig")
    lines = csv.splitlines()  # the tidy CSV: a rehearsal column, 1 on every row
    assert lines[0].startswith("round_id,rehearsal,") and len(lines) > 1
    assert all(line.startswith(f"{rid},1,") for line in lines[1:])
    assert rows_before != _rows(app, rid)

    purged = client.post(f"/api/v1/rounds/{rid}/purge", headers=key)
    assert purged.status_code == 200, purged.json
    body = purged.json
    assert (body["status"], body["rehearsal"]) == ("draft", False)
    assert body["opened_at"] is None and body["closed_at"] is None
    # nothing of the rehearsal is left: rows, keys, counters
    after = _rows(app, rid)
    assert after == {**dict.fromkeys(TABLES, 0), "rehearsal_tokens": 0, "tokens": 2}
    with app.app_context():
        assert round_keys(rid) == []
        rnd = db.session.get(Round, rid)
        assert rnd.result_json is None and rnd.close_problem == ""
        assert [c.issued_count for c in rnd.categories] == [0, 2]
    assert _all_keys(app) == keys_before
    turnout = client.get(f"/api/v1/rounds/{rid}/turnout", headers=key).json
    assert (turnout["actual"], [c["issued"] for c in turnout["categories"]]) == (0, [0, 2])
    assert _error(client.post(f"/api/v1/rounds/{rid}/purge", headers=key)) == (
        409, "not_rehearsal")

    # for real: the rehearsal slips are gone, the real ones and fresh ones vote
    assert client.post(f"/api/v1/rounds/{rid}/open", headers=key).json["rehearsal"] is False
    assert _error(client.post("/api/v1/ballot-form", json={"token": slips[1]})) == (
        404, "token_unknown")
    assert _error(_vote(client, slips[1], form)) == (404, "token_unknown")
    fresh = real + _issue(client, key, rid, cats[0], 3)
    real_form = client.post("/api/v1/ballot-form", json={"token": fresh[0]}).json
    assert real_form["rehearsal"] is False
    for token in fresh:
        assert _vote(client, token, real_form).status_code == 201
    closed = client.post(f"/api/v1/rounds/{rid}/close", headers=key).json
    assert closed["status"] == "closed"
    results = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
    assert results["ballots"] == 5
    turnout = client.get(f"/api/v1/rounds/{rid}/turnout", headers=key).json
    assert [c["actual"] for c in turnout["categories"]] == [3, 2]
    assert _rows(app, rid)["ballots"] == 5
    assert _rows(app, rid)["ballot_comments"] == 0
    assert client.post(f"/api/v1/rounds/{rid}/publish", headers=key).json["status"] == "published"
    xlsx = client.get(f"/api/v1/rounds/{rid}/export.xlsx", headers=key)
    assert "results" in xlsx.headers["Content-Disposition"]
    assert not any("演练" in n for n in load_workbook(BytesIO(xlsx.data)).sheetnames)


def test_purge_while_open_stops_voting_first(app, client, key):
    rid = client.post("/api/v1/rounds", json=ROUND, headers=key).json["id"]
    cat = client.get(f"/api/v1/rounds/{rid}", headers=key).json["categories"][0]["id"]
    assert client.post(f"/api/v1/rounds/{rid}/rehearse", headers=key).status_code == 200
    slips = _issue(client, key, rid, cat, 2)
    form = client.post("/api/v1/ballot-form", json={"token": slips[0]}).json
    assert _vote(client, slips[0], form).status_code == 201
    purged = client.post(f"/api/v1/rounds/{rid}/purge", headers=key)
    assert purged.status_code == 200 and purged.json["status"] == "draft"
    assert _error(_vote(client, slips[1], form)) == (409, "round_not_open")  # a draft again
    assert _rows(app, rid) == {**dict.fromkeys(TABLES, 0), "rehearsal_tokens": 0, "tokens": 0}
    with app.app_context():
        assert round_keys(rid) == []


def test_purge_refused_for_a_round_that_is_not_a_rehearsal(app, client, key):
    res = client.post("/api/v1/rounds", json=ROUND, headers=key).json
    rid, cat = res["id"], res["categories"][0]["id"]
    assert _error(client.post(f"/api/v1/rounds/{rid}/purge", headers=key)) == (
        409, "not_rehearsal")
    tokens = _issue(client, key, rid, cat, 2)
    assert client.post(f"/api/v1/rounds/{rid}/open", headers=key).status_code == 200
    form = client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json
    assert form["rehearsal"] is False
    assert _vote(client, tokens[0], form).status_code == 201
    before, keys = _rows(app, rid), _all_keys(app)
    refused = client.post(f"/api/v1/rounds/{rid}/purge", headers=key)
    assert _error(refused) == (409, "not_rehearsal")
    assert refused.json["error"]["message"] == "该测评不是演练，不能清空"
    assert _error(client.post(f"/api/v1/rounds/{rid}/rehearse", headers=key)) == (
        409, "round_not_draft")
    assert _rows(app, rid) == before and _all_keys(app) == keys
    assert client.get(f"/api/v1/rounds/{rid}", headers=key).json["status"] == "open"
    assert _error(client.post("/api/v1/rounds/999999/purge", headers=key)) == (
        404, "round_not_found")


def test_rehearsal_never_feeds_points(app, client):
    with app.app_context():
        w = build_world()
        rnd, tokens = make_round("appraisal", n_subjects=2, open_it=False)
        rnd.subjects[0].member_id = w.members_a[0]
        db.session.commit()
        rid = rnd.id
        open_rehearsal(rnd)
        slips = {c.id: issue_tokens(rnd, c.id, 1) for c in rnd.categories}
        answers = valid_answers(rnd)
    for token in (t for ts in slips.values() for t in ts):
        assert client.post("/api/v1/ballots", json={"token": token, "answers": answers}
                           ).status_code == 201
    with app.app_context():
        close_round(db.session.get(Round, rid))
    res = client.post(f"/api/v1/points/rounds/{rid}/feed", headers=w.auth("dangwei"),
                      json={"item": "群众测评", "period": "2026Q2"})
    assert _error(res) == (409, "rehearsal")
    with app.app_context():
        assert not db.session.execute(text("SELECT COUNT(*) FROM points_entries")).scalar()


def test_qr_images_of_rehearsal_slips_say_so(app, client, key):
    res = client.post("/api/v1/rounds", json=ROUND, headers=key).json
    rid, cat = res["id"], res["categories"][0]["id"]
    real = _issue(client, key, rid, cat, 1)[0]
    client.post(f"/api/v1/rounds/{rid}/rehearse", headers=key)
    slip = _issue(client, key, rid, cat, 1)[0]
    svg = client.post("/api/v1/qr", headers=key, json={"token": slip, "format": "svg"}).data
    assert "演练票".encode() in svg
    plain = client.post("/api/v1/qr", headers=key, json={"token": real, "format": "svg"}).data
    assert "演练".encode() not in plain
    png = client.post("/api/v1/qr", headers=key, json={"token": slip, "format": "png"})
    plain_png = client.post("/api/v1/qr", headers=key, json={"token": real, "format": "png"})
    assert png.mimetype == "image/png" and png.data[:4] == b"\x89PNG"
    from PIL import Image

    marked, unmarked = Image.open(BytesIO(png.data)), Image.open(BytesIO(plain_png.data))
    assert marked.width == unmarked.width and marked.height > unmarked.height
    assert marked.convert("RGB").getpixel((2, 2))[0] > 150  # the red band on top


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler-utils (pdftotext)")
def test_rehearsal_slips_pdf_is_marked(app, client, key, tmp_path):
    res = client.post("/api/v1/rounds", json=ROUND, headers=key).json
    rid, cat = res["id"], res["categories"][0]["id"]
    client.post(f"/api/v1/rounds/{rid}/rehearse", headers=key)
    pdf = client.post(f"/api/v1/rounds/{rid}/tokens", headers=key,
                      json={"category_id": cat, "count": 2, "format": "pdf"})
    assert pdf.status_code == 201 and pdf.mimetype == "application/pdf"
    path = tmp_path / "slips.pdf"
    path.write_bytes(pdf.data)
    read = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True,
                          capture_output=True, text=True)
    assert "Syntax Error" not in read.stderr
    words = read.stdout
    assert "演练票 — 不计入正式结果" in words and "【演练】" in words
    assert _rows(app, rid)["rehearsal_tokens"] == 2


def test_console_rehearse_banner_and_purge(app, client):
    with app.app_context():
        organizer()
        rnd, _ = make_round("appraisal", open_it=False)
        rid = rnd.id
    page = client.get("/console/login")
    client.post("/console/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                        "username": "organizer",
                                        "password": "correct horse 1"})
    path = f"/console/rounds/{rid}"
    html = client.get(path).get_data(as_text=True)
    assert 'id="rehearse-button"' in html
    assert 'id="rehearsal-band"' not in html and 'id="purge-button"' not in html
    res = client.post(f"{path}/rehearse", data={"csrf_token": csrf_token(html)})
    assert res.status_code == 303
    html = client.get(path).get_data(as_text=True)
    assert 'id="rehearsal-band"' in html and 'id="purge-button"' in html
    assert 'id="rehearse-button"' not in html
    assert "发布结果" not in html
    projector = client.get(f"{path}/projector").get_data(as_text=True)
    assert "演练 · 不计入正式结果" in projector
    res = client.post(f"{path}/purge", data={"csrf_token": csrf_token(html)})
    assert res.status_code == 303
    html = client.get(path).get_data(as_text=True)
    assert "演练数据已清空" in html and 'id="rehearsal-band"' not in html
    with app.app_context():
        rnd = db.session.get(Round, rid)
        assert (rnd.status, rnd.rehearsal) == ("draft", False)


def test_cli_rehearse_and_purge(app, runner):
    with app.app_context():
        rnd, _ = make_round("appraisal", open_it=False)
        rid = rnd.id
    out = runner.invoke(args=["round", "purge", str(rid)])
    assert out.exit_code != 0 and "not_rehearsal" in out.output
    out = runner.invoke(args=["round", "rehearse", str(rid)])
    assert out.exit_code == 0 and "open (rehearsal)" in out.output
    out = runner.invoke(args=["round", "purge", str(rid)])
    assert out.exit_code == 0 and "draft" in out.output
    with app.app_context():
        assert db.session.get(Round, rid).status == "draft"
