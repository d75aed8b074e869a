"""Roles: every route in app.url_map × every role (and anonymous).

PERMISSIONS below is the table of who may use what, written out by hand. The test
fails when a route is missing from it, so a new route cannot arrive unprotected
by accident: whoever adds it must say who may call it. For every role the table
leaves out, the request is made with a body the route would accept, and must be
refused (API: 401 without a key, 403 with the wrong role; console: a redirect to
the sign-in page, or 403), with nothing changed in SQL. For the roles it lets in,
the same request must not be refused for want of a role.
The wrong role always meets 401/403 here, never a 404 or 422 that would hide
whether the role check ran at all (the request bodies are valid).

Scope (a secretary sees only their own branch; nobody sees another committee's
rounds): objects out of scope answer 404, so their existence is not revealed.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from server.core.db import db
from server.forms.operations import create_from_preset, presets
from server.roundbase.reads import get_round
from tests.factories import valid_answers
from tests.support.hostile import Site, build_site
from tests.test_hostile_input import snapshot

ANON = "anonymous"
ROLES = (ANON, "admin", "organizer", "committee", "secretary")
PUBLIC = frozenset(ROLES)
SIGNED_IN = frozenset(ROLES) - {ANON}
STAFF = frozenset({"admin", "organizer"})  # build and run rounds
READERS = frozenset({"admin", "organizer", "committee"})  # read rounds and results
POINTS_READERS = frozenset({"admin", "organizer", "committee", "secretary"})
KEEPERS = frozenset({"admin", "committee", "secretary"})  # enter and approve points
MANAGERS = frozenset({"admin", "committee"})  # periods, 党委综评

# Routes that check a credential of their own in the body (a WeChat code, a refresh
# token, WeCom's signature): their 401/403 is about that credential, not a role.
OWN_CREDENTIALS = {"console.logout", "auth.wechat_login", "auth.refresh_session",
                   "bot_callback.verify_url", "bot_callback.receive"}

# endpoint -> the roles that may use it
PERMISSIONS: dict[str, frozenset[str]] = {
    # the public: voters, the receipt page, static files, health, the API document
    "index": PUBLIC,
    "static": PUBLIC,
    "health.healthz": PUBLIC,
    "api-docs.openapi_json": PUBLIC,
    "vote_page.vote_page": PUBLIC,
    "vote_page.static": PUBLIC,
    "session_page.session_page": PUBLIC,
    "receipts_page.receipts_page": PUBLIC,
    "receipts_page.static": PUBLIC,
    "voting.read_ballot_form": PUBLIC,
    "voting.submit": PUBLIC,
    "voting.check_receipt": PUBLIC,
    "voting.send_subject_scores": PUBLIC,  # a panel member's slip, one subject at a time
    "results.receipts": PUBLIC,
    "console.login": PUBLIC,
    "console.logout": PUBLIC,
    # rounds API
    # forms API
    "forms.list_presets": READERS,
    "forms.list_forms": READERS,
    "forms.read": READERS,
    "forms.read_version": READERS,
    "forms.export": READERS,
    "forms.create": STAFF,
    "forms.delete": STAFF,
    "forms.add_version": STAFF,
    "forms.update_version": STAFF,
    "forms.import_file": STAFF,
    "rounds.list_rounds": READERS,
    "rounds.read": READERS,
    "rounds.read_turnout": READERS,
    "rounds.read_results": READERS,
    "rounds.read_subject_progress": READERS,
    "rounds.create": STAFF,
    "rounds.open_round": STAFF,
    "rounds.close_round": STAFF,
    "rounds.publish_round": STAFF,
    "rounds.issue": STAFF,
    "rounds.qr": STAFF,
    "rounds.update": STAFF,
    "rounds.delete": STAFF,
    "rounds.clone": STAFF,
    "rounds.rehearse": STAFF,
    "rounds.purge": STAFF,
    "rounds.batch": STAFF,
    "results.projector": READERS,
    "results.export_xlsx": READERS,
    "results.export_csv": READERS,
    "results.export_pdf": READERS,
    # points API
    "points.read_rules": POINTS_READERS,
    "points.list_entries": POINTS_READERS,
    "points.read_entry": POINTS_READERS,
    "points.read_board": POINTS_READERS,
    "points.read_member": POINTS_READERS,
    "points.list_periods": POINTS_READERS,
    "points.list_rectifications": POINTS_READERS,
    "points.create_entry": KEEPERS,
    "points.approve": KEEPERS,
    "points.reject": KEEPERS,
    "points.reverse": KEEPERS,
    "points.import_sheet": KEEPERS,
    "points.feed_round": KEEPERS,
    "points.add_rectification": KEEPERS,
    "points.close_rectification": KEEPERS,
    "points.set_board_visibility": KEEPERS,
    "points.close_period": MANAGERS,
    "points.publish_period": MANAGERS,
    "points.review_year": MANAGERS,
    "points.review_preview": MANAGERS,
    "points.adjust_rating": MANAGERS,
    # console
    "console.rounds": SIGNED_IN,  # the index: a secretary is sent to the points ledger
    "console.round_detail": READERS,
    "console.projector": READERS,
    "console.results": READERS,
    "console.org": READERS,
    "console.round_new": STAFF,
    "console.round_open": STAFF,
    "console.round_close": STAFF,
    "console.round_publish": STAFF,
    "console.round_slips": STAFF,
    "console.round_edit": STAFF,
    "console.round_rehearse": STAFF,
    "console.round_purge": STAFF,
    "console.forms": STAFF,
    "console.form_new": STAFF,
    "console.form_from_preset": STAFF,
    "console.form_import": STAFF,
    "console.form_preview_draft": STAFF,
    "console.form_edit": STAFF,
    "console.form_new_version": STAFF,
    "console.form_delete": STAFF,
    "console.form_export": STAFF,
    "console.form_preview": STAFF,
    "console.form_preview_frame": STAFF,
    "console.round_delete": STAFF,
    "console.round_clone": STAFF,
    "console.round_batch": STAFF,
    "console.org_import": STAFF,
    "console.audit": STAFF,
    "console.keys": SIGNED_IN,  # one's own API keys
    "console.key_create": SIGNED_IN,
    "console.key_revoke": SIGNED_IN,  # one's own, or (staff) the committee's accounts'
    "console.users": STAFF,
    "console.user_deactivate": STAFF,
    "console.user_reactivate": STAFF,
    # API keys
    "api_keys.list_keys": SIGNED_IN,
    "api_keys.create_key": SIGNED_IN,
    "api_keys.revoke_key": SIGNED_IN,
    "points_console.static": PUBLIC,
    "points_console.boards": POINTS_READERS,
    "points_console.entries": POINTS_READERS,
    "points_console.member": POINTS_READERS,
    "points_console.periods": POINTS_READERS,
    "points_console.rectifications": POINTS_READERS,
    "points_console.stars_export": POINTS_READERS,
    "points_console.import_page": KEEPERS,
    "points_console.import_template": KEEPERS,
    "points_console.import_upload": KEEPERS,
    "points_console.entry_create": KEEPERS,
    "points_console.entry_approve": KEEPERS,
    "points_console.entry_reject": KEEPERS,
    "points_console.entry_reverse": KEEPERS,
    "points_console.rectification_add": KEEPERS,
    "points_console.rectification_close": KEEPERS,
    "points_console.board_visibility": KEEPERS,
    "points_console.period_close": MANAGERS,
    "points_console.period_publish": MANAGERS,
    "points_console.year_review": MANAGERS,
    "points_console.rating_adjust": MANAGERS,
    # mini-program API (server/miniprogram): voters' and staff's sides
    "auth.wechat_login": PUBLIC,
    "auth.refresh_session": PUBLIC,
    "auth.logout": SIGNED_IN,
    "auth.me": SIGNED_IN,
    "auth.unbind": SIGNED_IN,
    "miniprogram.resolve_slip": PUBLIC,
    "miniprogram.claim_token": PUBLIC,
    "miniprogram.session_key": PUBLIC,
    "miniprogram.check_content": PUBLIC,
    "miniprogram.list_categories": READERS,
    "miniprogram.list_exports": READERS,
    "miniprogram.read_options": READERS,
    "miniprogram.list_comments": READERS,
    "miniprogram.write_options": STAFF,
    "miniprogram.issue_slip_codes": STAFF,
    "miniprogram.list_session_codes": STAFF,
    "miniprogram.session_code_image": STAFF,
    "miniprogram.rotate_session_codes": STAFF,
    "miniprogram.add_to_pool": STAFF,
    "miniprogram_console.wechat_page": SIGNED_IN,
    "miniprogram_console.wechat_binding_code": SIGNED_IN,
    "miniprogram_console.wechat_unbind": SIGNED_IN,
    "miniprogram_console.round_page": READERS,
    "miniprogram_console.round_options": STAFF,
    "miniprogram_console.round_slips": STAFF,
    "miniprogram_console.round_pool": STAFF,
    "miniprogram_console.round_rotate": STAFF,
    "miniprogram_console.session_code": STAFF,
    # leaderboard bot (bot/): WeCom's callback is signed, share links carry a signature
    "bot_callback.verify_url": PUBLIC,
    "bot_callback.receive": PUBLIC,
    "bot_share.share_page": PUBLIC,
    "bot_share.share_card": PUBLIC,
    "bot_share.static": PUBLIC,
    "bot_console.static": PUBLIC,
    "bot_console.publish_page": POINTS_READERS,
    "bot_console.history_page": POINTS_READERS,
    "bot_console.post_action": POINTS_READERS,
    "bot_console.targets_page": POINTS_READERS,
    "bot_console.target_add": POINTS_READERS,
    "bot_console.target_disable": POINTS_READERS,
    "bot_console.preview_png": KEEPERS,
    "bot_console.publish": KEEPERS,
    "bot_console.users_page": KEEPERS,
    "bot_console.user_link": KEEPERS,
    "bot_console.user_unlink": KEEPERS,
    # combined assessments (综合考核) and a member's history: like rounds
    "assessment.list_assessments": READERS,
    "assessment.read": READERS,
    "assessment.export_xlsx": READERS,
    "assessment.member_history": READERS,
    "assessment.create": STAFF,
    "assessment.set_parts": STAFF,
    "assessment.upload_sheet": STAFF,
    "assessment_console.assessments": READERS,
    "assessment_console.detail": READERS,
    "assessment_console.member_history": READERS,
    "assessment_console.create": STAFF,
    "assessment_console.set_parts": STAFF,
    "assessment_console.upload_sheet": STAFF,
    # paper ballots (server/paper)
    "paper.overview": STAFF,
    "paper.issue": STAFF,
    "paper.ballot": STAFF,
    "paper.enter_first": STAFF,
    "paper.enter_again": STAFF,
    "paper_console.paper_page": STAFF,
    "paper_console.issue": STAFF,
    "paper_console.ballot_pdf": STAFF,
    "paper_console.enter_first": STAFF,
    "paper_console.sheet_page": STAFF,
    "paper_console.enter_again": STAFF,
    "paper.meeting_ballot": STAFF,
    "paper_console.meeting_ballot_pdf": STAFF,
    # meetings (测评会, server/meetings): like rounds; a meeting slip's voter is anyone
    "meeting_page.meeting_page": PUBLIC,
    "meeting_page.static": PUBLIC,
    "meeting_slip.read_slip": PUBLIC,
    "meetings.list_meetings": READERS,
    "meetings.read": READERS,
    "meetings.read_turnout": READERS,
    "meetings.create": STAFF,
    "meetings.open_": STAFF,
    "meetings.close": STAFF,
    "meetings.issue": STAFF,
    "meetings_console.meetings": READERS,
    "meetings_console.detail": READERS,
    "meetings_console.projector": READERS,
    "meetings_console.create": STAFF,
    "meetings_console.action": STAFF,
    "meetings_console.slips": STAFF,
}


# -- the requests ----------------------------------------------------------------------

@dataclass
class Call:
    method: str
    url: str
    json: Any = None
    data: Any = None


@dataclass
class World:
    site: Site
    entry_id: int
    item_id: int


def _points_world(app, site: Site) -> World:
    """A pending points entry and an open rectification item in branch A."""
    from server.accounts.models import User
    from server.points import operations, rectification

    with app.app_context():
        admin = db.session.get(User, site.users["admin"])
        entry = operations.create_entry(admin, "member", site.members_a[0], "branch_meeting",
                                        None, "2026Q1", "按时参加支部党员大会", "")
        item = rectification.add_item(admin, site.branch_a, "问题", "来源", "责任人",
                                      "2026-12-31", "")
        return World(site, entry.id, item.id)


def _xlsx() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["编号", "姓名", "项目", "分值", "事由"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _fresh_draft(app, s: Site) -> int:
    """A new draft of the site's committee (for requests that delete one)."""
    from server.rounds.operations import create_round

    with app.app_context():
        return create_round(s.committee_id, "appraisal", "待删除", [{"name": "甲"}],
                            [{"name": "中层", "expected_count": 5}]).id


