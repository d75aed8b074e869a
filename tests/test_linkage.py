"""Promise 3 attacked: after a round, pair spent tokens with ballots from a full dump.

A round is run over real HTTP through gunicorn (tokens issued, forms read,
ballots cast by several threads, a few replays and bad answers, receipts
checked, close, publish, the receipt list read), with gunicorn's access log
and error/app log written to files, Redis MONITOR recording every command, and
(on the private PostgreSQL cluster) every SQL statement logged.

Then the attacker's view: every table of the SQL database with its physical
row identity (SQLite rowid; PostgreSQL ctid, xmin, cmin), and every Redis key
with its type, encoding and value in server order. The attack pairs the
round's spent tokens with its ballots by every ordering it can build on each
side (physical order, xmin, cmin, ids, hashes, receipts, answers, Redis set
order, the published list), within voter categories and globally, by equal
xmin, and by any row or key holding both a token hash and a ballot's id or
receipt. The test knows the truth (which token cast which receipt) and counts
correct pairs. Before close the same attack succeeds (so the test can fail);
after close the best pairing must be no better than chance: at most a bound
that a uniform random pairing exceeds with probability < 1e-4 over all the
strategies tried.

Finally every log is searched for every issued token (whole, and its 22-char
secret part): 0 hits. SHA-256 hashes do appear in Redis by design.
"""

from __future__ import annotations

import logging
import math
import random
import re
import struct
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import text

from server.core.db import db
from server.tokens.codec import token_hash
from tests.conftest import _reset_sql, make_app
from tests.factories import committee, organizer
from tests.support import pgproc
from tests.support.faults import Gunicorn, RedisMonitor, table
from tests.support.redisproc import RedisProcess

N_PER_CATEGORY = 30
ALPHA = 1e-4  # false-alarm probability of the chance bound, over all strategies


# ---- the dump -------------------------------------------------------------------------------


def dump_sql(app: Flask) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in physical order, with its physical identity."""
    out: dict[str, list[dict[str, Any]]] = {}
    with app.app_context():
        pg = db.engine.dialect.name == "postgresql"
        if pg:
            tables = db.session.execute(text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")).scalars().all()
        else:
            tables = db.session.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'table'")).scalars().all()
        for t in tables:
            if pg:
                q = (f'SELECT ctid::text AS "_ctid", xmin::text::bigint AS "_xmin", '  # noqa: S608
                     f'cmin::text::bigint AS "_cmin", * FROM "{t}" ORDER BY ctid')
            else:
                q = f'SELECT rowid AS "_rowid", * FROM "{t}" ORDER BY rowid'  # noqa: S608
            try:
                rows = [dict(r._mapping) for r in db.session.execute(text(q))]
            except Exception:  # noqa: BLE001 - a WITHOUT ROWID table: plain rows
                db.session.rollback()
                rows = [dict(r._mapping) for r in db.session.execute(
                    text(f'SELECT * FROM "{t}"'))]  # noqa: S608
            for i, r in enumerate(rows):
                r["_phys"] = i
            out[t] = rows
        db.session.remove()
    return out


def dump_redis(url: str) -> dict[str, dict[str, Any]]:
    """Every key: type, encoding, value (members and fields in server order)."""
    r = redis.Redis.from_url(url, decode_responses=True)
    out: dict[str, dict[str, Any]] = {}
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        value: Any
        if kind == "string":
            value = r.get(key)
        elif kind == "hash":
            value = list(r.hgetall(key).items())
        elif kind == "set":
            value = list(r.sscan_iter(key, count=100000))  # server order (insertion for listpack)
        elif kind == "list":
            value = r.lrange(key, 0, -1)
        elif kind == "zset":
            value = r.zrange(key, 0, -1, withscores=True)
        else:
            value = None
        out[key] = {"type": kind, "encoding": r.object("encoding", key), "value": value,
                    "ttl": r.ttl(key)}
    r.close()
    return out


# ---- the attack --------------------------------------------------------------------------------


def _features(sql: dict[str, list[dict[str, Any]]], rds: dict[str, dict[str, Any]],
              round_id: int, published: list[str] | None
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(spent side, ballot side): one dict per row with 'key', 'cat' and orderable features."""
    tokens = {r["token_hash"]: r for r in sql["tokens"] if r["round_id"] == round_id}
    spent_set = next((v["value"] for k, v in rds.items() if k.endswith(":spent")
                      and k.startswith(f"{{r:{round_id}}}")), []) or []
    redis_pos = {h: i for i, h in enumerate(spent_set)}
    tok_hash = next((v["value"] for k, v in rds.items() if k.endswith(":tok")
                     and k.startswith(f"{{r:{round_id}}}")), {}) or {}
    tok_pos = {h: i for i, h in enumerate(tok_hash)}
    rows = [r for r in sql["spent_tokens"] if r["round_id"] == round_id]
    if not rows:
        # after close the spent tokens are gone: all the attacker has left to pair
        # with ballots are the issued tokens, the used ones among them
        rows = list(tokens.values())
    spent = []
    for r in rows:
        f = {"key": r["token_hash"], "cat": tokens[r["token_hash"]]["category_id"],
             "phys": r["_phys"], "hash": r["token_hash"],
             "token_phys": tokens[r["token_hash"]]["_phys"],
             "redis_spent_order": redis_pos.get(r["token_hash"], -1),
             "redis_tok_order": tok_pos.get(r["token_hash"], -1)}
        if "_xmin" in r:
            f |= {"xmin": r["_xmin"], "cmin": r["_cmin"], "xmin_cmin_phys": (
                r["_xmin"], r["_cmin"], r["_phys"])}
        spent.append(f)
    pub_pos = {c: i for i, c in enumerate(published or [])}
    ballots = []
    for r in sql["ballots"]:
        if r["round_id"] != round_id:
            continue
        f = {"key": r["receipt"], "cat": r["category_id"], "phys": r["_phys"], "id": r["id"],
             "receipt": r["receipt"], "answers": r["answers"],
             "published_order": pub_pos.get(r["receipt"], -1)}
        if "_xmin" in r:
            f |= {"xmin": r["_xmin"], "cmin": r["_cmin"], "xmin_cmin_phys": (
                r["_xmin"], r["_cmin"], r["_phys"])}
        ballots.append(f)
    return spent, ballots


