"""Live state of a round in Redis: token fast path, turnout and tallies.

Every key of round R carries the hash tag {r:R}, so each script touches one
cluster slot. Redis is never the record: `rebuild()` recreates all of it from
SQL, and the submit path only counts a ballot here after SQL committed it.

Keys:  {r:R}:state    hash  status, closes_at (epoch seconds or "")
       {r:R}:tok      hash  sha256(token) -> category id, for unspent tokens
       {r:R}:spent    set   sha256(token) of spent tokens
       {r:R}:p:<hash> str   an in-flight submission's hold on its token (TTL)
       {r:R}:inflight int   submissions between claim and commit/release
       {r:R}:turnout  hash  category id -> ballots
       {r:R}:t:<cat>  hash  tally field -> count (see forms.answers.tally_fields)
       {r:R}:guess:<client>  int  a client's unknown tokens in this round (TTL; not
                      rebuilt: see core/ratelimit.py)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from server.core.redis import get_redis, run_script, transaction_pipeline

# KEYS: state tok spent pending inflight guess; ARGV: hash now hold limit window.
# `guess` counts this client's unknown tokens (core/ratelimit.py): at `limit` the
# client is refused ('limited') until `window` seconds after its first miss; limit 0:
# no check (and no extra command on the path).
CLAIM = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'missing'} end
if st ~= 'open' then return {'closed', st} end
local ca = redis.call('HGET', KEYS[1], 'closes_at')
if ca and ca ~= '' and tonumber(ARGV[2]) >= tonumber(ca) then return {'closed', 'deadline'} end
local limit = tonumber(ARGV[4])
if limit > 0 and tonumber(redis.call('GET', KEYS[6]) or 0) >= limit then return {'limited'} end
local cat = redis.call('HGET', KEYS[2], ARGV[1])
if not cat then
  if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return {'spent'} end
  if limit > 0 and redis.call('INCR', KEYS[6]) == 1 then
    redis.call('EXPIRE', KEYS[6], ARGV[5])
  end
  return {'unknown'}
end
if not redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[3]) then return {'busy'} end
redis.call('INCR', KEYS[5])
return {'ok', cat}
"""

# KEYS: state tok spent pending inflight turnout tally; ARGV: hash cat "f1=n1;f2=n2;..."
# (one packed argument: packing ~80 separate arguments cost more than the script)
COMMIT = """
redis.call('DEL', KEYS[4])
if redis.call('DECR', KEYS[5]) < 0 then redis.call('SET', KEYS[5], 0) end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[6], ARGV[2], 1)
for field, n in string.gmatch(ARGV[3], '([^;=]+)=(%-?%d+)') do
  redis.call('HINCRBY', KEYS[7], field, n)
end
return 1
"""

# KEYS: tok spent pending inflight; ARGV: hash, spent ("1" when SQL says so)
RELEASE = """
redis.call('DEL', KEYS[3])
if redis.call('DECR', KEYS[4]) < 0 then redis.call('SET', KEYS[4], 0) end
if ARGV[2] == '1' and redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('SADD', KEYS[2], ARGV[1])
end
return 1
"""

# KEYS: state tok spent guess; ARGV: hash limit window. The ballot form's look-up:
# it changes nothing but the client's count of unknown tokens (as in CLAIM).
PEEK = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'missing'} end
local ca = redis.call('HGET', KEYS[1], 'closes_at') or ''
local limit = tonumber(ARGV[2])
if limit > 0 and tonumber(redis.call('GET', KEYS[4]) or 0) >= limit then return {'limited'} end
local cat = redis.call('HGET', KEYS[2], ARGV[1])
if cat then return {'unspent', st, ca, cat} end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return {'spent', st, ca} end
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


def claim(round_id: int, token_hash: str, hold_s: int,
          guess: tuple[str, int, int] | None = None) -> list[str]:
    """Hold an unspent token. `guess`: (counter key, limit, window) of the client's
    unknown tokens in this round (core/ratelimit.round_guess_args); None: no limit."""
    k = keys(round_id)
    guess_key, limit, window = guess or (f"{k.prefix}:guess:", 0, 0)
    return _script("CLAIM")(
        keys=[k.state, k.tok, k.spent, k.pending(token_hash), k.inflight, guess_key],
        args=[token_hash, int(time.time()), hold_s, limit, window],
    )


def commit(round_id: int, token_hash: str, category_id: int, fields: Mapping[str, int],
           client: Any = None) -> Any:
    """Count a committed ballot (`client` may be a pipeline)."""
    k = keys(round_id)
    packed = ";".join(f"{field}={n}" for field, n in fields.items())
    return _script("COMMIT")(
        keys=[k.state, k.tok, k.spent, k.pending(token_hash), k.inflight, k.turnout,
              k.tally(category_id)],
        args=[token_hash, category_id, packed], client=client,
    )


def release(round_id: int, token_hash: str, spent: bool = False, client: Any = None) -> None:
    """Give up a claim; with `spent`, remember that SQL already has this token spent."""
    k = keys(round_id)
    _script("RELEASE")(keys=[k.tok, k.spent, k.pending(token_hash), k.inflight],
                       args=[token_hash, "1" if spent else "0"], client=client)


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


def has_state(round_id: int) -> bool:
    return bool(get_redis().exists(keys(round_id).state))


def add_tokens(round_id: int, pairs: Iterable[tuple[str, int]]) -> None:
    """Register newly issued token hashes (only if the round's live state exists)."""
    r = get_redis()
    k = keys(round_id)
    if not r.exists(k.state):
        return
    mapping = {h: str(cat) for h, cat in pairs}
    if mapping:
        r.hset(k.tok, mapping=mapping)


def inflight(round_id: int) -> int:
    return int(get_redis().get(keys(round_id).inflight) or 0)


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
    return {int(c): int(n) for c, n in get_redis().hgetall(keys(round_id).turnout).items()}


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
