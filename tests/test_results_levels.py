"""Issue 22, part 3: 考核等次 by written rules, quotas (好中选优) with ties at the
boundary, and 一票否决 that takes a subject out of the ranking. Engine unit tests and
the same through the API and the exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from server.forms.answers import check_answers
from server.forms.templates import load_forms
from server.resultsengine.config import ResultRules
from server.resultsengine.engine import check_rules, compute_results
from tests.factories import organizer
from tests.support.rounds_http import run_round

APPRAISAL = load_forms(Path(__file__).resolve().parents[1] / "config" / "forms")["appraisal"]
CRITERIA = [c["key"] for c in APPRAISAL["criteria"]]

LEVELS = [
    {"level": "优秀", "when": [{"rate": "优秀率", "at_least": "1/2"}], "quota": "20%"},
    {"level": "称职", "when": [{"rate": "称职以上率", "at_least": "2/3"}]},
    {"level": "基本称职", "when": [{"rate": "基本称职以上率", "at_least": "1/2"}]},
    {"level": "不称职"},
]
INTEGRITY = {"grade": "incompetent", "criterion": "integrity", "share_above": "1/3",
             "label": "廉政“不称职”票超过三分之一"}
VETO = {"label": "廉政一票否决", "when": [{"flag": INTEGRITY["label"]}], "level": "不称职"}

# Ten voters rate five leaders (overall grade; 廉洁 for the integrity flag):
#   0: 7 优秀 3 称职, but 4 of 10 rate 廉洁 不称职 → veto: best score, not ranked, 不称职
#   1 and 2: 6 优秀 4 称职 each, the same score → share the top of the ranking; the one
#      优秀 place (20% of 5) would go to one of two equal scores: neither gets it (并列)
#   3: 3 优秀 5 称职 2 基本称职 → 称职 (80% 称职以上)
#   4: 1 优秀 4 称职 5 基本称职 → 基本称职 (50% 称职以上, 100% 基本称职以上)
PLAN = {0: ["excellent"] * 7 + ["competent"] * 3, 1: ["excellent"] * 6 + ["competent"] * 4,
        2: ["excellent"] * 6 + ["competent"] * 4,
        3: ["excellent"] * 3 + ["competent"] * 5 + ["basic"] * 2,
        4: ["excellent"] + ["competent"] * 4 + ["basic"] * 5}


def ballot(i: int) -> dict[str, dict[str, str]]:
    return {f"#{s}": {c: (("incompetent" if s == 0 and i < 4 else "competent")
                          if c == "integrity" else grades[i] if c == "overall" else "competent")
                      for c in CRITERIA} for s, grades in PLAN.items()}


def engine(rules: ResultRules) -> dict[str, Any]:
    subs = [{"id": 100 + s, "name": f"对象{s}", "note": ""} for s in PLAN]
    cats = [{"id": 1, "name": "全体", "expected_count": 10, "weight": 1}]
    ids = [s["id"] for s in subs]
    ballots = [(1, check_answers(APPRAISAL, ids, {str(100 + int(k[1:])): v
                                                 for k, v in ballot(i).items()}))
               for i in range(10)]
    return compute_results(APPRAISAL, subs, cats, ballots, None, rules)


def table(out: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(s["name"], s["score"], s["rank"], s["level"], s["level_tie"], s["vetoes"])
            for s in out["appraisal"]["subjects"]]


def test_without_a_veto_the_flagged_leader_is_ranked_first() -> None:
    out = engine(ResultRules(k=1, flags=[INTEGRITY], levels=LEVELS))
    rows = table(out)
    assert rows[0][:3] == ("对象0", 92.0, 1)
    assert out["appraisal"]["subjects"][0]["flags"] == [INTEGRITY["label"]]
    # the one 优秀 place goes to 对象0 (92), alone above the rest
    assert rows[0][3] == "优秀" and rows[1][3] == rows[2][3] == "称职"


def test_a_veto_takes_the_leader_out_of_the_ranking_and_sets_the_level() -> None:
    out = engine(ResultRules(k=1, flags=[INTEGRITY], levels=LEVELS, vetoes=[VETO]))
    assert table(out) == [
        ("对象0", 92.0, None, "不称职", None, ["廉政一票否决"]),
        # 对象1 and 对象2 tie (91) for the one 优秀 place: neither gets it
        ("对象1", 91.0, 1, "称职", "优秀", []),
        ("对象2", 91.0, 1, "称职", "优秀", []),
        ("对象3", 86.0, 3, "称职", None, []),
        ("对象4", 81.0, 4, "基本称职", None, []),
    ]
    a = out["appraisal"]
    assert a["order"] == [101, 102, 103, 104, 100]  # the vetoed last
    assert a["levels"] == ["优秀", "称职", "基本称职", "不称职"]
    assert any("并列于名额边界" in n for n in out["notes"])
    assert any("一票否决：对象0（廉政一票否决），不参加排名" == n for n in out["notes"])


def test_a_quota_with_room_for_the_tie_gives_both_the_level() -> None:
    levels = [{**LEVELS[0], "quota": 2}, *LEVELS[1:]]
    out = engine(ResultRules(k=1, flags=[INTEGRITY], levels=levels, vetoes=[VETO]))
    assert [s["level"] for s in out["appraisal"]["subjects"]] == [
        "不称职", "优秀", "优秀", "称职", "基本称职"]


def test_a_veto_may_keep_the_rank_and_levels_without_a_default_leave_none() -> None:
    veto = {**VETO, "rank": True}
    levels = [*LEVELS[:2], {"level": "不称职", "when": [{"rate": "不称职率", "above": "1/2"}]}]
    out = engine(ResultRules(k=1, flags=[INTEGRITY], levels=levels, vetoes=[veto]))
    rows = table(out)
    assert rows[0][2] == 1 and rows[0][3] == "不称职"
    assert rows[4][3] is None  # 对象4 meets none of the levels and there is no default


def test_rate_and_score_conditions_compare_exactly() -> None:
    levels = [{"level": "好", "when": [{"score": "综合得分", "at_least": 89},
                                       {"grades": ["excellent"], "above": "1/2"}]},
              {"level": "其他"}]
    out = engine(ResultRules(k=1, levels=levels))
    # 对象0: 92, 优秀 7/10; 对象1/2: 91, 优秀 6/10 > 1/2; 对象3: 86 < 89
    assert [s["level"] for s in out["appraisal"]["subjects"]] == ["好", "好", "好", "其他",
                                                                  "其他"]


@pytest.mark.parametrize(("rules", "words"), [
    ({"levels": [{"level": "优秀", "when": [{"rate": "好率", "at_least": "1/2"}]}]},
     "unknown rate '好率'"),
    ({"vetoes": [{"label": "x", "when": [{"flag": "nobody"}]}]}, "no flag rule"),
    ({"levels": [{"level": "优秀", "when": [{"rate": "优秀率", "most": "1/2"}]}]},
     "unknown keys"),
    ({"levels": [{"level": "甲"}], "vetoes": [{"label": "x", "level": "乙",
                                              "when": [{"score": "得分", "below": 60}]}]},
     "not one of the levels"),
])
def test_rules_that_cannot_be_asked_are_refused(rules: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        check_rules(ResultRules.from_dict(rules), APPRAISAL,
                    [{"id": 1, "name": "全体", "expected_count": 3}])


# ----------------------------------------------------------------- through the API


@pytest.fixture
def key(app):
    with app.app_context():
        _, raw = organizer()
    return {"Authorization": f"Bearer {raw}"}


def test_levels_and_veto_through_the_api_and_exports(app, client, key) -> None:
    body = {"form": "appraisal", "title": "班子成员考核", "subjects": [
        {"name": f"对象{s}"} for s in PLAN], "categories": [{"name": "全体", "expected_count": 10}],
        "results": {"flags": [INTEGRITY], "levels": LEVELS, "vetoes": [VETO]}}
    rnd, _ = run_round(client, key, body, {"全体": [ballot(i) for i in range(10)]})
    assert rnd["results"]["levels"][0]["quota"] == "20%"
    res = client.get(f"/api/v1/rounds/{rnd['id']}/results", headers=key).json
    subjects = res["appraisal"]["subjects"]
    assert [(s["rank"], s["level"], s["level_tie"]) for s in subjects] == [
        (None, "不称职", None), (1, "称职", "优秀"), (1, "称职", "优秀"), (3, "称职", None),
        (4, "基本称职", None)]
    text = "；".join(res["rule_text"])
    assert "名额边界上综合得分（显示值）相同者均不评为该等次" in text
    assert "一票否决（廉政一票否决）：有“廉政“不称职”票超过三分之一”标记的，不参加排名、" \
           "考核等次定为“不称职”" in text

    csv_text = client.get(f"/api/v1/rounds/{rnd['id']}/export.csv",
                          headers=key).data.decode("utf-8-sig")
    rows = [r for r in csv.DictReader(io.StringIO(csv_text)) if r["category"] == "全部"]

    def shown(name: str, measure: str) -> list[str]:
        return [r["shown"] for r in rows if r["subject"] == name and r["measure"] == measure]

    assert shown("对象0", "rank") == [] and shown("对象0", "level") == ["不称职"]
    assert shown("对象0", "veto") == ["廉政一票否决"]
    assert shown("对象1", "level") == ["称职"] and shown("对象1", "level_tie") == ["优秀"]
    assert shown("对象1", "rank") == shown("对象2", "rank") == ["1"]
    assert shown("对象3", "rate:competent+") == ["80.00%"]

    # the console's results page: 等次, 称职以上率, the veto and the quota tie
    from tests.conftest import csrf_token

    login = client.get("/console/login").get_data(as_text=True)
    client.post("/console/login", data={"csrf_token": csrf_token(login),
                                        "username": "organizer", "password": "correct horse 1"})
    page = client.get(f"/console/rounds/{rnd['id']}/results").get_data(as_text=True)
    for words in ("<th>考核等次</th>", "称职以上率", "一票否决：廉政一票否决", "“优秀”并列待定",
                  "名额边界上综合得分（显示值）相同者均不评为该等次"):
        assert words in page, words

    # after publish the projector shows the 等次 too
    from server.results.view import forget_projector
    from tests.support.rounds_http import lifecycle

    assert lifecycle(client, key, rnd["id"], "publish").status_code == 200
    with app.app_context():
        forget_projector(rnd["id"])
    board = client.get(f"/api/v1/rounds/{rnd['id']}/projector", headers=key).json["results"]
    assert [(x["rank"], x["level"], x["vetoes"]) for x in board["subjects"]] == [
        (None, "不称职", ["廉政一票否决"]), (1, "称职", []), (1, "称职", []), (3, "称职", []),
        (4, "基本称职", [])]


def test_bad_level_rules_are_refused_with_their_field(app, client, key) -> None:
    body = {"form": "recommendation", "title": "推荐", "max_choices": 1,
            "subjects": [{"name": "甲"}], "categories": [{"name": "全体", "expected_count": 9}],
            "results": {"levels": [{"level": "优秀"}]}}
    res = client.post("/api/v1/rounds", json=body, headers=key)
    assert res.status_code == 422 and res.json["error"]["code"] == "invalid_result_rules"
    assert "不正确" in res.json["error"]["message"]


# ----------------------------------------------------------------- the demo


def test_the_demos_last_year_decides_levels_with_a_veto_and_a_quota_tie(app) -> None:
    from server.demo.seed import seed_demo
    from server.results.official import frozen_results

    with app.app_context():
        seed_demo("http://127.0.0.1:5000")
        from server.core.db import db
        from server.demo.decided import TITLE
        from server.roundbase.models import Round

        rnd = db.session.execute(db.select(Round).filter_by(title=TITLE)).scalar_one()
        # published by the combined assessment's demo (server/demo/combined.py)
        assert rnd.status == "published" and rnd.year == 2025
        res = frozen_results(rnd)
    assert res["validity"]["publishable"] is True
    rows = {s["name"]: (s["score"], s["rank"], s["level"], s["level_tie"], s["vetoes"])
            for s in res["appraisal"]["subjects"]}
    assert rows == {
        "王建国": (93.0, None, "不称职", None, ["廉政一票否决"]),  # best score, vetoed
        "李明华": (91.0, 1, "称职", "优秀", []),  # the quota tie: neither is 优秀
        "张志强": (91.0, 1, "称职", "优秀", []),
        "刘秀英": (89.0, 3, "称职", None, []),
        "陈海涛": (85.0, 4, "称职", None, []),
        "赵丽娟": (79.0, 5, "基本称职", None, []),
    }