def _rehearsal(app, s: Site) -> int:
    """A new draft of the site's committee opened as a rehearsal (for purge requests)."""
    from server.rounds.rehearsal import open_rehearsal

    draft = _fresh_draft(app, s)
    with app.app_context():
        open_rehearsal(get_round(draft), None)
    return draft


def _meeting(app, s: Site, opened: bool = False) -> int:
    """A meeting of two fresh drafts of the site's committee, opened if asked."""
    from server.meetings.operations import create_meeting, open_meeting

    rounds = [_fresh_draft(app, s) for _ in range(2)]
    with app.app_context():
        meeting = create_meeting(s.committee_id, "角色测试会", rounds)
        if opened:
            open_meeting(meeting)
        return meeting.id


def _meeting_slip(app, s: Site) -> str:
    """A slip of a new open meeting (its token)."""
    from server.meetings.operations import get_meeting, issue_meeting_tokens, open_meeting

    mid = _meeting(app, s)
    with app.app_context():
        meeting = get_meeting(mid)
        token = issue_meeting_tokens(meeting, "中层", 1)[0]
        open_meeting(meeting)
        return token


def _scored_round(app, s: Site) -> tuple[int, dict[str, Any]]:
    """A new open round of the site's committee scored per subject, and a body for
    POST /api/v1/subject-scores: a slip of it, its subject, a full row of scores."""
    from server.rounds.operations import create_round, open_round
    from server.tokens.operations import issue_tokens

    with app.app_context():
        rnd = create_round(s.committee_id, "review", "逐人评分", [{"name": "甲"}],
                           [{"name": "考评组", "expected_count": 5}], per_subject=True)
        token = issue_tokens(rnd, rnd.categories[0].id, 1)[0]
        open_round(rnd)
        return rnd.id, {"token": token, "subject_id": rnd.subjects[0].id,
                        "scores": {i["key"]: 0 for i in rnd.form["items"]}}


