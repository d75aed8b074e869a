"""Live Redis leaderboards: equal to SQL after any operations, rebuildable, tie-break,
per-capita branch ranking, hide and freeze."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from server.core.db import db
from server.core.errors import ApiError
from server.core.redis import get_redis
from server.points import boards
from server.points.calendar import Period, periods_of
from server.points.models import BoardState, PointsEntry
from server.points.operations import approve_entry, create_entry, reject_entry, reverse_entry
from server.points.standings import live_rows, view
from server.points.visibility import set_visibility
from tests.support.points import World, build_world


@pytest.fixture
def world(app):
    with app.app_context():
        return build_world()

MEMBER_ITEMS = [("branch_meeting", 1), ("post_duty", 5), ("innovation", 2), ("honor_higher", 5),
                ("absence", 2), ("criticized", 5), ("违反政治纪律", 0)]
GROUP_ITEMS = [("leader_role", 20), ("dues", 10), ("violation", 0)]

op = st.one_of(
    st.tuples(st.just("member"), st.integers(0, 7), st.sampled_from(MEMBER_ITEMS),
              st.integers(1, 10), st.sampled_from([0, 1, 2, 3, 4]), st.booleans()),
    st.tuples(st.just("group"), st.integers(0, 1), st.sampled_from(GROUP_ITEMS),
              st.integers(1, 10), st.sampled_from([1, 2, 3, 4]), st.booleans()),
    st.tuples(st.sampled_from(["approve", "reject", "reverse"]), st.integers(0, 40)),
)


def all_scopes(w: World) -> list[boards.Scope]:
    return [boards.Scope("b", w.branch_a, 2026), boards.Scope("b", w.branch_b, 2026),
            boards.Scope("c", w.committee_id, 2026)]


def redis_state(scope: boards.Scope) -> dict[str, dict[str, int]]:
    out = {}
    for key in scope.keys():
        board = key.split(":")[-2]
        period = Period(2026, int(key[-1]) if "Q" in key else 0)
        scope_id = scope.scope_id
        found = boards.redis_board(board, scope_id, period)
        if found:
            out[key] = found
    return out


def reset(w: World) -> None:
    db.session.execute(delete(PointsEntry).where(PointsEntry.reverses_id.is_not(None)))
    db.session.execute(delete(PointsEntry))
    db.session.commit()
    r = get_redis()
    for scope in all_scopes(w):
        r.delete(*scope.keys(), scope.meta("state"), scope.meta("applied"), scope.meta("dirty"))


def run(w: World, ops: list[tuple]) -> None:
    people = w.members_a + w.members_b  # 8 party members in two branches
    made: list[int] = []
    for o in ops:
        try:
            if o[0] in ("member", "group"):
                kind, idx, (item, unit), n, quarter, approve = o
                subject = people[idx] if kind == "member" else w.groups_a[idx]
                who = "sec_a" if kind == "group" or subject in w.members_a else "sec_b"
                points = "" if unit == 0 else unit * n / 10 if item != "post_duty" else min(n, 5)
                period = "2026" if quarter == 0 else f"2026Q{quarter}"
                e = create_entry(w.user(who), kind, subject, item, points, period, "随机")
                made.append(e.id)
                if approve:
                    approve_entry(w.user("dangwei"), e.id)
            elif made:
                target = made[o[1] % len(made)]
                action = {"approve": lambda t: approve_entry(w.user("dangwei"), t),
                          "reject": lambda t: reject_entry(w.user("dangwei"), t, "不符合"),
                          "reverse": lambda t: reverse_entry(w.user("dangwei"), t, "更正")}
                action[o[0]](target)
        except ApiError:
            db.session.rollback()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=25))
def test_live_boards_equal_boards_rebuilt_from_sql(app, world, ops):
    with app.app_context():
        w = world
        reset(w)
        for scope in all_scopes(w):
            boards.ensure_ready(scope)  # empty and ready, as after a first read
        run(w, ops)
        for scope in all_scopes(w):
            expected, _ = boards.sql_boards(scope)
            assert redis_state(scope) == expected, scope
            assert boards.rebuild(scope)
            assert redis_state(scope) == expected, scope
        for period in periods_of(2026):
            for board, scope_id in (("members", w.branch_a), ("members", w.branch_b),
                                    ("groups", w.branch_a), ("branches", w.committee_id)):
                live = boards.read_page(board, scope_id, period, 0, 0)
                assert live == boards.sql_page(board, scope_id, period, 0, 0)


def give(w, member, item, points, period="2026Q1", who="sec_a"):
    e = create_entry(w.user(who), "member", member, item, points, period, "测试")
    return approve_entry(w.approver(who), e.id)


def test_a_redis_that_lost_everything_is_rebuilt_on_the_next_read(app, world):
    with app.app_context():
        w = world
        give(w, w.members_a[0], "innovation", 2)
        give(w, w.members_a[1], "innovation", 4)
        get_redis().flushdb()
        rows, total = live_rows("members", w.branch_a, Period(2026, 1), 0, 0)
        assert [r["id"] for r in rows] == [w.members_a[1], w.members_a[0]] and total == 2
        assert get_redis().get(boards.Scope("b", w.branch_a, 2026).meta("state")) == "ready"
        # and approvals after that keep adding to the rebuilt board
        give(w, w.members_a[0], "innovation", 4)
        rows, _ = live_rows("members", w.branch_a, Period(2026, 1), 0, 0)
        assert [(r["id"], r["points"]) for r in rows] == [(w.members_a[0], 60),
                                                         (w.members_a[1], 40)]


def test_apply_counts_an_entry_once(app, world):
    with app.app_context():
        w = world
        e = give(w, w.members_a[0], "innovation", 2)
        boards.read_page("members", w.branch_a, Period(2026, 1))
        boards.apply([e])
        boards.apply([e])
        assert boards.redis_board("members", w.branch_a, Period(2026, 1)) == {
            boards.member_id_str(w.members_a[0]): -boards.composite(20, 0)}


def test_an_approval_during_a_rebuild_is_not_lost(app, world, monkeypatch):
    with app.app_context():
        w = world
        give(w, w.members_a[0], "innovation", 2)
        late = create_entry(w.user("sec_a"), "member", w.members_a[1], "innovation", 6,
                            "2026Q1", "late")
        real = boards.sql_boards
        calls = []

        def racing(scope):
            out = real(scope)
            if not calls:  # the approval commits after the rebuild has read SQL
                calls.append(1)
                approve_entry(w.user("wei_a"), late.id)
            return out

        monkeypatch.setattr(boards, "sql_boards", racing)
        assert boards.rebuild(boards.Scope("b", w.branch_a, 2026))
        monkeypatch.setattr(boards, "sql_boards", real)
        rows, _ = live_rows("members", w.branch_a, Period(2026, 1), 0, 0)
        assert [(r["id"], r["points"]) for r in rows] == [(w.members_a[1], 60),
                                                         (w.members_a[0], 20)]


def test_a_rebuild_in_progress_elsewhere_is_waited_for_not_repeated(app, world, monkeypatch):
    """One rebuild per scope at a time (redis-py's Lock): another process's rebuild is
    waited for up to WAIT_S; the lock is released when a rebuild ends."""
    with app.app_context():
        w = world
        scope = boards.Scope("b", w.branch_a, 2026)
        r = get_redis()
        monkeypatch.setattr(boards, "WAIT_S", 0.3)
        elsewhere = r.lock(scope.meta("lock"), timeout=5)
        assert elsewhere.acquire(blocking=False)
        r.delete(scope.meta("state"))
        assert boards.rebuild(scope) is False  # not ready within WAIT_S, and not rebuilt
        r.set(scope.meta("state"), "ready")
        assert boards.rebuild(scope) is True  # the other rebuild finished meanwhile
        elsewhere.release()
        r.delete(scope.meta("state"))
        assert boards.rebuild(scope) is True and r.get(scope.meta("lock")) is None
        assert r.get(scope.meta("state")) == "ready"


def test_redis_down_falls_back_to_sql(app, world):
    with app.app_context():
        w = world
        give(w, w.members_a[0], "innovation", 2)
        import redis

        class Down:
            def __getattr__(self, name):
                raise redis.ConnectionError("down")

        app.extensions["pingyi_redis"], saved = Down(), app.extensions["pingyi_redis"]
        try:
            rows, total = live_rows("members", w.branch_a, Period(2026, 1), 0, 0)
        finally:
            app.extensions["pingyi_redis"] = saved
        assert [r["id"] for r in rows] == [w.members_a[0]] and total == 1


def test_tie_break_points_then_fewer_deductions_then_roster_order(app, world):
    with app.app_context():
        w = world
        a, b, c, d = w.members_a[:4]
        give(w, d, "innovation", 6)          # 6, no deductions
        give(w, c, "post_duty", 5)
        give(w, c, "criticized", 5)
        give(w, c, "theme_day", 6)           # 6, 5 deducted
        give(w, b, "innovation", 6)          # 6, no deductions
        give(w, a, "post_duty", 5)
        give(w, a, "absence", 2)
        give(w, a, "theme_day", 3)           # 6, 2 deducted
        rows, _ = live_rows("members", w.branch_a, Period(2026, 1), 0, 0)
        assert [r["id"] for r in rows] == [b, d, a, c]
        assert [(r["points"], r["deductions"]) for r in rows] == [(60, 0), (60, 0), (60, 20),
                                                                 (60, 50)]
        page, total = live_rows("members", w.branch_a, Period(2026, 1), 1, 2)
        assert [r["id"] for r in page] == [d, a] and [r["rank"] for r in page] == [2, 3]


def test_branches_rank_by_points_per_party_member(app, world):
    with app.app_context():
        w = world
        for m in w.members_a[:2]:
            give(w, m, "post_duty", 5)        # A: 10 points, 5 party members → 2 each
        give(w, w.members_b[0], "post_duty", 5, who="sec_b")
        give(w, w.members_b[1], "post_duty", 4, who="sec_b")   # B: 9 points, 3 members → 3
        rows, _ = live_rows("branches", w.committee_id, Period(2026, 1), 0, 0)
        assert [(r["id"], r["points"], r["total"], r["members"]) for r in rows] == [
            (w.branch_b, 30, 90, 3), (w.branch_a, 20, 100, 5)]


def test_hidden_and_frozen_boards(app, world):
    with app.app_context():
        w = world
        q1 = Period(2026, 1)
        give(w, w.members_a[0], "innovation", 2)
        set_visibility(w.user("sec_a"), "members", w.branch_a, q1, "hidden")
        with pytest.raises(ApiError) as exc:
            view("members", w.branch_a, q1, staff=False)
        assert (exc.value.code, exc.value.status) == ("board_hidden", 403)
        staff = view("members", w.branch_a, q1, staff=True)
        assert staff["visibility"] == "hidden" and len(staff["rows"]) == 1

        set_visibility(w.user("sec_a"), "members", w.branch_a, q1, "frozen")
        give(w, w.members_a[1], "innovation", 6)
        frozen = view("members", w.branch_a, q1, staff=False)
        assert frozen["showing"] == "frozen" and [r["id"] for r in frozen["rows"]] == [
            w.members_a[0]]
        live = view("members", w.branch_a, q1, staff=True, live=True)
        assert [r["id"] for r in live["rows"]] == [w.members_a[1], w.members_a[0]]
        assert view("members", w.branch_a, q1, staff=False, live=True)["showing"] == "frozen"

        set_visibility(w.user("sec_a"), "members", w.branch_a, q1, "live")
        assert len(view("members", w.branch_a, q1, staff=False)["rows"]) == 2
        state = db.session.execute(db.select(BoardState)).scalar_one()
        assert state.frozen_json is None

        with pytest.raises(ApiError) as exc:
            set_visibility(w.user("sec_a"), "branches", w.committee_id, q1, "frozen")
        assert exc.value.code == "committee_only"
        with pytest.raises(ApiError) as exc:
            set_visibility(w.user("sec_b"), "members", w.branch_a, q1, "hidden")
        assert exc.value.status == 404
        with pytest.raises(ApiError) as exc:
            set_visibility(w.user("organizer"), "members", w.branch_a, q1, "hidden")
        assert exc.value.code == "points_forbidden"
        set_visibility(w.user("dangwei"), "branches", w.committee_id, q1, "frozen")


def test_board_keys_carry_one_hash_tag_per_scope(app, world):
    with app.app_context():
        w = world
        e = give(w, w.members_a[0], "innovation", 2)
        for m in boards.moves(e):
            tag = m.key[: m.key.index("}") + 1]
            assert tag == m.scope.tag
            assert all(k.startswith(tag) for k in m.scope.keys())
        assert {m.scope.tag for m in boards.moves(e)} == {f"{{b:{w.branch_a}}}",
                                                          f"{{c:{w.committee_id}}}"}
