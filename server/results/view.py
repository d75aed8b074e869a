"""Results as the API, the console and the projector show them (all k-safe).

`results_body` is the one place that decides what may be shown when: the
frozen official results after close, the live snapshot while open if the
round allows it, nothing otherwise. `compute_projector` condenses it for the
big screen, which after close shows results only once they are published
(unless the round says 当场公布, announce_on_close); it is cached in Redis for a
second, so fifty projectors polling cost one computation a second, and none of
it touches the ballot path.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from typing import Any

from server.core.errors import ApiError, error_kind
from server.core.redis import get_redis, sync
from server.results.official import frozen_results
from server.results.provisional import live_results
from server.results.rules import describe, round_rules
from server.resultsengine.engine import k_violations, pct, result_sections
from server.voting import livetally
from server.voting.turnout import turnout

PROJECTOR_CACHE_MS = 1000
HIDDEN = error_kind("results_hidden", "投票结束前不显示结果", "Results are hidden until close", 409)
UNPUBLISHED = "投票已结束，结果发布后显示"


def ensure_k_safe(data: Any, k: int) -> Any:
    """The last check before figures leave the server (the engine already merged)."""
    leaks = k_violations(data, k)
    if leaks:
        raise RuntimeError(f"k-anonymity violated at {leaks[:3]}")
    return data


def results_body(rnd: Any) -> dict[str, Any]:
    """The round's results for display, or 409 results_hidden."""
    if rnd.status in ("closed", "published"):
        res, live = frozen_results(rnd), False
    elif rnd.status == "open" and rnd.show_live_results:
        res, live = live_results(rnd), True
    else:
        raise HIDDEN
    body = {"round_id": rnd.id, "title": rnd.title, "status": rnd.status, "live": live,
            "ballots": res["validity"]["total"]["valid"],
            "rule_text": describe(res["rules"], res["kind"]), **res}
    return ensure_k_safe(body, round_rules(rnd.form).k)


# --------------------------------------------------------------------------- projector


def _appraisal_board(a: dict[str, Any]) -> dict[str, Any]:
    """One board, or on a form of several sections one per section (`sections`, each
    with its key and label and its own scale)."""
    if "sections" not in a:
        return {"kind": "appraisal", **_appraisal_part(a)}
    return {"kind": "appraisal",
            "sections": [{"key": p["key"], "label": p["label"], **_appraisal_part(p)}
                         for p in result_sections(a)]}


def _appraisal_part(a: Mapping[str, Any]) -> dict[str, Any]:
    basis = set(a["score_criteria"])
    graded = [g for g in a["grades"] if not g["abstain"]]
    abstain = [g for g in a["grades"] if g["abstain"]]
    labels = [c["label"] for c in a["criteria"] if c["key"] in basis]
    subjects = []
    for s in a["subjects"]:
        rows = [c for c in s["criteria"] if c["key"] in basis]
        hidden = any(c["answered"] is None for c in rows)  # counts withheld (docs/results.md)
        counts = {g["key"]: None if hidden else sum(
            next(x["count"] for x in c["grades"] if x["key"] == g["key"]) for c in rows)
            for g in a["grades"]}
        answered = None if hidden else sum(c["answered"] for c in rows)
        subjects.append({
            "id": s["id"], "name": s["name"], "note": s["note"], "score": s["score"],
            "rank": s["rank"], "level": s.get("level"), "vetoes": s.get("vetoes", []),
            "flags": s["flags"], "answered": answered,
            "abstained": None if hidden else sum(counts[g["key"]] or 0 for g in abstain),
            "bars": [{"key": g["key"], "label": g["label"], "count": counts[g["key"]],
                      "pct": None if hidden else pct(counts[g["key"]] or 0, answered or 0)}
                     for g in graded],
        })
    return {"caption": "、".join(labels),
            "abstain_label": "、".join(g["label"] for g in abstain) or None,
            "grades": [{"key": g["key"], "label": g["label"]} for g in graded],
            "subjects": subjects}


def _recommendation_board(r: dict[str, Any]) -> dict[str, Any]:
    by_id = {c["id"]: c for c in r["candidates"]}
    return {"kind": "recommendation", "threshold_pct": r["threshold_pct"], "places": r["places"],
            "valid_ballots": r["valid_ballots"],
            "rows": [{"id": c["id"], "name": c["name"], "note": c["note"], "votes": c["votes"],
                      "pct": c["vote_pct"], "rank": c["rank"], "status": c["status"]}
                     for c in (by_id[i] for i in r["order"])]}


def _scoring_board(s: dict[str, Any]) -> dict[str, Any]:
    by_id = {x["id"]: x for x in s["subjects"]}
    top = sum(float(i["max"]) * float(i.get("weight", 1)) for i in s["items"])
    return {"kind": "scoring", "max_total": round(top, 2), "trim": s["trim"],
            "rows": [{"id": x["id"], "name": x["name"], "note": x["note"], "total": x["total"],
                      "rank": x["rank"], "level": x.get("level"), "vetoes": x.get("vetoes", []),
                      "flags": x["flags"]}
                     for x in (by_id[i] for i in s["order"])]}


def board(body: dict[str, Any]) -> dict[str, Any]:
    """What the projector draws: per subject bars, or a ranking."""
    kind = body["kind"]
    if kind == "appraisal":
        out = _appraisal_board(body["appraisal"])
    elif kind == "recommendation":
        out = _recommendation_board(body["recommendation"])
    else:
        out = _scoring_board(body["scoring"])
    return {**out, "live": body["live"], "ballots": body["ballots"], "notes": body["notes"]}


def _turnout_json(rnd: Any) -> dict[str, Any]:
    data = turnout(rnd)
    closes_at = data.get("closes_at")  # naive UTC, sent with its offset as the API does
    data["closes_at"] = closes_at.replace(tzinfo=dt.UTC).isoformat() if closes_at else None
    return data


def compute_projector(rnd: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"round_id": rnd.id, "title": rnd.title, "status": rnd.status,
                               "turnout": _turnout_json(rnd), "results": None,
                               "hidden_reason": None, "generated_at": int(time.time())}
    if rnd.status == "closed" and not rnd.announce_on_close:
        payload["hidden_reason"] = UNPUBLISHED  # the hall sees results once published
        return payload
    try:
        payload["results"] = board(results_body(rnd))
    except ApiError as err:
        payload["hidden_reason"] = err.message
    return payload


def projector_key(round_id: int) -> str:
    return f"{livetally.tag(round_id)}:pj"


def projector_json(rnd: Any) -> str:
    """The projector's JSON, from the one-second Redis cache when it is there."""
    r = get_redis()
    key = projector_key(rnd.id)
    cached = sync(r.get(key))
    if cached is not None:
        return cached
    text = json.dumps(compute_projector(rnd), ensure_ascii=False, separators=(",", ":"))
    r.set(key, text, px=PROJECTOR_CACHE_MS)
    return text


def forget_projector(round_id: int) -> None:
    """Drop the cached screen (after close or publish, so the change shows at once)."""
    get_redis().delete(projector_key(round_id))
