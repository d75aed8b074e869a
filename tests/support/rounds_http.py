"""Running a round through the organizer and voter HTTP API, for the results tests."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from server.resultsengine.engine import k_violations


def create(client: FlaskClient, key: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    res = client.post("/api/v1/rounds", json=body, headers=key)
    assert res.status_code == 201, res.json
    return res.json


def issue(client: FlaskClient, key: dict[str, str], rid: int, category_id: int, n: int
          ) -> list[str]:
    res = client.post(f"/api/v1/rounds/{rid}/tokens", json={"category_id": category_id,
                                                            "count": n}, headers=key)
    assert res.status_code == 201, res.json
    return [t["token"] for t in res.json["tokens"]]


def vote(client: FlaskClient, token: str, answers: dict[str, Any]) -> str:
    res = client.post("/api/v1/ballots", json={"token": token, "answers": answers})
    assert res.status_code == 201, res.json
    return res.json["receipt"]


def lifecycle(client: FlaskClient, key: dict[str, str], rid: int, action: str) -> Any:
    return client.post(f"/api/v1/rounds/{rid}/{action}", headers=key)


def run_round(client: FlaskClient, key: dict[str, str], body: dict[str, Any],
              ballots: dict[str, list[dict[str, Any]]], close: bool = True
              ) -> tuple[dict[str, Any], list[str]]:
    """Create, issue exactly one token per ballot, open, vote, close.

    `ballots` maps a category name to the answers of its ballots, with subject
    ids written as positions ("#0", "#1", ...) or, for recommendations, as
    positions in "choices"; returns the round and the receipts.
    """
    rnd = create(client, key, body)
    rid = rnd["id"]
    ids = [s["id"] for s in rnd["subjects"]]
    cats = {c["name"]: c["id"] for c in rnd["categories"]}
    tokens = {name: issue(client, key, rid, cats[name], len(rows))
              for name, rows in ballots.items() if rows}
    assert lifecycle(client, key, rid, "open").status_code == 200
    receipts = []
    for name, rows in ballots.items():
        for token, answers in zip(tokens.get(name, []), rows, strict=True):
            receipts.append(vote(client, token, resolve(answers, ids)))
    if close:
        res = lifecycle(client, key, rid, "close")
        assert res.status_code == 200 and res.json["status"] == "closed", res.json
    return rnd, receipts


def resolve(answers: dict[str, Any], ids: list[int]) -> dict[str, Any]:
    if "choices" in answers:
        return {"choices": [ids[i] for i in answers["choices"]]}
    return {str(ids[int(k[1:])]) if k.startswith("#") else k: v for k, v in answers.items()}


def without_other_groups(text: str) -> str:
    """The text with every merged group label "其他（a、b）" taken out."""
    return re.sub(r"其他(（合并）)?（[^）]*）", "", text)


def small_names_shown(data: Any, small: set[str]) -> set[str]:
    """Names of small categories that appear as a breakdown row of their own."""
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "by_category" and isinstance(value, list):
                for row in value:
                    if len(row.get("categories", [])) == 1 and row["categories"][0] in small:
                        found.add(row["categories"][0])
            found |= small_names_shown(value, small)
    elif isinstance(data, list):
        for value in data:
            found |= small_names_shown(value, small)
    return found


def assert_k_safe_json(data: Any, k: int, small: set[str]) -> None:
    assert k_violations(data, k) == []
    assert small_names_shown(data, small) == set()
