"""Rounds, tokens and ballots for the benchmark, made with the app's own operations."""

from __future__ import annotations

import json
import random
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import text

from server.core.db import db
from server.forms.storage import encode_answers
from server.roundbase.models import Round
from server.rounds.operations import create_round, open_round
from server.tokens.codec import new_receipt, new_token, token_hash
from server.tokens.operations import issue_tokens

LEADERS = ["领导班子", "王建国", "李明华", "张志强", "刘秀英", "陈海涛", "赵丽娟"]
CATEGORIES = [{"name": "公司领导", "expected_count": 100, "weight": 0.3},
              {"name": "中层干部", "expected_count": 1000, "weight": 0.4},
              {"name": "职工代表", "expected_count": 100000, "weight": 0.3}]


def appraisal_round(committee_id: int, title: str) -> Round:
    rnd = create_round(committee_id, "appraisal", title,
                       [{"name": n, "note": ""} for n in LEADERS], CATEGORIES)
    open_round(rnd)
    return rnd


def answers(rnd: Round, rng: random.Random) -> dict[str, Any]:
    grades = [g["key"] for g in rnd.form["grades"]]
    return {str(s.id): {c["key"]: rng.choice(grades) for c in rnd.form["criteria"]}
            for s in rnd.subjects}


def tokens(rnd: Round, count: int) -> list[str]:
    out: list[str] = []
    cats = [c.id for c in rnd.categories]
    while len(out) < count:
        n = min(20000, count - len(out))
        out += issue_tokens(rnd, cats[len(out) // 20000 % len(cats)], n)
    return out


def write_bodies(prefix: Path, bodies: list[str], threads: int) -> None:
    for t in range(threads):
        Path(f"{prefix}.{t}.txt").write_text("\n".join(bodies[t::threads]) + "\n")


def ballot_bodies(rnd: Round, toks: list[str], seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [json.dumps({"token": t, "answers": answers(rnd, rng)}, ensure_ascii=False)
            for t in toks]


def mixed_bodies(rnd: Round, toks: list[str], threads: int, seed: int = 2) -> list[str]:
    """85% fresh, 10% replays of a token the same wrk thread sent earlier, 5% unknown."""
    rng = random.Random(seed)
    per_thread: list[list[str]] = [[] for _ in range(threads)]
    fresh = iter(toks)
    for i in range(len(toks)):
        lane = per_thread[i % threads]
        roll = rng.random()
        if roll < 0.10 and len(lane) > 10:
            lane.append(json.loads(rng.choice(lane[: len(lane) // 2]))["token"])
        elif roll < 0.15:
            lane.append(f"{rnd.id}.{secrets.token_urlsafe(16)}")
        else:
            lane.append(next(fresh))
        lane[-1] = json.dumps({"token": lane[-1], "answers": answers(rnd, rng)},
                              ensure_ascii=False)
    # interleave back so write_bodies' striding gives each thread its lane
    out: list[str] = []
    for i in range(max(len(lane) for lane in per_thread)):
        out += [lane[i] for lane in per_thread if i < len(lane)]
    return out


def bulk_ballots(rnd: Round, count: int, seed: int = 3) -> None:
    """Insert `count` spent tokens and ballots straight into SQL (then rebuild Redis)."""
    rng = random.Random(seed)
    cat = rnd.categories[-1].id
    for start in range(0, count, 5000):
        n = min(5000, count - start)
        hashes = [token_hash(new_token(rnd.id)) for _ in range(n)]
        db.session.execute(
            text("INSERT INTO tokens (token_hash, round_id, category_id) VALUES (:h, :r, :c)"),
            [{"h": h, "r": rnd.id, "c": cat} for h in hashes])
        db.session.execute(
            text("INSERT INTO spent_tokens (token_hash, round_id) VALUES (:h, :r)"),
            [{"h": h, "r": rnd.id} for h in hashes])
        db.session.execute(
            text("INSERT INTO ballots (id, round_id, category_id, receipt, answers) "
                 "VALUES (:id, :r, :c, :rc, :a)"),
            [{"id": secrets.token_hex(16), "r": rnd.id, "c": cat, "rc": new_receipt(),
              "a": encode_answers(rnd.form, answers(rnd, rng))} for _ in range(n)])
        db.session.commit()