def _rank_pairs(spent: list[dict[str, Any]], ballots: list[dict[str, Any]], fs: str, fb: str,
                by_cat: bool) -> list[tuple[str, str]]:
    groups_s: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    groups_b: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in spent:
        groups_s[r["cat"] if by_cat else 0].append(r)
    for r in ballots:
        groups_b[r["cat"] if by_cat else 0].append(r)
    pairs = []
    for g, rows in groups_s.items():
        a = sorted(rows, key=lambda r: (r[fs], r["phys"]))
        b = sorted(groups_b.get(g, []), key=lambda r: (r[fb], r["phys"]))
        pairs += [(x["key"], y["key"]) for x, y in zip(a, b, strict=False)]
    return pairs


def _join_pairs(spent: list[dict[str, Any]], ballots: list[dict[str, Any]], f: str
                ) -> list[tuple[str, str]]:
    """Rows with the same value of `f` (e.g. written by one transaction), paired by
    physical order inside each group."""
    gs: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    gb: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in spent:
        gs[r[f]].append(r)
    for r in ballots:
        gb[r[f]].append(r)
    pairs = []
    for v, rows in gs.items():
        pairs += [(x["key"], y["key"]) for x, y in zip(
            sorted(rows, key=lambda r: r["phys"]),
            sorted(gb.get(v, []), key=lambda r: r["phys"]), strict=False)]
    return pairs


def _cooccurrence(sql: dict[str, list[dict[str, Any]]], rds: dict[str, dict[str, Any]],
                  hashes: set[str], ballot_ids: dict[str, str]) -> list[tuple[str, str]]:
    """Any SQL row or Redis key that holds both a token hash and a ballot id/receipt."""
    pairs = []

    def scan(blob: str) -> None:
        hs = [h for h in hashes if h in blob]
        if hs:
            bs = [rc for ident, rc in ballot_ids.items() if ident in blob]
            pairs.extend((h, b) for h in hs for b in bs)

    for rows in sql.values():
        for r in rows:
            scan(" ".join(str(v) for v in r.values()))
    for k, v in rds.items():
        scan(f"{k} {v['value']}")
    return pairs


