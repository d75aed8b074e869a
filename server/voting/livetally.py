"""Live state of a round in Redis: token fast path, turnout and tallies.

Every key of round R carries the hash tag {r:R}, so each script touches one
cluster slot. Redis is never the record: `rebuild()` recreates all of it from
SQL, and the submit path only counts a ballot here after SQL committed it.

Keys:  {r:R}:state    hash  status, closes_at (epoch seconds or "")
       {r:R}:tok      hash  sha256(token) -> category id, for unspent tokens
       {r:R}:spent    set   sha256(token) of spent tokens
       {r:R}:p:<hash> str   an in-flight submission's hold on its token (TTL)
                      (these three, and the guess counters, are deleted at close:
                      forget_tokens)
       {r:R}:inflight int   submissions between claim and commit/release
       {r:R}:turnout  hash  category id -> ballots
       {r:R}:t:<cat>  hash  tally field -> count (see forms.answers.tally_fields); the
                      turnout and every tally field are created at 0 when the round
                      opens (rebuild), in a fixed order: no field order tells arrival
       {r:R}:guess:<client>  int  a client's unknown tokens in this round (TTL; not
                      rebuilt: see core/ratelimit.py)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from server.core.redis import get_redis, run_script, sync, transaction_pipeline

# One call per round per group-commit batch (voting/groupcommit.py): hold every
# unspent token of the batch, so a request costs no Redis round trip of its own.
# KEYS: state tok spent inflight, then per ballot i: pending_i guess_i
# ARGV: now hold, then per ballot i: hash_i limit_i window_i marker_i, where a marker
# (a round scored per subject: voting/subject_scores.py) is what that ballot spends
# instead of its token, which stays issued ('' for a whole ballot).
# Returns one entry per ballot: 'ok:<category>', 'busy', 'spent', 'unknown',
# 'limited' (an unknown token from a client whose unknown tokens reached its limit:
# core/ratelimit.py; limit 0: no check), or for the whole batch 'missing' /
# 'closed:<status>'. A token of the round is looked up before the limit is: a valid
# token is never refused (a meeting room behind one NAT address keeps voting while
# someone types made-up codes); a 128-bit token cannot be found by guessing anyway.
CLAIM_MANY = """
local n = (#KEYS - 4) / 2
local out = {}
local st = redis.call('HGET', KEYS[1], 'status')
local whole = nil
if not st then whole = 'missing'
elseif st ~= 'open' then whole = 'closed:' .. st
else
  local ca = redis.call('HGET', KEYS[1], 'closes_at')
  if ca and ca ~= '' and tonumber(ARGV[1]) >= tonumber(ca) then whole = 'closed:deadline' end
end
if whole then
  for i = 1, n do out[i] = whole end
  return out
end
local held = 0
for i = 1, n do
  local h, limit, window, m = ARGV[4 * i - 1], tonumber(ARGV[4 * i]), ARGV[4 * i + 1],
    ARGV[4 * i + 2]
  local pend, guess = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local cat = redis.call('HGET', KEYS[2], h)
  if not cat then
    if redis.call('SISMEMBER', KEYS[3], h) == 1 then
      out[i] = 'spent'
    elseif limit > 0 and tonumber(redis.call('GET', guess) or 0) >= limit then
      out[i] = 'limited'
    else
      if limit > 0 and redis.call('INCR', guess) == 1 then
        redis.call('EXPIRE', guess, window)
      end
      out[i] = 'unknown'
    end
  elseif m ~= '' and redis.call('SISMEMBER', KEYS[3], m) == 1 then
    out[i] = 'spent'
  elseif not redis.call('SET', pend, '1', 'NX', 'EX', ARGV[2]) then
    out[i] = 'busy'
  else
    held = held + 1
    out[i] = 'ok:' .. cat
  end
end
if held > 0 then redis.call('INCRBY', KEYS[4], held) end
return out
"""

# After the batch's SQL transaction: settle every ballot CLAIM_MANY held.
# KEYS: state tok spent inflight turnout, pending_1..pending_n, tally_1..tally_n
# ARGV per ballot i: mode_i hash_i category_i fields_i marker_i counter_i, where mode
# 'c' counts a committed ballot (fields "f1=n1;f2=n2;...": one packed argument, as
# ~80 separate ones cost more than the script), 'r' releases the hold, 's' releases
# it and remembers that SQL has the token spent. A ballot with a marker (one subject's
# scores, voting/subject_scores.py) spends the marker and leaves its token issued; its
# category's turnout is then the highest count of any subject (`counter`, the
# subject's "<sid>:#" field): panel members, never subjects × members. At most
# MAX_BATCH ballots (voting/groupcommit.py) per call. Then ARGV[6n+1], ARGV[6n+2]: an appraisal
# form's criterion and grade keys, each joined by ';' (or empty), for ballots
# whose fields are their stored code instead, "A:<sid>=<code>,..."
# (forms/storage.py): rows are counted as they come, and each distinct row is
# turned into its fields once per batch (<sid>:<criterion>:<grade>, by the
# code's characters 0-9a-z naming grades in order).
SETTLE_MANY = """
local n = (#KEYS - 5) / 2
local live = redis.call('EXISTS', KEYS[1]) == 1
local spent, turnout, sums, rows, peaks = {}, {}, {}, {}, {}
for i = 1, n do
  local mode, h, m = ARGV[6 * i - 5], ARGV[6 * i - 4], ARGV[6 * i - 1]
  local tally = KEYS[5 + n + i]
  local fresh
  if m ~= '' then
    fresh = (mode == 's' or (mode == 'c' and live)) and redis.call('SADD', KEYS[3], m) == 1
  else
    fresh = (mode == 's' or (mode == 'c' and live)) and redis.call('HDEL', KEYS[2], h) == 1
    if fresh then spent[#spent + 1] = h end
  end
  if mode == 'c' and fresh then
    local cat = ARGV[6 * i - 3]
    if m ~= '' then peaks[#peaks + 1] = {5 + n + i, cat, ARGV[6 * i]}
    else turnout[cat] = (turnout[cat] or 0) + 1 end
    local fields = ARGV[6 * i - 2]
    if string.sub(fields, 1, 2) == 'A:' then
      local r = rows[tally]
      if not r then r = {}; rows[tally] = r end
      for row in string.gmatch(string.sub(fields, 3), '[^,]+') do r[row] = (r[row] or 0) + 1 end
    else
      local t = sums[tally]
      if not t then t = {}; sums[tally] = t end
      for field, k in string.gmatch(fields, '([^;=]+)=(%-?%d+)') do
        t[field] = (t[field] or 0) + tonumber(k)
      end
    end
  end
end
if next(rows) then
  local crit, grade = {}, {}
  for key in string.gmatch(ARGV[6 * n + 1], '[^;]+') do crit[#crit + 1] = key end
  for key in string.gmatch(ARGV[6 * n + 2], '[^;]+') do grade[#grade + 1] = key end
  for tally, r in pairs(rows) do
    local t = sums[tally]
    if not t then t = {}; sums[tally] = t end
    for row, k in pairs(r) do
      local sid, code = string.match(row, '^([^=]+)=(.*)$')
      for c = 1, #code do
        local b = string.byte(code, c)
        local g = grade[(b <= 57 and b - 48 or b - 87) + 1]
        local field = sid .. ':' .. crit[c] .. ':' .. g
        t[field] = (t[field] or 0) + k
      end
    end
  end
end
-- the batch's counts summed first: one HINCRBY per field, not per ballot and field
for tally, t in pairs(sums) do
  for field, k in pairs(t) do redis.call('HINCRBY', tally, field, k) end
end
for cat, k in pairs(turnout) do redis.call('HINCRBY', KEYS[5], cat, k) end
for _, p in ipairs(peaks) do
  local v = tonumber(redis.call('HGET', KEYS[p[1]], p[3]) or 0)
  if v > tonumber(redis.call('HGET', KEYS[5], p[2]) or 0) then
    redis.call('HSET', KEYS[5], p[2], v)
  end
end
if #spent > 0 then redis.call('SADD', KEYS[3], unpack(spent)) end
redis.call('DEL', unpack(KEYS, 6, 5 + n))
if redis.call('DECRBY', KEYS[4], n) < 0 then redis.call('SET', KEYS[4], 0) end
return n
"""

# KEYS: state tok spent guess; ARGV: hash limit window. The ballot form's look-up:
# it changes nothing but the client's count of unknown tokens (as in CLAIM_MANY,
# whose order it keeps: a valid token is never limited). A round that is not open
# answers by its status alone, without looking the token up ('status'): after close
# the round keeps no per-token state at all (forget_tokens).
PEEK = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'missing'} end
local ca = redis.call('HGET', KEYS[1], 'closes_at') or ''
if st ~= 'open' then return {'status', st, ca} end
local cat = redis.call('HGET', KEYS[2], ARGV[1])
if cat then return {'unspent', st, ca, cat} end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return {'spent', st, ca} end
local limit = tonumber(ARGV[2])
if limit > 0 and tonumber(redis.call('GET', KEYS[4]) or 0) >= limit then return {'limited'} end
if limit > 0 and redis.call('INCR', KEYS[4]) == 1 then redis.call('EXPIRE', KEYS[4], ARGV[3]) end
return {'unknown', st, ca}
"""

def _script(name: str) -> Any:
    """The Lua script `name` of this module as a callable(keys, args, client=None)."""
    body = globals()[name]

    def run(keys: list[str], args: list[Any], client: Any = None) -> Any:
        return run_script(body, keys, args, client)

    return run


def tag(round_id: int) -> str:
    return f"{{r:{round_id}}}"


@dataclass(frozen=True)
class Keys:
    state: str
    tok: str
    spent: str
    inflight: str
    turnout: str
    rebuild_lock: str
    prefix: str

    def pending(self, token_hash: str) -> str:
        return f"{self.prefix}:p:{token_hash}"

    def tally(self, category_id: int | str) -> str:
        return f"{self.prefix}:t:{category_id}"


def keys(round_id: int) -> Keys:
    p = tag(round_id)
    return Keys(f"{p}:state", f"{p}:tok", f"{p}:spent", f"{p}:inflight", f"{p}:turnout",
                f"{p}:rebuild", p)


@dataclass(frozen=True)
class Claim:
    """One ballot's token for CLAIM_MANY; `guess` as core/ratelimit.round_guess_args
    gives it: (the client's unknown-token counter key, limit, window); limit 0: none."""

    token_hash: str
    guess: tuple[str, int, int]
    marker: str = ""  # spent instead of the token (a round scored per subject)


def claim_many(round_id: int, claims: list[Claim], hold_s: int, client: Any = None) -> Any:
    """Hold the tokens of one round's ballots (`client` may be a pipeline)."""
    k = keys(round_id)
    script_keys = [k.state, k.tok, k.spent, k.inflight]
    args: list[Any] = [int(time.time()), hold_s]
    for c in claims:
        guess_key, limit, window = c.guess
        script_keys += [k.pending(c.marker or c.token_hash), guess_key or f"{k.prefix}:guess:"]
        args += [c.token_hash, limit, window, c.marker]
    return _script("CLAIM_MANY")(keys=script_keys, args=args, client=client)


@dataclass(frozen=True)
class Settle:
    """A held token after the SQL commit: mode 'c' (count it with `tally`), 'r'
    (release the hold) or 's' (release; SQL has the token spent). `tally`: packed
    fields, or an appraisal ballot's stored code (with the round's legend)."""

    token_hash: str
    mode: str
    category_id: int = 0
    tally: str = ""  # mode 'c': packed fields (forms.answers.pack_fields) or a stored code
    marker: str = ""  # spent instead of the token (a round scored per subject)
    counter: str = ""  # with a marker: the subject's count field


def settle_many(round_id: int, items: list[Settle], client: Any = None,
                legend: tuple[str, str] = ("", "")) -> Any:
    """Count committed ballots and release the other holds (`client`: a pipeline).
    `legend`: the appraisal form's criterion and grade keys, each joined by ';',
    when a ballot's tally is its stored code (forms/codec.py)."""
    k = keys(round_id)
    args: list[Any] = []
    for s in items:
        args += [s.mode, s.token_hash, s.category_id, s.tally, s.marker, s.counter]
    args += legend
    script_keys = [k.state, k.tok, k.spent, k.inflight, k.turnout,
                   *[k.pending(s.marker or s.token_hash) for s in items],
                   *[k.tally(s.category_id) for s in items]]
    return _script("SETTLE_MANY")(keys=script_keys, args=args, client=client)


def peek(round_id: int, token_hash: str,
         guess: tuple[str, int, int] | None = None) -> list[str]:
    """A token's state for the ballot form (`guess` as in claim)."""
    k = keys(round_id)
    guess_key, limit, window = guess or (f"{k.prefix}:guess:", 0, 0)
    return _script("PEEK")(keys=[k.state, k.tok, k.spent, guess_key],
                           args=[token_hash, limit, window])


def set_state(round_id: int, status: str, closes_at: float | None = None) -> None:
    """Mirror the round's status into Redis (a no-op until the round has live state)."""
    r = get_redis()
    k = keys(round_id)
    if not r.exists(k.state):
        return
    r.hset(k.state, mapping={"status": status,
                             "closes_at": "" if closes_at is None else str(int(closes_at))})


def forget_tokens(round_id: int, client: Any = None) -> int:
    """After close: delete every per-token key of the round (its issued and spent token
    hashes, in-flight holds, and its clients' guess counters), so Redis no longer
    tells slips that voted from those that did not. A closed round answers every
    well-formed token of it by its status alone (PEEK, CLAIM_MANY). UNLINK frees the
    large hashes off Redis's main thread. Returns how many keys it deleted."""
    r = client or get_redis()
    k = keys(round_id)
    found = [k.tok, k.spent]
    for pattern in (k.pending("*"), f"{k.prefix}:guess:*"):
        found += r.scan_iter(match=pattern, count=1000)
    deleted = 0
    for i in range(0, len(found), 500):  # one slot (one hash tag): multi-key UNLINK
        deleted += int(sync(r.unlink(*found[i:i + 500])))
    return deleted


def spent_among(round_id: int, keys_: list[str]) -> list[bool]:
    """Which of these spent keys (a round scored per subject: its markers) are spent."""
    if not keys_:
        return []
    return [bool(x) for x in sync(get_redis().smismember(keys(round_id).spent, keys_))]


def has_state(round_id: int) -> bool:
    return bool(get_redis().exists(keys(round_id).state))


def add_tokens(round_id: int, pairs: Iterable[tuple[str, int]]) -> None:
    """Register newly issued token hashes (only if the round's live state exists);
    hears `signals.tokens_issued`."""
    r = get_redis()
    k = keys(round_id)
    if not r.exists(k.state):
        return
    mapping = {h: str(cat) for h, cat in pairs}
    if mapping:
        r.hset(k.tok, mapping=mapping)


def inflight(round_id: int) -> int:
    return int(sync(get_redis().get(keys(round_id).inflight)) or 0)


def wait_drained(round_id: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if inflight(round_id) <= 0:
            return True
        time.sleep(0.02)
    return inflight(round_id) <= 0


def read(round_id: int, category_ids: Iterable[int]) -> dict[str, Any]:
    """Turnout and tallies as ints: {"turnout": {cat: n}, "tallies": {cat: {field: n}}}."""
    r = get_redis()
    k = keys(round_id)
    cats = list(category_ids)
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(k.turnout)
    for cat in cats:
        pipe.hgetall(k.tally(cat))
    out = pipe.execute()
    return {
        "turnout": {int(c): int(n) for c, n in out[0].items() if int(n)},
        "tallies": {
            cat: {f: int(n) for f, n in t.items() if int(n)}
            for cat, t in zip(cats, out[1:], strict=True)
        },
    }


def read_turnout(round_id: int) -> dict[int, int]:
    return {int(c): int(n) for c, n in sync(get_redis().hgetall(keys(round_id).turnout)).items()}


def live_turnout(round_id: int) -> dict[int, int] | None:
    """Turnout in one round trip, or None when the round has no live state (rebuild)."""
    k = keys(round_id)
    pipe = get_redis().pipeline(transaction=False)
    pipe.exists(k.state)
    pipe.hgetall(k.turnout)
    exists, counts = pipe.execute()
    if not exists:
        return None
    return {int(c): int(n) for c, n in counts.items()}


def write_full_state(
    round_id: int,
    status: str,
    closes_at: float | None,
    unspent: Mapping[str, int],
    spent: Iterable[str],
    turnout: Mapping[int, int],
    tallies: Mapping[int, Mapping[str, int]],
    category_ids: Iterable[int],
) -> None:
    """Replace the round's live state in one MULTI/EXEC (used by rebuild).

    Every key here carries the round's hash tag, so on a Redis Cluster the
    transaction runs on the master that owns the round's slot.
    """
    k = keys(round_id)
    pipe = transaction_pipeline(get_redis(), k.state)
    pipe.delete(k.tok, k.spent, k.turnout, k.inflight, *[k.tally(c) for c in category_ids])
    items = list(unspent.items())
    for i in range(0, len(items), 5000):
        pipe.hset(k.tok, mapping={h: str(c) for h, c in items[i:i + 5000]})
    spent_list = list(spent)
    for i in range(0, len(spent_list), 5000):
        pipe.sadd(k.spent, *spent_list[i:i + 5000])
    if turnout:
        pipe.hset(k.turnout, mapping={str(c): n for c, n in turnout.items()})
    for cat, fields in tallies.items():
        if fields:
            pipe.hset(k.tally(cat), mapping=dict(fields))
    pipe.hset(k.state, mapping={"status": status,
                                "closes_at": "" if closes_at is None else str(int(closes_at))})
    pipe.execute()


def drop(round_id: int, category_ids: Iterable[int]) -> None:
    k = keys(round_id)
    get_redis().delete(k.state, k.tok, k.spent, k.turnout, k.inflight,
                       *[k.tally(c) for c in category_ids])


def lock(round_id: int, ttl_s: int = 120) -> redis.lock.Lock:
    return get_redis().lock(keys(round_id).rebuild_lock, timeout=ttl_s, blocking_timeout=ttl_s)