def _spare_key(app, s: Site) -> int:
    """A new key of the organizer's (revoked by the requests that revoke one)."""
    from server.accounts.keys import create_key
    from server.accounts.models import User

    with app.app_context():
        return create_key(db.session.get(User, s.users["organizer"]), "备用")[0].id


def _spare_user(app, s: Site, active: bool = True) -> int:
    """A new committee account of the site's committee (to deactivate or reactivate)."""
    from server.accounts.models import User
    from tests.support.hostile import _user

    with app.app_context():
        n = db.session.execute(db.select(db.func.count(User.id))).scalar()
        user = _user(f"spare{n}", "committee", s.committee_id)
        user.active = active
        db.session.commit()
        return user.id


def _assessment(app, s: Site) -> tuple[int, bytes]:
    """A combined assessment of the site's committee (its published round and a sheet
    part) and a sheet for it."""
    from server.accounts.models import User
    from server.assessment.operations import create_assessment
    from server.organization.models import Member

    with app.app_context():
        user = db.session.get(User, s.users["organizer"])
        a = create_assessment(s.committee_id, user, "角色测试", 2026, [], [
            {"label": "民主测评", "round_id": s.rounds["published"], "weight": "60%"},
            {"label": "业绩考核", "weight": "40%"}])
        no = db.session.get(Member, s.members_a[0]).member_no
        return a.id, _sheet([["工号", "分数"], [no, 90]])


