"""Appraisal forms of several sections, each on its own grade scale: the form check
(field-level errors), rounds whose subjects name their section, ballots checked,
stored and counted per section, and a close whose live tally equals the SQL recount."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from server.core.db import db
from server.forms.answers import check_answers, tally_fields
from server.forms.codec import answer_codec
from server.forms.sections import bind_subjects, round_form, section_of, subject_sections
from server.forms.storage import decode_answers, encode_answers
from server.forms.templates import FormError, check_form, load_forms
from server.roundbase.reads import get_round
from server.voting.digest import digest
from tests import test_vote_page_browser as vote_page
from tests.factories import organizer

# the voting page's fixtures (a live server, a phone-sized page; Chromium is conftest's)
base_url, page = vote_page.base_url, vote_page.page

TEAM_GRADES = [("good", "好", 95), ("fair", "较好", 85), ("average", "一般", 75),
               ("poor", "差", 60)]
MEMBER_GRADES = [("excellent", "优秀", 95), ("competent", "称职", 85), ("basic", "基本称职", 75),
                 ("incompetent", "不称职", 65)]


def two_scales() -> dict[str, Any]:
    """The form of docs/forms.md: a team on 好/较好/一般/差, its members on 优秀…不了解."""
    return {
        "key": "two_scales",
        "kind": "appraisal",
        "name": "2026年度领导班子和领导人员民主测评",
        "description": "本次测评无记名进行。",
        "sections": [
            {"key": "team", "label": "领导班子",
             "criteria": [{"key": "unity", "label": "团结协作"},
                          {"key": "overall", "label": "总体评价", "overall": True}],
             "grades": [{"key": k, "label": lb, "points": p} for k, lb, p in TEAM_GRADES]},
            {"key": "members", "label": "班子成员", "description": "请对每位班子成员作出评价。",
             "criteria": [{"key": "political", "label": "政治素质"},
                          {"key": "ability", "label": "履职能力"},
                          {"key": "overall", "label": "总体评价", "overall": True}],
             "grades": [*({"key": k, "label": lb, "points": p} for k, lb, p in MEMBER_GRADES),
                        {"key": "unknown", "label": "不了解", "abstain": True}]},
        ],
        "results": {"min_turnout": 0,
                    "flags": [{"grade": "incompetent", "share_above": 0.3333,
                               "label": "“不称职”率超过三分之一"}]},
    }


# ------------------------------------------------------------------ check_form


def test_sections_are_checked_and_the_first_is_also_at_the_top():
    form = check_form(two_scales())
    assert [s["key"] for s in form["sections"]] == ["team", "members"]
    assert form["criteria"] == form["sections"][0]["criteria"]
    assert form["grades"] == form["sections"][0]["grades"]
    assert form["sections"][1]["grades"][-1] == {"key": "unknown", "label": "不了解",
                                                 "abstain": True}
    assert check_form(copy.deepcopy(form)) == form  # checking again changes nothing
    assert section_of(form, "members")["label"] == "班子成员"
    assert section_of(form, "") is form["sections"][0]
    with pytest.raises(KeyError):
        section_of(form, "nobody")


def test_a_preset_becomes_one_section_named_main():
    preset = load_forms("config/forms")["appraisal"]
    assert [s["key"] for s in preset["sections"]] == ["main"]
    assert preset["sections"][0]["criteria"] == preset["criteria"]
    assert answer_codec(preset, [1, 2]) is not None  # one scale keeps the fast codec


def _set(form: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with value ... delete) a field of a definition by its path."""
    node: Any = form
    parts = path.replace("[", ".").replace("]", "").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del node[key]
    else:
        node[key] = value


