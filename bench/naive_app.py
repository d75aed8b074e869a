"""The design most voting tools use, as the benchmark's peer.

One ballot row per request with a unique token column, committed per request;
live tallies computed with SQL aggregates on every read. Run by the same
gunicorn configuration as pingyi, on gunicorn's threaded workers as a WSGI app is
(`gunicorn -c config/gunicorn.conf.py -k gthread bench.naive_app:app`).
For the whole voter journey (bench/journey.py) it serves a voting page with
pingyi's own static files, a ballot form read (one SQL query: is the token
spent?) and the vote.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, abort, jsonify, request, url_for
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

app = Flask(__name__, static_folder=str(Path(__file__).resolve().parents[1]
                                         / "server/voting/static"))
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
db = SQLAlchemy(app)


class NaiveBallot(db.Model):
    __tablename__ = "naive_ballots"

    id = db.Column(db.Integer, primary_key=True)
    round_id = db.Column(db.Integer, nullable=False, index=True)
    token = db.Column(db.String(64), nullable=False, unique=True)
    category_id = db.Column(db.Integer, nullable=False)
    answers = db.Column(db.Text, nullable=False)


@app.post("/vote")
def vote():  # noqa: ANN201
    body = request.get_json()
    db.session.add(NaiveBallot(round_id=1, token=body["token"], category_id=1,
                               answers=json.dumps(body["answers"])))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return jsonify(error="token_spent"), 409
    return jsonify(ok=True), 201


@app.get("/tally")
def tally():  # noqa: ANN201
    rows = db.session.execute(
        db.select(NaiveBallot.category_id, func.count()).where(NaiveBallot.round_id == 1)
        .group_by(NaiveBallot.category_id)
    ).all()
    return jsonify(turnout={str(c): n for c, n in rows})


FORM = {"round": {"id": 1, "title": "对照组"},
        "form": {"kind": "appraisal", "criteria": [{"key": k, "label": k} for k in
                                                   ("德", "能", "勤", "绩", "廉")],
                 "grades": [{"key": g, "label": g} for g in ("优秀", "称职", "基本称职",
                                                             "不称职", "不了解")]},
        "subjects": [{"id": i, "name": f"述职人{i}"} for i in range(1, 8)]}


@app.get("/v/")
def page():  # noqa: ANN201
    return (f'<!doctype html><meta charset="utf-8"><title>投票</title>'
            f'<link rel="stylesheet" href="{url_for("static", filename="vote.css")}">'
            f'<script src="{url_for("static", filename="vote.js")}" defer></script>'
            f'<main id="app"></main>')


@app.post("/ballot-form")
def ballot_form():  # noqa: ANN201
    token = request.get_json()["token"]
    if db.session.execute(db.select(NaiveBallot.id).where(NaiveBallot.token == token)).first():
        abort(409)
    return jsonify(FORM)