def _sheet(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def requests_for(app, w: World) -> dict[str, Callable[[], Call]]:
    """For each endpoint, a request it would accept from a role it lets in."""
    s = w.site
    draft, open_, closed, published = (s.rounds[k] for k in ("draft", "open", "closed",
                                                             "published"))
    with app.app_context():
        cat = get_round(draft).categories[0].id
        closed_cat = get_round(closed).categories[0].id
        answers = valid_answers(get_round(open_))
        form, spare_form = (create_from_preset(s.committee_id, "appraisal", None).id
                            for _ in range(2))
        definition = presets()["appraisal"]
    member, branch = s.members_a[0], s.branch_a
    assessment, sheet = _assessment(app, s)
    meeting = _meeting(app, s)
    scored = _scored_round(app, s)[0]
    entry = {"member_id": member, "item": "branch_meeting", "period": "2026Q1",
             "reason": "参加主题党日"}
    rect = {"branch_id": branch, "problem": "问题", "source": "巡察", "owner": "张三",
            "deadline": "2026-12-31"}
    round_body = {"form": "appraisal", "title": "角色测试", "subjects": [{"name": "甲"}],
                  "categories": [{"name": "中层", "expected_count": 5}]}
    return {
        "index": lambda: Call("GET", "/"),
        "static": lambda: Call("GET", "/static/console.css"),
        "health.healthz": lambda: Call("GET", "/healthz"),
        "api-docs.openapi_json": lambda: Call("GET", "/api/v1/openapi.json"),
        "vote_page.vote_page": lambda: Call("GET", "/v/"),
        "vote_page.static": lambda: Call("GET", "/v/static/vote.js"),
        "session_page.session_page": lambda: Call("GET", "/v/s/S1.1.ABCDEFGH"),
        "receipts_page.receipts_page": lambda: Call("GET", f"/r/{published}"),
        "receipts_page.static": lambda: Call("GET", "/r/static/receipts.js"),
        "voting.read_ballot_form": lambda: Call("POST", "/api/v1/ballot-form",
                                                {"token": s.tokens["open"][0]}),
        "voting.submit": lambda: Call("POST", "/api/v1/ballots",
                                      {"token": s.tokens["open"].pop(), "answers": answers}),
        "voting.check_receipt": lambda: Call("POST", "/api/v1/receipts/check", {
            "round_id": published, "receipt": s.receipts["published"][0]}),
        "voting.send_subject_scores": lambda: Call("POST", "/api/v1/subject-scores",
                                                   _scored_round(app, s)[1]),
        "results.receipts": lambda: Call("GET", f"/api/v1/rounds/{published}/receipts"),
        "console.login": lambda: Call("GET", "/console/login"),
        "console.logout": lambda: Call("POST", "/console/logout", data={}),
        "forms.list_presets": lambda: Call("GET", "/api/v1/form-presets"),
        "forms.list_forms": lambda: Call("GET", "/api/v1/forms"),
        "forms.read": lambda: Call("GET", f"/api/v1/forms/{form}"),
        "forms.read_version": lambda: Call("GET", f"/api/v1/forms/{form}/versions/1"),
        "forms.export": lambda: Call("GET", f"/api/v1/forms/{form}/export"),
        "forms.create": lambda: Call("POST", "/api/v1/forms", {"preset": "appraisal"}),
        "forms.delete": lambda: Call("DELETE", f"/api/v1/forms/{spare_form}"),
        "forms.add_version": lambda: Call("POST", f"/api/v1/forms/{form}/versions",
                                          {"definition": definition}),
        "forms.update_version": lambda: Call("PUT", f"/api/v1/forms/{form}/versions/1",
                                             {"definition": definition}),
        "forms.import_file": lambda: Call("POST", "/api/v1/forms/import", {
            "pingyi_form": 1, "definition": definition}),
        "rounds.list_rounds": lambda: Call("GET", "/api/v1/rounds"),
        "rounds.read": lambda: Call("GET", f"/api/v1/rounds/{open_}"),
        "rounds.read_turnout": lambda: Call("GET", f"/api/v1/rounds/{open_}/turnout"),
        "rounds.read_results": lambda: Call("GET", f"/api/v1/rounds/{closed}/results"),
        "rounds.read_subject_progress": lambda: Call(
            "GET", f"/api/v1/rounds/{scored}/subject-progress"),
        "rounds.create": lambda: Call("POST", "/api/v1/rounds", round_body),
        "rounds.open_round": lambda: Call("POST", f"/api/v1/rounds/{draft}/open"),
        "rounds.close_round": lambda: Call("POST", f"/api/v1/rounds/{open_}/close"),
        "rounds.publish_round": lambda: Call("POST", f"/api/v1/rounds/{closed}/publish"),
        "rounds.issue": lambda: Call("POST", f"/api/v1/rounds/{draft}/tokens",
                                     {"category_id": cat, "count": 2}),
        "rounds.qr": lambda: Call("POST", "/api/v1/qr", {"token": s.tokens["draft"][0]}),
        "rounds.update": lambda: Call("PATCH", f"/api/v1/rounds/{draft}", {"title": "改名"}),
        "rounds.delete": lambda: Call("DELETE", f"/api/v1/rounds/{_fresh_draft(app, s)}"),
        "rounds.clone": lambda: Call("POST", f"/api/v1/rounds/{closed}/clone", {}),
        "rounds.rehearse": lambda: Call("POST",
                                        f"/api/v1/rounds/{_fresh_draft(app, s)}/rehearse", {}),
        "rounds.purge": lambda: Call("POST", f"/api/v1/rounds/{_rehearsal(app, s)}/purge", {}),
        "rounds.batch": lambda: Call("POST", "/api/v1/rounds/batch", {
            "template_round_id": draft, "branches": [branch]}),
        "results.projector": lambda: Call("GET", f"/api/v1/rounds/{open_}/projector"),
        "results.export_xlsx": lambda: Call("GET", f"/api/v1/rounds/{closed}/export.xlsx"),
        "results.export_csv": lambda: Call("GET", f"/api/v1/rounds/{closed}/export.csv"),
        "results.export_pdf": lambda: Call("GET", f"/api/v1/rounds/{closed}/export.pdf"),
        "points.read_rules": lambda: Call("GET", "/api/v1/points/rules"),
        "points.list_entries": lambda: Call("GET", "/api/v1/points/entries"),
        "points.read_entry": lambda: Call("GET", f"/api/v1/points/entries/{w.entry_id}"),
        "points.read_board": lambda: Call(
            "GET", f"/api/v1/points/boards/members/{branch}?period=2026Q1"),
        "points.read_member": lambda: Call("GET", f"/api/v1/points/members/{member}"),
        "points.list_periods": lambda: Call("GET", "/api/v1/points/periods?year=2026"),
        "points.list_rectifications": lambda: Call("GET", "/api/v1/points/rectifications"),
        "points.create_entry": lambda: Call("POST", "/api/v1/points/entries", entry),
        "points.approve": lambda: Call("POST", f"/api/v1/points/entries/{w.entry_id}/approve",
                                       {"note": "同意"}),
        "points.reject": lambda: Call("POST", f"/api/v1/points/entries/{w.entry_id}/reject",
                                      {"reason": "不符合"}),
        "points.reverse": lambda: Call("POST", f"/api/v1/points/entries/{w.entry_id}/reverse",
                                       {"reason": "更正"}),
        "points.import_sheet": lambda: Call("POST", "/api/v1/points/imports", data={
            "file": (io.BytesIO(_xlsx()), "q1.xlsx"), "branch_id": str(branch),
            "period": "2026Q1", "dry_run": "true"}),
        "points.feed_round": lambda: Call("POST", f"/api/v1/points/rounds/{closed}/feed",
                                          {"item": "branch_meeting", "period": "2026Q1"}),
        "points.add_rectification": lambda: Call("POST", "/api/v1/points/rectifications", rect),
        "points.close_rectification": lambda: Call(
            "POST", f"/api/v1/points/rectifications/{w.item_id}/close", {"note": "已整改"}),
        "points.set_board_visibility": lambda: Call(
            "POST", f"/api/v1/points/boards/members/{branch}/visibility",
            {"period": "2026Q1", "visibility": "hidden"}),
        "points.close_period": lambda: Call("POST", "/api/v1/points/periods/2026Q1/close"),
        "points.publish_period": lambda: Call("POST", "/api/v1/points/periods/2026Q1/publish"),
        "points.review_year": lambda: Call("POST", "/api/v1/points/periods/2025/review"),
        "points.review_preview": lambda: Call("GET", "/api/v1/points/periods/2025/review"),
        "points.adjust_rating": lambda: Call(
            "POST", f"/api/v1/points/ratings/2025/{member}/adjust", {"stars": 1, "reason": "x"}),
        "console.rounds": lambda: Call("GET", "/console/"),
        "console.round_detail": lambda: Call("GET", f"/console/rounds/{open_}"),
        "console.projector": lambda: Call("GET", f"/console/rounds/{open_}/projector"),
        "console.results": lambda: Call("GET", f"/console/rounds/{closed}/results"),
        "console.org": lambda: Call("GET", "/console/org"),
        "console.round_new": lambda: Call("POST", "/console/rounds/new", data={
            "form": "appraisal", "title": "角色测试", "subjects": "甲 书记",
            "categories": "中层,5,1"}),
        "console.round_open": lambda: Call("POST", f"/console/rounds/{draft}/open", data={}),
        "console.round_close": lambda: Call("POST", f"/console/rounds/{open_}/close", data={}),
        "console.round_publish": lambda: Call("POST", f"/console/rounds/{closed}/publish",
                                              data={}),
        "console.round_slips": lambda: Call("POST", f"/console/rounds/{draft}/slips",
                                            data={"category_id": str(cat), "count": "2"}),
        "console.round_edit": lambda: Call("POST", f"/console/rounds/{draft}/edit", data={
            "form": "appraisal", "title": "角色测试", "subjects": "甲 书记",
            "categories": "中层,5,1"}),
        "console.round_delete": lambda: Call(
            "POST", f"/console/rounds/{_fresh_draft(app, s)}/delete", data={}),
        "console.round_clone": lambda: Call("POST", f"/console/rounds/{closed}/clone", data={}),
        "console.round_rehearse": lambda: Call(
            "POST", f"/console/rounds/{_fresh_draft(app, s)}/rehearse", data={}),
        "console.round_purge": lambda: Call(
            "POST", f"/console/rounds/{_rehearsal(app, s)}/purge", data={}),
        "console.forms": lambda: Call("GET", "/console/forms"),
        "console.form_new": lambda: Call("POST", "/console/forms/new", data={
            "definition": json.dumps(definition, ensure_ascii=False)}),
        "console.form_from_preset": lambda: Call("POST", "/console/forms/presets",
                                                 data={"preset": "appraisal"}),
        "console.form_import": lambda: Call("POST", "/console/forms/import", data={
            "file": (io.BytesIO(json.dumps({"pingyi_form": 1, "name": "导入", "version": 1,
                                            "definition": definition}).encode()),
                     "form.json")}),
        "console.form_preview_draft": lambda: Call("POST", "/console/forms/preview", data={
            "definition": json.dumps(definition, ensure_ascii=False)}),
        "console.form_edit": lambda: Call("POST", f"/console/forms/{form}/versions/1/edit",
                                          data={"definition": json.dumps(definition)}),
        "console.form_new_version": lambda: Call(
            "POST", f"/console/forms/{form}/versions/new",
            data={"definition": json.dumps(definition)}),
        "console.form_delete": lambda: Call("POST", f"/console/forms/{spare_form}/delete",
                                            data={}),
        "console.form_export": lambda: Call("GET", f"/console/forms/{form}/export"),
        "console.form_preview": lambda: Call("GET", f"/console/forms/{form}/preview"),
        "console.form_preview_frame": lambda: Call("GET",
                                                   f"/console/forms/{form}/preview/frame"),
        "console.round_batch": lambda: Call("POST", "/console/rounds/batch", data={
            "template_round_id": str(draft), "branches": str(branch)}),
        "console.org_import": lambda: Call("POST", "/console/org/import", data={
            "roster": (io.BytesIO("支部,姓名\n第一党支部,新人\n".encode()), "r.csv"),
            "dry_run": "1"}),
        "console.audit": lambda: Call("GET", "/console/audit"),
        "console.keys": lambda: Call("GET", "/console/keys"),
        "console.key_create": lambda: Call("POST", "/console/keys/new", data={"name": "角色"}),
        "console.key_revoke": lambda: Call(
            "POST", f"/console/keys/{_spare_key(app, s)}/revoke", data={}),
        "console.users": lambda: Call("GET", "/console/users"),
        "console.user_deactivate": lambda: Call(
            "POST", f"/console/users/{_spare_user(app, s)}/deactivate", data={}),
        "console.user_reactivate": lambda: Call(
            "POST", f"/console/users/{_spare_user(app, s, active=False)}/reactivate", data={}),
        "api_keys.list_keys": lambda: Call("GET", "/api/v1/api-keys"),
        "api_keys.create_key": lambda: Call("POST", "/api/v1/api-keys", {"name": "角色"}),
        "api_keys.revoke_key": lambda: Call("DELETE", f"/api/v1/api-keys/{_spare_key(app, s)}"),
        "points_console.static": lambda: Call("GET", "/console/points/static/points.css"),
        "points_console.boards": lambda: Call("GET", "/console/points/"),
        "points_console.entries": lambda: Call("GET", "/console/points/entries"),
        "points_console.member": lambda: Call("GET", f"/console/points/members/{member}"),
        "points_console.periods": lambda: Call("GET", "/console/points/periods"),
        "points_console.rectifications": lambda: Call("GET", "/console/points/rectifications"),
        "points_console.stars_export": lambda: Call(
            "GET", "/console/points/periods/2025/stars.xlsx"),
        "points_console.import_page": lambda: Call("GET", "/console/points/import"),
        "points_console.import_template": lambda: Call(
            "GET", "/console/points/import/template.xlsx"),
        "points_console.import_upload": lambda: Call("POST", "/console/points/import", data={
            "file": (io.BytesIO(_xlsx()), "q1.xlsx"), "branch_id": str(branch),
            "period": "2026Q1", "dry_run": "1"}),
        "points_console.entry_create": lambda: Call("POST", "/console/points/entries", data={
            "subject": f"member:{member}", "member_id": str(member), "item": "branch_meeting",
            "period": "2026Q1", "reason": "参加"}),
        "points_console.entry_approve": lambda: Call(
            "POST", f"/console/points/entries/{w.entry_id}/approve", data={"note": "同意"}),
        "points_console.entry_reject": lambda: Call(
            "POST", f"/console/points/entries/{w.entry_id}/reject", data={"reason": "不符合"}),
        "points_console.entry_reverse": lambda: Call(
            "POST", f"/console/points/entries/{w.entry_id}/reverse", data={"reason": "更正"}),
        "points_console.rectification_add": lambda: Call(
            "POST", "/console/points/rectifications", data={k: str(v) for k, v in rect.items()}),
        "points_console.rectification_close": lambda: Call(
            "POST", f"/console/points/rectifications/{w.item_id}/close", data={"note": "已整改"}),
        "points_console.board_visibility": lambda: Call(
            "POST", "/console/points/boards/visibility", data={
                "board": "members", "scope_id": str(branch), "period": "2026Q1",
                "visibility": "hidden"}),
        "points_console.period_close": lambda: Call(
            "POST", "/console/points/periods/2026Q1/close", data={}),
        "points_console.period_publish": lambda: Call(
            "POST", "/console/points/periods/2026Q1/publish", data={}),
        "points_console.year_review": lambda: Call(
            "POST", "/console/points/periods/2025/review", data={}),
        "points_console.rating_adjust": lambda: Call(
            "POST", f"/console/points/ratings/2025/{member}/adjust",
            data={"stars": "1", "reason": "x"}),
        # features still being built: plain requests (their role checks come before
        # anything reads the body)
        "auth.wechat_login": lambda: Call("POST", "/api/v1/auth/wechat", {"code": "x"}),
        "auth.refresh_session": lambda: Call("POST", "/api/v1/auth/refresh",
                                             {"refresh_token": "x"}),
        "auth.logout": lambda: Call("POST", "/api/v1/auth/logout"),
        "auth.me": lambda: Call("GET", "/api/v1/me"),
        "auth.unbind": lambda: Call("DELETE", "/api/v1/me/wechat-binding"),
        "miniprogram.resolve_slip": lambda: Call("POST", "/api/v1/slips/resolve",
                                                 {"code": "x"}),
        "miniprogram.claim_token": lambda: Call("POST", "/api/v1/session-claims",
                                                {"code": "x"}),
        "miniprogram.session_key": lambda: Call("POST", "/api/v1/session-keys",
                                                {"scene": "x"}),
        "miniprogram.check_content": lambda: Call("POST", "/api/v1/content-checks",
                                                  {"text": "x"}),
        "miniprogram.list_categories": lambda: Call(
            "GET", f"/api/v1/rounds/{open_}/categories"),
        "miniprogram.list_exports": lambda: Call("GET", f"/api/v1/rounds/{closed}/exports"),
        "miniprogram.read_options": lambda: Call("GET", f"/api/v1/rounds/{draft}/options"),
        "miniprogram.list_comments": lambda: Call("GET", f"/api/v1/rounds/{closed}/comments"),
        "miniprogram.write_options": lambda: Call("PUT", f"/api/v1/rounds/{draft}/options", {}),
        "miniprogram.issue_slip_codes": lambda: Call(
            "POST", f"/api/v1/rounds/{draft}/slip-codes", {"category_id": cat, "count": 1}),
        "miniprogram.list_session_codes": lambda: Call(
            "GET", f"/api/v1/rounds/{open_}/session-codes"),
        "miniprogram.session_code_image": lambda: Call(
            "GET", f"/api/v1/rounds/{open_}/session-codes/{cat}/image"),
        "miniprogram.rotate_session_codes": lambda: Call(
            "POST", f"/api/v1/rounds/{open_}/session-codes/rotate"),
        "miniprogram.add_to_pool": lambda: Call(
            "POST", f"/api/v1/rounds/{draft}/session-pool", {"category_id": cat, "count": 1}),
        "miniprogram_console.wechat_page": lambda: Call("GET", "/console/wechat"),
        "miniprogram_console.wechat_binding_code": lambda: Call(
            "POST", "/console/wechat/binding-code", data={}),
        "miniprogram_console.wechat_unbind": lambda: Call("POST", "/console/wechat/unbind",
                                                          data={}),
        "miniprogram_console.round_page": lambda: Call(
            "GET", f"/console/rounds/{draft}/miniprogram"),
        "miniprogram_console.round_options": lambda: Call(
            "POST", f"/console/rounds/{draft}/miniprogram/options", data={}),
        "miniprogram_console.round_slips": lambda: Call(
            "POST", f"/console/rounds/{draft}/miniprogram/slips",
            data={"category_id": str(cat), "count": "1"}),
        "miniprogram_console.round_pool": lambda: Call(
            "POST", f"/console/rounds/{draft}/miniprogram/pool",
            data={"category_id": str(cat), "count": "1"}),
        "miniprogram_console.round_rotate": lambda: Call(
            "POST", f"/console/rounds/{open_}/miniprogram/rotate", data={}),
        "miniprogram_console.session_code": lambda: Call(
            "GET", f"/console/rounds/{open_}/miniprogram/session-code/{cat}.jpg"),
        "bot_callback.verify_url": lambda: Call("GET", "/bot/wecom/callback"),
        "bot_callback.receive": lambda: Call("POST", "/bot/wecom/callback", data={}),
        "bot_share.share_page": lambda: Call("GET", f"/s/members/{branch}/2026Q1/x"),
        "bot_share.share_card": lambda: Call("GET", f"/s/members/{branch}/2026Q1/x/card.png"),
        "bot_share.static": lambda: Call("GET", "/bot-static/x.css"),
        "bot_console.static": lambda: Call("GET", "/console/bot/static/x.css"),
        "bot_console.publish_page": lambda: Call("GET", "/console/bot/"),
        "bot_console.history_page": lambda: Call("GET", "/console/bot/history"),
        "bot_console.post_action": lambda: Call("POST", "/console/bot/posts/1/retry", data={}),
        "bot_console.targets_page": lambda: Call("GET", "/console/bot/targets"),
        "bot_console.target_add": lambda: Call("POST", "/console/bot/targets", data={}),
        "bot_console.target_disable": lambda: Call("POST", "/console/bot/targets/1/disable",
                                                   data={}),
        "bot_console.preview_png": lambda: Call("GET", "/console/bot/preview.png"),
        "bot_console.publish": lambda: Call("POST", "/console/bot/publish", data={}),
        "bot_console.users_page": lambda: Call("GET", "/console/bot/users"),
        "bot_console.user_link": lambda: Call("POST", "/console/bot/users", data={}),
        "bot_console.user_unlink": lambda: Call("POST", "/console/bot/users/1/unlink", data={}),
        "assessment.list_assessments": lambda: Call("GET", "/api/v1/assessments"),
        "assessment.read": lambda: Call("GET", f"/api/v1/assessments/{assessment}"),
        "assessment.export_xlsx": lambda: Call(
            "GET", f"/api/v1/assessments/{assessment}/export.xlsx"),
        "assessment.member_history": lambda: Call("GET", f"/api/v1/members/{member}/history"),
        "assessment.create": lambda: Call("POST", "/api/v1/assessments", {"title": "角色测试"}),
        "assessment.set_parts": lambda: Call(
            "POST", f"/api/v1/assessments/{assessment}/parts", {"parts": [
                {"label": "民主测评", "round_id": published, "weight": "60%"},
                {"label": "业绩考核", "weight": "40%"}]}),
        "assessment.upload_sheet": lambda: Call(
            "POST", f"/api/v1/assessments/{assessment}/sheet",
            data={"file": (io.BytesIO(sheet), "业绩考核.xlsx"), "part": "业绩考核"}),
        "assessment_console.assessments": lambda: Call("GET", "/console/assessments"),
        "assessment_console.detail": lambda: Call("GET", f"/console/assessments/{assessment}"),
        "assessment_console.member_history": lambda: Call(
            "GET", f"/console/members/{member}/history"),
        "assessment_console.create": lambda: Call("POST", "/console/assessments",
                                                  data={"title": "角色测试"}),
        "assessment_console.set_parts": lambda: Call(
            "POST", f"/console/assessments/{assessment}/parts", data={}),
        "assessment_console.upload_sheet": lambda: Call(
            "POST", f"/console/assessments/{assessment}/sheet", data={}),
        "paper.overview": lambda: Call("GET", f"/api/v1/rounds/{closed}/paper"),
        "paper.issue": lambda: Call("POST", f"/api/v1/rounds/{draft}/paper/slips",
                                    {"category_id": cat, "count": 1}),
        "paper.ballot": lambda: Call("GET", f"/api/v1/rounds/{draft}/paper/ballot.pdf"),
        "paper.enter_first": lambda: Call("POST", f"/api/v1/rounds/{closed}/paper/ballots",
                                          {"category_id": closed_cat, "invalid": "blank"}),
        "paper.enter_again": lambda: Call("POST", f"/api/v1/rounds/{closed}/paper/ballots/1",
                                          {"invalid": "blank"}),
        "paper_console.paper_page": lambda: Call("GET", f"/console/rounds/{closed}/paper"),
        "paper_console.issue": lambda: Call("POST", f"/console/rounds/{draft}/paper/slips",
                                            data={"category_id": str(cat), "count": "1"}),
        "paper_console.ballot_pdf": lambda: Call("GET",
                                                 f"/console/rounds/{draft}/paper/ballot.pdf"),
        "paper_console.enter_first": lambda: Call(
            "POST", f"/console/rounds/{closed}/paper/entries",
            data={"category_id": str(closed_cat), "invalid": "blank"}),
        "paper_console.sheet_page": lambda: Call("GET", f"/console/rounds/{closed}/paper/1"),
        "paper_console.enter_again": lambda: Call(
            "POST", f"/console/rounds/{closed}/paper/1", data={"invalid": "blank"}),
        "paper.meeting_ballot": lambda: Call(
            "GET", f"/api/v1/meetings/{_meeting(app, s)}/paper/ballot.pdf"),
        "paper_console.meeting_ballot_pdf": lambda: Call(
            "GET", f"/console/meetings/{_meeting(app, s)}/paper/ballot.pdf"),
        "meeting_page.meeting_page": lambda: Call("GET", "/v/m/"),
        "meeting_page.static": lambda: Call("GET", "/v/m/static/meeting.js"),
        "meeting_slip.read_slip": lambda: Call("POST", "/api/v1/meeting-slip",
                                               {"token": _meeting_slip(app, s)}),
        "meetings.list_meetings": lambda: Call("GET", "/api/v1/meetings"),
        "meetings.read": lambda: Call("GET", f"/api/v1/meetings/{meeting}"),
        "meetings.read_turnout": lambda: Call("GET", f"/api/v1/meetings/{meeting}/turnout"),
        "meetings.create": lambda: Call("POST", "/api/v1/meetings", {
            "title": "角色测试会", "round_ids": [_fresh_draft(app, s), _fresh_draft(app, s)]}),
        "meetings.open_": lambda: Call("POST", f"/api/v1/meetings/{_meeting(app, s)}/open"),
        "meetings.close": lambda: Call(
            "POST", f"/api/v1/meetings/{_meeting(app, s, opened=True)}/close"),
        "meetings.issue": lambda: Call("POST", f"/api/v1/meetings/{_meeting(app, s)}/slips",
                                       {"category": "中层", "count": 1}),
        "meetings_console.meetings": lambda: Call("GET", "/console/meetings"),
        "meetings_console.detail": lambda: Call("GET", f"/console/meetings/{meeting}"),
        "meetings_console.projector": lambda: Call("GET",
                                                   f"/console/meetings/{meeting}/projector"),
        "meetings_console.create": lambda: Call("POST", "/console/meetings", data={
            "title": "角色测试会", "round_ids": [str(_fresh_draft(app, s)),
                                             str(_fresh_draft(app, s))]}),
        "meetings_console.action": lambda: Call(
            "POST", f"/console/meetings/{_meeting(app, s)}/open", data={}),
        "meetings_console.slips": lambda: Call(
            "POST", f"/console/meetings/{_meeting(app, s)}/slips",
            data={"category": "中层", "count": "1"}),
    }


# -- clients per role --------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class RoleClient:
    """A test client signed in as `role` (console session and bearer key)."""

    def __init__(self, app, site: Site, role: str) -> None:
        self.client = app.test_client()
        self.role = role
        self.headers = {} if role == ANON else site.auth(role)
        if role != ANON:
            page = self.client.get("/console/login").get_data(as_text=True)
            res = self.client.post("/console/login", data={
                "csrf_token": CSRF.search(page)[1], "username": site.usernames[role],
                "password": "correct horse 1"})
            assert res.status_code == 302, role

    def csrf(self) -> str:
        page = self.client.get("/console/login").get_data(as_text=True)
        m = CSRF.search(page)
        if m is None:  # signed in: the login page redirects; any console form has one
            m = CSRF.search(self.client.get("/console/").get_data(as_text=True))
        if m is None:
            m = CSRF.search(self.client.get("/console/points/").get_data(as_text=True))
        return m[1]

    def send(self, call: Call) -> Any:
        if call.url.startswith("/api/"):
            headers = self.headers
            if call.data is not None:
                return self.client.open(call.url, method=call.method, data=call.data,
                                        headers=headers, content_type="multipart/form-data")
            if call.json is not None or call.method in ("PUT", "PATCH"):
                return self.client.open(call.url, method=call.method, json=call.json or {},
                                        headers=headers)
            return self.client.open(call.url, method=call.method, headers=headers)
        if call.method == "POST":
            data = {**(call.data or {}), "csrf_token": self.csrf()}
            return self.client.post(call.url, data=data)
        return self.client.open(call.url, method=call.method)


def _refused(res, role: str, call: Call) -> bool:
    """Refused for the role itself (not for some other reason): 401/403, or the sign-in
    page for an anonymous console request."""
    if call.url.startswith("/api/"):
        return res.status_code == (401 if role == ANON else 403)
    if role == ANON:
        return res.status_code == 302 and "/console/login" in res.headers.get("Location", "")
    return res.status_code == 403


@pytest.fixture
def world(app) -> World:
    with app.app_context():
        site = build_site()
    return _points_world(app, site)


def test_every_route_is_in_the_permission_table(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = sorted(endpoints - set(PERMISSIONS))
    assert not missing, f"routes without an entry in PERMISSIONS (who may call them?): {missing}"
    stale = sorted(set(PERMISSIONS) - endpoints)
    assert not stale, f"PERMISSIONS names routes that no longer exist: {stale}"


def test_every_route_refuses_the_wrong_roles_and_changes_nothing(app, world):
    build = requests_for(app, world)
    assert set(build) == set(PERMISSIONS)
    clients = {role: RoleClient(app, world.site, role) for role in ROLES}
    problems = []
    refused = 0
    for endpoint, allowed in sorted(PERMISSIONS.items()):
        for role in ROLES:
            if role in allowed:
                continue
            call = build[endpoint]()
            before = snapshot(app)
            res = clients[role].send(call)
            if not _refused(res, role, call):
                problems.append(f"{role} {call.method} {call.url} ({endpoint}) -> "
                                f"{res.status_code}: {res.get_data(as_text=True)[:120]!r}")
            elif snapshot(app) != before:
                problems.append(f"{role} {call.method} {call.url}: refused but changed data")
            refused += 1
            res.close()
    assert not problems, "\n".join(problems)
    assert refused >= 120


def test_the_allowed_roles_are_let_in(app, world):
    """The table is not stricter than the code: an allowed role is not told 401/403.

    Checked on a fresh site per role, since the allowed calls change things."""
    build = requests_for(app, world)
    problems = []
    for role in ROLES[1:]:
        client = RoleClient(app, world.site, role)
        for endpoint, allowed in sorted(PERMISSIONS.items()):
            if role not in allowed or endpoint in OWN_CREDENTIALS:
                continue
            call = build[endpoint]()
            res = client.send(call)
            if res.status_code in (401, 403) or (
                    res.status_code == 302 and "/console/login" in res.headers.get("Location", "")):
                problems.append(f"{role} {call.method} {call.url} -> {res.status_code}")
            res.close()
    assert not problems, "\n".join(problems)


# -- scope -------------------------------------------------------------------------------

def test_other_committees_rounds_are_not_found(app, world):
    s = world.site
    other = s.other_round
    client = app.test_client()
    for role in ("organizer", "committee"):
        for method, url in (("GET", f"/api/v1/rounds/{other}"),
                            ("GET", f"/api/v1/rounds/{other}/turnout"),
                            ("GET", f"/api/v1/rounds/{other}/results"),
                            ("GET", f"/api/v1/rounds/{other}/projector"),
                            ("GET", f"/api/v1/rounds/{other}/export.csv"),
                            ("POST", f"/api/v1/rounds/{other}/open"),
                            ("POST", f"/api/v1/rounds/{other}/close")):
            if method == "POST" and role == "committee":
                continue
            before = snapshot(app)
            res = client.open(url, method=method, headers=s.auth(role))
            assert res.status_code == 404, (role, url, res.status_code)
            assert snapshot(app) == before
    listed = client.get("/api/v1/rounds?per_page=200", headers=s.auth("organizer")).json
    assert other not in {r["id"] for r in listed["items"]}
    res = client.get(f"/api/v1/rounds/{s.rounds['open']}", headers={
        "Authorization": f"Bearer {s.other_key}"})
    assert res.status_code == 404


def test_secretary_sees_only_their_own_branch(app, world):
    s = world.site
    client = app.test_client()
    sec_b = {"Authorization": f"Bearer {s.keys['secretary_b']}"}
    before = snapshot(app)
    for method, url, body in (
            ("GET", f"/api/v1/points/entries/{world.entry_id}", None),
            ("GET", f"/api/v1/points/members/{s.members_a[0]}", None),
            ("GET", f"/api/v1/points/boards/members/{s.branch_a}?period=2026Q1", None),
            ("POST", f"/api/v1/points/entries/{world.entry_id}/approve", {"note": ""}),
            ("POST", f"/api/v1/points/rectifications/{world.item_id}/close", {"note": "x"}),
            ("POST", "/api/v1/points/entries", {"member_id": s.members_a[0],
                                                 "item": "branch_meeting", "period": "2026Q1",
                                                 "reason": "x"})):
        res = client.open(url, method=method, headers=sec_b, json=body)
        assert res.status_code in (404, 422), (url, res.status_code, res.json)
        if res.status_code == 422:  # a member of another branch named in a body
            assert res.json["error"]["code"].startswith("unknown_"), res.json
    assert snapshot(app) == before
    listed = client.get("/api/v1/points/entries", headers=sec_b).json
    assert listed["total"] == 0
    assert client.get(f"/api/v1/points/entries/{world.entry_id}",
                      headers=s.auth("secretary")).status_code == 200