BAD = [
    ("kind", "survey", "kind"),
    ("name", "", "name"),
    ("name", "名" * 201, "name"),
    ("key", "Bad Key", "key"),
    ("sections", [], "sections"),
    ("sections", "team", "sections"),
    ("sections[1].key", "team", "sections[1].key"),
    ("sections[1].key", "成员", "sections[1].key"),
    ("sections[0].label", "", "sections[0].label"),
    ("sections[0].label", "长" * 61, "sections[0].label"),
    ("sections[0].description", 5, "sections[0].description"),
    ("sections[1].criteria", [], "sections[1].criteria"),
    ("sections[1].criteria[1].key", "political", "sections[1].criteria[1].key"),
    ("sections[1].criteria[0].label", None, "sections[1].criteria[0].label"),
    ("sections[1].criteria[0].overall", "yes", "sections[1].criteria[0].overall"),
    ("sections[1].grades[4].abstain", ..., "sections[1].grades[4].points"),
    ("sections[1].grades[2].points", "75", "sections[1].grades[2].points"),
    ("sections[1].grades[2].points", True, "sections[1].grades[2].points"),
    ("sections[1].grades[2].points", float("nan"), "sections[1].grades[2].points"),
    ("sections[1].grades[0].key", "", "sections[1].grades[0].key"),
    ("sections[1].grades[1].key", "excellent", "sections[1].grades[1].key"),
    ("sections[0].grades", [{"key": "good", "label": "好", "points": 1}], "sections[0].grades"),
    ("sections[0].grades", [{"key": "a", "label": "甲", "abstain": True},
                            {"key": "b", "label": "乙", "abstain": True}], "sections[0].grades"),
    ("sections[0].grades[0]", "good", "sections[0].grades[0]"),
    ("sections[0]", [], "sections[0]"),
    ("results", [], "results"),
    ("results.flags", [{"grade": "nobody", "share_above": 0.5, "label": "x"}],
     "results.flags[0]"),
    ("results.flags", [{"grade": "unknown", "share_above": 0.5, "label": "x"}],
     "results.flags[0]"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD, ids=[f"{p}={v!r}"[:60] for p, v, _ in BAD])
def test_every_designer_mistake_names_its_field(path, value, field):
    form = two_scales()
    _set(form, path, value)
    with pytest.raises(FormError) as caught:
        check_form(form)
    exc = caught.value
    assert exc.field == field, (exc.field, exc.en)
    assert exc.zh and not exc.zh.isascii()  # a Chinese message for the console
    assert str(exc) == f"{field}: {exc.en}"


def test_size_limits_stop_a_hostile_definition():
    form = two_scales()
    form["sections"] = [dict(copy.deepcopy(form["sections"][0]), key=f"s{i}") for i in range(21)]
    with pytest.raises(FormError) as caught:
        check_form(form)
    assert caught.value.field == "sections"
    for where, n in (("criteria", 31), ("grades", 13)):
        form = two_scales()
        form["sections"][0][where] = [{"key": f"k{i}", "label": f"第{i}项", "points": i}
                                      for i in range(n)]
        with pytest.raises(FormError) as caught:
            check_form(form)
        assert caught.value.field == f"sections[0].{where}"
    review = {"kind": "scoring", "name": "评分", "items": [
        {"key": f"i{i}", "label": f"项{i}", "max": 10} for i in range(51)]}
    with pytest.raises(FormError) as caught:
        check_form(review)
    assert caught.value.field == "items"


@pytest.mark.parametrize(("patch", "field"), [
    ({"max_choices": 0}, "max_choices"),
    ({"max_choices": True}, "max_choices"),
    ({"min_choices": 4}, "min_choices"),
    ({"min_choices": -1}, "min_choices"),
])
def test_recommendation_limits(patch, field):
    form = {"kind": "recommendation", "name": "后备干部推荐", "min_choices": 1, "max_choices": 3}
    with pytest.raises(FormError) as caught:
        check_form({**form, **patch})
    assert caught.value.field == field


@pytest.mark.parametrize(("patch", "field"), [
    ({"max": 0}, "items[0].max"),
    ({"max": "10"}, "items[0].max"),
    ({"min": 10}, "items[0].min"),
    ({"weight": 0}, "items[0].weight"),
    ({"key": "Bad"}, "items[0].key"),
    ({"label": ""}, "items[0].label"),
])
def test_scoring_items(patch, field):
    form = {"kind": "scoring", "name": "述职评议", "items": [
        {"key": "work", "label": "工作", "max": 10, **patch}]}
    with pytest.raises(FormError) as caught:
        check_form(form)
    assert caught.value.field == field
    with pytest.raises(FormError) as caught:
        check_form({"kind": "scoring", "name": "述职评议", "decimals": 3,
                    "items": [{"key": "work", "label": "工作", "max": 10}]})
    assert caught.value.field == "decimals"


# ------------------------------------------------------------------ pure ballot path


def test_rows_are_checked_stored_and_counted_by_their_section():
    form = bind_subjects(check_form(two_scales()), [(1, "team"), (2, "members"), (3, "members")])
    assert answer_codec(form, [1, 2, 3]) is None  # the general path
    raw = {"1": {"unity": "good", "overall": "fair"},
           "2": {"political": "excellent", "ability": "unknown", "overall": "incompetent"},
           "3": {"political": "basic", "ability": "competent", "overall": "competent"}}
    answers = check_answers(form, [1, 2, 3], raw)
    stored = encode_answers(form, answers)
    assert stored == "A:1=01,2=043,3=211"
    assert decode_answers(form, stored) == answers
    fields = tally_fields(form, answers)
    assert fields["2:overall:incompetent"] == 1 and fields["1:overall:fair"] == 1
    # the same code under another section is another grade: counted by section
    counts = digest(form, [1, 2, 3], [(7, stored), (7, stored), (8, "A:1=00,2=000,3=000")])
    recount = counts.recount()
    assert recount["turnout"] == {7: 2, 8: 1}
    assert recount["tallies"][8]["1:unity:good"] == 1
    assert recount["tallies"][8]["2:political:excellent"] == 1
    assert recount["tallies"][7]["2:ability:unknown"] == 2
    _, invalid = counts.counted()
    assert invalid == {}
    wrong = {**raw, "1": {"unity": "excellent", "overall": "good"}}
    with pytest.raises(Exception) as caught:
        check_answers(form, [1, 2, 3], wrong)
    assert caught.value.code == "invalid_grade" and caught.value.field == "answers.1.unity"


# ------------------------------------------------------------------ through the API


@pytest.fixture
def key(app):
    with app.app_context():
        _, raw = organizer()
        app.extensions["pingyi_forms"]["two_scales"] = check_form(two_scales())
    return {"Authorization": f"Bearer {raw}"}


ROUND = {
    "form": "two_scales",
    "title": "2026年度领导班子和领导人员民主测评",
    "subjects": [{"name": "领导班子", "note": "整体", "section": "team"},
                 {"name": "王建国", "note": "党委书记", "section": "members"},
                 {"name": "李红", "note": "总经理", "section": "members"}],
    "categories": [{"name": "中层干部", "expected_count": 10}],
}


def test_a_round_names_each_subjects_section(app, client, key):
    res = client.post("/api/v1/rounds", json=ROUND, headers=key)
    assert res.status_code == 201, res.json
    assert [s["section"] for s in res.json["subjects"]] == ["team", "members", "members"]
    for subjects, zh in (
        ([{"name": "甲"}, {"name": "乙", "section": "members"}], "请为测评对象选择所属测评部分"),
        ([{"name": "甲", "section": "members"}, {"name": "乙", "section": "board"}], None),
    ):
        bad = client.post("/api/v1/rounds", json={**ROUND, "subjects": subjects}, headers=key)
        assert bad.status_code == 422, bad.json
        err = bad.json["error"]
        missing = subjects[0].get("section") is None
        assert err["code"] == "unknown_section"
        assert err["field"] == ("subjects[0].section" if missing else "subjects[1].section")
        if zh:
            assert err["message"] == zh
    # a one-section form: the section may be left out, and is the only one's
    one = client.post("/api/v1/rounds", json={**ROUND, "form": "appraisal",
                                              "subjects": [{"name": "甲"}]}, headers=key)
    assert one.status_code == 201 and one.json["subjects"][0]["section"] == "main"
    wrong = client.post("/api/v1/rounds", json={**ROUND, "form": "appraisal", "subjects": [
        {"name": "甲", "section": "team"}]}, headers=key)
    assert wrong.json["error"]["field"] == "subjects[0].section"
    rec = client.post("/api/v1/rounds", json={**ROUND, "form": "recommendation", "subjects": [
        {"name": "甲"}, {"name": "乙"}, {"name": "丙"}]}, headers=key)
    assert rec.status_code == 201 and rec.json["subjects"][0]["section"] == ""


def _answers(form: dict[str, Any], subjects: list[dict[str, Any]], i: int) -> dict[str, Any]:
    sections = {s["key"]: s for s in form["sections"]}
    out = {}
    for s in subjects:
        sec = sections[s["section"]]
        grades = [g["key"] for g in sec["grades"]]
        out[str(s["id"])] = {c["key"]: grades[(i + j) % len(grades)]
                             for j, c in enumerate(sec["criteria"])}
    return out


def test_two_sections_voted_and_closed_through_the_api(app, client, key):
    rnd = client.post("/api/v1/rounds", json=ROUND, headers=key).json
    rid, cat = rnd["id"], rnd["categories"][0]["id"]
    tokens = [t["token"] for t in client.post(
        f"/api/v1/rounds/{rid}/tokens", json={"category_id": cat, "count": 6},
        headers=key).json["tokens"]]
    assert client.post(f"/api/v1/rounds/{rid}/open", headers=key).json["status"] == "open"

    shown = client.post("/api/v1/ballot-form", json={"token": tokens[0]})
    assert shown.status_code == 200, shown.json
    form, subjects = shown.json["form"], shown.json["subjects"]
    assert [(s["key"], s["label"]) for s in form["sections"]] == [
        ("team", "领导班子"), ("members", "班子成员")]
    assert [g["label"] for g in form["sections"][0]["grades"]] == ["好", "较好", "一般", "差"]
    assert [g["label"] for g in form["sections"][1]["grades"]] == [
        "优秀", "称职", "基本称职", "不称职", "不了解"]
    assert form["sections"][1]["description"] == "请对每位班子成员作出评价。"
    assert "points" not in str(form)
    assert [s["section"] for s in subjects] == ["team", "members", "members"]

    # a member's grade on the team, or the team's on a member: refused, field named
    team, member = str(subjects[0]["id"]), str(subjects[1]["id"])
    for sid, crit, grade in ((team, "overall", "excellent"), (member, "political", "good")):
        bad = _answers(form, subjects, 0)
        bad[sid][crit] = grade
        res = client.post("/api/v1/ballots", json={"token": tokens[0], "answers": bad})
        assert res.status_code == 422, res.json
        assert res.json["error"]["code"] == "invalid_grade"
        assert res.json["error"]["field"] == f"answers.{sid}.{crit}"
    # a member asked the team's criteria: unknown criterion
    bad = _answers(form, subjects, 0)
    bad[member] = {"unity": "good", "overall": "good"}
    res = client.post("/api/v1/ballots", json={"token": tokens[0], "answers": bad})
    assert res.json["error"]["code"] in ("unknown_criterion", "invalid_grade")

    for i, token in enumerate(tokens[:5]):
        res = client.post("/api/v1/ballots", json={"token": token,
                                                   "answers": _answers(form, subjects, i)})
        assert res.status_code == 201, res.json
    with app.app_context():
        stored = [a for (a,) in db.session.execute(
            text("SELECT answers FROM ballots WHERE round_id = :r"), {"r": rid})]
        bound = round_form(get_round(rid))
        assert subject_sections(bound, [(s["id"], s["section"]) for s in subjects]) == {
            str(s["id"]): s["section"] for s in subjects}
    assert all(a.startswith("A:") for a in stored)
    assert sorted(decode_answers(bound, a)[team]["overall"] for a in stored) == [
        "average", "fair", "fair", "good", "poor"]

    closed = client.post(f"/api/v1/rounds/{rid}/close", headers=key)  # live == SQL, or 409
    assert closed.status_code == 200, closed.json
    assert closed.json["status"] == "closed" and closed.json["close_problem"] == ""
    with app.app_context():
        result = get_round(rid).result
    assert result["ballots"] == 5


# ------------------------------------------------------------------ the voter's phone


@pytest.mark.browser
def test_two_sections_on_the_phone(app, base_url, page):
    """The page shows each section under its own heading, with its own grade buttons,
    counts progress across all subjects, and the ballot is stored by section."""
    from server.rounds.operations import close_round, create_round, open_round
    from server.tokens.operations import issue_tokens
    from tests.factories import committee

    with app.app_context():
        app.extensions["pingyi_forms"]["two_scales"] = check_form(two_scales())
        rnd = create_round(committee().id, "two_scales", ROUND["title"], ROUND["subjects"],
                           ROUND["categories"])
        token = issue_tokens(rnd, rnd.categories[0].id, 1)[0]
        open_round(rnd)
        rid, (team, boss, manager) = rnd.id, [s.id for s in rnd.subjects]

    page.goto(f"{base_url}/v/#{token}")
    expect(page.locator(".section-head")).to_have_count(2)
    expect(page.locator("#sec-team .section-title")).to_contain_text("领导班子")
    expect(page.locator("#sec-members .section-desc")).to_have_text("请对每位班子成员作出评价。")
    assert page.locator(f"#row-{team}-overall .chip").all_inner_texts() == ["好", "较好", "一般", "差"]
    assert page.locator(f"#row-{boss}-political .chip").all_inner_texts() == [
        "优秀", "称职", "基本称职", "不称职", "不了解"]
    expect(page.locator("#progress-text")).to_have_text("已完成 0/3")

    page.locator(f"#row-{team}-unity [data-grade=fair]").click()
    page.locator(f"#row-{team}-overall [data-grade=good]").click()
    page.locator(f"#subj-{boss} .quick-fill").click()
    page.locator(f"#row-{boss}-ability [data-grade=unknown]").click()
    expect(page.locator("#progress-text")).to_have_text("已完成 2/3")
    page.locator(f"#row-{manager}-political [data-grade=basic]").click()
    page.locator(f"#row-{manager}-ability [data-grade=incompetent]").click()
    page.locator("#submit-btn").click()  # one criterion left: named, no confirmation
    expect(page.locator("#toast")).to_contain_text("请为“李红”的“总体评价”选择等次")
    page.locator(f"#row-{manager}-overall [data-grade=competent]").click()
    expect(page.locator("#progress-text")).to_have_text("已完成 3/3")
    Path("/tmp/shots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path="/tmp/shots/vote_sections.png", full_page=True, animations="disabled")

    page.locator("#submit-btn").click()
    expect(page.locator("#confirm-body .sum-section")).to_have_text(["领导班子", "班子成员"])
    page.screenshot(path="/tmp/shots/vote_sections_confirm.png", animations="disabled")
    page.get_by_role("button", name="确认提交").click()
    expect(page.locator(".done-title")).to_have_text("投票成功")

    with app.app_context():
        rnd = get_round(rid)
        [stored] = db.session.execute(
            text("SELECT answers FROM ballots WHERE round_id = :r"), {"r": rid}).scalars().all()
        assert decode_answers(round_form(rnd), stored) == {
            str(team): {"unity": "fair", "overall": "good"},
            str(boss): {"political": "excellent", "ability": "unknown", "overall": "excellent"},
            str(manager): {"political": "basic", "ability": "incompetent",
                           "overall": "competent"}}
        assert close_round(rnd).status == "closed"  # the live tally equals the SQL recount
