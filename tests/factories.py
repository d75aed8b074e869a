"""Builders for test data through the same operations the app uses."""

from __future__ import annotations

from typing import Any

from flask import Flask

from server.accounts.operations import create_user, new_api_key
from server.core.db import db
from server.organization.models import Committee
from server.rounds.operations import create_round, open_round
from server.tokens.operations import issue_tokens

CATEGORIES = [
    {"name": "公司领导", "expected_count": 10, "weight": 0.3},
    {"name": "中层干部", "expected_count": 40, "weight": 0.4},
    {"name": "职工代表", "expected_count": 70, "weight": 0.3},
]


def committee(name: str = "测试公司党委") -> Committee:
    c = db.session.execute(db.select(Committee).filter_by(name=name)).scalar_one_or_none()
    if c is None:
        c = Committee(name=name)
        db.session.add(c)
        db.session.commit()
    return c


def organizer(username: str = "organizer", role: str = "organizer") -> tuple[Any, str]:
    """A staff user and a fresh API key for it."""
    c = committee()
    user = create_user(username, "correct horse 1", role=role, committee_id=c.id)
    return user, new_api_key(user, "tests")


def make_round(kind: str = "appraisal", n_subjects: int = 3, open_it: bool = True,
               tokens_per_category: int = 5, **options: Any) -> tuple[Any, dict[int, list[str]]]:
    """A round of the given form with tokens issued per category.

    Its results may be published whatever the turnout (a few ballots of the 120
    expected) unless the test passes its own `results` rules.
    """
    options.setdefault("results", {"min_turnout": 0})
    form_key = {"appraisal": "appraisal", "recommendation": "recommendation",
                "scoring": "review"}[kind]
    subjects = [{"name": f"对象{i + 1}", "note": "职务"} for i in range(n_subjects)]
    rnd = create_round(committee().id, form_key, f"测试{kind}", subjects,
                       [dict(c) for c in CATEGORIES], **options)
    tokens = {c.id: issue_tokens(rnd, c.id, tokens_per_category) for c in rnd.categories}
    if open_it:
        open_round(rnd)
    return rnd, tokens


def valid_answers(rnd: Any, variant: int = 0) -> dict[str, Any]:
    form = rnd.form
    if rnd.kind == "appraisal":
        grades = [g["key"] for g in form["grades"]]
        return {str(s.id): {c["key"]: grades[(variant + i) % len(grades)]
                            for i, c in enumerate(form["criteria"])} for s in rnd.subjects}
    if rnd.kind == "recommendation":
        ids = [s.id for s in rnd.subjects]
        k = max(form["min_choices"], min(form["max_choices"], 1 + variant % form["max_choices"]))
        return {"choices": [ids[(variant + i) % len(ids)] for i in range(k)]}
    return {str(s.id): {i["key"]: min(i["max"], (variant % 10) + 0.5) for i in form["items"]}
            for s in rnd.subjects}


def in_app(app: Flask):  # noqa: ANN201 - tiny helper
    return app.app_context()
