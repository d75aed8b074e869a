"""Rule sets, star thresholds, caps, amounts, periods and the board score encoding (pure)."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.points.amounts import AmountError, fmt, to_tenths
from server.points.boards import SCALE, composite, entry_composite, split
from server.points.calendar import Period, PeriodError, parse_period
from server.points.rules import (
    RuleSetError,
    cap_problem,
    entry_problem,
    load_folder,
    parse_rule_set,
)

CONFIG = Path(__file__).resolve().parents[1] / "config" / "points"
DEFAULT = tomllib.loads((CONFIG / "default-2026.toml").read_text(encoding="utf-8"))


def rules(data=None):
    return parse_rule_set(copy.deepcopy(data or DEFAULT), "test")


def test_shipped_rule_sets_load_and_follow_the_seeds():
    sets = load_folder(CONFIG)
    rs = next(s for s in sets if s.ref == "default-2026")
    assert [c.label for c in rs.member.categories] == ["基础项", "业绩项", "履职项", "加分项",
                                                       "约束项", "否决条件"]
    meeting = rs.member.items["branch_meeting"]
    assert meeting.cap == 120 and meeting.points == 10 and meeting.cap_per == "year"
    assert rs.member.items["absence"].is_deduction
    assert {i.label for i in rs.member.category("veto").items} >= {"违反政治纪律", "违反国家法律法规"}
    assert rs.member.items["peer_review"].from_round
    groups = [i.label for i in rs.group.items.values() if not i.is_veto]
    assert groups == ["小组长作用发挥", "“三会一课”及主题党日", "党费收缴", "党员管理", "宣传报道",
                      "活动组织", "上级党建考核情况"]
    assert sum(i.cap for i in rs.group.items.values() if i.cap) == 1000
    assert rs.group.items["leader_role"].cap_per == "quarter"
    assert rs.objection_days == 7


@pytest.mark.parametrize(("points", "stars", "label"), [
    (0, 0, "不合格"), (599, 0, "不合格"), (600, 1, "一星"), (699, 1, "一星"), (700, 2, "二星"),
    (800, 3, "三星"), (900, 4, "四星"), (959, 4, "四星"), (960, 5, "五星"), (1100, 5, "五星"),
    (-50, 0, "不合格"),
])
def test_star_thresholds(points, stars, label):
    level = rules().member.star_level(points)
    assert (level.stars, level.label) == (stars, label)


def test_a_veto_cancels_star_eligibility_whatever_the_points():
    level = rules().member.star_level(1000, vetoed=True)
    assert level.stars is None and level.vetoed and level.label == "取消评星资格"


def test_item_cap_names_the_item_and_the_figures():
    rs = rules()
    item = rs.member.items["branch_meeting"]
    cat = rs.member.category("basic")
    assert cap_problem(item, cat, 110, 110, 10) is None
    problem = cap_problem(item, cat, 110, 110, 20)
    assert problem == "“参加支部党员大会、党小组会和党课”全年累计不超过12分：已审定11分，本条2分，超出1分"


def test_category_cap_applies_across_items():
    rs = rules()
    item = rs.member.items["study_share"]
    cat = rs.member.category("basic")
    problem = cap_problem(item, cat, 0, 290, 20)
    assert problem and problem.startswith("“基础项”全年累计不超过30分")


def test_deduction_caps_bound_the_amount_deducted():
    data = copy.deepcopy(DEFAULT)
    disc = next(c for c in data["member"]["categories"] if c["key"] == "discipline")
    disc["cap"] = 10
    rs = parse_rule_set(data)
    item, cat = rs.member.items["criticized"], rs.member.category("discipline")
    assert cap_problem(item, cat, -50, -50, -50) is None
    assert "扣分不超过10分" in cap_problem(item, cat, -60, -60, -50)
    assert cap_problem(item, cat, -100, -100, 50) is None  # a reversal gives points back


def test_one_entry_above_its_maximum():
    rs = rules()
    assert entry_problem(rs.member.items["post_duty"], 50) is None
    assert entry_problem(rs.member.items["post_duty"], 55) == "“完成岗位职责和工作任务”每条不超过5分"
    assert entry_problem(rs.member.items["post_duty"], 0).startswith("分值必须大于0")
    assert entry_problem(rs.member.items["political"], 0) is None


def test_items_are_found_by_key_or_label():
    scheme = rules().group
    assert scheme.find_item("meetings").key == "meetings"
    assert scheme.find_item("三会一课及主题党日").key == "meetings"
    assert scheme.find_item(" 党费收缴 ").key == "dues"
    assert scheme.find_item("不存在") is None


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["member"]["categories"][0].update(kind="other"), "'kind' must be one of"),
    (lambda d: d["member"]["categories"][0]["items"][1].update(key="branch_meeting"),
     "duplicate item keys"),
    (lambda d: d["member"]["categories"][0]["items"][0].update(points=20, cap=12),
     "'points' is more than 'max_entry'"),
    (lambda d: d["member"]["categories"][0]["items"][0].update(max_entry=20, cap=12),
     "'max_entry' is more than 'cap'"),
    (lambda d: d["member"]["categories"][0]["items"][0].update(points=1.25),
     "at most one decimal"),
    (lambda d: d["member"]["stars"][1].update(min=50), "star thresholds must rise"),
    (lambda d: d["member"]["categories"][5]["items"][0].update(points=2), "a veto item has no"),
    (lambda d: d.update(year="2026"), "'year' must be a year"),
    (lambda d: d["group"].update(stars=[{"min": 1, "stars": 1, "label": "x"}]),
     "party groups have no star levels"),
    (lambda d: d["member"]["categories"][0]["items"][0].update(colour="red"), "unknown keys"),
])
def test_bad_rule_sets_are_refused_with_the_field(change, message):
    data = copy.deepcopy(DEFAULT)
    change(data)
    with pytest.raises(RuleSetError, match=message):
        parse_rule_set(data, "bad.toml")


def test_two_default_files_for_one_year_are_refused(tmp_path):
    for name in ("default-2026.toml", "other-2026.toml"):
        text = (CONFIG / "default-2026.toml").read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace('key = "default"', f'key = "{name[:-10]}"'),
                                     encoding="utf-8")
    with pytest.raises(RuleSetError, match="already has 2026 rules"):
        load_folder(tmp_path)


@pytest.mark.parametrize(("text", "tenths"), [
    (2, 20), (2.5, 25), ("0.5", 5), ("１２", 120), ("12．5", 125), (" -3 ", -30), ("7.", 70),
])
def test_amounts(text, tenths):
    assert to_tenths(text) == tenths


@pytest.mark.parametrize("text", ["1.25", "abc", "", "1e3", True, None, float("nan")])
def test_bad_amounts(text):
    with pytest.raises(AmountError):
        to_tenths(text)


def test_formatting():
    assert [fmt(x) for x in (125, 120, -25, 0, 5)] == ["12.5", "12", "-2.5", "0", "0.5"]
    assert fmt(25, signed=True) == "+2.5" and fmt(-20, signed=True) == "-2"


@pytest.mark.parametrize(("text", "period"), [
    ("2026Q3", Period(2026, 3)), ("2026-q1", Period(2026, 1)), ("2026", Period(2026)),
    ("2026年第二季度", Period(2026, 2)), ("2026年度", Period(2026)), ("2026年第4季度", Period(2026, 4)),
])
def test_periods(text, period):
    assert parse_period(text) == period


def test_period_facts():
    q = Period(2026, 4)
    assert q.code == "2026Q4" and q.label == "2026年第四季度" and q.year_period == Period(2026)
    assert str(q.end) == "2027-01-01" and str(Period(2026, 1).end) == "2026-04-01"
    for bad in ("2026Q5", "26Q1", "Q1", "1999"):
        with pytest.raises(PeriodError):
            parse_period(bad)


@given(st.integers(-10**6, 10**7), st.integers(0, SCALE - 1))
def test_board_score_round_trips(points, deductions):
    assert split(composite(points, deductions)) == (points, deductions)


@given(st.lists(st.tuples(st.integers(-1000, 5000), st.integers(0, 5000)), min_size=2, max_size=20))
def test_board_score_orders_points_then_fewer_deductions(rows):
    by_score = sorted(rows, key=lambda r: -composite(*r))
    by_rule = sorted(rows, key=lambda r: (-r[0], r[1]))
    assert by_score == by_rule


def test_entry_composite_keeps_the_deduction_tie_part():
    # 10 points, then a deduction of 2: 8 points with 2 deducted.
    total = entry_composite("award", 100) + entry_composite("deduction", -20)
    assert split(total) == (80, 20)
    # reversing the deduction restores both parts
    assert split(total + entry_composite("deduction", 20)) == (100, 0)
