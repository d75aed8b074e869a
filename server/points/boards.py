"""Live leaderboards: Redis sorted sets fed on approval, rebuildable from SQL.

Boards: `members` (members within a branch), `groups` (party groups within a
branch), `branches` (branches within the committee); one sorted set per period
(each quarter, and the year, which every quarter entry also counts towards).

Keys carry a hash tag per scope so a Redis Cluster keeps each scope on one
slot and the scripts below can touch all of its keys at once:

    {b:<branch id>}:pts:members:2026Q1     {b:<branch id>}:pts:groups:2026
    {c:<committee id>}:pts:branches:2026Q3
    {b:7}:pts:2026:state | applied | dirty | lock   (per scope and year)

Order and tie-break (deterministic, documented in README):
  1. more points first;
  2. on equal points, fewer deductions (约束项扣分) first;
  3. then the lower id (the roster's order), because names have no agreed order
     (pinyin or strokes) and can change.
Rules 1 and 2 are encoded in the score: composite = points × SCALE − deductions
(both in tenths, so the value is an exact integer well inside a double's 53
bits). The set stores −composite, so ZRANGE ascending lists the best first, and
Redis orders equal scores by member string: members are zero-padded ids, which
gives rule 3. A page read is one ZRANGE: O(log n + page), flat in board size.

Consistency with SQL (the authority): an approval commits first, then `apply`
runs one script per scope that adds the entry's points only if the entry id is
not yet in the scope's `applied` set (so a retried apply never counts twice).
`rebuild` recomputes a scope-year from SQL into temporary keys and swaps them in
atomically; an apply that lands while a rebuild runs marks the scope `dirty`
and the rebuild starts over, so no approval is lost to a concurrent rebuild.
A scope-year whose `state` key is missing (Redis restarted empty) is rebuilt on
the next read.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import LockError
from sqlalchemy import case, func

from server.core.db import db
from server.core.redis import get_redis, sync
from server.points.calendar import Period, periods_of
from server.points.models import PointsEntry

log = logging.getLogger(__name__)

BOARDS = ("members", "groups", "branches")
SCALE = 10_000_000  # deductions of one subject in a year stay below 1,000,000 points
ID_WIDTH = 10
LOCK_S = 60
WAIT_S = 5.0

_APPLY = """
local state = redis.call('GET', KEYS[1])
if not state then return 0 end
if state ~= 'ready' then redis.call('SET', KEYS[3], '1', 'EX', 600) end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
for i = 4, #KEYS do
  redis.call('ZINCRBY', KEYS[i], ARGV[2 * (i - 4) + 3], ARGV[2 * (i - 4) + 2])
end
return 1
"""

_FINISH = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local n = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('RENAME', KEYS[4], KEYS[3])
else
  redis.call('DEL', KEYS[3])
end
for i = 1, n do
  local dst, src = KEYS[4 + i], KEYS[4 + n + i]
  if redis.call('EXISTS', src) == 1 then
    redis.call('RENAME', src, dst)
  else
    redis.call('DEL', dst)
  end
end
redis.call('SET', KEYS[1], 'ready')
return 1
"""

@dataclass(frozen=True)
class Scope:
    """The keys rebuilt together: one branch's (or committee's) boards of one year."""

    kind: str  # "b" (members and groups of a branch) | "c" (branches of a committee)
    scope_id: int
    year: int

    @property
    def tag(self) -> str:
        return f"{{{self.kind}:{self.scope_id}}}"

    def meta(self, what: str) -> str:
        return f"{self.tag}:pts:{self.year}:{what}"

    @property
    def boards(self) -> tuple[str, ...]:
        return ("members", "groups") if self.kind == "b" else ("branches",)

    def keys(self) -> list[str]:
        return [board_key(b, self.scope_id, p) for b in self.boards for p in periods_of(self.year)]


@dataclass(frozen=True)
class Move:
    scope: Scope
    key: str
    member: str
    delta: int  # change of the stored score (−composite)


