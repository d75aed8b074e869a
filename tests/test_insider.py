"""Must-show (issue 24): the company's own database administrator reads the database's
files, a copy of Redis and the logs, and pairs no ballot, comment, spent token or WeChat
identity better than chance after close, nor a ballot better than its mixed batch
while open. On SQLite, and on PostgreSQL with TEST_DATABASE_URL (as a superuser on the
same machine as the server: pageinspect, the data directory, pg_waldump).

Three rounds, each a test below:
- after close (this docstring): ballots one per transaction, before and after close;
- while open under production mixing (BALLOT_MIX_K = 8) in gunicorn, with the access
  log (one answer size per round) and the server log (no token);
- a session-QR round: 30 WeChat identities, named by the insider with SECRET_KEY,
  paired with no token, receipt or comment; the private keys gone after close.
Redis: a dump of the round's keys is one more source of every attack (in it while
open: the token hashes, in issue order); after close it holds nothing per token (here
counted; tests/test_close_redis.py checks every key, and that the live tally fields
exist from open in a fixed order, so their order tells no arrival).
Each test prints its figures (linked / N, open and after close).

N voters cast a ballot with a comment each through the HTTP API (the app's test
client), one ballot per transaction (BALLOT_MIX_K = 1, the conftest's default: the
most the record could give away). The test knows the truth: which token hash cast
which receipt and which comment. The insider reads, before close and after it (and
after its scrub, server/roundbase/scrub.py):

PostgreSQL: every tuple of ballots, ballot_comments and spent_tokens, dead ones too,
  with its xmin and ctid (pageinspect heap_page_items); every index entry of their
  indexes with the heap position it points at (bt_page_items); the relation files
  themselves (pg_relation_filepath, after a CHECKPOINT), where free space keeps
  bytes no line pointer shows; every file in pg_wal, each string found tied to the
  transaction of its WAL record (pg_waldump).
SQLite: the database file and its -wal file (WAL frames grouped by commit).

From each source it takes, per kind (ballot receipt, token hash, comment), an order
(position, xmin, WAL offset) and a group (xmin, WAL transaction, commit), and pairs
two kinds by every order against every order, forwards and backwards, and by equal
group (then by position inside it). It also counts copies of the strings beyond
those the live rows and their indexes hold.

Statistic: correct pairs of the best strategy, over the three kind pairs. A pairing
that knows nothing is a uniform random matching of at most N items: about Poisson(1)
correct pairs (fixed points of a random permutation). The bound is the smallest k
with strategies * P(Poisson(1) >= k) <= 1e-4 (tests/test_linkage.py's chance_bound
with one group). Before close the same attack beats the bound (so the test can
fail); after close no strategy reaches it, and no leftover copy is found.

On PostgreSQL the test needs `wal_recycle = off` (docs/deploy.md §8): with it on, the
checkpoint after close renames old segments for reuse, bytes and all. The machine's
cluster is shared with CI and the other suites, so the test sets it with ALTER
SYSTEM and a reload, and RESETs it when it ends, whatever happens.
"""

from __future__ import annotations

import bisect
import glob
import logging
import random
import re
import secrets
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.wechat_fake.miniprogram import FAKE_APPID, mint_login_code
from server.core.db import db
from server.miniprogram.crypto import identity_digest
from server.rounds.operations import wait_for_scrub
from server.tokens.codec import token_hash
from server.voting.groupcommit import batch_sizes
from tests.support import blindclient
from tests.support.faults import Gunicorn, table
from tests.support.rounds_http import create, issue, lifecycle
from tests.test_access_log import LINE
from tests.test_close_redis import _dump, _text
from tests.test_linkage import chance_bound

N_PER_CATEGORY = 15
CATEGORIES = ("领导班子", "中层干部及后备干部", "职工代表（含列席人员）")  # names of 4, 9, 11
KINDS = ("receipt", "hash", "comment", "claim")
PAIRS = (("hash", "receipt"), ("comment", "receipt"), ("comment", "hash"))
WAL_SEGMENT = 16 * 1024 * 1024


@dataclass
class Vote:
    hash: str
    receipt: str
    comment: str
    claim: str = ""  # session QR: the claim row of the voter's WeChat identity

    def of(self, kind: str) -> str:
        return getattr(self, kind)


@dataclass
class Seen:
    """What one source shows of each kind: entity -> (group or None, sortable position)."""

    name: str
    found: dict[str, dict[str, tuple[Any, Any]]] = field(
        default_factory=lambda: {k: {} for k in KINDS})

    def add(self, kind: str, entity: str, group: Any, pos: Any) -> None:
        """Keep the oldest sighting (smallest group, e.g. xmin): a surviving old version
        carries the arrival, the rewritten one only the close."""
        old = self.found[kind].get(entity)
        if old is None or (group is not None and old[0] is not None and group < old[0]):
            self.found[kind][entity] = (group, pos)


