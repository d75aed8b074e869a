"""Leaderboard reads stay flat in board size (issue 4): 100 entries against 100,000.

One branch's members board (党员积分榜) of one year grows from 100 to 100,000
members in the same board: members and approved ledger entries are written
with bulk SQL inserts, then the points module's own rebuild from SQL
(`server.points.boards.rebuild`, what `pingyi points rebuild` runs) fills the
Redis sorted sets. At each size wrk reads, under gunicorn with
config/gunicorn.conf.py, the points API (bearer key of a committee-level user):

* the top page of the board: ``GET /api/v1/points/boards/members/<branch>?period=2026&limit=50``
  (`standings.view`, as the console screen and the bot call it, but paged; the
  year board, so names, star levels and vetoes are on the page);
* one member's own page with the rank: ``GET /api/v1/points/members/<id>?year=2026``.

Each figure is the median over ``--runs`` wrk runs of ``--duration`` seconds
with ``--read-conns`` connections. ``--smoke`` uses 100 and 1,000 entries (the
keys keep their names, as the other smoke figures do).
"""

from __future__ import annotations

import random
import secrets
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy import insert

if TYPE_CHECKING:
    from bench.run import Bench

YEAR = 2026
PAGE = 50  # the top-N page a screen shows
SIZES = (100, 100_000)
SMOKE_SIZES = (100, 1_000)
LABELS = ("100", "100k")  # key suffixes, in the order of the sizes
CHUNK = 5_000  # rows per bulk INSERT statement


