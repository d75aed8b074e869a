"""The ledger: entering, approving within caps, vetoes, reversals, periods, 党委综评."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func

from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Member
from server.points import boards, ledger, periods
from server.points.calendar import Period
from server.points.models import PointsEntry, StarRating
from server.points.operations import approve_entry, create_entry, reject_entry, reverse_entry
from server.points.rulebook import rules_for_committee
from server.points.standings import live_rows
from tests.support.points import Q1_PUBLISH, World, build_world


@pytest.fixture
def world(app):
    with app.app_context():
        return build_world()


def entry_count() -> int:
    return db.session.execute(db.select(func.count(PointsEntry.id))).scalar_one()


def give(w: World, member: int, item: str, points, period="2026Q1", who="sec_a", approve=True):
    e = create_entry(w.user(who), "member", member, item, points, period, f"{item} {points}")
    return approve_entry(w.approver(who), e.id) if approve else e


def year_total(member: int, year: int = 2026) -> int:
    return ledger.approved_total("member", member, year)


def code_of(exc: pytest.ExceptionInfo) -> str:
    return exc.value.code


def test_an_entry_waits_for_approval_then_counts(app, world):
    with app.app_context():
        w, m = world, world.members_a[0]
        e = create_entry(w.user("sec_a"), "member", m, "branch_meeting", "", "2026Q1",
                         "1月12日支部党员大会", "签到表", self_report=True)
        assert (e.status, e.points_x10, e.source, e.kind) == ("pending", 10, "self_report", "award")
        assert year_total(m) == 0
        approve_entry(w.user("wei_a"), e.id, "属实")
        assert year_total(m) == 10
        with pytest.raises(ApiError) as exc:
            approve_entry(w.user("wei_a"), e.id)
        assert code_of(exc) == "entry_not_pending"


def test_rejection_needs_a_reason_and_counts_nothing(app, world):
    with app.app_context():
        w = world
        e = create_entry(w.user("sec_a"), "member", w.members_a[0], "innovation", 2, "2026Q1", "x")
        with pytest.raises(ApiError) as exc:
            reject_entry(w.user("sec_a"), e.id, "  ")
        assert code_of(exc) == "reason_required"
        reject_entry(w.user("sec_a"), e.id, "佐证不足")
        assert db.session.get(PointsEntry, e.id).status == "rejected"
        assert year_total(w.members_a[0]) == 0


def test_item_cap_is_enforced_on_approval_and_names_the_item(app, world):
    with app.app_context():
        w, m = world, world.members_a[0]
        for q in ("2026Q1", "2026Q2", "2026Q3"):
            give(w, m, "branch_meeting", 4, q)  # 12 = the yearly cap
        late = create_entry(w.user("sec_a"), "member", m, "theme_day", 1, "2026Q4", "ok")
        approve_entry(w.user("wei_a"), late.id)
        with pytest.raises(ApiError) as exc:
            create_entry(w.user("sec_a"), "member", m, "branch_meeting", 1, "2026Q4", "one more")
        assert code_of(exc) == "cap_exceeded" and "全年累计不超过12分" in exc.value.message
        # two pending entries that each fit can still not both be approved
        m2 = w.members_a[1]
        give(w, m2, "branch_meeting", 10)
        p1 = give(w, m2, "branch_meeting", 1.5, approve=False)
        p2 = give(w, m2, "branch_meeting", 1.5, approve=False)
        approve_entry(w.user("wei_a"), p1.id)
        with pytest.raises(ApiError) as exc:
            approve_entry(w.user("wei_a"), p2.id)
        err = exc.value
        assert (err.code, err.field, err.status) == ("cap_exceeded", "points", 422)
        assert "“参加支部党员大会、党小组会和党课”" in err.message and "超出1分" in err.message
        db.session.rollback()
        assert db.session.get(PointsEntry, p2.id).status == "pending"
        assert year_total(m2) == 115


def test_category_cap_across_items(app, world):
    with app.app_context():
        w, m = world, world.members_a[0]
        give(w, m, "honor_higher", 5)
        give(w, m, "honor_higher", 5, "2026Q2")
        with pytest.raises(ApiError) as exc:
            give(w, m, "outstanding", 2, "2026Q3")
        assert code_of(exc) == "cap_exceeded" and exc.value.message.startswith("“加分项”全年累计")


def test_group_caps_are_per_quarter_and_scores_accumulate(app, world):
    with app.app_context():
        w, g = world, world.groups_a[0]
        for q in ("2026Q1", "2026Q2"):
            e = create_entry(w.user("sec_a"), "group", g, "三会一课及主题党日", 20, q, "按时开展")
            approve_entry(w.user("wei_a"), e.id)
        with pytest.raises(ApiError) as exc:
            create_entry(w.user("sec_a"), "group", g, "meetings", 0.5, "2026Q2", "more")
        assert "每季度累计不超过20分" in exc.value.message
        with pytest.raises(ApiError) as exc:
            create_entry(w.user("sec_a"), "group", g, "党费收缴", 11, "2026Q3", "too much")
        assert code_of(exc) == "points_above_cap"
        assert ledger.approved_total("group", g, 2026) == 400
        rows, _ = live_rows("groups", w.branch_a, Period(2026), 0, 0)
        assert rows[0]["points"] == 400
        q1, _ = live_rows("groups", w.branch_a, Period(2026, 1), 0, 0)
        assert q1[0]["points"] == 200


def test_period_accumulation_of_member_points(app, world):
    with app.app_context():
        w, m = world, world.members_a[0]
        give(w, m, "post_duty", 5, "2026Q1")
        give(w, m, "post_duty", 4.5, "2026Q2")
        give(w, m, "absence", 2, "2026Q2")  # a deduction, typed as the amount deducted
        give(w, m, "honor_company", 3, "2026")  # a year-level entry
        assert ledger.approved_total("member", m, 2026, quarter=2) == 25
        assert year_total(m) == 50 + 45 - 20 + 30
        year, _ = live_rows("members", w.branch_a, Period(2026), 0, 0)
        assert (year[0]["points"], year[0]["deductions"]) == (105, 20)
        q2, _ = live_rows("members", w.branch_a, Period(2026, 2), 0, 0)
        assert (q2[0]["points"], q2[0]["deductions"]) == (25, 20)
        summary = ledger.year_summary("member", m, 2026, rules_for_committee(w.committee_id, 2026))
        assert [q["total"] for q in summary["quarters"]] == [50, 25, 0, 0]
        assert summary["year_level"] == 30 and summary["deductions"] == 20


def test_reversal_is_a_new_entry_and_the_old_one_stays(app, world):
    with app.app_context():
        w, m = world, world.members_a[0]
        e = give(w, m, "model_post", 5)
        r = reverse_entry(w.user("sec_a"), e.id, "重复录入")
        assert (r.points_x10, r.reverses_id, r.status, r.source) == (-50, e.id, "approved",
                                                                    "reversal")
        assert db.session.get(PointsEntry, e.id).points_x10 == 50  # unchanged
        assert year_total(m) == 0
        assert entry_count() == 2
        for target, code in ((e.id, "already_reversed"), (r.id, "reversal_of_reversal")):
            with pytest.raises(ApiError) as exc:
                reverse_entry(w.user("sec_a"), target, "again")
            assert code_of(exc) == code
        pending = give(w, m, "model_post", 5, approve=False)
        with pytest.raises(ApiError) as exc:
            reverse_entry(w.user("sec_a"), pending.id, "x")
        assert code_of(exc) == "entry_not_approved"
        # after the reversal the cap has room again
        give(w, m, "model_post", 5, "2026Q2")
        give(w, m, "model_post", 5, "2026Q3")
        assert year_total(m) == 100


def test_entries_are_append_only(app, world):
    with app.app_context():
        e = give(world, world.members_a[0], "innovation", 2)
        e.points_x10 = 60
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.commit()
        db.session.rollback()
        assert db.session.get(PointsEntry, e.id).points_x10 == 20


def test_a_veto_cancels_the_star_rating(app, world):
    with app.app_context():
        w = world
        rich, vetoed = w.members_a[0], w.members_a[1]
        for m in (rich, vetoed):
            for item, pts in (("branch_meeting", 12), ("post_duty", 5), ("model_post", 5),
                              ("pairing", 2), ("honor_higher", 5)):
                give(w, m, item, pts)
        v = give(w, vetoed, "违反廉洁纪律", "", approve=False)
        assert v.points_x10 == 0 and v.kind == "veto"
        approve_entry(w.user("wei_a"), v.id)
        rules = rules_for_committee(w.committee_id, 2026)
        for m in (rich, vetoed):
            assert year_total(m) == 290
        assert ledger.year_summary("member", rich, 2026, rules)["level"].stars == 0
        summary = ledger.year_summary("member", vetoed, 2026, rules)
        assert summary["level"].vetoed and summary["level"].stars is None
        rows, _ = live_rows("members", w.branch_a, Period(2026), 0, 0)
        by_id = {r["id"]: r for r in rows}
        assert by_id[vetoed]["vetoed"] and by_id[vetoed]["stars"] is None
        assert not by_id[rich]["vetoed"]
        # reversing the veto restores eligibility
        reverse_entry(w.user("sec_a"), v.id, "经复核不属实")
        assert not ledger.year_summary("member", vetoed, 2026, rules)["level"].vetoed


def test_closed_period_refuses_entries_but_takes_decisions(app, world):
    with app.app_context():
        w, m = world, world.members_a[0]
        pending = give(w, m, "innovation", 2, approve=False)
        with pytest.raises(ApiError) as exc:
            periods.close_period(w.user("dangwei"), w.committee_id, Period(2026, 1))
        assert code_of(exc) == "pending_entries" and "1 条" in exc.value.message
        approve_entry(w.user("wei_a"), pending.id)
        periods.close_period(w.user("dangwei"), w.committee_id, Period(2026, 1))
        before = entry_count()
        with pytest.raises(ApiError) as exc:
            give(w, m, "innovation", 2)
        err = exc.value
        assert (err.code, err.status, err.field) == ("period_closed", 409, "period")
        assert err.message == "2026年第一季度已关闭，不能再录入积分"
        assert entry_count() == before
        give(w, m, "innovation", 2, "2026Q2")  # the next quarter is open
        # the year closes only after its quarters
        with pytest.raises(ApiError) as exc:
            periods.close_period(w.user("dangwei"), w.committee_id, Period(2026))
        err = exc.value
        assert (err.code, err.status, err.field) == ("quarter_open", 409, "period")
        assert err.message == "2026年第二季度、第三季度、第四季度尚未关闭，请先关闭各季度再关闭年度"
        for q in (2, 3, 4):
            periods.close_period(w.user("dangwei"), w.committee_id, Period(2026, q))
        periods.close_period(w.user("dangwei"), w.committee_id, Period(2026))
        with pytest.raises(ApiError) as exc:
            give(w, m, "innovation", 2, "2026Q3")
        assert exc.value.code == "period_closed"


def test_publication_waits_for_the_quarter_end_and_opens_an_objection_window(app, world):
    with app.app_context():
        w, m = world, world.members_a[0]
        e = give(w, m, "post_duty", 5)
        q1 = Period(2026, 1)
        with pytest.raises(ApiError) as exc:
            periods.publish_period(w.user("dangwei"), w.committee_id, q1, now=Q1_PUBLISH)
        assert code_of(exc) == "period_open"
        periods.close_period(w.user("dangwei"), w.committee_id, q1)
        with pytest.raises(ApiError) as exc:
            periods.publish_period(w.user("dangwei"), w.committee_id, q1,
                                   now=dt.datetime(2026, 3, 31, 15, 0))  # 23:00 in China
        assert code_of(exc) == "too_early" and "2026年4月1日" in exc.value.message
        row = periods.publish_period(w.user("dangwei"), w.committee_id, q1, now=Q1_PUBLISH)
        assert row.objection_until == Q1_PUBLISH + dt.timedelta(days=7)
        assert periods.state_of(w.committee_id, q1, now=Q1_PUBLISH) == "published"
        with pytest.raises(ApiError) as exc:
            give(w, m, "post_duty", 3)
        assert code_of(exc) == "period_closed"
        assert exc.value.message.endswith("不能再录入积分")
        # during the objection window a correction is still possible ...
        window_open = Q1_PUBLISH + dt.timedelta(days=3)
        assert periods.state_of(w.committee_id, q1, now=window_open) == "published"
        e2 = give(w, m, "innovation", 2, "2026Q2")
        row.objection_until = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1)
        db.session.commit()
        r = reverse_entry(w.user("sec_a"), e.id, "异议成立")
        assert r.points_x10 == -50
        # ... and after it the period is final
        row.objection_until = dt.datetime(2026, 4, 9)
        db.session.commit()
        assert periods.state_of(w.committee_id, q1) == "final"
        again = give(w, m, "innovation", 2, "2026Q2")
        with pytest.raises(ApiError) as exc:
            reverse_entry(w.user("sec_a"), r.id, "x")
        assert code_of(exc) == "reversal_of_reversal"
        other = db.session.execute(db.select(PointsEntry).where(
            PointsEntry.quarter == 1, PointsEntry.reverses_id.is_(None),
            PointsEntry.id != e.id)).scalars().all()
        assert other == []
        assert {e2.quarter, again.quarter} == {2}


def test_published_boards_are_frozen_and_corrections_refreeze_them(app, world):
    from server.points.standings import view

    with app.app_context():
        w, m = world, world.members_a[0]
        e = give(w, m, "post_duty", 5)
        give(w, w.members_a[1], "post_duty", 4)
        q1 = Period(2026, 1)
        periods.close_period(w.user("dangwei"), w.committee_id, q1)
        row = periods.publish_period(w.user("dangwei"), w.committee_id, q1, now=Q1_PUBLISH)
        shown = view("members", w.branch_a, q1, staff=False)
        assert shown["visibility"] == "frozen" and shown["showing"] == "frozen"
        assert [r["id"] for r in shown["rows"]] == [m, w.members_a[1]]
        row.objection_until = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1)
        db.session.commit()
        reverse_entry(w.user("sec_a"), e.id, "异议成立")
        shown = view("members", w.branch_a, q1, staff=False)
        assert [r["id"] for r in shown["rows"]] == [w.members_a[1], m]
        assert shown["rows"][1]["points"] == 0


def test_committee_review_writes_the_star_record(app, world):
    with app.app_context():
        w = world
        a, b, c = w.members_a[0], w.members_a[1], w.members_b[0]
        for item, pts in (("branch_meeting", 12), ("theme_day", 8), ("self_study", 6),
                          ("study_share", 4), ("post_duty", 5), ("model_post", 10),
                          ("innovation", 6), ("pairing", 8), ("volunteer", 8),
                          ("honor_higher", 5), ("honor_company", 3)):
            for q, m in (("2026Q1", a), ("2026Q2", b)):
                give(w, m, item, pts, q)
        give(w, b, "criticized", 5, "2026Q3")
        e = create_entry(w.user("sec_b"), "member", c, "违反国家法律法规", "", "2026Q4", "判决书")
        approve_entry(w.user("wei_b"), e.id)
        with pytest.raises(ApiError) as exc:
            periods.review_year(w.user("dangwei"), w.committee_id, 2026)
        assert code_of(exc) == "period_open"
        with pytest.raises(ApiError) as exc:
            periods.close_period(w.user("sec_a"), w.committee_id, Period(2026))
        assert (code_of(exc), exc.value.status) == ("committee_only", 403)
        with pytest.raises(ApiError) as exc:
            periods.close_period(w.user("dangwei"), w.committee_id, Period(2026))
        assert (code_of(exc), exc.value.status) == ("quarter_open", 409)
        for q in (1, 2, 3, 4):
            periods.close_period(w.user("dangwei"), w.committee_id, Period(2026, q))
        periods.close_period(w.user("dangwei"), w.committee_id, Period(2026))
        n = periods.review_year(w.user("dangwei"), w.committee_id, 2026)
        party = db.session.execute(db.select(func.count(Member.id)).filter_by(
            committee_id=w.committee_id, is_party_member=True)).scalar_one()
        assert n == party == 8
        rated = {r.member_id: r for r in db.session.execute(db.select(StarRating)).scalars()}
        assert (rated[a].points_x10, rated[a].stars, rated[a].level) == (750, 2, "二星")
        assert (rated[b].points_x10, rated[b].deductions_x10, rated[b].stars) == (700, 50, 2)
        assert rated[c].stars is None and "违反国家法律法规" in rated[c].veto_note
        assert (rated[w.members_a[4]].stars, rated[w.members_a[4]].level) == (None, "未评定")
        # redoing it updates the rows instead of adding new ones
        assert periods.review_year(w.user("dangwei"), w.committee_id, 2026) == 8
        assert db.session.execute(db.select(func.count(StarRating.id))).scalar_one() == 8


def test_non_members_and_unknown_items_are_refused(app, world):
    with app.app_context():
        w = world
        cases = [
            (("member", w.masses_a, "innovation", 2, "2026Q1", "x"), "not_party_member", "member_id"),
            (("member", 999999, "innovation", 2, "2026Q1", "x"), "unknown_member", "member_id"),
            (("member", w.members_a[0], "踢足球", 2, "2026Q1", "x"), "unknown_item", "item"),
            (("member", w.members_a[0], "innovation", "2.55", "2026Q1", "x"), "invalid_points",
             "points"),
            (("member", w.members_a[0], "innovation", 7, "2026Q1", "x"), "points_above_cap",
             "points"),
            (("member", w.members_a[0], "innovation", 2, "2026Q7", "x"), "invalid_period",
             "period"),
            (("member", w.members_a[0], "innovation", 2, "2031Q1", "x"), "no_rules", "period"),
            (("member", w.members_a[0], "innovation", 2, "2026Q1", " "), "reason_required",
             "reason"),
            (("group", 999999, "dues", 2, "2026Q1", "x"), "unknown_group", "group_id"),
        ]
        for args, code, field in cases:
            with pytest.raises(ApiError) as exc:
                create_entry(w.user("sec_a"), *args)
            assert (exc.value.code, exc.value.field) == (code, field), args
        assert entry_count() == 0


def test_boards_follow_approvals(app, world):
    with app.app_context():
        w = world
        give(w, w.members_a[2], "innovation", 4)
        give(w, w.members_a[0], "innovation", 4)
        give(w, w.members_a[1], "innovation", 6)
        give(w, w.members_a[1], "absence", 2)
        rows, total = live_rows("members", w.branch_a, Period(2026, 1), 0, 0)
        # 4 points each: fewer deductions first, then the roster order (lower id)
        assert [r["id"] for r in rows] == [w.members_a[0], w.members_a[2], w.members_a[1]]
        assert rows[2]["deductions"] == 20 and total == 3
        sql = boards.sql_page("members", w.branch_a, Period(2026, 1), 0, 0)
        assert [r[0] for r in sql[0]] == [r["id"] for r in rows]