# ---- the round ------------------------------------------------------------------------------


def open_round(client: Any, key: dict[str, str], session_qr: bool = False
               ) -> tuple[int, list[str], dict[str, Any]]:
    """A round with comments, opened: (id, tokens, the ballot form's answer), or for a
    session-QR round (id, [], {category id: scene}) with an allowance of
    N_PER_CATEGORY claims per category and no token issued."""
    rnd = create(client, key, {
        "form": "appraisal", "title": "内部人员攻击测评", "results": {"min_turnout": 0},
        "subjects": [{"name": f"对象{i}", "note": "职务"} for i in range(3)],
        "categories": [{"name": n, "expected_count": N_PER_CATEGORY, "weight": 1}
                       for n in CATEGORIES]})
    rid = rnd["id"]
    res = client.put(f"/api/v1/rounds/{rid}/options", headers=key,
                     json={"comment": {"enabled": True, "max_length": 200},
                           "session_qr": session_qr})
    assert res.status_code == 200, res.json
    if session_qr:
        for c in rnd["categories"]:
            assert client.post(f"/api/v1/rounds/{rid}/session-pool", headers=key, json={
                "category_id": c["id"], "count": N_PER_CATEGORY}).status_code == 201
        assert lifecycle(client, key, rid, "open").status_code == 200
        codes = client.get(f"/api/v1/rounds/{rid}/session-codes", headers=key).json
        return rid, [], {i["category_id"]: i["scene"] for i in codes["items"]}
    tokens = [t for c in rnd["categories"] for t in issue(client, key, rid, c["id"],
                                                          N_PER_CATEGORY)]
    assert lifecycle(client, key, rid, "open").status_code == 200
    form = client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json
    random.shuffle(tokens)  # arrival order unrelated to issue order
    return rid, tokens, form


def ballot(form: dict[str, Any], token: str, signature: str | None = None) -> dict[str, Any]:
    """A ballot with varied grades and a comment of its own, for a ballot form's answer."""
    grades = [g["key"] for g in form["form"]["grades"]]
    v = random.randrange(len(grades))
    answers = {str(s["id"]): {c["key"]: grades[(v + j + k) % len(grades)]
                              for k, c in enumerate(form["form"]["criteria"])}
               for j, s in enumerate(form["subjects"])}
    body = {"token": token, "answers": answers,
            "comment": f"建议加强调查研究，改进作风 {secrets.token_hex(8)}"}
    return {**body, "signature": signature} if signature else body


def cast(client: Any, key: dict[str, str]) -> tuple[int, list[Vote]]:
    """N ballots through the app, one after another."""
    rid, tokens, form = open_round(client, key)
    votes = []
    for token in tokens:
        body = ballot(form, token)
        res = client.post("/api/v1/ballots", json=body)
        assert res.status_code == 201, res.json
        votes.append(Vote(token_hash(token), res.json["receipt"], body["comment"]))
    return rid, votes


# ---- the attack -----------------------------------------------------------------------------


def scan(blob: bytes, needles: dict[bytes, tuple[str, str]]) -> Iterator[tuple[int, str, str]]:
    """(offset, kind, entity) of every needle in `blob`."""
    pattern = re.compile(b"|".join(re.escape(n) for n in needles))
    for m in pattern.finditer(blob):
        kind, entity = needles[m.group()]
        yield m.start(), kind, entity


def grep(paths: list[Path], needles: dict[bytes, tuple[str, str]], tmp: Path
         ) -> Iterator[tuple[Path, int, str, str]]:
    """(file, offset, kind, entity) of every needle in the files: GNU grep's fixed-string
    search reads pg_wal's hundreds of MB in about a second (Python's re: a minute)."""
    if not paths:
        return
    patterns = tmp / "needles"
    patterns.write_bytes(b"\n".join(needles) + b"\n")
    out = subprocess.run(["grep", "-a", "-o", "-b", "-H", "-F", "-f", str(patterns),
                          *map(str, paths)], capture_output=True, env={"LC_ALL": "C"},
                         timeout=300, check=False).stdout
    for line in out.splitlines():
        name, offset, match = line.split(b":", 2)
        kind, entity = needles[match]
        yield Path(name.decode()), int(offset), kind, entity


def needles_of(votes: list[Vote]) -> dict[bytes, tuple[str, str]]:
    return {v.of(k).encode(): (k, v.of(k)) for v in votes for k in KINDS if v.of(k)}


