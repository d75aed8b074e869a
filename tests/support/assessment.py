"""Builders for combined-assessment tests: a roster and published rounds whose
ballots are chosen so the results can be computed by hand."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook

from server.core.db import db
from server.organization.models import Branch, Member
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, create_round, open_round, publish_round
from server.tokens.operations import issue_tokens
from server.voting.ballots import submit_ballot

ONE_CATEGORY = [{"name": "全体参评人员", "expected_count": 10, "weight": 1}]


def roster(committee_id: int, people: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Members of one branch: (工号, 姓名) → {工号: member id}."""
    branch = Branch(committee_id=committee_id, name="第一党支部")
    db.session.add(branch)
    db.session.flush()
    out = {}
    for no, name in people:
        m = Member(committee_id=committee_id, branch_id=branch.id, member_no=no, name=name,
                   title="职务")
        db.session.add(m)
        db.session.flush()
        out[no] = m.id
    db.session.commit()
    return out


def published(committee_id: int, form: str, title: str, subjects: list[dict[str, Any]],
              ballots: list[dict[str, Any]], year: int | None = None) -> int:
    """The id of a round of a preset form, published with these ballots. A ballot maps a subject's
    position to the grade (appraisal: every criterion) or the item scores (scoring)."""
    rnd = create_round(committee_id, form, title, subjects, [dict(c) for c in ONE_CATEGORY],
                       results={"min_turnout": 0}, **({"year": year} if year else {}))
    round_id = rnd.id
    tokens = issue_tokens(rnd, rnd.categories[0].id, len(ballots))
    open_round(rnd)
    for token, ballot in zip(tokens, ballots, strict=True):
        answers = {}
        for pos, value in ballot.items():
            sid = str(rnd.subjects[pos].id)
            if rnd.kind == "appraisal":
                answers[sid] = {c["key"]: value for c in rnd.form["criteria"]}
            else:
                answers[sid] = dict(zip([i["key"] for i in rnd.form["items"]], value,
                                        strict=True))
        submit_ballot(token, answers)
    close_round(get_round(round_id))
    publish_round(get_round(round_id))
    return round_id


def xlsx(rows: list[list[Any]]) -> bytes:
    """A sheet as someone would fill it in (not through the project's writer)."""
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
