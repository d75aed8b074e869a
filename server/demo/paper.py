"""The demo's paper ballots (纸质票): a 后备干部推荐 whose workshop attendees voted on
paper. The vote is closed; three sheets are counted (one of them 无效, 多选), and one
sheet waits for its second entry: the clerk entered it, the demo user can enter it
again on the paper-entry screen (/console/rounds/<id>/paper), and only then publish.
"""

from __future__ import annotations

from typing import Any

from server.accounts.models import User
from server.accounts.operations import create_user
from server.core.db import db
from server.paper.operations import enter_again, enter_first, issue_paper
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, create_round, open_round
from server.tokens.operations import issue_tokens
from server.voting.ballots import submit_ballot

TITLE = "2026年度车间后备干部民主推荐（纸质票示例）"
CLERK = "demo-clerk"  # the second person of the double entry (双人录入)
CATEGORIES = [{"name": "车间管理人员", "expected_count": 6},
              {"name": "车间职工", "expected_count": 9}]
ELECTRONIC = {"车间管理人员": 5, "车间职工": 3}
PAPER = {"车间职工": 5}


def seed_paper(committee_id: int, candidates: list[tuple[str, str]], demo_user: str,
               password: str) -> int:
    """Create, vote, close the round and enter its paper sheets; returns its id."""
    create_user(CLERK, password, role="organizer", committee_id=committee_id,
                display_name="党委组织部录入员（演示）")
    rnd = create_round(committee_id, "recommendation", TITLE,
                       [{"name": n, "note": t} for n, t in candidates[:5]], CATEGORIES,
                       min_choices=1, max_choices=2)
    rid, ids = rnd.id, [s.id for s in rnd.subjects]
    cats = {c.name: c.id for c in rnd.categories}
    for name, n in PAPER.items():
        issue_paper(rnd, cats[name], n)
    tokens = [t for name, n in ELECTRONIC.items() for t in issue_tokens(rnd, cats[name], n)]
    open_round(rnd)
    for i, token in enumerate(tokens):
        submit_ballot(token, {"choices": [ids[i % 3], ids[3]]})
    rnd = close_round(get_round(rid))  # voting used its own sessions: read it again
    demo, clerk = (db.session.execute(db.select(User).filter_by(username=name)).scalar_one()
                   for name in (demo_user, CLERK))
    worker = cats["车间职工"]
    sheets: list[dict[str, Any]] = [{"answers": {"choices": [ids[0], ids[3]]}},
                                    {"answers": {"choices": [ids[1]]}},
                                    {"invalid": "over_marked"}]
    for number, body in enumerate(sheets, 1):
        enter_first(rnd, demo, {"category_id": worker, **body})
        enter_again(rnd, number, clerk, body)
    enter_first(rnd, clerk, {"category_id": worker, "answers": {"choices": [ids[2], ids[4]]}})
    return rid