def scope_for(board: str, scope_id: int, year: int) -> Scope:
    return Scope("c" if board == "branches" else "b", scope_id, year)


def board_key(board: str, scope_id: int, period: Period) -> str:
    tag = f"{{c:{scope_id}}}" if board == "branches" else f"{{b:{scope_id}}}"
    return f"{tag}:pts:{board}:{period.code}"


def member_id_str(subject_id: int) -> str:
    return f"{subject_id:0{ID_WIDTH}d}"


def composite(points_x10: int, deductions_x10: int) -> int:
    return points_x10 * SCALE - deductions_x10


def split(value: int) -> tuple[int, int]:
    """composite → (points, deductions), both tenths, deductions a magnitude."""
    points = -((-value) // SCALE)
    return points, points * SCALE - value


def entry_composite(kind: str, points_x10: int) -> int:
    """What one entry adds to its subject's composite (deductions also lower the tie part)."""
    return points_x10 * SCALE + (points_x10 if kind == "deduction" else 0)


def moves(entry: Any) -> list[Move]:
    """The score changes an approved entry makes, on every board and period it counts in."""
    delta = entry_composite(entry.kind, entry.points_x10)
    if delta == 0:
        return []
    period = Period(entry.year, entry.quarter)
    periods = [period, period.year_period] if not period.is_year else [period]
    out = []
    for p in periods:
        if entry.member_id is not None:
            b = Scope("b", entry.branch_id, entry.year)
            c = Scope("c", entry.committee_id, entry.year)
            out.append(Move(b, board_key("members", entry.branch_id, p),
                            member_id_str(entry.member_id), -delta))
            out.append(Move(c, board_key("branches", entry.committee_id, p),
                            member_id_str(entry.branch_id), -delta))
        else:
            b = Scope("b", entry.branch_id, entry.year)
            out.append(Move(b, board_key("groups", entry.branch_id, p),
                            member_id_str(entry.group_id), -delta))
    return out


def _scripts(r: Any) -> tuple[Any, Any]:
    cache = getattr(r, "_pingyi_points_scripts", None)
    if cache is None:
        cache = (r.register_script(_APPLY), r.register_script(_FINISH))
        r._pingyi_points_scripts = cache
    return cache


def apply(entries: Iterable[Any]) -> None:
    """Add approved entries to the live boards (after their commit). Idempotent per entry.

    A Redis failure here loses nothing: SQL has the entries; the board is out of
    date until `pingyi points rebuild` (logged).
    """
    r = get_redis()
    script = _scripts(r)[0]
    try:
        for entry in entries:
            by_scope: dict[Scope, list[Move]] = defaultdict(list)
            for m in moves(entry):
                by_scope[m.scope].append(m)
            for scope, ms in by_scope.items():
                args: list[Any] = [entry.id]
                for m in ms:
                    args += [m.member, m.delta]
                script(keys=[scope.meta("state"), scope.meta("applied"), scope.meta("dirty"),
                             *[m.key for m in ms]], args=args)
    except redis.RedisError as exc:
        log.error("points boards not updated (%s); run `pingyi points rebuild`",
                  type(exc).__name__)


# --------------------------------------------------------------------------- rebuild


def sql_boards(scope: Scope) -> tuple[dict[str, dict[str, int]], set[int]]:
    """The scope-year's boards computed from SQL: {key: {member: score}}, applied entry ids.

    Sums per subject and quarter in SQL; the result is what `moves` of every approved
    entry would have added (an entry counts on a board iff its points are not zero).
    """
    base = [PointsEntry.status == "approved", PointsEntry.year == scope.year,
            PointsEntry.points_x10 != 0]
    if scope.kind == "b":
        base.append(PointsEntry.branch_id == scope.scope_id)
        subjects = [("members", PointsEntry.member_id), ("groups", PointsEntry.group_id)]
    else:
        base += [PointsEntry.committee_id == scope.scope_id, PointsEntry.member_id.is_not(None)]
        subjects = [("branches", PointsEntry.branch_id)]
    deducted = func.sum(case((PointsEntry.kind == "deduction", PointsEntry.points_x10), else_=0))
    boards: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    # A connection of its own: a fresh snapshot of what is committed, whatever the
    # session's transaction has seen (SQLite keeps a read snapshot until it ends).
    with db.engine.connect() as conn:
        for board, col in subjects:
            rows = conn.execute(
                db.select(col, PointsEntry.quarter, func.sum(PointsEntry.points_x10), deducted)
                .where(*base, col.is_not(None)).group_by(col, PointsEntry.quarter)).all()
            for subject_id, quarter, points, deductions in rows:
                delta = -(int(points) * SCALE + int(deductions))
                member = member_id_str(subject_id)
                for p in ([Period(scope.year, quarter)] if quarter else []) + [Period(scope.year)]:
                    boards[board_key(board, scope.scope_id, p)][member] += delta
        applied = set(conn.execute(db.select(PointsEntry.id).where(*base)).scalars())
    return {k: dict(v) for k, v in boards.items()}, applied


def rebuild(scope: Scope) -> bool:
    """Recompute the scope-year's boards from SQL and swap them in. False if another
    process holds the rebuild lock and did not finish within WAIT_S."""
    r = get_redis()
    _, finish = _scripts(r)
    lock = r.lock(scope.meta("lock"), timeout=LOCK_S)
    if not lock.acquire(blocking=False):
        return _wait_ready(r, scope)
    try:
        keys = scope.keys()
        tmp = [f"{k}:tmp" for k in keys]
        tmp_applied = scope.meta("tmp:applied")
        for _attempt in range(10):
            r.set(scope.meta("state"), "building")
            r.delete(scope.meta("dirty"))
            boards, applied = sql_boards(scope)
            pipe = r.pipeline(transaction=False)
            for key in (tmp_applied, *tmp):  # one key per DEL: cluster pipelines need that
                pipe.delete(key)
            for key, dst in zip(keys, tmp, strict=True):
                if boards.get(key):
                    pipe.zadd(dst, boards[key])
            if applied:
                pipe.sadd(tmp_applied, *applied)
            pipe.execute()
            done = finish(keys=[scope.meta("state"), scope.meta("dirty"), scope.meta("applied"),
                                tmp_applied, *keys, *tmp], args=[len(keys)])
            if done:
                return True
        log.warning("points board %s %s kept changing during rebuild", scope.tag, scope.year)
        return False
    finally:
        with suppress(LockError):  # held past LOCK_S: another rebuild may own it now
            lock.release()


def _wait_ready(r: Any, scope: Scope) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if r.get(scope.meta("state")) == "ready":
            return True
        time.sleep(0.05)
    return False


def ensure_ready(scope: Scope) -> bool:
    r = get_redis()
    if r.get(scope.meta("state")) == "ready":
        return True
    return rebuild(scope)


# --------------------------------------------------------------------------- reads


def read_page(board: str, scope_id: int, period: Period, offset: int = 0,
              limit: int = 50) -> tuple[list[tuple[int, int, int]], int] | None:
    """[(subject id, points, deductions)] best first, and the board size; None when the
    board cannot be read from Redis right now (the caller computes it from SQL)."""
    scope = scope_for(board, scope_id, period.year)
    r = get_redis()
    try:
        if not ensure_ready(scope):
            return None
        key = board_key(board, scope_id, period)
        pipe = r.pipeline(transaction=False)
        pipe.zrange(key, offset, offset + limit - 1 if limit else -1, withscores=True)
        pipe.zcard(key)
        rows, total = pipe.execute()
    except redis.RedisError as exc:
        log.error("points boards unreadable (%s); showing SQL figures", type(exc).__name__)
        return None
    return [(int(m), *split(-round(s))) for m, s in rows], int(total)


def peek_page(board: str, scope_id: int, period: Period, offset: int = 0,
              limit: int = 50) -> tuple[list[tuple[int, int, int]], int] | None:
    """`read_page` in one round trip when the board is ready; None when it is not (or
    Redis fails): then `read_page` rebuilds it, once the caller knows the scope exists."""
    key = board_key(board, scope_id, period)
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.get(scope_for(board, scope_id, period.year).meta("state"))
        pipe.zrange(key, offset, offset + limit - 1 if limit else -1, withscores=True)
        pipe.zcard(key)
        state, rows, total = pipe.execute()
    except redis.RedisError:
        return None
    if state != "ready":
        return None
    return [(int(m), *split(-round(s))) for m, s in rows], int(total)


def read_rank(board: str, scope_id: int, period: Period, subject_id: int) -> int | None:
    """1-based position of a subject on the board, None if it is not on it (or the
    board cannot be read: `read_positions` tells the two apart)."""
    found = read_positions(board, scope_id, period, [subject_id])
    hit = found[0].get(subject_id) if found else None
    return hit[0] if hit else None


def read_positions(board: str, scope_id: int, period: Period, subject_ids: Iterable[int],
                   ) -> tuple[dict[int, tuple[int, int, int]], int] | None:
    """{subject id: (1-based rank, points, deductions)} of those of the subjects on the
    board, and the board size: a ZRANK and a ZSCORE per subject and a ZCARD, in one
    round trip, whatever the board's size. None when the board cannot be read from
    Redis right now (the caller computes it from SQL)."""
    ids = list(subject_ids)
    scope = scope_for(board, scope_id, period.year)
    try:
        if not ensure_ready(scope):
            return None
        key = board_key(board, scope_id, period)
        pipe = get_redis().pipeline(transaction=False)
        for sid in ids:
            pipe.zrank(key, member_id_str(sid))
            pipe.zscore(key, member_id_str(sid))
        pipe.zcard(key)
        *found, total = pipe.execute()
    except redis.RedisError as exc:
        log.error("points boards unreadable (%s); showing SQL figures", type(exc).__name__)
        return None
    out = {}
    for sid, pos, score in zip(ids, found[0::2], found[1::2], strict=True):
        if pos is not None and score is not None:
            out[sid] = (int(pos) + 1, *split(-round(score)))
    return out, int(total)


def sql_page(board: str, scope_id: int, period: Period, offset: int = 0,
             limit: int = 50) -> tuple[list[tuple[int, int, int]], int]:
    """The same as read_page, computed from SQL (fallback and checks)."""
    scope = scope_for(board, scope_id, period.year)
    boards, _ = sql_boards(scope)
    scores = boards.get(board_key(board, scope_id, period), {})
    ordered = sorted(scores.items(), key=lambda kv: (kv[1], kv[0]))
    page = ordered[offset: offset + limit] if limit else ordered[offset:]
    return [(int(m), *split(-s)) for m, s in page], len(ordered)


def redis_board(board: str, scope_id: int, period: Period) -> dict[str, int]:
    """The raw sorted set {member: score} (for tests and checks)."""
    rows = sync(get_redis().zrange(board_key(board, scope_id, period), 0, -1, withscores=True))
    return {m: round(s) for m, s in rows}


def scopes_with_entries(committee_id: int | None = None,
                        year: int | None = None) -> list[Scope]:
    """Every scope-year that has approved entries (what `pingyi points rebuild` redoes)."""
    q = db.select(PointsEntry.committee_id, PointsEntry.branch_id, PointsEntry.year).distinct()
    if committee_id is not None:
        q = q.where(PointsEntry.committee_id == committee_id)
    if year is not None:
        q = q.where(PointsEntry.year == year)
    out: set[Scope] = set()
    for cid, bid, y in db.session.execute(q):
        out.add(Scope("b", bid, y))
        out.add(Scope("c", cid, y))
    return sorted(out, key=lambda s: (s.year, s.kind, s.scope_id))
