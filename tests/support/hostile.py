"""A populated site for the hostile-input, hardening and role tests.

One committee with two branches (tests/support/points.py), a staff account of
every role with an API key, a second committee with its own organizer and
round (for "other committee" checks), and rounds in every state: draft, open
(with unspent tokens), closed and published (with ballots).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.accounts.models import User
from server.accounts.operations import new_api_key
from server.core.db import db
from server.forms.operations import create_from_preset
from server.organization.models import Committee
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, create_round, open_round, publish_round
from server.tokens.operations import issue_tokens
from server.voting.ballots import submit_ballot
from tests.factories import CATEGORIES, valid_answers
from tests.support.points import PASSWORD, _password_hash, build_world

ROLES = ("admin", "organizer", "committee", "secretary")


@dataclass
class Site:
    committee_id: int
    other_committee_id: int
    branch_a: int
    branch_b: int
    members_a: list[int]
    users: dict[str, int] = field(default_factory=dict)  # role -> user id
    usernames: dict[str, str] = field(default_factory=dict)  # role -> username
    keys: dict[str, str] = field(default_factory=dict)  # role -> bearer key
    rounds: dict[str, int] = field(default_factory=dict)  # state -> round id
    tokens: dict[str, list[str]] = field(default_factory=dict)  # state -> unspent tokens
    receipts: dict[str, list[str]] = field(default_factory=dict)
    other_round: int = 0
    other_key: str = ""

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def _user(username: str, role: str, committee_id: int | None,
          branch_id: int | None = None) -> User:
    user = User(username=username, password_hash=_password_hash(), role=role,
                committee_id=committee_id, branch_id=branch_id, display_name=username)
    db.session.add(user)
    db.session.flush()
    return user


def _round(committee_id: int, title: str, n_tokens: int = 8,
           kind: str = "appraisal") -> tuple[Any, list[str]]:
    form = {"appraisal": "appraisal", "recommendation": "recommendation",
            "scoring": "review"}[kind]
    rnd = create_round(committee_id, form, title,
                       [{"name": f"对象{i}", "note": "职务"} for i in range(1, 4)],
                       [dict(c) for c in CATEGORIES], results={"min_turnout": 0})
    tokens = issue_tokens(rnd, rnd.categories[0].id, n_tokens)
    return rnd, tokens


def build_site(ballots: int = 3) -> Site:
    """Call inside an app context."""
    world = build_world()
    site = Site(world.committee_id, 0, world.branch_a, world.branch_b, world.members_a)
    for name, role in (("organizer", "organizer"), ("dangwei", "committee"),
                       ("sec_a", "secretary")):
        site.users[role] = world.users[name]
        site.usernames[role] = name
        site.keys[role] = world.keys[name]
    admin = _user("admin", "admin", world.committee_id)
    site.users["admin"], site.usernames["admin"] = admin.id, "admin"
    site.keys["admin"] = new_api_key(admin, "tests")
    site.users["secretary_b"] = world.users["sec_b"]
    site.keys["secretary_b"] = world.keys["sec_b"]

    other = Committee(name="另一公司党委")
    db.session.add(other)
    db.session.flush()
    site.other_committee_id = other.id
    other_user = _user("other_org", "organizer", other.id)
    site.other_key = new_api_key(other_user, "tests")
    other_round, _ = _round(other.id, "其他党委的测评")
    site.other_round = other_round.id
    for cid in (world.committee_id, other.id):  # a designed form each (ids 1 and 2)
        create_from_preset(cid, "appraisal", None)

    for state in ("draft", "open", "closed", "published"):
        rnd, tokens = _round(world.committee_id, f"测评-{state}")
        site.rounds[state] = rnd.id
        if state != "draft":
            open_round(rnd)
            receipts = []
            for i, token in enumerate(tokens[:ballots] if state != "open" else []):
                receipts.append(submit_ballot(token, valid_answers(rnd, i)).receipt)
                tokens.remove(token)
            site.receipts[state] = receipts
        if state in ("closed", "published"):
            close_round(get_round(rnd.id))
        if state == "published":
            publish_round(get_round(rnd.id))
        site.tokens[state] = tokens
    db.session.commit()
    return site


__all__ = ["PASSWORD", "ROLES", "Site", "build_site"]
