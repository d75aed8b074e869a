"""The results engine against hand-worked rounds (tests/golden/*.toml).

Each file holds a small round (form, subjects, voter categories, ballots) and cases of
result rules with the figures expected, each worked out by hand in a comment beside it.
Every case is computed three ways that must agree to the last digit and note: from the
ballots, from the ballots in reverse order, and from the ballots as stored and digested
at close (server/voting/digest.py). Paths name list items by a field:
`appraisal.subjects[id=2].criteria[key=work].grades[key=excellent].count`; "null" in a
file stands for None (TOML has no null).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from server.forms.answers import check_answers
from server.forms.storage import encode_answers
from server.forms.templates import check_form
from server.resultsengine.config import ResultRules
from server.resultsengine.engine import compute_counted_results, compute_results
from server.voting.digest import digest

GOLDEN = Path(__file__).parent / "golden"
STEP = re.compile(r"([^.\[]+)(?:\[(\w+)=([^\]]+)\])?")


def _scenarios() -> list[Any]:
    out = []
    for path in sorted(GOLDEN.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        out += [pytest.param(data, case, id=f"{path.stem}: {case['name']}")
                for case in data["case"]]
    return out


def resolve(data: Any, path: str) -> Any:
    for name, field, value in STEP.findall(path):
        data = data[name]
        if field:
            hits = [row for row in data if str(row.get(field)) == value]
            assert len(hits) == 1, f"{path}: {len(hits)} rows with {field}={value}"
            data = hits[0]
    return data


def _round(data: dict[str, Any]) -> dict[str, Any]:
    form = check_form(data["form"])
    ids = [s["id"] for s in data["subjects"]]
    ballots = [(b["category"], check_answers(form, ids, b["answers"]))
               for b in data["ballots"] for _ in range(b.get("times", 1))]
    return {"form": form, "ids": ids, "subjects": data["subjects"],
            "categories": data["categories"], "ballots": ballots,
            "invalid": {int(c): n for c, n in data.get("invalid", {}).items()}}


@pytest.mark.parametrize(("data", "case"), _scenarios())
def test_hand_worked_results(data: dict[str, Any], case: dict[str, Any]) -> None:
    r = _round(data)
    rules = ResultRules(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in case.get("rules", {}).items()})
    fixed = (r["form"], r["subjects"], r["categories"])
    ballots = compute_results(*fixed, r["ballots"], r["invalid"], rules)
    reverse = compute_results(*fixed, r["ballots"][::-1], r["invalid"], rules)
    stored = [(cid, encode_answers(r["form"], answers)) for cid, answers in r["ballots"]]
    counted, spoilt = digest(r["form"], r["ids"], stored).counted()
    assert not spoilt  # every stored ballot of a golden round is valid
    digested = compute_counted_results(*fixed, counted, r["invalid"], rules)
    text = json.dumps(ballots, sort_keys=True, ensure_ascii=False)
    assert json.dumps(reverse, sort_keys=True, ensure_ascii=False) == text
    assert json.dumps(digested, sort_keys=True, ensure_ascii=False) == text
    wrong = {}
    for path, expected in case["expect"].items():
        got = resolve(ballots, path)
        if got != (None if expected == "null" else expected):
            wrong[path] = {"expected": expected, "got": got}
    assert not wrong, json.dumps(wrong, ensure_ascii=False, indent=1)