def attack(sql: dict[str, list[dict[str, Any]]], rds: dict[str, dict[str, Any]], round_id: int,
           truth: dict[str, str], published: list[str] | None = None
           ) -> tuple[dict[str, int], int]:
    """Hits (correct pairs) per strategy, and the number of strategies."""
    spent, ballots = _features(sql, rds, round_id, published)
    assert spent and ballots
    fs = [k for k in spent[0] if k not in ("key", "cat")]
    fb = [k for k in ballots[0] if k not in ("key", "cat")]
    hits: dict[str, int] = {}

    def score(pairs: list[tuple[str, str]]) -> int:
        return sum(truth.get(h) == b for h, b in pairs)

    for a in fs:
        for b in fb:
            for by_cat in (True, False):
                hits[f"{a} ~ {b}{' per category' if by_cat else ''}"] = score(
                    _rank_pairs(spent, ballots, a, b, by_cat))
    if "xmin" in spent[0]:
        hits["same xmin"] = score(_join_pairs(spent, ballots, "xmin"))
    ids = {r["id"]: r["receipt"] for r in ballots} | {r["receipt"]: r["receipt"] for r in ballots}
    hits["a row/key holding both"] = score(
        _cooccurrence(sql, rds, {r["key"] for r in spent}, ids))
    return hits, len(hits)


def chance_bound(categories: int, strategies: int, alpha: float = ALPHA) -> int:
    """Smallest k with strategies * P(X >= k) <= alpha, X ~ Poisson(categories).

    A uniform random pairing inside each voter category has about Poisson(1)
    correct pairs per category (fixed points of a random permutation); the sum
    over categories is about Poisson(categories); a global pairing does worse.
    """
    lam = float(categories)
    k = 0
    while True:
        tail = 1 - sum(math.exp(-lam) * lam ** i / math.factorial(i) for i in range(k))
        if strategies * tail <= alpha:
            return k
        k += 1


# ---- the round, over HTTP --------------------------------------------------------------------