def attack(sources: list[Seen], votes: list[Vote], pairs: tuple[tuple[str, str], ...] = PAIRS
           ) -> tuple[dict[str, int], int]:
    """Correct pairs per strategy, and the number of strategies."""
    truth = {(a, b): {v.of(a): v.of(b) for v in votes} for a, b in pairs}
    hits: dict[str, int] = {}
    for a, b in pairs:
        orders_a = [(s.name, s.found[a]) for s in sources if s.found[a]]
        orders_b = [(s.name, s.found[b]) for s in sources if s.found[b]]
        for (na, fa) in orders_a:
            for (nb, fb) in orders_b:
                for by in ("pos", "group"):
                    for rev in (False, True):
                        sa = _ordered(fa, by)
                        sb = _ordered(fb, by)[::-1] if rev else _ordered(fb, by)
                        hits[f"{a}~{b}: {na} ~ {nb} by {by}{' reversed' if rev else ''}"] = \
                            sum(truth[a, b].get(x) == y for x, y in zip(sa, sb, strict=False))
                groups = defaultdict(lambda: ([], []))
                for side, f in ((0, fa), (1, fb)):
                    for entity, (g, pos) in f.items():
                        if g is not None:
                            groups[g][side].append((pos, entity))
                hits[f"{a}~{b}: {na} ~ {nb} same transaction"] = sum(
                    truth[a, b].get(x) == y for xs, ys in groups.values()
                    for (_, x), (_, y) in zip(sorted(xs), sorted(ys), strict=False))
    return hits, max(len(hits), 1)


def _ordered(found: dict[str, tuple[Any, Any]], by: str) -> list[str]:
    def key(item: tuple[str, tuple[Any, Any]]) -> tuple[Any, ...]:
        g, pos = item[1]
        return (g if g is not None else -1, pos) if by == "group" else (pos,)

    return [e for e, _ in sorted(found.items(), key=key)]


def verdict(label: str, hits: dict[str, int], strategies: int, n: int) -> tuple[int, str]:
    best = max(hits, key=hits.get) if hits else "nothing found"
    return hits.get(best, 0), f"{hits.get(best, 0)}/{n} by {best} ({label})"


# ---- SQLite: the files ----------------------------------------------------------------------


