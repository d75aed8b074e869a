"""The demo's 考核等次: a closed appraisal of last year, voted and counted, whose result
rules decide levels with a quota and a veto (docs/results.md).

王建国 has the best composite (93) but 2 of 5 in every category rate his 党风廉政建设
不称职 (40%, 超过三分之一): the veto takes him out of the ranking and makes him 不称职.
李明华 and 张志强 then share the top (91, both 60% 优秀) for the one 优秀 place (20% of
six, rounded down): neither gets it, both are 称职 and marked 并列待定.
"""

from __future__ import annotations

from typing import Any

from server.roundbase.models import Round
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, create_round, open_round
from server.tokens.operations import issue_tokens
from server.voting.ballots import submit_ballot

TITLE = "2025年度领导人员民主测评（已结束·考核等次示例）"
INTEGRITY_FLAG = "党风廉政建设“不称职”票超过三分之一"
RESULTS: dict[str, Any] = {
    "min_turnout": "2/3",
    "flags": [{"grade": "incompetent", "share_above": "1/3", "label": "“不称职”票超过三分之一"},
              {"grade": "incompetent", "criterion": "integrity", "share_above": "1/3",
               "label": INTEGRITY_FLAG}],
    "levels": [
        {"level": "优秀", "when": [{"rate": "优秀率", "at_least": "1/2"}], "quota": "20%"},
        {"level": "称职", "when": [{"rate": "称职以上率", "at_least": "2/3"}]},
        {"level": "基本称职", "when": [{"rate": "基本称职以上率", "at_least": "1/2"}]},
        {"level": "不称职"},
    ],
    "vetoes": [{"label": "廉政一票否决", "when": [{"flag": INTEGRITY_FLAG}], "level": "不称职"},
               {"label": "“不称职”票超过三分之一", "when": [{"rate": "不称职率", "above": "1/3"}],
                "level": "不称职"}],
}
# Each category votes in the same five-ballot pattern: (overall grades, integrity grades).
E, C, B, X = "excellent", "competent", "basic", "incompetent"
PATTERN = {
    "王建国": ([E, E, E, E, C], [X, X, C, C, C]),
    "李明华": ([E, E, E, C, C], [C] * 5),
    "张志强": ([E, C, E, E, C], [C] * 5),
    "刘秀英": ([E, E, C, C, C], [C] * 5),
    "陈海涛": ([E, C, C, C, B], [C] * 5),
    "赵丽娟": ([C, C, B, B, B], [C] * 5),
}
CRITERIA = ("political", "ability", "performance", "style", "integrity", "overall")
CAST = {"公司领导": 5, "中层干部": 30, "职工代表": 50}


def seed_decided(committee_id: int, leaders: list[tuple[str, str]],
                 categories: list[dict[str, Any]]) -> Round:
    """Create, vote and close last year's appraisal of `leaders` (name, title)."""
    notes = dict(leaders)
    rnd = create_round(committee_id, "appraisal", TITLE,
                       [{"name": n, "note": notes.get(n, "")} for n in PATTERN],
                       categories, results=RESULTS, year=2025)
    rid, ids = rnd.id, {s.name: s.id for s in rnd.subjects}
    tokens = {c.id: issue_tokens(rnd, c.id, CAST.get(c.name, 5)) for c in rnd.categories}
    open_round(rnd)
    for cat_tokens in tokens.values():
        for i, token in enumerate(cat_tokens):
            submit_ballot(token, {str(ids[name]): _row(overall[i % 5], integrity[i % 5])
                                  for name, (overall, integrity) in PATTERN.items()})
    return close_round(get_round(rid))  # voting used its own sessions: read it again


def _row(overall: str, integrity: str) -> dict[str, str]:
    return {c: overall if c == "overall" else integrity if c == "integrity" else "competent"
            for c in CRITERIA}