def run_round(base: str, key: str, pre_close: Callable[[int], None]
              ) -> tuple[int, list[str], dict[str, str], list[str], Counter[str]]:
    """Create, issue, open, vote (threads), a few replays and bad answers, close,
    publish. Calls `pre_close(round_id)` just before the close."""
    auth = {"Authorization": f"Bearer {key}"}
    s = requests.Session()
    answers_seen: Counter[str] = Counter()
    res = s.post(f"{base}/api/v1/rounds", headers=auth, timeout=30, json={
        "form": "appraisal", "title": "链接攻击测评", "results": {"min_turnout": 0},
        "subjects": [{"name": f"对象{i}", "note": "职务"} for i in range(3)],
        "categories": [{"name": n, "expected_count": N_PER_CATEGORY, "weight": 1}
                       for n in ("领导班子", "中层干部", "职工代表")]})
    assert res.status_code == 201, res.text
    rnd = res.json()
    rid = rnd["id"]
    tokens: list[str] = []
    for c in rnd["categories"]:
        r = s.post(f"{base}/api/v1/rounds/{rid}/tokens", headers=auth, timeout=30,
                   json={"category_id": c["id"], "count": N_PER_CATEGORY})
        assert r.status_code == 201, r.text
        tokens += [t["token"] for t in r.json()["tokens"]]
    assert s.post(f"{base}/api/v1/rounds/{rid}/open", headers=auth, timeout=30).ok
    subjects = [x["id"] for x in rnd["subjects"]]
    form = s.post(f"{base}/api/v1/ballot-form", json={"token": tokens[0]}, timeout=30).json()
    grades = [g["key"] for g in form["form"]["grades"]]
    criteria = [c["key"] for c in form["form"]["criteria"]]

    def ballot(i: int) -> dict[str, Any]:
        return {str(sid): {c: grades[(i + j + k) % len(grades)] for k, c in enumerate(criteria)}
                for j, sid in enumerate(subjects)}

    order = list(range(len(tokens)))
    random.shuffle(order)
    truth: dict[str, str] = {}
    lock = threading.Lock()
    todo = list(order)

    def voter() -> None:
        vs = requests.Session()
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            tok = tokens[i]
            vs.post(f"{base}/api/v1/ballot-form", json={"token": tok}, timeout=30)
            if i % 7 == 0:  # a bad ballot first, with the real token
                bad = vs.post(f"{base}/api/v1/ballots", timeout=30,
                              json={"token": tok, "answers": {"nope": 1}})
                with lock:
                    answers_seen[f"bad ballot {bad.status_code}"] += 1
            r = vs.post(f"{base}/api/v1/ballots", json={"token": tok, "answers": ballot(i)},
                        timeout=30)
            assert r.status_code == 201, r.text
            with lock:
                truth[token_hash(tok)] = r.json()["receipt"]
                answers_seen["201"] += 1
            if i % 5 == 0:  # a replay
                again = vs.post(f"{base}/api/v1/ballots", timeout=30,
                                json={"token": tok, "answers": ballot(i + 1)})
                with lock:
                    answers_seen[f"replay {again.status_code}"] += 1
            vs.post(f"{base}/api/v1/receipts/check", timeout=30,
                    json={"round_id": rid, "receipt": r.json()["receipt"]})

    threads = [threading.Thread(target=voter) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(truth) == len(tokens)
    pre_close(rid)
    r = s.post(f"{base}/api/v1/rounds/{rid}/close", headers=auth, timeout=60)
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    assert s.post(f"{base}/api/v1/rounds/{rid}/publish", headers=auth, timeout=30).ok
    published = s.get(f"{base}/api/v1/rounds/{rid}/receipts", timeout=30).json()["receipts"]
    for fmt in ("csv", "xlsx"):
        assert s.get(f"{base}/api/v1/rounds/{rid}/export.{fmt}", headers=auth, timeout=60).ok
    return rid, tokens, truth, published, answers_seen


def grep_tokens(tokens: list[str], logs: dict[str, str]) -> dict[str, int]:
    """Hits of any issued token (whole, or its secret part) per log."""
    needles = tokens + [t.split(".", 1)[1] for t in tokens]
    return {name: sum(blob.count(n) for n in needles) for name, blob in logs.items()}


def linkage_round(tmp_path: Path, app: Flask, redis_proc: RedisProcess, db_url: str,
                  caplog: pytest.LogCaptureFixture, pg: pgproc.PostgresProcess | None = None
                  ) -> None:
    caplog.set_level(logging.DEBUG)
    with app.app_context():
        committee()
        _, key = organizer()
        db.session.remove()
    access, errlog = tmp_path / "access.log", tmp_path / "gunicorn.log"
    before: dict[str, Any] = {}

    def snapshot(rid: int) -> None:
        before["sql"], before["redis"] = dump_sql(app), dump_redis(redis_proc.url)

    with RedisMonitor(redis_proc.url) as monitor, \
            Gunicorn(db_url, redis_proc.url, workers=3, threads=8, log_path=errlog,
                     access_log=access, extra_env={"LOG_LEVEL": "DEBUG"},
                     app_module="tests.support.sqllog_app:app") as g:
        rid, tokens, truth, published, seen = run_round(g.base, key, snapshot)
    after_sql, after_redis = dump_sql(app), dump_redis(redis_proc.url)

    hits_before, m = attack(before["sql"], before["redis"], rid, truth)
    hits_after, m2 = attack(after_sql, after_redis, rid, truth, published)
    bound = chance_bound(3, max(m, m2))
    best_before = max(hits_before, key=hits_before.get)
    best_after = max(hits_after, key=hits_after.get)

    logs = {
        "gunicorn access log": access.read_text(errors="replace"),
        "gunicorn error + app log": errlog.read_text(errors="replace"),
        "Redis MONITOR": "\n".join(monitor.lines),
        "this process's log": caplog.text,
    }
    if pg is not None:
        logs["PostgreSQL statement log"] = pg.log_text()
    found = grep_tokens(tokens, logs)
    hashes_in_monitor = sum(h in logs["Redis MONITOR"] for h in truth)
    n = len(tokens)
    table(f"linkage attack ({db_url.split(':')[0]})", [
        ("ballots / tokens", f"{len(truth)} / {n} in 3 categories"),
        ("requests besides ballots", dict(seen)),
        ("strategies tried", max(m, m2)),
        ("chance bound (P < 1e-4)", bound),
        ("best pairing before close", f"{hits_before[best_before]}/{n} by {best_before}"),
        ("best pairing after close", f"{hits_after[best_after]}/{n} by {best_after}"),
        ("row/key holding both", hits_after["a row/key holding both"]),
        ("log sizes (lines)", {k: v.count("\n") for k, v in logs.items()}),
        ("SQL statements in the app log", logs["gunicorn error + app log"].count(
            "sqlalchemy.engine")),
        ("raw tokens found in logs", found),
        ("token hashes seen in MONITOR (by design)", f"{hashes_in_monitor}/{n}"),
    ])
    # the attack works on the open round's record: the test can fail
    assert hits_before[best_before] > bound, hits_before
    # after close: no better than chance, by any strategy
    assert hits_after[best_after] <= bound, sorted(hits_after.items(), key=lambda x: -x[1])[:5]
    assert hits_after["a row/key holding both"] == 0
    # every log was really written, and none holds a raw token
    assert logs["gunicorn access log"].count("/api/v1/ballots") >= n
    assert hashes_in_monitor == n, "MONITOR did not see the ballot path"
    assert "INSERT INTO" in logs["gunicorn error + app log"], "no SQL in the app log"
    if pg is not None:
        assert "INSERT INTO spent_tokens" in logs["PostgreSQL statement log"]
    assert sum(found.values()) == 0, found


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    proc = RedisProcess(tmp_path / "redis").start()
    yield proc
    proc.stop()


@pytest.mark.single_redis
def test_linkage_attack_and_token_grep(tmp_path, private_redis, caplog):
    """On the configured database (SQLite, or TEST_DATABASE_URL's PostgreSQL)."""
    app = make_app(tmp_path, private_redis.url)
    _reset_sql(app)
    with app.app_context():
        db_url = db.engine.url.render_as_string(hide_password=False)
    try:
        linkage_round(tmp_path, app, private_redis, db_url, caplog)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.faults
@pytest.mark.single_redis
def test_linkage_attack_private_postgres_statement_log(tmp_path, private_redis, caplog):
    """On a private PostgreSQL cluster that logs every statement (log_statement=all)."""
    reason = pgproc.unavailable()
    if reason:
        pytest.skip(reason)
    pg = pgproc.PostgresProcess()
    try:
        app = make_app(tmp_path, private_redis.url, DATABASE_URL=pg.url)
        _reset_sql(app)
        linkage_round(tmp_path, app, private_redis, pg.url, caplog, pg)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        pg.destroy()


# ---- below the SQL layer: the SQLite files themselves ---------------------------------------

HASH_RE = re.compile(rb"[0-9a-f]{64}")
RECEIPT_RE = re.compile(rb"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}")


def wal_pairing(wal: bytes, truth: dict[str, str]) -> int:
    """Pair token hashes and receipts by the first WAL frame (commit) that holds them,
    then by position in the page; returns the correct pairs."""
    page = struct.unpack(">I", wal[8:12])[0] if len(wal) >= 32 else 0
    frames = [wal[o + 24:o + 24 + page] for o in range(32, len(wal) - 24 - page + 1, 24 + page)]
    receipts = set(truth.values())
    first_r: dict[str, tuple[int, int]] = {}
    first_h: dict[str, tuple[int, int]] = {}
    for i, pg in enumerate(frames):
        for m in RECEIPT_RE.finditer(pg):
            if m.group().decode() in receipts:
                first_r.setdefault(m.group().decode(), (i, m.start()))
    start = min((f for f, _ in first_r.values()), default=len(frames))
    for i, pg in enumerate(frames[start:], start):  # hashes after voting began: spent
        for m in HASH_RE.finditer(pg):
            if m.group().decode() in truth:
                first_h.setdefault(m.group().decode(), (i, m.start()))
    best = 0
    for sign in (1, -1):
        hs = sorted(first_h, key=lambda h: (first_h[h][0], sign * first_h[h][1]))
        rs = sorted(first_r, key=lambda r: (first_r[r][0], sign * first_r[r][1]))
        best = max(best, sum(truth[h] == r for h, r in zip(hs, rs, strict=False)))
    return best


@pytest.mark.faults
@pytest.mark.single_redis
def test_linkage_attack_on_the_sqlite_files_after_close(tmp_path, private_redis):
    app = make_app(tmp_path, private_redis.url, DATABASE_URL=f"sqlite:///{tmp_path / 'f.db'}")
    _reset_sql(app)
    with app.app_context():
        committee()
        _, key = organizer()
        db.session.remove()
    with Gunicorn(f"sqlite:///{tmp_path / 'f.db'}", private_redis.url, workers=3) as g:
        _, tokens, truth, _, _ = run_round(g.base, key, lambda rid: None)
        # a file copy of the database taken after close, while the server runs
        copy = {f.name: f.read_bytes() for f in sorted(tmp_path.glob("f.db*"))}
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    files = {f.name: len(b) for f, b in ((Path(n), b) for n, b in copy.items())}
    hits = wal_pairing(copy.get("f.db-wal", b""), truth)
    main = (tmp_path / "f.db").read_bytes()  # after shutdown: checkpointed, WAL removed
    # each receipt is stored twice by design (the row and the round/receipt unique index)
    leftovers = sum(main.count(r.encode()) for r in truth.values()) - 2 * len(truth)
    bound = chance_bound(3, 2)
    table("linkage attack on the SQLite files after close", [
        ("files copied while running", files),
        ("pairs recovered from the -wal file", f"{hits}/{len(tokens)}"),
        ("receipt copies beyond row + index, checkpointed file", leftovers),
        ("chance bound", bound),
    ])
    assert hits <= bound