def sqlite_sources(path: Path, votes: list[Vote]) -> tuple[list[Seen], dict[str, int]]:
    needles = needles_of(votes)
    main = path.read_bytes()
    wal_path = Path(f"{path}-wal")
    wal = wal_path.read_bytes() if wal_path.exists() else b""
    first, last = Seen("db file, first copy"), Seen("db file, last copy")
    counts: dict[str, int] = defaultdict(int)
    for off, kind, entity in scan(main, needles):
        counts[kind] += 1
        first.found[kind].setdefault(entity, (None, off))
        last.found[kind][entity] = (None, off)
    seen = [first, last]
    if len(wal) > 32:
        page = int.from_bytes(wal[8:12], "big")
        frames = Seen("-wal frames, by commit")
        commit_of: list[int] = []
        n_frames = (len(wal) - 32) // (24 + page)
        pending: list[int] = []
        for i in range(n_frames):
            pending.append(i)
            if int.from_bytes(wal[32 + i * (24 + page) + 4:32 + i * (24 + page) + 8], "big"):
                commit_of += [i] * len(pending)
                pending = []
        commit_of += [n_frames] * len(pending)
        for off, kind, entity in scan(wal, needles):
            i = max(0, (off - 32) // (24 + page))
            frames.add(kind, entity, commit_of[min(i, n_frames - 1)] if n_frames else 0, off)
            counts[f"{kind} in -wal"] += 1
        seen.append(frames)
    return seen, counts


# ---- PostgreSQL: pages, indexes, files, WAL ------------------------------------------------

RELATIONS = ("ballots", "ballot_comments", "spent_tokens", "session_claims")


def pg_admin(app: Any) -> str:
    with app.app_context():
        url = make_url(str(db.engine.url))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def relation_files(conn: psycopg.Connection) -> dict[str, Path]:
    """Heap, TOAST and index files of the rewritten tables, by relation name."""
    data = Path(conn.execute("SHOW data_directory").fetchone()[0])
    rows = conn.execute(
        "SELECT c.relname, pg_relation_filepath(c.oid) FROM pg_class c "
        "WHERE c.oid IN (SELECT unnest(ARRAY[t.oid, t.reltoastrelid]) FROM pg_class t "
        "                WHERE t.relname = ANY(%(r)s) "
        "                UNION SELECT indexrelid FROM pg_index i JOIN pg_class t "
        "                ON t.oid = i.indrelid WHERE t.relname = ANY(%(r)s))",
        {"r": list(RELATIONS)}).fetchall()
    return {name: data / path for name, path in rows if path}


def pg_sources(conn: psycopg.Connection, votes: list[Vote], wal_from: str, tmp: Path
               ) -> tuple[list[Seen], dict[str, int]]:
    needles = needles_of(votes)
    counts: dict[str, int] = defaultdict(int)
    seen = []
    conn.execute("CHECKPOINT")  # the insider flushes the buffers to read the files
    for rel in RELATIONS:
        heap = Seen(f"heap {rel} (xmin, ctid)")
        pages = conn.execute("SELECT pg_relation_size(%s) / 8192", (rel,)).fetchone()[0]
        for blk in range(pages):
            for lp, xmin, data in conn.execute(
                    "SELECT lp, t_xmin::text::bigint, t_data FROM "
                    "heap_page_items(get_raw_page(%s, %s)) WHERE t_data IS NOT NULL",
                    (rel, blk)):
                for _, kind, entity in scan(bytes(data), needles):
                    heap.add(kind, entity, xmin, (blk, lp))
        seen.append(heap)
    for (index,) in conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname = ANY(%s)",
            (list(RELATIONS),)).fetchall():
        entries = Seen(f"index {index} (heap position)")
        pages = conn.execute("SELECT pg_relation_size(%s) / 8192", (index,)).fetchone()[0]
        for blk in range(1, pages):
            if conn.execute("SELECT type FROM bt_page_stats(%s, %s)",
                            (index, blk)).fetchone()[0] != "l":
                continue
            for htid, data in conn.execute(
                    "SELECT htid::text, data FROM bt_page_items(%s, %s) WHERE htid IS NOT NULL",
                    (index, blk)):
                raw = bytes.fromhex(data.replace(" ", ""))
                page, item = (int(x) for x in htid.strip("()").split(","))
                for _, kind, entity in scan(raw, needles):
                    entries.add(kind, entity, None, (page, item))
                    counts[f"{kind} in indexes"] += 1
        seen.append(entries)
    for name, path in relation_files(conn).items():
        on_disk = Seen(f"file of {name} (offset)")
        forks = [f for f in path.parent.glob(path.name + "*")  # the main fork, its segments
                 if f.name == path.name or f.name.startswith(path.name + ".")]
        for f, off, kind, entity in grep(forks, needles, tmp):
            on_disk.add(kind, entity, None, (f.name, off))
            counts[f"{kind} in files of {_family(name)}"] += 1
        seen.append(on_disk)
    seen.append(wal_source(conn, needles, wal_from, counts, tmp))
    return seen, counts


def _family(relname: str) -> str:
    return next((r for r in sorted(RELATIONS, key=len, reverse=True) if r in relname), relname)


def waldump() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_waldump"))
    return found[-1] if found else None


def wal_source(conn: psycopg.Connection, needles: dict[bytes, tuple[str, str]], wal_from: str,
               counts: dict[str, int], tmp: Path) -> Seen:
    """Every file in pg_wal, raw; a string found is tied to the transaction of the WAL
    record holding it (pg_waldump from the segment where voting began)."""
    data = Path(conn.execute("SHOW data_directory").fetchone()[0])
    wal_dir = data / "pg_wal"
    records: list[tuple[int, int]] = []  # (lsn, xid) sorted
    dumped = subprocess.run([waldump(), "-p", str(wal_dir), "-s", wal_from],  # type: ignore[list-item]
                            capture_output=True, text=True, timeout=300, check=False)
    for m in re.finditer(r"tx:\s+(\d+), lsn: ([0-9A-F]+)/([0-9A-F]+)", dumped.stdout):
        records.append(((int(m.group(2), 16) << 32) + int(m.group(3), 16), int(m.group(1))))
    records.sort()
    starts = [lsn for lsn, _ in records]
    seen = Seen("pg_wal (transaction, offset)")
    segments = [f for f in sorted(wal_dir.iterdir())
                if f.is_file() and re.fullmatch(r"[0-9A-F]{24}", f.name)]
    for f, off, kind, entity in grep(segments, needles, tmp):
        # the name's timeline is ignored: LSN = log number * 4 GiB + segment * 16 MiB
        lsn = (int(f.name[8:16], 16) << 32) + int(f.name[16:24], 16) * WAL_SEGMENT + off
        i = bisect.bisect_right(starts, lsn) - 1
        xid = records[i][1] if i >= 0 and records[i][1] else None
        seen.add(kind, entity, xid, lsn)
        counts[f"{kind} in pg_wal"] += 1
    return seen


