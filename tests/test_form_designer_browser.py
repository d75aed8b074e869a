"""The form designer in a real Chromium: an organizer designs a form of two sections
on two scales by clicking, meets a field error beside its field, saves, and opens
the preview (the real voting page in a phone frame).

Screenshots go to PINGYI_SCREENSHOTS (default /tmp/shots): designer.png (1280x900),
designer-error.png, preview.png (the phone frame).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from server.core.db import db
from server.forms.models import Form
from tests.factories import organizer
from tests.support.liveserver import live_server

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("PINGYI_SCREENSHOTS") or "/tmp/shots")


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    with app.app_context():
        organizer()
    with live_server(app) as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                              reduced_motion="reduce")
    ctx.set_default_timeout(8000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    pg.on("console", lambda msg: errors.append(f"console: {msg.text}")
          if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    yield pg
    ctx.close()
    assert not errors, errors


def shot(target: object, name: str, **kw: object) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(SHOTS / f"{name}.png"), animations="disabled", **kw)  # type: ignore[attr-defined]


def sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/console/login")
    page.fill("input[name=username]", "organizer")
    page.fill("input[name=password]", "correct horse 1")
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base_url}/console/")


def test_design_two_sections_save_and_preview(app: Flask, base_url: str, page: Page) -> None:
    sign_in(page, base_url)
    page.get_by_role("link", name="测评表", exact=True).click()
    page.get_by_role("link", name="＋ 新建测评表").click()
    expect(page.locator("#designer .d-section")).to_have_count(1)

    page.fill("#d-name", "2026年度领导班子和领导人员民主测评")
    page.fill("#d-description", "请对领导班子及其成员作出评价。本次测评无记名进行。")
    first = page.locator(".d-section").nth(0)
    first.locator(".d-section-label").fill("领导班子")
    first.get_by_role("button", name="好/较好/一般/差").click()

    page.get_by_role("button", name="＋ 添加测评部分").click()
    second = page.locator(".d-section").nth(1)
    second.locator(".d-section-label").fill("班子成员")
    second.get_by_role("button", name="优秀/称职/基本称职/不称职/不了解").click()
    second.get_by_role("button", name="＋ 添加指标").click()
    page.keyboard.type("政治素质")
    second.locator(".d-row[data-path='sections[1].criteria[1]']").get_by_title("上移该指标").click()
    expect(second.locator("[data-path='sections[1].criteria[0].label']")).to_have_value("政治素质")

    page.locator("[data-path='results.min_turnout']").fill("2/3")
    page.get_by_role("button", name="＋ 添加标记规则").click()
    flag = page.locator(".d-flag")
    flag.locator("select").nth(0).select_option("incompetent")
    expect(flag.locator(".d-flag-label")).to_have_text("“不称职”率超过三分之一")

    # A grade without points: the server's error lands beside that very input.
    points = second.locator("[data-path='sections[1].grades[3].points']")
    points.fill("")
    page.locator("#save-btn").click()
    expect(page.locator("#designer-alert")).to_contain_text("第 2 个测评部分“班子成员”")
    bad = page.locator("[data-path='sections[1].grades[3].points']")
    expect(bad).to_have_class("d-num is-invalid")
    row_error = page.locator(".d-row[data-path='sections[1].grades[3]'] > .field-error")
    expect(row_error).to_contain_text("分值")
    shot(page, "designer-error")
    with app.app_context():
        assert db.session.execute(db.select(Form)).first() is None

    bad.fill("65")
    expect(row_error).to_have_count(0)
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#preview-btn").click()
    frame = page.frame_locator("#preview-frame")
    expect(frame.locator("#preview-band")).to_be_visible()
    expect(frame.locator("#round-title")).to_have_text("2026年度领导班子和领导人员民主测评")
    shot(page, "designer")
    shot(page, "designer-full", full_page=True)
    page.locator("#save-btn").click()
    expect(page.locator(".flash-success")).to_contain_text("已保存测评表")
    shot(page, "forms-list")

    with app.app_context():
        form = db.session.execute(db.select(Form)).scalar_one()
        d = form.latest.definition
    team, members = d["sections"]
    assert (team["key"], team["label"]) == ("team", "领导班子")
    assert [g["label"] for g in team["grades"]] == ["好", "较好", "一般", "差"]
    assert (members["key"], members["label"]) == ("members", "班子成员")
    assert [g["label"] for g in members["grades"]] == ["优秀", "称职", "基本称职", "不称职", "不了解"]
    assert members["grades"][4]["abstain"] is True and members["grades"][3]["points"] == 65
    assert [c["key"] for c in members["criteria"]] == ["political", "overall"]
    assert d["results"]["min_turnout"] == "2/3"  # kept exact
    assert d["results"]["flags"][0]["grade"] == "incompetent"
    assert d["results"]["flags"][0]["share_above"] == "1/3"

    # The preview: the voter's page in a phone frame, fed the saved version.
    page.locator(f"tr[data-form-id='{form.id}']").get_by_role("link", name="预览").click()
    frame = page.frame_locator("#preview-frame")
    expect(frame.locator("#preview-band")).to_contain_text("预览")
    expect(frame.locator(".subject-card")).to_have_count(4)
    expect(frame.locator(".subject-card").nth(0)).to_contain_text("示例对象一")
    team_chips = frame.locator(".subject-card").nth(0).locator(".chip").all_inner_texts()
    member_chips = frame.locator(".subject-card").nth(2).locator(".chip").all_inner_texts()
    assert team_chips[:4] == ["好", "较好", "一般", "差"], team_chips
    assert member_chips[:5] == ["优秀", "称职", "基本称职", "不称职", "不了解"], member_chips
    shot(page.locator(".phone"), "preview")
    shot(page, "preview-page")

    # It behaves like the ballot, but the confirmed ballot goes nowhere.
    for card in frame.locator(".subject-card").all():
        card.locator(".quick-fill").click()
    frame.locator("#submit-btn").click()
    frame.get_by_role("button", name="确认提交").click()
    expect(frame.locator("#toast")).to_contain_text("这是预览，选票不会提交")
    expect(frame.locator("#screen-form")).to_be_visible()
    with app.app_context():
        assert db.session.execute(db.text("SELECT count(*) FROM ballots")).scalar() == 0


def test_design_scoring_and_recommendation(app: Flask, base_url: str, page: Page) -> None:
    sign_in(page, base_url)
    page.goto(f"{base_url}/console/forms/new")
    page.fill("#d-name", "党支部书记述职评议")
    page.locator(".d-kind", has_text="评分").click()
    expect(page.locator(".d-section")).to_have_count(0)
    page.locator("[data-path='items[0].label']").fill("党建工作责任落实")
    page.locator("[data-path='items[0].max']").fill("60")
    page.get_by_role("button", name="＋ 添加评分项目").click()
    page.keyboard.type("工作创新")
    page.locator("[data-path='items[1].max']").fill("40")
    page.locator("[data-path='items[1].weight']").fill("1.5")
    page.locator("[data-path='decimals']").select_option("1")
    page.locator("[data-path='results.trim']").fill("1")
    page.locator("[data-path='results.min_turnout']").fill("80%")
    page.locator("#preview-btn").click()
    frame = page.frame_locator("#preview-frame")
    expect(frame.locator(".score-input")).to_have_count(4)  # two samples, two items
    shot(page, "designer-scoring")
    page.locator("#save-btn").click()
    expect(page.locator(".flash-success")).to_contain_text("已保存测评表")

    page.get_by_role("link", name="＋ 新建测评表").click()
    page.fill("#d-name", "后备干部民主推荐")
    page.locator(".d-kind", has_text="推荐").click()
    page.locator("[data-path='min_choices']").fill("2")
    page.locator("[data-path='max_choices']").fill("1")
    page.locator("#save-btn").click()  # min above max: refused beside a field
    expect(page.locator("#designer-alert")).to_be_visible()
    expect(page.locator(".d-card .field-error")).to_have_count(1)
    page.locator("[data-path='max_choices']").fill("3")
    page.locator("[data-path='results.recommend_threshold']").fill("1/2")
    page.locator("#save-btn").click()
    expect(page.locator(".flash-success")).to_contain_text("后备干部民主推荐")

    with app.app_context():
        forms = {f.kind: f.latest.definition for f in db.session.execute(db.select(Form)).scalars()}
    scoring = forms["scoring"]
    assert [(i["label"], i["max"], i["weight"]) for i in scoring["items"]] == [
        ("党建工作责任落实", 60, 1), ("工作创新", 40, 1.5)]
    assert scoring["decimals"] == 1 and scoring["results"]["trim"] == 1
    assert scoring["results"]["min_turnout"] == pytest.approx(0.8)
    rec = forms["recommendation"]
    assert (rec["min_choices"], rec["max_choices"]) == (2, 3)
    assert rec["results"]["recommend_threshold"] == "1/2"
