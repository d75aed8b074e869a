"""Scopes hold everywhere: every route that can return a round's subject names or
scores, with every role and every round state.

Each round here has subject names of its own, so a name in an answer says which
round leaked. WHO_SEES classifies every GET route about a round (and the points
feed) by who may see names through it; the first test fails when a route with a
round id is missing from it. Expected, for the round's committee:

* results (API, console page): organizer, admin and committee, once closed (also a
  rehearsal) or while open when the round shows live results (show_live_results);
* exports: the same readers, once closed;
* projector: the readers, while open with live results, once closed only with
  当场公布 (announce_on_close), and once published;
* the points feed: the points keepers (admin, committee, secretary), once published;
* the round itself (its definition): the readers, in every state;
* turnout, receipts (API and the public /r/<id> page), mini-program lists: nobody.

Anonymous callers, secretaries (except the published feed) and another committee's
organizer never see a name.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import text

from server.core.db import db
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, create_round, open_round, publish_round
from server.rounds.rehearsal import open_rehearsal
from server.tokens.operations import issue_tokens
from server.voting.ballots import submit_ballot
from tests.factories import valid_answers
from tests.support.hostile import build_site
from tests.test_roles import ANON, Call, RoleClient

OTHER = "other_committee"
ROLES = (ANON, "admin", "organizer", "committee", "secretary", OTHER)
READERS = {"admin", "organizer", "committee"}
KEEPERS = {"admin", "committee", "secretary"}
STATES = ("draft", "open", "closing", "closed", "published", "rehearsal")
TAGS = {"draft": "草拟", "open": "进行", "closing": "收尾", "closed": "截止", "published": "公布",
        "rehearsal": "演练"}

# endpoint -> who may see names through it (see the module docstring)
WHO_SEES = {
    "rounds.read_results": "results",
    "console.results": "results",
    "results.export_xlsx": "export",
    "results.export_csv": "export",
    "results.export_pdf": "export",
    "results.projector": "projector",
    "points.feed_round": "feed",
    "rounds.read": "definition",
    "console.round_detail": "definition",
    "console.round_edit": "draft_editor",
    "miniprogram_console.round_page": "nobody",
    "console.projector": "nobody",  # the page draws what results.projector answers
    "rounds.read_turnout": "nobody",
    "results.receipts": "nobody",
    "receipts_page.receipts_page": "nobody",
    "miniprogram.list_categories": "nobody",
    "miniprogram.list_exports": "nobody",
    "miniprogram.list_comments": "nobody",
    "miniprogram.read_options": "nobody",
    "miniprogram.list_session_codes": "nobody",
    "miniprogram.session_code_image": "nobody",
    "miniprogram_console.session_code": "nobody",
    # names only on rounds scored per subject (a count per subject, never a score); the
    # rounds here are appraisal rounds (tests/test_subject_scores.py covers the others)
    "rounds.read_subject_progress": "nobody",
    "paper.overview": "nobody",  # counts of sheets per category and state
    "paper.ballot": "paper",
    "paper_console.paper_page": "paper_entry",
    "paper_console.ballot_pdf": "paper",
    # a sheet's page (its two entries): these rounds hold no sheet, so it answers 404;
    # who sees a sheet is tests/test_paper_ballots.py's and test_roles.py's
    "paper_console.sheet_page": "nobody",
}
# files that carry names when they are served at all (the printed paper ballot)
NAMED_FILES = {"paper.ballot", "paper_console.ballot_pdf"}
BINARY = {"results.export_xlsx", "results.export_pdf", "miniprogram.session_code_image",
          "miniprogram_console.session_code", "paper.ballot", "paper_console.ballot_pdf"}


@dataclass
class Case:
    state: str
    shown: bool  # show_live_results and announce_on_close
    round_id: int
    category_id: int
    names: list[str]


def _round_routes(app) -> dict[str, str]:
    """endpoint -> URL rule of every GET route about one round, plus the points feed."""
    out = {}
    for rule in app.url_map.iter_rules():
        if "round_id" in rule.arguments and "GET" in rule.methods:
            out[rule.endpoint] = rule.rule
    out["points.feed_round"] = "/api/v1/points/rounds/<int:round_id>/feed"
    return out


def test_every_round_route_says_who_sees_names(app):
    routes = _round_routes(app)
    assert sorted(set(routes) - set(WHO_SEES)) == [], "say who may see names through these"
    assert sorted(set(WHO_SEES) - set(routes)) == [], "these routes no longer exist"


def expected(endpoint: str, role: str, case: Case) -> bool:
    who, state = WHO_SEES[endpoint], case.state
    reader = role in READERS
    if who == "nobody":
        return False
    if who == "feed":
        return role in KEEPERS and state == "published"
    if not reader:
        return False
    if who == "definition":
        return True
    if who == "draft_editor":
        return role != "committee" and state == "draft"
    if who == "paper":
        # the printed paper ballot: the organizers (not the committee's readers)
        return role != "committee"
    if who == "paper_entry":
        # the entry form of the double entry: the organizers, from close until publish
        return role != "committee" and state in ("closed", "rehearsal")
    done = state in ("closed", "published", "rehearsal")
    if who == "export":
        return done
    if who == "results":
        return done or (state == "open" and case.shown)
    assert who == "projector"
    return state == "published" or (case.shown and state in ("open", "closed", "rehearsal"))


def _make(committee_id: int, state: str, shown: bool) -> Case:
    tag = TAGS[state] + ("显示" if shown else "隐藏")
    names = [f"{tag}对象{c}" for c in "甲乙丙"]
    rnd = create_round(committee_id, "appraisal", f"范围测试{state}",
                       [{"name": n, "note": "职务"} for n in names],
                       [{"name": "中层", "expected_count": 4}], results={"min_turnout": 0},
                       show_live_results=shown, announce_on_close=shown)
    cat = rnd.categories[0].id
    if state != "draft":
        if state == "rehearsal":
            open_rehearsal(rnd)
            tokens = issue_tokens(rnd, cat, 3)
        else:
            tokens = issue_tokens(rnd, cat, 3)
            open_round(rnd)
        for i, token in enumerate(tokens):
            submit_ballot(token, valid_answers(rnd, i))
    if state in ("closed", "published", "rehearsal"):
        close_round(get_round(rnd.id))
    if state == "published":
        publish_round(get_round(rnd.id))
    if state == "closing":
        db.session.execute(text("UPDATE rounds SET status = 'closing' WHERE id = :r"),
                           {"r": rnd.id})
        db.session.commit()
    return Case(state, shown, rnd.id, cat, names)


@pytest.fixture
def scene(app):
    with app.app_context():
        site = build_site()
        site.usernames[OTHER], site.keys[OTHER] = "other_org", site.other_key
        cases = [_make(site.committee_id, state, shown) for state in STATES
                 for shown in (False, True)]
    return site, cases


def _call(endpoint: str, rule: str, case: Case) -> Call:
    url = rule.replace("<int:round_id>", str(case.round_id)).replace(
        "<int:category_id>", str(case.category_id))
    if endpoint == "points.feed_round":
        return Call("POST", url, {"item": "群众测评", "period": "2026Q2"})
    return Call("GET", url)


def test_names_and_scores_reach_only_those_allowed(app, scene):
    site, cases = scene
    routes = _round_routes(app)
    clients = {role: RoleClient(app, site, role) for role in ROLES}
    wrong, seen = [], 0
    for case in cases:
        for endpoint, rule in sorted(routes.items()):
            call = _call(endpoint, rule, case)
            for role in ROLES:
                res = clients[role].send(call)
                body = res.get_data()
                if endpoint in BINARY:
                    shown = res.status_code == 200 and (endpoint.startswith("results.")
                                                        or endpoint in NAMED_FILES)
                else:
                    page = body.decode("utf-8", "replace")
                    shown = any(name in page for name in case.names)
                    # a file or a page with the results on it is the results, named or not
                    shown = shown or (res.status_code == 200 and endpoint == "results.export_csv")
                res.close()
                want = expected(endpoint, role, case)
                seen += shown
                if shown != want:
                    wrong.append(f"{case.state}{'+shown' if case.shown else ''} {role} "
                                 f"{call.method} {call.url} -> {res.status_code} "
                                 f"{'shows' if shown else 'hides'} names")
    assert not wrong, "\n".join(wrong)
    assert seen > 100  # the check is not vacuous: the allowed do see the names


def test_feed_refuses_a_closed_round_and_one_below_its_turnout_rule(app, scene):
    """The feed's own answers: not published yet; published (by hand, say before the
    rule existed) but below the round's turnout rule."""
    site, cases = scene
    closed = next(c for c in cases if c.state == "closed")
    sec = RoleClient(app, site, "secretary")
    body = {"item": "群众测评", "period": "2026Q2"}
    res = sec.send(Call("POST", f"/api/v1/points/rounds/{closed.round_id}/feed", body))
    assert res.status_code == 409 and res.json["error"]["code"] == "round_not_published"
    with app.app_context():
        rnd = create_round(site.committee_id, "appraisal", "参评率不足",
                           [{"name": "参评不足对象", "note": ""}],
                           [{"name": "中层", "expected_count": 40}],
                           results={"min_turnout": 0.9})
        token = issue_tokens(rnd, rnd.categories[0].id, 1)[0]
        open_round(rnd)
        submit_ballot(token, valid_answers(rnd))
        close_round(get_round(rnd.id))
        db.session.execute(text("UPDATE rounds SET status = 'published' WHERE id = :r"),
                           {"r": rnd.id})
        db.session.commit()
        rid = rnd.id
    res = sec.send(Call("POST", f"/api/v1/points/rounds/{rid}/feed", body))
    assert res.status_code == 409 and res.json["error"]["code"] == "turnout_below_threshold"
    assert "参评不足对象" not in res.get_data(as_text=True)
