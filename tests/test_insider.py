"""Must-show (issue 24, item 1): the company's own database administrator, after close,
reads the database's files and pairs no ballot, comment or spent token better than
chance. On SQLite, and on PostgreSQL with TEST_DATABASE_URL (as a superuser on the
same machine as the server: pageinspect, the data directory, pg_waldump).

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
import random
import re
import secrets
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from server.core.db import db
from server.rounds.operations import wait_for_scrub
from server.tokens.codec import token_hash
from tests.support.faults import table
from tests.support.rounds_http import create, issue, lifecycle
from tests.test_linkage import chance_bound

N_PER_CATEGORY = 15
CATEGORIES = ("领导班子", "中层干部", "职工代表")
KINDS = ("receipt", "hash", "comment")
PAIRS = (("hash", "receipt"), ("comment", "receipt"), ("comment", "hash"))
WAL_SEGMENT = 16 * 1024 * 1024


@dataclass
class Vote:
    hash: str
    receipt: str
    comment: str

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


def cast(client: Any, key: dict[str, str]) -> tuple[int, list[Vote]]:
    rnd = create(client, key, {
        "form": "appraisal", "title": "内部人员攻击测评", "results": {"min_turnout": 0},
        "subjects": [{"name": f"对象{i}", "note": "职务"} for i in range(3)],
        "categories": [{"name": n, "expected_count": N_PER_CATEGORY, "weight": 1}
                       for n in CATEGORIES]})
    rid = rnd["id"]
    res = client.put(f"/api/v1/rounds/{rid}/options", headers=key,
                     json={"comment": {"enabled": True, "max_length": 200}})
    assert res.status_code == 200, res.json
    tokens = [t for c in rnd["categories"] for t in issue(client, key, rid, c["id"],
                                                          N_PER_CATEGORY)]
    assert lifecycle(client, key, rid, "open").status_code == 200
    form = client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json["form"]
    grades = [g["key"] for g in form["grades"]]
    subjects = [s["id"] for s in rnd["subjects"]]
    random.shuffle(tokens)  # arrival order unrelated to issue order
    votes = []
    for token in tokens:
        v = random.randrange(len(grades))
        answers = {str(s): {c["key"]: grades[(v + j + k) % len(grades)]
                            for k, c in enumerate(form["criteria"])}
                   for j, s in enumerate(subjects)}
        comment = f"建议加强调查研究，改进作风 {secrets.token_hex(8)}"
        res = client.post("/api/v1/ballots",
                          json={"token": token, "answers": answers, "comment": comment})
        assert res.status_code == 201, res.json
        votes.append(Vote(token_hash(token), res.json["receipt"], comment))
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
    return {v.of(k).encode(): (k, v.of(k)) for v in votes for k in KINDS}


def attack(sources: list[Seen], votes: list[Vote]) -> tuple[dict[str, int], int]:
    """Correct pairs per strategy, and the number of strategies."""
    truth = {(a, b): {v.of(a): v.of(b) for v in votes} for a, b in PAIRS}
    hits: dict[str, int] = {}
    for a, b in PAIRS:
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

RELATIONS = ("ballots", "ballot_comments", "spent_tokens")


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


# ---- the test -------------------------------------------------------------------------------


def test_insider_pairs_nothing_in_the_files_after_close(app, client, key, pg_insider, tmp_path):
    conn = pg_insider
    with app.app_context():
        if conn is None:
            assert db.session.execute(text("PRAGMA secure_delete")).scalar_one() == 1
            path = Path(make_url(str(db.engine.url)).database)
    wal_from = ""
    if conn is not None:
        wal_from = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    rid, votes = cast(client, key)
    n = len(votes)

    def look() -> tuple[list[Seen], dict[str, int]]:
        if conn is None:
            return sqlite_sources(path, votes)
        return pg_sources(conn, votes, wal_from, tmp_path)

    before, counts_before = look()
    old_files = relation_files(conn) if conn is not None else {}
    res = lifecycle(client, key, rid, "close")
    assert res.status_code == 200 and res.json["status"] == "closed", res.json
    assert wait_for_scrub(300), "the scrub after close did not end"
    after, counts_after = look()

    hits_before, m1 = attack(before, votes)
    hits_after, m2 = attack(after, votes)
    bound = chance_bound(1, max(m1, m2))
    linked_before, why_before = verdict("before close", hits_before, m1, n)
    linked_after, why_after = verdict("after close", hits_after, m2, n)
    # Copies the live rows and their indexes hold after close: a receipt in the ballot
    # and its unique index (round, receipt), a comment in its row; on SQLite a token
    # hash in the issued tokens and their primary key (tables not read on PostgreSQL).
    # Nothing else: no spent token, nothing in the -wal file or pg_wal.
    sqlite = conn is None
    expected = {"receipt": 2 * n, "comment": n, "hash": 2 * n} if sqlite else {
        "receipt in indexes": n, "receipt in files of ballots": 2 * n,
        "comment in files of ballot_comments": n}
    leftovers = {k: v - expected.get(k, 0) for k, v in counts_after.items()}
    still_there = [str(p) for p in old_files.values() if p.exists() and p.stat().st_size]
    table(f"insider after close ({'SQLite' if sqlite else 'PostgreSQL'})", [
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
    assert linked_after <= bound, sorted(hits_after.items(), key=lambda x: -x[1])[:5]
    assert all(v <= 0 for v in leftovers.values()), leftovers
    assert not still_there
