"""The design most voting tools use, as the benchmark's peer.

One ballot row per request with a unique token column, committed per request;
live tallies computed with SQL aggregates on every read. Run by the same
gunicorn configuration as pingyi, on its threaded workers as a WSGI app is
(`PINGYI_SERVER=wsgi gunicorn -c config/gunicorn.conf.py bench.naive_app:app`).
"""

from __future__ import annotations

import json
import os

from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

app = Flask(__name__)
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