@pytest.fixture
def pg_insider(app: Any) -> Iterator[psycopg.Connection | None]:
    """A superuser connection with pageinspect and wal_recycle = off, or None on SQLite."""
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    if not postgres:
        yield None
        return
    conn = psycopg.connect(pg_admin(app), autocommit=True)
    if not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                        ).fetchone()[0]:
        pytest.skip("the insider needs a superuser (pageinspect, pg_switch_wal)")
    data = Path(conn.execute("SHOW data_directory").fetchone()[0])
    try:
        list((data / "pg_wal").iterdir())
    except OSError:
        pytest.skip(f"the data directory {data} is not readable here (not on the server's "
                    "machine, or not as root)")
    if waldump() is None:
        pytest.skip("pg_waldump not found under /usr/lib/postgresql/*/bin")
    conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
    # Shared cluster: set for this test only and RESET at the end (see the docstring).
    conn.execute("ALTER SYSTEM SET wal_recycle = off")
    conn.execute("SELECT pg_reload_conf()")
    time.sleep(1)  # the checkpointer reads it on its next wake-up
    try:
        yield conn
    finally:
        conn.execute("ALTER SYSTEM RESET wal_recycle")
        conn.execute("SELECT pg_reload_conf()")
        conn.close()


# ---- Redis ---------------------------------------------------------------------------------


def redis_source(app: Any, round_id: int, votes: list[Vote]) -> tuple[Seen, dict[str, int]]:
    """Every key of the round with its fields or members in the server's order, as a copy
    of Redis shows them (tests/test_close_redis.py's dump)."""
    needles = needles_of(votes)
    seen = Seen("Redis dump (key, place)")
    counts: dict[str, int] = defaultdict(int)
    with app.app_context():
        dump = _dump(round_id)
    for key in sorted(dump):
        items = dump[key] if isinstance(dump[key], list) else [dump[key]]
        for i, item in enumerate(items):
            for _, kind, entity in scan(_text(item).encode(), needles):
                seen.add(kind, entity, None, (key, i))
                counts[f"{kind} in Redis"] += 1
    return seen, counts


# ---- the insider ----------------------------------------------------------------------------


@dataclass
class Insider:
    """What the database administrator reads: the database's files (SQLite) or pages,
    indexes, files and pg_wal (PostgreSQL), and a copy of Redis."""

    app: Any
    conn: psycopg.Connection | None
    tmp: Path
    path: Path | None = None
    wal_from: str = ""

    def look(self, round_id: int, votes: list[Vote]) -> tuple[list[Seen], dict[str, int]]:
        if self.conn is None:
            assert self.path is not None
            sources, counts = sqlite_sources(self.path, votes)
        else:
            sources, counts = pg_sources(self.conn, votes, self.wal_from, self.tmp)
        in_redis, redis_counts = redis_source(self.app, round_id, votes)
        return [*sources, in_redis], {**counts, **redis_counts}

    def leftovers(self, counts: dict[str, int], n: int, claims: int = 0) -> dict[str, int]:
        """Copies beyond those the live rows and their indexes hold after close: a receipt
        in the ballot and its unique index (round, receipt), a comment in its row, a claim
        hash in its row and primary key; on SQLite a token hash in the issued tokens and
        their primary key (tables not read on PostgreSQL). Nothing else: no spent token,
        nothing in the -wal file, pg_wal or Redis."""
        expected = {"receipt": 2 * n, "comment": n, "hash": 2 * n, "claim": 2 * claims
                    } if self.conn is None else {
            "receipt in indexes": n, "receipt in files of ballots": 2 * n,
            "comment in files of ballot_comments": n, "claim in indexes": claims,
            "claim in files of session_claims": 2 * claims}
        return {k: v - expected.get(k, 0) for k, v in counts.items()}

    def old_files(self) -> dict[str, Path]:
        return relation_files(self.conn) if self.conn is not None else {}

    def copies(self, secrets_: list[str], relations: tuple[str, ...]) -> int:
        """How many of `secrets_` (or their first 64 characters) the files still hold: the
        SQLite file and -wal, or the relations' files and pg_wal."""
        needles = {s[:64].encode(): ("key", s) for s in secrets_}
        if self.conn is None:
            assert self.path is not None
            files = [f for f in (self.path, Path(f"{self.path}-wal")) if f.exists()]
        else:
            self.conn.execute("CHECKPOINT")
            data = Path(self.conn.execute("SHOW data_directory").fetchone()[0])
            files = [data / p for (p,) in self.conn.execute(  # with their TOAST
                "SELECT pg_relation_filepath(c.oid) FROM pg_class t JOIN pg_class c "
                "ON c.oid IN (t.oid, t.reltoastrelid) WHERE t.relname = ANY(%s)",
                (list(relations),))]
            files = [g for f in files for g in f.parent.glob(f.name + "*")
                     if g.name == f.name or g.name.startswith(f.name + ".")]
            files += [f for f in (data / "pg_wal").iterdir()
                      if f.is_file() and re.fullmatch(r"[0-9A-F]{24}", f.name)]
        return sum(1 for _ in grep([f for f in files if f.exists()], needles, self.tmp))


