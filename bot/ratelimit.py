"""Messages per robot per minute, shared by every process: a sliding window in Redis.

WeCom allows a group robot 20 messages a minute and answers 45009 beyond that.
Every runner asks `acquire(robot)` before each message; the Lua script keeps
the send times of the last window in a sorted set (one per robot, its own hash
tag, so it works on Redis Cluster), uses the Redis server's clock (one clock
for every host), and either records the send or says how long to wait. A
sliding window, unlike a fixed per-minute counter, never lets 2 × 20 messages
through around a minute boundary.
"""

from __future__ import annotations

import secrets

from bot.config import setting
from server.core.redis import run_script

SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then wait = 1 end
return wait
"""


def key(robot: str) -> str:
    """`robot` is a keyed digest (bot/vault.py), never the webhook key itself."""
    return f"{{bot:rl:{robot}}}:sent"


def acquire(robot: str, limit: int | None = None, window_s: float | None = None) -> int:
    """0 if one message may go now (and it is counted), else milliseconds to wait."""
    limit = int(limit if limit is not None else setting("BOT_RATE_LIMIT"))
    window_ms = int(float(window_s if window_s is not None else setting("BOT_RATE_WINDOW_S"))
                    * 1000)
    return int(run_script(SLIDING_WINDOW, [key(robot)],
                          [window_ms, limit, secrets.token_hex(8)]))
