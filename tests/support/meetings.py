"""A meeting (测评会) of three forms built through the organizer API, for the tests."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

CATEGORIES = [
    {"name": "班子成员", "expected_count": 5, "weight": 1},
    {"name": "职工代表", "expected_count": 20, "weight": 1},
]
FORMS = ("appraisal", "recommendation", "review")  # three kinds of form on one slip


def round_body(form: str, title: str) -> dict[str, Any]:
    subjects = [{"name": f"对象{i + 1}", "note": "职务"} for i in range(3)]
    return {"form": form, "title": title, "subjects": subjects,
            "categories": [dict(c) for c in CATEGORIES], "results": {"min_turnout": 0}}


def make_meeting(client: FlaskClient, key: dict[str, str], submit_mode: str = "each",
                 forms: tuple[str, ...] = FORMS) -> dict[str, Any]:
    """Three draft rounds and a meeting of them (the API's answer)."""
    ids = []
    for i, form in enumerate(forms):
        res = client.post("/api/v1/rounds", json=round_body(form, f"第{i + 1}份 {form}"),
                          headers=key)
        assert res.status_code == 201, res.json
        ids.append(res.json["id"])
    res = client.post("/api/v1/meetings", headers=key, json={
        "title": "2026年度述职述廉暨民主测评会", "round_ids": ids, "submit_mode": submit_mode})
    assert res.status_code == 201, res.json
    return res.json


def answers_for(ballot: dict[str, Any], variant: int) -> dict[str, Any]:
    """Valid answers to a ballot-form answer (its form and subjects), varied by `variant`."""
    form, subjects = ballot["form"], ballot["subjects"]
    if form["kind"] == "appraisal":
        grades = [g["key"] for g in form["grades"]]
        return {str(s["id"]): {c["key"]: grades[(variant + i) % len(grades)]
                               for i, c in enumerate(form["criteria"])} for s in subjects}
    if form["kind"] == "recommendation":
        ids = [s["id"] for s in subjects]
        k = max(form["min_choices"], 1)
        return {"choices": [ids[(variant + i) % len(ids)] for i in range(k)]}
    step = 0.5 if form.get("decimals") else 1
    return {str(s["id"]): {i["key"]: min(i["max"], variant % 10 * step)
                           for i in form.get("items") or form["score_items"]} for s in subjects}