@pytest.fixture
def insider(app: Any, pg_insider: psycopg.Connection | None, tmp_path: Path) -> Insider:
    """The insider, from the moment before the round is made (pg_wal read from here)."""
    if pg_insider is None:
        with app.app_context():
            assert db.session.execute(text("PRAGMA secure_delete")).scalar_one() == 1
            return Insider(app, None, tmp_path, path=Path(make_url(str(db.engine.url)).database))
    return Insider(app, pg_insider, tmp_path, wal_from=pg_insider.execute(
        "SELECT pg_current_wal_lsn()::text").fetchone()[0])


def close(client: Any, key: dict[str, str], round_id: int) -> None:
    res = lifecycle(client, key, round_id, "close")
    assert res.status_code == 200 and res.json["status"] == "closed", res.json
    assert wait_for_scrub(300), "the scrub after close did not end"


def engine_name(insider: Insider) -> str:
    return "SQLite" if insider.conn is None else "PostgreSQL"


def top(hits: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(hits.items(), key=lambda x: -x[1])[:5]


# ---- the tests ------------------------------------------------------------------------------


def test_insider_pairs_nothing_in_the_files_after_close(app, client, key, insider):
    rid, votes = cast(client, key)
    n = len(votes)
    before, counts_before = insider.look(rid, votes)
    old_files = insider.old_files()
    close(client, key, rid)
    after, counts_after = insider.look(rid, votes)

    hits_before, m1 = attack(before, votes)
    hits_after, m2 = attack(after, votes)
    bound = chance_bound(1, max(m1, m2))
    linked_before, why_before = verdict("before close", hits_before, m1, n)
    linked_after, why_after = verdict("after close", hits_after, m2, n)
    leftovers = insider.leftovers(counts_after, n)
    still_there = [str(p) for p in old_files.values() if p.exists() and p.stat().st_size]
    table(f"insider after close ({engine_name(insider)})", [
        ("ballots with comments", n),
        ("strategies", max(m1, m2)),
        ("chance bound (P < 1e-4)", bound),
        ("linked before close", why_before),
        ("linked after close", why_after),
        ("copies found before close", dict(counts_before)),
        ("copies found after close", dict(counts_after)),
        ("copies beyond the live rows after close", leftovers),
        ("pre-close relation files still on disk", still_there),
    ])
    assert linked_before > bound, "the attack found nothing before close: it proves nothing"
    assert linked_after <= bound, top(hits_after)
    assert all(v <= 0 for v in leftovers.values()), leftovers
    assert not still_there


K_MIX = 8  # the production default of BALLOT_MIX_K
BURST = 24  # voters sending their ballots at about the same moment: 2 bursts


def vote_over_http(base: str, token: str) -> Vote:
    """A voter's page: the ballot form (its answer padded), then the ballot."""
    got = requests.post(f"{base}/api/v1/ballot-form", json={"token": token}, timeout=30)
    assert got.status_code == 200, got.text
    body = ballot(got.json(), token)
    res = requests.post(f"{base}/api/v1/ballots", json=body, timeout=30)
    assert res.status_code == 201, res.text
    return Vote(token_hash(token), res.json()["receipt"], body["comment"])


def test_while_open_the_files_pair_a_ballot_with_no_more_than_its_mixed_batch(
        app, client, key, insider, tmp_path):
    """Item 1 of the Must-show while the round is open: production's mixing (BALLOT_MIX_K
    = 8) in production's server (gunicorn, config/gunicorn.conf.py, with its access log
    and its own log), voters in bursts of 16. Storage shows each batch as a group (one
    transaction, one commit) in an order of its own per kind, so the best an insider can
    do is pair inside a batch: about Poisson(1) correct pairs per batch, Poisson(B) for
    B batches: B <= N / k_mix + 1 per burst, as only a burst's last batch may be short
    (written after BALLOT_MIX_WAIT_S). Bound: chance_bound(B, the strategies), i.e.
    N / k_mix plus the margin a random pairing of each batch stays under with P < 1e-4.
    After close: chance_bound(1, ...) as above.

    The logs of the same run (item 3): every ballot-form answer the access log records
    has one size whatever the category (their names are 4, 9 and 11 characters long),
    every ballot's answer one size, and neither log holds a token, its secret part or its
    hash. What Redis holds after close: nothing per token (counted here as a source;
    tests/test_close_redis.py checks every key, and the tally fields' fixed order)."""
    rid, tokens, _ = open_round(client, key)
    n = len(tokens)
    access, server_log = tmp_path / "access.log", tmp_path / "server.log"
    with Gunicorn(app.config["DATABASE_URL"], app.config["REDIS_URL"], workers=1, threads=8,
                  log_path=server_log, access_log=access,
                  extra_env={"BALLOT_MIX_K": str(K_MIX), "BENCH_ENDPOINTS": "1"}) as g, \
            ThreadPoolExecutor(BURST) as pool:
        votes: list[Vote] = []
        bursts = len(range(0, n, BURST))
        for i in range(0, n, BURST):
            votes += pool.map(lambda t: vote_over_http(g.base, t), tokens[i:i + BURST])
        with app.app_context():  # the worker writes its batch sizes every 0.2 s
            deadline = time.monotonic() + 5
            while sum(k * v for k, v in batch_sizes(rid).items()) < n:
                assert time.monotonic() < deadline, batch_sizes(rid)
                time.sleep(0.1)
            sizes = sorted(Counter(batch_sizes(rid)).elements())
    open_seen, counts_open = insider.look(rid, votes)
    close(client, key, rid)
    after, counts_after = insider.look(rid, votes)

    hits_open, m1 = attack(open_seen, votes)
    hits_after, m2 = attack(after, votes)
    batches = len(sizes)
    bound_open, bound_after = chance_bound(batches, m1), chance_bound(1, m2)
    linked_open, why_open = verdict("open", hits_open, m1, n)
    linked_after, why_after = verdict("after close", hits_after, m2, n)
    leftovers = insider.leftovers(counts_after, n)
    logged = [LINE.match(line) for line in access.read_text().splitlines()]
    sizes_of: dict[str, set[int]] = defaultdict(set)
    for m in logged:
        assert m, access.read_text()
        if m["status"] == "200" and m["request"].startswith("GET /healthz"):
            continue  # gunicorn's readiness probes
        sizes_of[f"{m['request'].split()[1]} {m['status']}"].add(int(m["bytes"]))
    logs = access.read_text() + server_log.read_text()
    in_logs = [t for t in tokens if t in logs or t.split(".", 1)[1] in logs
               or token_hash(t) in logs]
    table(f"insider while open, BALLOT_MIX_K={K_MIX} ({engine_name(insider)})", [
        ("ballots with comments", n),
        ("batch sizes", sizes),
        ("N / k_mix", n / K_MIX),
        ("strategies", m1),
        ("chance bound open: Poisson(batches), P < 1e-4", bound_open),
        ("linked while open", why_open),
        ("chance bound after close", bound_after),
        ("linked after close", why_after),
        ("copies found while open", dict(counts_open)),
        ("copies beyond the live rows after close", leftovers),
        ("access log answer sizes", dict(sizes_of)),
        ("tokens in the logs", len(in_logs)),
    ])
    # full batches, but for the last of each burst (written after BALLOT_MIX_WAIT_S)
    assert sum(s < K_MIX for s in sizes) <= bursts, sizes
    assert linked_open <= bound_open, top(hits_open)
    assert linked_after <= bound_after, top(hits_after)
    assert all(v <= 0 for v in leftovers.values()), leftovers
    assert sizes_of["/api/v1/ballot-form 200"] and len(sizes_of["/api/v1/ballot-form 200"]) == 1
    assert len(sizes_of["/api/v1/ballots 201"]) == 1
    assert not in_logs


M_CLAIMS = 30  # WeChat identities claiming in the session-QR round
CLAIM_PAIRS = (("claim", "hash"), ("claim", "receipt"), ("claim", "comment"))


def test_session_qr_the_insider_pairs_no_identity_even_with_the_secret_key(
        app, client, key, fake, insider, caplog):
    """Item 2 of the Must-show: M WeChat identities (the fake) claim a blind signature
    each, then vote with a comment, in an order unrelated to the claims' (a room scans
    the code, then each takes their own time over the form); ballots one per commit
    (the tests' BALLOT_MIX_K = 1: the most storage can give away).

    The insider holds every stored byte and SECRET_KEY: with it they name the identity
    of every claim row (HMAC(key, appid, openid, round) of each openid they know) and
    can unseal the round's private keys while open. Neither pairs a claim with a token:
    the server signed a blinded message it did not keep, a uniformly random number to
    it (RFC 9474 §6). The attack pairs claim rows with spent tokens, receipts and
    comments by every order and transaction group of every source. Statistic: correct
    identity pairs of the best strategy <= chance_bound(1, strategies), while open and
    after close; the same sources pair ballots with their tokens (N/N while open), so
    the attack has the power to see a link. What is left is timing (a claim and the
    ballot that follows it seconds later), docs/miniprogram.md §3. After close the
    private keys are gone: no row holds one, nor does any file (SQLite file and -wal;
    blind_keys' files and pg_wal)."""
    _, state = fake
    caplog.set_level(logging.INFO)
    rid, _, scenes = open_round(client, key, session_qr=True)
    members = []
    for i in range(M_CLAIMS):
        scene = list(scenes.values())[i % len(scenes)]
        openid = f"o_insider_{i:03d}_00000000000000"
        public = client.post("/api/v1/session-keys", json={"scene": scene}).json
        blinded = blindclient.blind(public["public_key"], public["round_id"])
        res = client.post("/api/v1/session-claims", json={
            "scene": scene, "code": mint_login_code(state, openid),
            "blinded_msg": blinded.blinded_b64})
        assert res.status_code == 201, res.json
        members.append((openid, blinded, res.json["blind_sig"]))
    with app.app_context():  # the insider, with SECRET_KEY, names every claim row
        named = {identity_digest(FAKE_APPID, o, f"round:{rid}"): o for o, _, _ in members}
        stored = {h for (h,) in db.session.execute(text(
            "SELECT claim_hash FROM session_claims WHERE round_id = :r"), {"r": rid})}
        sealed = [k for (k,) in db.session.execute(text(
            "SELECT sealed_private_key FROM blind_keys WHERE round_id = :r"), {"r": rid})]
    assert stored == set(named) and len(sealed) == len(scenes) and all(sealed)
    votes = []
    for openid, blinded, blind_sig in random.sample(members, len(members)):
        token, signature = blinded.token, blinded.signature(blind_sig)
        form = client.post("/api/v1/ballot-form", json={"token": token, "signature": signature})
        assert form.status_code == 200, form.json
        body = ballot(form.json, token, signature)
        checked = client.post("/api/v1/content-checks", json={  # the page checks the comment
            "content": body["comment"], "code": mint_login_code(state, openid)})
        assert checked.status_code == 200, checked.json
        res = client.post("/api/v1/ballots", json={**body,
                                                   "content_pass": checked.json["content_pass"]})
        assert res.status_code == 201, res.json
        claim = next(h for h, o in named.items() if o == openid)
        votes.append(Vote(token_hash(token), res.json["receipt"], body["comment"], claim))
    n = len(votes)
    open_seen, counts_open = insider.look(rid, votes)
    keys_open = insider.copies(sealed, ("blind_keys",))
    close(client, key, rid)
    after, counts_after = insider.look(rid, votes)
    keys_after = insider.copies(sealed, ("blind_keys",))
    with app.app_context():
        kept = db.session.execute(text("SELECT COUNT(*) FROM blind_keys WHERE round_id = :r "
                                       "AND sealed_private_key IS NOT NULL"), {"r": rid}).scalar()

    ids_open, m1 = attack(open_seen, votes, CLAIM_PAIRS)
    ids_after, m2 = attack(after, votes, CLAIM_PAIRS)
    ballots_open, m3 = attack(open_seen, votes)
    bound = chance_bound(1, max(m1, m2))
    linked_open, why_open = verdict("open", ids_open, m1, n)
    linked_after, why_after = verdict("after close", ids_after, m2, n)
    power, why_power = verdict("open, ballots with tokens", ballots_open, m3, n)
    leftovers = insider.leftovers(counts_after, n, claims=n)
    logged = caplog.text
    in_logs = [o for o, b, sig in members if o in logged or b.token in logged
               or b.token.split(".", 1)[1] in logged or b.blinded_b64[:40] in logged
               or sig[:40] in logged]
    table(f"insider, session QR ({engine_name(insider)})", [
        ("identities, each a ballot with a comment", n),
        ("claim rows named with SECRET_KEY", f"{len(stored & set(named))}/{n}"),
        ("strategies", max(m1, m2)),
        ("chance bound (P < 1e-4)", bound),
        ("identities linked while open", why_open),
        ("identities linked after close", why_after),
        ("(ballots linked to tokens while open)", why_power),
        ("copies found while open", dict(counts_open)),
        ("copies beyond the live rows after close", leftovers),
        ("private keys: rows / file copies, open -> after close",
         f"{len(sealed)} / {keys_open} -> {kept} / {keys_after}"),
        ("identities or tokens in the server log", len(in_logs)),
    ])
    assert power > bound, "the sources pair nothing at all: the attack proves nothing"
    assert linked_open <= bound, top(ids_open)
    assert linked_after <= bound, top(ids_after)
    assert all(v <= 0 for v in leftovers.values()), leftovers
    assert keys_open > 0 and kept == 0 and keys_after == 0
    assert not in_logs
