"""One guarded spreadsheet writer (server/core/spreadsheet.py) for every .xlsx and .csv.

A hostile roster (names that a spreadsheet would run as formulas) is imported and
then sent through every writer the project has; each output is opened and no
cell may be a formula or start with = + - @ tab CR. WRITERS lists the modules
that write spreadsheets; the source scan fails when a module makes a workbook or
a CSV writer of its own, or uses the guarded writer without being listed here
(and so without being fed the hostile roster).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook

from server.accounts.operations import create_user, new_api_key
from server.core.db import db
from server.core.spreadsheet import (
    FORMULA_START,
    Figure,
    csv_bytes,
    safe_text,
    workbook,
    xlsx_bytes,
)
from server.core.tabular import clean_text
from server.organization.models import Branch, Committee, Member
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, create_round, open_round
from server.tokens.operations import issue_tokens
from server.voting.ballots import submit_ballot
from tests.conftest import csrf_token
from tests.factories import valid_answers

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ['=HYPERLINK("http://x","y")', "=2+3", "+1", "-1", "@SUM(A1)", "\tX", "\rX"]
# A roster import collapses whitespace (so "\tX" arrives as "X"); these reach the
# files through the roster, the tab and CR cases are fed to the writer directly.
ROSTER_NAMES = ['=HYPERLINK("http://x","y")', "=2+3", "+1", "-1", "@SUM(A1)", "－1", "＝1+1"]
COMMITTEE = "=1+1党委"
BRANCH = "@第一党支部"
GROUP = "+第一党小组"
PASSWORD = "correct horse 1"

# module -> what the test asks of it (see test_hostile_roster_through_every_writer)
WRITERS = {
    "server/results/export_xlsx.py": "results export.xlsx",
    "server/results/export_csv.py": "results export.csv",
    "server/points/export.py": "star-rating record (console and CLI)",
    "server/points/pages/sheets.py": "points import template",
    "server/assessment/export.py": "combined assessment export.xlsx",
}
GUARDED = "server/core/spreadsheet.py"
MAKERS = re.compile(r"\bWorkbook\(|csv\.(writer|DictWriter)\(|xlsxwriter|odf\b")


def _sources() -> list[Path]:
    return [p for d in ("server", "bot") for p in (ROOT / d).rglob("*.py")]


def test_only_the_guarded_module_makes_spreadsheets():
    makers = sorted(str(p.relative_to(ROOT)) for p in _sources()
                    if MAKERS.search(p.read_text(encoding="utf-8")))
    assert makers == [GUARDED], f"spreadsheets made outside {GUARDED}: {makers}"
    users = sorted(str(p.relative_to(ROOT)) for p in _sources()
                   if re.search(r"from server\.core\.spreadsheet import .*\b(workbook|xlsx_bytes|"
                                r"csv_bytes)\b", p.read_text(encoding="utf-8")))
    assert users == sorted(WRITERS), "a writer not fed the hostile roster by this test"


# -- checking an output ----------------------------------------------------------------

def _is_live(text: str) -> bool:
    return text.startswith(FORMULA_START)


def check_xlsx(data: bytes) -> list[str]:
    """Every text cell of every sheet; fails on a formula or live text."""
    wb = load_workbook(io.BytesIO(data))
    texts = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not _is_live(cell.value), (ws.title, cell.coordinate, cell.value)
                    texts.append(cell.value)
    assert not _is_live(wb.properties.title or "")
    return texts


def check_csv(data: bytes) -> list[str]:
    assert data.startswith("\ufeff".encode())
    cells = [c for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for c in row]
    for cell in cells:  # a negative figure (-2.5) is a number to Excel, not a formula
        assert not _is_live(cell) or re.fullmatch(r"-\d+(\.\d+)?%?", cell), cell
    return cells


def _escaped_all(texts: list[str], names: list[str]) -> None:
    """Each hostile name reached the file, escaped (so the check above was not vacuous)."""
    joined = "\n".join(texts).replace("\r", "\n")  # XML reads a CR back as LF
    for name in names:
        assert safe_text(name).replace("\r", "\n") in joined, (name, texts[:40])


# -- the writer itself -------------------------------------------------------------------

def test_the_writer_escapes_every_hostile_text():
    wb = workbook()
    ws = wb.active
    for name in HOSTILE:
        ws.append([name, name, 1])
    ws["D1"] = "=SUM(C1:C7)"  # even a formula written on purpose
    wb.properties.title = "=2+3"
    texts = check_xlsx(xlsx_bytes(wb))
    assert texts.count("'=SUM(C1:C7)") == 1
    _escaped_all(texts, HOSTILE)
    assert load_workbook(io.BytesIO(xlsx_bytes(wb))).active["C1"].value == 1

    cells = check_csv(csv_bytes([[name, 1, None, -2.5] for name in HOSTILE]))
    _escaped_all(cells, HOSTILE)
    assert cells[1:4] == ["1", "", "-2.5"]  # numbers are numbers
    assert check_csv(csv_bytes([[Figure("-1.50"), "-1.50"]])) == ["-1.50", "'-1.50"]


def test_escaping_round_trips_through_the_readers():
    for name in ("=2+3", "+1", "-1", "@SUM(A1)", "普通"):
        assert clean_text(safe_text(name)) == name
    assert clean_text("'abc") == "'abc"  # an apostrophe of the user's own stays


# -- every writer, fed a hostile roster ------------------------------------------------

def _roster_csv() -> bytes:
    lines = ["支部,党小组,姓名,工号,职务,政治面貌"]
    for i, name in enumerate(ROSTER_NAMES):
        number = ["+1", "-1", "=3", "@A"][i] if i < 4 else f"H{i:03d}"
        lines.append(",".join(['"' + v.replace('"', '""') + '"' for v in
                               (BRANCH, GROUP, name, number, "=职务", "中共党员")]))
    return "\n".join(lines).encode("utf-8")


def _login(client, username: str) -> None:
    page = client.get("/console/login").get_data(as_text=True)
    res = client.post("/console/login", data={"csrf_token": csrf_token(page),
                                              "username": username, "password": PASSWORD})
    assert res.status_code == 302


@pytest.fixture
def hostile(app, tmp_path):
    runner = app.test_cli_runner()
    roster = tmp_path / "roster.csv"
    roster.write_bytes(_roster_csv())
    res = runner.invoke(args=["org", "import", str(roster), "--committee", COMMITTEE])
    assert res.exit_code == 0, res.output
    with app.app_context():
        committee = db.session.execute(db.select(Committee).filter_by(name=COMMITTEE)).scalar_one()
        branch_id = db.session.execute(db.select(Branch.id).filter_by(name=BRANCH)).scalar_one()
        names = sorted(db.session.execute(db.select(Member.name)).scalars())
        assert names == sorted(ROSTER_NAMES)  # the roster kept the hostile names
        committee_id = committee.id
        user = create_user("dangwei", PASSWORD, role="committee", committee_id=committee_id)
        key = new_api_key(user, "tests")
        rnd = create_round(committee_id, "appraisal", "=测评(2+3)",
                           [{"name": n, "note": f"=职务{i}"} for i, n in enumerate(ROSTER_NAMES)],
                           [{"name": "-中层", "expected_count": 5}], results={"min_turnout": 0})
        tokens = issue_tokens(rnd, rnd.categories[0].id, 3)
        open_round(rnd)
        for i, token in enumerate(tokens):
            submit_ballot(token, valid_answers(rnd, i))
        close_round(get_round(rnd.id))
        ids = {"round": rnd.id, "branch": branch_id}
    return runner, key, ids


def assessment_xlsx(app, client, auth) -> list[str]:
    """A combined assessment of a published round whose subjects are the hostile roster."""
    from server.assessment.operations import create_assessment
    from tests.support.assessment import published

    with app.app_context():
        cid = db.session.execute(db.select(Committee.id).filter_by(name=COMMITTEE)).scalar_one()
        members = db.session.execute(db.select(Member).order_by(Member.id)).scalars().all()
        rnd = published(cid, "appraisal", "+民主测评", [
            {"name": m.name, "note": m.member_no, "member_id": m.id} for m in members],
            [dict.fromkeys(range(len(members)), "competent")])
        aid = create_assessment(cid, None, "=综合(1+1)", 2026, [], [
            {"label": "@民主测评", "round_id": rnd, "weight": "100%"}]).id
    res = client.get(f"/api/v1/assessments/{aid}/export.xlsx", headers=auth)
    assert res.status_code == 200, res.get_data(as_text=True)[:200]
    return check_xlsx(res.data)


def test_hostile_roster_through_every_writer(app, client, hostile, tmp_path):
    runner, key, ids = hostile
    auth = {"Authorization": f"Bearer {key}"}
    outputs: dict[str, list[Callable[[], list[str]]]] = {}

    def results_xlsx() -> list[str]:
        res = client.get(f"/api/v1/rounds/{ids['round']}/export.xlsx", headers=auth)
        assert res.status_code == 200, res.get_data(as_text=True)[:200]
        return check_xlsx(res.data)

    def results_csv() -> list[str]:
        res = client.get(f"/api/v1/rounds/{ids['round']}/export.csv", headers=auth)
        assert res.status_code == 200
        return check_csv(res.data)

    def stars_console() -> list[str]:
        res = client.get("/console/points/periods/2026/stars.xlsx")
        assert res.status_code == 200
        return check_xlsx(res.data)

    def stars_cli() -> list[str]:
        out = tmp_path / "stars.xlsx"
        res = runner.invoke(args=["points", "export-stars", "2026", "--committee", COMMITTEE,
                                  "-o", str(out)])
        assert res.exit_code == 0, res.output
        return check_xlsx(out.read_bytes())

    def template() -> list[str]:
        res = client.get(f"/console/points/import/template.xlsx?branch={ids['branch']}")
        assert res.status_code == 200
        return check_xlsx(res.data)

    outputs["server/results/export_xlsx.py"] = [results_xlsx]
    outputs["server/results/export_csv.py"] = [results_csv]
    outputs["server/points/export.py"] = [stars_console, stars_cli]
    outputs["server/points/pages/sheets.py"] = [template]
    outputs["server/assessment/export.py"] = [lambda: assessment_xlsx(app, client, auth)]
    assert set(outputs) == set(WRITERS)

    closes = [["points", "close", f"2026Q{q}", "--committee", COMMITTEE, "--as", "dangwei"]
              for q in range(1, 5)]
    for args in (*closes, ["points", "close", "2026", "--committee", COMMITTEE],
                 ["points", "review", "2026", "--committee", COMMITTEE]):
        res = runner.invoke(args=args)
        assert res.exit_code == 0, res.output
    _login(client, "dangwei")
    for module, makers in outputs.items():
        for make in makers:
            texts = make()
            _escaped_all(texts, ROSTER_NAMES)
            if module == "server/points/pages/sheets.py":
                _escaped_all(texts, ["+1", "-1", "=3", "@A", GROUP])
            if module == "server/results/export_xlsx.py":  # the tidy CSV has no title
                _escaped_all(texts, ["=测评(2+3)"])
            if module == "server/points/export.py":
                _escaped_all(texts, [BRANCH, GROUP, "+1", "=3"])
            if module == "server/assessment/export.py":
                _escaped_all(texts, ["@民主测评", BRANCH])
