"""Must-show: one voter's ballots in a meeting's forms share nothing in storage that
pairs them better than chance (SQLite by default, PostgreSQL with TEST_DATABASE_URL).

N voters of one category vote a meeting of three forms over real HTTP (four threads;
some form by form in the form order, some all at the end in a random order, as the
voter page does), each form's answers drawn on their own. The attacker then reads
every stored row of every table with its physical identity (SQLite rowid; PostgreSQL
ctid, xmin, cmin) and every Redis key, and for every pair of forms (A, B) pairs A's
ballots with B's by every ordering it can build (physical order, xmin, cmin, ids,
receipts, answers), by equal xmin, and pairs A's issued tokens with B's by their
physical and Redis order (the slips behind the ballots). The test knows the truth
(which receipts one voter got, which tokens one slip carries).

Statistic: correct pairs of the best strategy. A uniform random pairing of N has
about Poisson(1) correct pairs (fixed points of a random permutation); the bound is
the smallest k with strategies * P(Poisson(1) >= k) <= 1e-4. While the meeting is open
the same attack on the ballots beats the bound (arrival order pairs them: the test
can fail); after close no strategy reaches it.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from itertools import combinations, permutations
from typing import Any

import requests

from server.meetings.codec import form_token
from server.tokens.codec import token_hash
from tests.factories import organizer
from tests.support.liveserver import live_server
from tests.support.meetings import answers_for, make_meeting
from tests.test_linkage import chance_bound, dump_redis, dump_sql

N = 40
THREADS = 4
ORDER_KEYS = ("_phys", "_rowid", "_ctid", "_xmin", "_cmin", "id", "receipt", "answers")


def _ctid(v: str) -> tuple[int, int]:
    a, b = v.strip("()").split(",")
    return int(a), int(b)


def _sortable(row: dict[str, Any], k: str) -> Any:
    return _ctid(row[k]) if k == "_ctid" else row[k]


def _rank_hits(a: list[dict[str, Any]], b: list[dict[str, Any]], fa: str, fb: str,
               truth: dict[Any, Any], key: str, rev: bool) -> int:
    if not a or fa not in a[0] or fb not in b[0]:
        return -1
    sa = sorted(a, key=lambda r: _sortable(r, fa))
    sb = sorted(b, key=lambda r: _sortable(r, fb), reverse=rev)
    return sum(truth.get(x[key]) == y[key] for x, y in zip(sa, sb, strict=False))


def attack(sql: dict[str, list[dict[str, Any]]], rds: dict[str, dict[str, Any]],
           rids: list[int], truth_ballots: dict[Any, Any], truth_tokens: dict[Any, Any]
           ) -> dict[str, int]:
    """Correct pairs per strategy, over every pair of forms."""
    hits: dict[str, int] = {}
    for ra, rb in combinations(rids, 2):
        ba = [r for r in sql["ballots"] if r["round_id"] == ra]
        bb = [r for r in sql["ballots"] if r["round_id"] == rb]
        for fa in ORDER_KEYS:
            for fb in ORDER_KEYS:
                for rev in (False, True):
                    n = _rank_hits(ba, bb, fa, fb, truth_ballots, "receipt", rev)
                    if n >= 0:
                        hits[f"ballots {ra}~{rb} {fa}/{fb}{' desc' if rev else ''}"] = n
        if "_xmin" in (ba[0] if ba else {}):  # PostgreSQL: same transaction
            by_x = defaultdict(list)
            for r in bb:
                by_x[r["_xmin"]].append(r["receipt"])
            hits[f"ballots {ra}~{rb} equal xmin"] = sum(
                truth_ballots.get(r["receipt"]) in by_x.get(r["_xmin"], []) for r in ba)
        ta = [r for r in sql["tokens"] if r["round_id"] == ra]
        tb = [r for r in sql["tokens"] if r["round_id"] == rb]
        for f in ("_phys", "token_hash"):
            hits[f"tokens {ra}~{rb} {f}"] = _rank_hits(ta, tb, f, f, truth_tokens,
                                                       "token_hash", False)
        for suffix in (":tok", ":spent"):
            va = next((v["value"] for k, v in rds.items()
                       if k.startswith(f"{{r:{ra}}}") and k.endswith(suffix)), None)
            vb = next((v["value"] for k, v in rds.items()
                       if k.startswith(f"{{r:{rb}}}") and k.endswith(suffix)), None)
            if va and vb:
                la = [x[0] if isinstance(x, list | tuple) else x for x in va]
                lb = [x[0] if isinstance(x, list | tuple) else x for x in vb]
                hits[f"redis {ra}~{rb} {suffix}"] = sum(
                    truth_tokens.get(x) == y for x, y in zip(la, lb, strict=False))
    return hits


def run_meeting(base: str, key: str, app: Any) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {key}"}
    with app.test_client() as client:
        meeting = make_meeting(client, auth)
    mid = meeting["id"]
    rids = [f["round_id"] for f in meeting["forms"]]
    s = requests.Session()
    res = s.post(f"{base}/api/v1/meetings/{mid}/slips", headers=auth, timeout=30,
                 json={"category": "职工代表", "count": N})
    assert res.status_code == 201, res.text
    slips = [t["token"] for t in res.json()["tokens"]]
    assert s.post(f"{base}/api/v1/meetings/{mid}/open", headers=auth, timeout=30).ok
    receipts: dict[str, dict[int, str]] = {}
    todo = list(slips)
    random.shuffle(todo)
    lock = threading.Lock()
    failures: list[str] = []

    def voter() -> None:
        vs = requests.Session()
        while True:
            with lock:
                if not todo:
                    return
                slip = todo.pop()
            forms = vs.post(f"{base}/api/v1/meeting-slip", json={"token": slip},
                            timeout=30).json()["forms"]
            if random.random() < 0.5:  # all at the end: sent one by one, in a random order
                random.shuffle(forms)
            mine = {}
            for f in forms:
                r = vs.post(f"{base}/api/v1/ballots", timeout=30, json={
                    "token": f["token"], "answers": answers_for(f["ballot"],
                                                                random.randrange(100))})
                if r.status_code != 201:
                    failures.append(r.text)
                    continue
                mine[f["round_id"]] = r.json()["receipt"]
            receipts[slip] = mine

    threads = [threading.Thread(target=voter) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    return {"mid": mid, "rids": rids, "slips": slips, "receipts": receipts, "auth": auth}


def test_meeting_ballots_do_not_pair_across_forms(app, redis_url, caplog):
    with app.app_context():
        _, key = organizer()
    with live_server(app) as base:
        run = run_meeting(base, key, app)
        rids = run["rids"]
        pair_truth = {}  # (receipt in form a, form b) -> the same voter's receipt in b
        for mine in run["receipts"].values():
            for a, b in permutations(rids, 2):
                pair_truth[(mine[a], b)] = mine[b]
        truth_tokens = {}
        for slip in run["slips"]:
            for a, b in permutations(rids, 2):
                truth_tokens[(token_hash(form_token(slip, a)), b)] = token_hash(
                    form_token(slip, b))

        def scored(sql, rds):
            hits = {}
            for ra, rb in combinations(rids, 2):
                tb = {k[0]: v for k, v in pair_truth.items() if k[1] == rb}
                tt = {k[0]: v for k, v in truth_tokens.items() if k[1] == rb}
                hits.update(attack(sql, rds, [ra, rb], tb, tt))
            return hits

        before = scored(dump_sql(app), dump_redis(redis_url))
        res = requests.post(f"{base}/api/v1/meetings/{run['mid']}/close",
                            headers=run["auth"], timeout=120)
        assert res.status_code == 200, res.text
        with app.app_context():
            from server.rounds.operations import wait_for_scrub
            assert wait_for_scrub(60)
        after = scored(dump_sql(app), dump_redis(redis_url))
    bound = chance_bound(1, max(len(before), len(after)))
    best_before = max(before, key=before.get)
    best_after = max(after, key=after.get)
    print(f"\nN={N} voters x {len(rids)} forms; strategies={len(after)}; chance bound "
          f"(P<1e-4)={bound}; best before close: {best_before}={before[best_before]}; "
          f"best after close: {best_after}={after[best_after]}")
    assert before[best_before] > bound, "the attack must work on arrival order while open"
    assert after[best_after] <= bound, sorted(after.items(), key=lambda x: -x[1])[:5]
    # nothing in storage names the meeting next to a token or a ballot
    sql = dump_sql(app)
    for table in ("tokens", "spent_tokens", "ballots", "ballot_comments"):
        for row in sql.get(table, []):
            assert "meeting" not in " ".join(map(str, row.values())).lower()
