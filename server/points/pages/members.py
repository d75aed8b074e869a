"""A member's own points page (reachable by the secretary: members have no login yet)."""

from __future__ import annotations

from flask import render_template

from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Committee
from server.points import access, ledger, standings
from server.points.calendar import Period
from server.points.pages import common
from server.points.pages.common import READERS
from server.points.rulebook import rules_for, years_with_rules


@require_console_role(*READERS)
def member_page(member_id: int) -> str:
    member = access.load_member(common.user(), member_id)
    year = common.chosen_year()
    committee = db.session.get(Committee, member.committee_id)
    name = committee.name if committee else ""
    try:
        rules = rules_for(name, year)
    except ApiError:
        rules = None
    summary = ledger.year_summary("member", member.id, year, rules) if rules else None
    return render_template(
        "points/member.html", member=member, year=year, rules=rules, summary=summary,
        years=sorted(set(years_with_rules(name)) | {year}),
        rank=standings.member_rank(member, Period(year)) if rules else None,
        source_labels=common.SOURCE_LABELS, status_labels=common.STATUS_LABELS,
        can_keep=common.can_keep())
