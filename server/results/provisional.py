"""Live (provisional) results while a round is open, from the Redis tally.

Only for rounds that show live results. Two rules keep them k-anonymous:

* no per-category breakdown at all (every "by_category" list is emptied);
* a new figure is published only when at least k more ballots have arrived
  since the last one. Otherwise two polls a few seconds apart could be
  subtracted to reveal what the one voter in between chose. The figure is kept
  in Redis as a snapshot ({r:R}:live) with the ballot count it was taken at,
  advanced by a compare-and-set script, so concurrent readers never publish
  two snapshots fewer than k ballots apart. The first snapshot is the empty
  count (0 ballots).

The live tally holds per-category counters, not ballots, so the counters are
turned back into a set of ballots with exactly the same counts
(`ballots_from_tally`); the engine then gives the same figures it would give
for the real ballots (for scoring: the untrimmed mean, which is all a sum can
tell, and the result says so; on a round scored per subject each subject's mean is
over the members who scored it, its "<id>:#" count).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from server.core.redis import get_redis, run_script, sync
from server.forms.answers import PER_SUBJECT, SCORED
from server.results.official import categories_of, subjects_of
from server.results.rules import round_rules
from server.resultsengine.engine import appraisal_sections, compute_results
from server.voting import livetally
from server.voting.ballots import ensure_live

SNAPSHOT_TTL_S = 7 * 24 * 3600
LIVE_NOTE = "投票仍在进行，以上为实时结果，不是最终结果"
STEP_NOTE = "为保护投票人匿名，实时结果每增加至少 {k} 张选票才更新一次，且不分类别显示"
TRIM_NOTE = "实时结果为未去掉最高分和最低分的平均分，以投票结束后的正式结果为准"

# KEYS: turnout, then one tally hash per category. All in one hash slot.
READ_ALL = """
local out = {redis.call('HGETALL', KEYS[1])}
for i = 2, #KEYS do out[#out + 1] = redis.call('HGETALL', KEYS[i]) end
return out
"""

# KEYS: snapshot hash; ARGV: ballots, k, json, ttl. Advance only by >= k ballots.
ADVANCE = """
local old = redis.call('HGET', KEYS[1], 'n')
local new = tonumber(ARGV[1])
if (not old) or (new - tonumber(old) >= tonumber(ARGV[2])) then
  redis.call('HSET', KEYS[1], 'n', ARGV[1], 'json', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return ARGV[3]
end
return redis.call('HGET', KEYS[1], 'json')
"""

def _script(name: str, body: str) -> Any:
    def run(keys: list[str], args: list[Any]) -> Any:
        return run_script(body, keys, args)

    return run


def snapshot_key(round_id: int) -> str:
    return f"{livetally.tag(round_id)}:live"


def _pairs(flat: Sequence[Any]) -> dict[str, int]:
    return {str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}


def read_tally(round_id: int, category_ids: Sequence[int]
               ) -> tuple[dict[int, int], dict[int, dict[str, int]]]:
    """Turnout and tallies of all categories, read in one atomic step."""
    k = livetally.keys(round_id)
    out = _script("READ_ALL", READ_ALL)(
        keys=[k.turnout, *[k.tally(c) for c in category_ids]], args=[])
    turnout = {int(c): n for c, n in _pairs(out[0]).items()}
    tallies = {cid: _pairs(flat) for cid, flat in zip(category_ids, out[1:], strict=True)}
    return turnout, tallies


def ballots_from_tally(form: Mapping[str, Any], subject_ids: Sequence[int], n: int,
                       fields: Mapping[str, int]) -> list[dict[str, Any]]:
    """n ballots whose tally fields (forms.answers.tally_fields) add up to `fields`."""
    if n <= 0:
        return []
    kind = form["kind"]
    sids = [str(s) for s in subject_ids]
    if kind == "appraisal":  # every section's criteria and grades: a subject's own have counts
        sections = appraisal_sections(form)
        criteria = list(dict.fromkeys(c["key"] for s in sections for c in s["criteria"]))
        grades = list(dict.fromkeys(g["key"] for s in sections for g in s["grades"]))
        ballots: list[dict[str, Any]] = [{sid: {} for sid in sids} for _ in range(n)]
        for sid in sids:
            for crit in criteria:
                column = [g for g in grades
                          for _ in range(max(0, fields.get(f"{sid}:{crit}:{g}", 0)))]
                for i, grade in enumerate(column[:n]):
                    ballots[i][sid][crit] = grade
        return ballots
    if kind == "recommendation":
        choices: list[list[int]] = [[] for _ in range(n)]
        at = 0
        for subject_id in subject_ids:
            for _ in range(min(n, max(0, fields.get(str(subject_id), 0)))):
                choices[at % n].append(subject_id)
                at += 1
        return [{"choices": sorted(c)} for c in choices]
    scale = 10 ** int(form.get("decimals", 0))
    ballots = [{sid: {} for sid in sids} for _ in range(n)]
    for sid in sids:
        # scored per subject: the subject's scores are on as many ballots as scored it
        # (its own 实到, as in the official results), not on all n (the most-scored's)
        m = min(n, max(0, fields.get(f"{sid}:{SCORED}", 0))) if form.get(PER_SUBJECT) else n
        for key in (i["key"] for i in form["items"]) if m else ():
            whole, extra = divmod(max(0, fields.get(f"{sid}:{key}", 0)), m)
            for i in range(m):
                scaled = whole + (1 if i < extra else 0)
                ballots[i][sid][key] = scaled if scale == 1 else scaled / scale
    return ballots


def _strip_breakdowns(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: [] if k == "by_category" else _strip_breakdowns(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_strip_breakdowns(v) for v in data]
    return data


def compute_live(rnd: Any, turnout: Mapping[int, int],
                 tallies: Mapping[int, Mapping[str, int]]) -> dict[str, Any]:
    form = rnd.form
    rules = round_rules(form)
    subject_ids = [s.id for s in rnd.subjects]
    ballots = [(cid, b) for cid in (c.id for c in rnd.categories)
               for b in ballots_from_tally(form, subject_ids, turnout.get(cid, 0),
                                           tallies.get(cid, {}))]
    live_rules = replace(rules, trim=0, min_turnout=0.0)
    out = compute_results(form, subjects_of(rnd), categories_of(rnd), ballots, None, live_rules)
    out = _strip_breakdowns(out)
    out["rules"] = {**out["rules"], "trim": rules.trim, "min_turnout": rules.min_turnout}
    notes = [LIVE_NOTE, STEP_NOTE.format(k=rules.k)]
    if form["kind"] == "scoring" and rules.trim:
        notes.append(TRIM_NOTE)
    out["notes"] = notes + [n for n in out["notes"] if n not in notes]
    return out


def live_results(rnd: Any) -> dict[str, Any]:
    """The current live snapshot (advanced when k more ballots have come in)."""
    ensure_live(rnd.id)
    k = round_rules(rnd.form).k
    key = snapshot_key(rnd.id)
    cats = [c.id for c in rnd.categories]
    turnout, tallies = read_tally(rnd.id, cats)
    n = sum(turnout.values())
    r = get_redis()
    old = sync(r.hget(key, "n"))
    if old is not None and n - int(old) < k:
        cached = sync(r.hget(key, "json"))
        if cached:
            return json.loads(cached)
    if old is None and n < k:
        n, turnout, tallies = 0, {}, {}
    body = json.dumps(compute_live(rnd, turnout, tallies), ensure_ascii=False)
    return json.loads(_script("ADVANCE", ADVANCE)(keys=[key], args=[n, k, body, SNAPSHOT_TTL_S]))