@dataclass
class Board:
    """The branch whose members board grows, and its members so far (roster order)."""

    committee_id: int
    branch_id: int
    member_ids: list[int] = field(default_factory=list)

    @property
    def page_path(self) -> str:
        return f"/api/v1/points/boards/members/{self.branch_id}?period={YEAR}&limit={PAGE}"

    @property
    def member_path(self) -> str:
        middle = self.member_ids[len(self.member_ids) // 2]
        return f"/api/v1/points/members/{middle}?year={YEAR}"


def measure(bench: Bench) -> dict[str, float]:
    """Board page and member rank read p99 and throughput at the small and the big size."""
    from bench.run import gunicorn

    sizes = SMOKE_SIZES if getattr(bench.args, "smoke", False) else SIZES
    board = new_board(bench)
    out: dict[str, float] = {}
    with gunicorn(None, bench.env, bench.log) as base:
        for size, label in zip(sizes, LABELS, strict=True):
            out[f"board_rebuild_s_{label}"] = grow(bench, board, size)
            check_reads(base, bench.auth, board, size)
            if label == LABELS[0]:
                warm_up(bench, base, board)
            out.update(figures("board_read", label, read_runs(bench, base, board.page_path)))
            out.update(figures("member_read", label, read_runs(bench, base, board.member_path)))
    for what in ("board_read", "member_read"):
        out[f"{what}_p99_ratio"] = out[f"{what}_p99_ms_100k"] / out[f"{what}_p99_ms_100"]
    return out


# --------------------------------------------------------------------------- data


def new_board(bench: Bench) -> Board:
    """A fresh branch in the bench committee (a name of its own, so runs never mix)."""
    from server.core.db import db
    from server.organization.models import Branch

    with bench.app.app_context():
        branch = Branch(committee_id=bench.committee_id,
                        name=f"积分榜基准测试支部{secrets.token_hex(3)}")
        db.session.add(branch)
        db.session.commit()
        return Board(bench.committee_id, branch.id)


def grow(bench: Bench, board: Board, size: int) -> float:
    """Add members with one approved entry each until the board has SIZE entries, then
    rebuild the branch's boards from SQL. Returns the rebuild's seconds."""
    from server.points import boards

    with bench.app.app_context():
        insert_members(board, size - len(board.member_ids))
        insert_entries(board, _new_ids(board))
        analyze()
        start = time.perf_counter()
        if not boards.rebuild(boards.Scope("b", board.branch_id, YEAR)):
            raise RuntimeError("the points board rebuild did not finish")
        return time.perf_counter() - start


def _new_ids(board: Board) -> list[int]:
    """Re-read the branch's member ids; the ones not seen before are returned."""
    from server.core.db import db
    from server.organization.models import Member

    ids = list(db.session.execute(db.select(Member.id).filter_by(branch_id=board.branch_id)
                                  .order_by(Member.id)).scalars())
    new = ids[len(board.member_ids):]
    board.member_ids = ids
    return new


def insert_members(board: Board, count: int) -> None:
    from server.core.db import db
    from server.organization.models import Member

    first = len(board.member_ids)
    for start in range(first, first + count, CHUNK):
        stop = min(start + CHUNK, first + count)
        db.session.execute(insert(Member), [
            {"committee_id": board.committee_id, "branch_id": board.branch_id,
             "group_id": None, "member_no": f"{board.branch_id}-{i:06d}",
             "name": f"基准党员{i:06d}", "title": "", "is_party_member": True}
            for i in range(start, stop)])
        db.session.commit()


def insert_entries(board: Board, member_ids: list[int]) -> None:
    """One approved award entry per member, of 0.1 to 99.9 points (ties included)."""
    from server.core.clock import utcnow
    from server.core.db import db
    from server.points.models import PointsEntry
    from server.points.rulebook import rules_for_committee

    rules = rules_for_committee(board.committee_id, YEAR)
    item = next(i for i in rules.member.items.values() if i.kind == "award")
    rng = random.Random(board.branch_id * 1_000_003 + len(member_ids))
    now = utcnow()
    for start in range(0, len(member_ids), CHUNK):
        db.session.execute(insert(PointsEntry), [
            {"committee_id": board.committee_id, "branch_id": board.branch_id,
             "member_id": mid, "group_id": None, "rule_set": rules.ref,
             "category_key": item.category, "item_key": item.key, "kind": item.kind,
             "points_x10": rng.randint(1, 999), "year": YEAR, "quarter": rng.randint(1, 4),
             "reason": "基准测试", "evidence": "", "source": "import", "status": "approved",
             "entered_at": now, "decided_at": now, "decision_note": ""}
            for mid in member_ids[start:start + CHUNK]])
        db.session.commit()


def analyze() -> None:
    """Fresh planner statistics after a bulk load (PostgreSQL's autovacuum would get
    there later), so the reads are timed with the plans a live system has."""
    from sqlalchemy import text

    from server.core.db import db

    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE members, points_entries"))
        db.session.commit()


# --------------------------------------------------------------------------- reads


def warm_up(bench: Bench, base: str, board: Board) -> None:
    """One untimed second on each path: every worker has loaded the rules and
    compiled its queries before the first timed run."""
    from bench.run import wrk

    for path in (board.page_path, board.member_path):
        wrk("get.lua", base, [path, bench.auth], 1, bench.args.read_conns, threads=1)


def check_reads(base: str, auth: str, board: Board, size: int) -> None:
    """One read of each path, checked, before timing them (a 4xx would time nothing)."""
    headers = {"Authorization": auth}
    page = requests.get(base + board.page_path, headers=headers, timeout=30)
    if page.status_code != 200:
        raise RuntimeError(f"board read: {page.status_code} {page.text[:300]}")
    body = page.json()
    points = [row["points"] for row in body["rows"]]
    if body["total"] != size or len(points) != min(PAGE, size) or points != sorted(
            points, reverse=True):
        raise RuntimeError(f"board read: total {body['total']}, {len(points)} rows, "
                           f"expected {size} and a page of {min(PAGE, size)} best first")
    member = requests.get(base + board.member_path, headers=headers, timeout=30)
    rank = member.json().get("rank") if member.status_code == 200 else None
    if not isinstance(rank, int) or not 1 <= rank <= size:
        raise RuntimeError(f"member read: {member.status_code} {member.text[:300]}")


def read_runs(bench: Bench, base: str, path: str) -> list[dict[str, Any]]:
    from bench.run import wrk

    runs = []
    for _ in range(bench.args.runs):
        res = wrk("get.lua", base, [path, bench.auth], bench.args.duration,
                  bench.args.read_conns, threads=1)
        if res.get("bad") or not res.get("s2xx"):
            raise RuntimeError(f"GET {path}: {res.get('bad')} answers that were not 2xx")
        runs.append(res)
    return runs


def figures(what: str, label: str, runs: list[dict[str, Any]]) -> dict[str, float]:
    """Medians over the runs: p99 (the figure that matters), p50 (steadier on a shared
    machine, to read the p99 against) and answers per second."""
    return {f"{what}_p99_ms_{label}": statistics.median(r["p99_ms"] for r in runs),
            f"{what}_p50_ms_{label}": statistics.median(r["p50_ms"] for r in runs),
            f"{what}_per_s_{label}": statistics.median(r["per_s"] for r in runs)}
