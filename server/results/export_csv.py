"""The results as one tidy CSV for programs (UTF-8 with BOM, so Excel reads the Chinese too).

One header row, then one row per subject × measure (and per category group for the
breakdowns, per criterion for grade counts), every figure the JSON results hold:

    round_id, rehearsal, section, subject_id, subject, note, category, criterion,
    measure, label, value, unit, shown

`value` is a number written as a number (a rate as a fraction: 0.2308 for 23.08%)
or empty for text measures (level, veto, flag, status); `unit` says which
(count, ratio, points, rank, weight, bool, text); `shown` is the text people see
(23.08%, 78.63, 优秀). A figure the engine withholds (k-anonymity: a hidden
category's breakdown, counts withheld) has no row at all, never a zero. The
people-readable multi-table report is the xlsx and pdf (report.py). docs/results.md
lists the measures.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from server.core.spreadsheet import Figure, csv_bytes
from server.results.report import RECOMMEND_STATUS, Report, group_label, group_weight
from server.resultsengine.engine import result_sections

HEADER = ["round_id", "rehearsal", "section", "subject_id", "subject", "note", "category",
          "criterion", "measure", "label", "value", "unit", "shown"]
ALL = "全部"  # the category of figures over every category


def number_text(value: float | int, unit: str) -> str:
    """A number as the results show it."""
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "points":
        return f"{value:.2f}"
    if unit == "weight":
        return f"{value:g}"
    if unit == "bool":
        return "是" if value else "否"
    return str(int(value))


class _Rows:
    """Collects the rows of one round; each figure through `put`."""

    def __init__(self, round_id: int, rehearsal: bool) -> None:
        self.head = [round_id, int(rehearsal)]
        self.rows: list[list[Any]] = []

    def put(self, section: str, subject: dict[str, Any] | None, category: str,
            criterion: str, measure: str, label: str, value: Any, unit: str) -> None:
        """One row; a withheld figure (None) is left out."""
        if value is None:
            return
        who = [subject["id"], subject["name"], subject["note"]] if subject else ["", "", ""]
        cells: list[Any]
        if unit == "text":
            cells = ["", "text", str(value)]
        else:
            number = round(value / 100, 4) if unit == "ratio" else (
                round(value, 2) if unit == "points" else round(value, 4) if unit == "weight"
                else int(value))
            cells = [number, unit, Figure(number_text(number, unit))]
        self.rows.append([*self.head, section, *who, category, criterion, measure, label,
                          *cells])

    def decisions(self, section: str, s: dict[str, Any]) -> None:
        """rank, 考核等次, a quota tie, vetoes and flags of a subject."""
        self.put(section, s, ALL, "", "rank", "名次", s.get("rank"), "rank")
        self.put(section, s, ALL, "", "level", "考核等次", s.get("level"), "text")
        self.put(section, s, ALL, "", "level_tie", "名额边界并列待定的等次", s.get("level_tie"),
                 "text")
        for veto in s.get("vetoes") or ():
            self.put(section, s, ALL, "", "veto", "一票否决", veto, "text")
        for flag in s.get("flags") or ():
            self.put(section, s, ALL, "", "flag", "标记", flag, "text")


def _criteria(out: _Rows, section: str, s: dict[str, Any], category: str,
              rows: list[dict[str, Any]], a: Mapping[str, Any]) -> None:
    """Grade counts and shares of each criterion (as in the engine's `criteria` rows)."""
    grades = {g["key"]: g["label"] for g in a["grades"]}
    for c in rows:
        out.put(section, s, category, c["key"], "answered", "有效评价", c["answered"], "count")
        out.put(section, s, category, c["key"], "abstained", "不计分评价（如不了解）",
                c["abstained"], "count")
        for g in c["grades"]:
            name = grades[g["key"]]
            out.put(section, s, category, c["key"], f"count:{g['key']}", f"{name}（票数）",
                    g["count"], "count")
            out.put(section, s, category, c["key"], f"share:{g['key']}", f"{name}（比例）",
                    g["rate_pct"], "ratio")


def _appraisal(out: _Rows, res: dict[str, Any]) -> None:
    for a in result_sections(res["appraisal"]):
        section = f"appraisal:{a.get('key') or 'main'}"
        by_id = {s["id"]: s for s in a["subjects"]}
        label = "综合得分（加权）" if a["weighted"] else "综合得分"
        for s in (by_id[i] for i in a["order"]):
            out.put(section, s, ALL, "", "score", label, s["score"], "points")
            out.put(section, s, ALL, "", "score_answers", "计分评价数", s["score_answers"],
                    "count")
            out.decisions(section, s)
            for r in s.get("rates") or ():
                out.put(section, s, ALL, "", f"rate:{r['key']}", r["label"], r["pct"], "ratio")
            _criteria(out, section, s, ALL, s["criteria"], a)
            for group in a["by_category"]:
                row = next(x for x in group["subjects"] if x["id"] == s["id"])
                name = group_label(group, False)
                out.put(section, s, name, "", "score", "得分", row["score"], "points")
                _criteria(out, section, s, name, row["criteria"], a)


def _recommendation(out: _Rows, res: dict[str, Any]) -> None:
    r = res["recommendation"]
    section = "recommendation"
    out.put(section, None, ALL, "", "places", "推荐名额", r["places"], "count")
    out.put(section, None, ALL, "", "threshold", "得票须超过有效票的比例", r["threshold_pct"],
            "ratio")
    by_id = {c["id"]: c for c in r["candidates"]}
    for c in (by_id[i] for i in r["order"]):
        out.put(section, c, ALL, "", "votes", "得票", c["votes"], "count")
        out.put(section, c, ALL, "", "vote_share", "得票率", c["vote_pct"], "ratio")
        out.put(section, c, ALL, "", "rank", "名次", c["rank"], "rank")
        out.put(section, c, ALL, "", "passes_threshold", "超过规定比例", c["passes_threshold"],
                "bool")
        out.put(section, c, ALL, "", "selected", "推荐人选", c["status"] == "selected", "bool")
        out.put(section, c, ALL, "", "status", "结果", RECOMMEND_STATUS[c["status"]], "text")
        for g in r["by_category"]:
            votes = next(x["votes"] for x in g["candidates"] if x["id"] == c["id"])
            out.put(section, c, group_label(g, False), "", "votes", "得票", votes, "count")


def _scoring(out: _Rows, res: dict[str, Any]) -> None:
    sc = res["scoring"]
    section = "scoring"
    labels = {i["key"]: i["label"] for i in sc["items"]}
    by_id = {x["id"]: x for x in sc["subjects"]}
    for s in (by_id[i] for i in sc["order"]):
        out.put(section, s, ALL, "", "total", "总分", s["total"], "points")
        out.put(section, s, ALL, "", "total_trimmed", "总分去掉最高最低分", s["total_trimmed"],
                "bool")
        out.decisions(section, s)
        for item in s["items"]:
            out.put(section, s, ALL, item["key"], "mean", labels[item["key"]], item["mean"],
                    "points")
            out.put(section, s, ALL, item["key"], "trimmed", "去掉最高最低分", item["trimmed"],
                    "bool")
        for g in sc["by_category"]:
            row = next(x for x in g["subjects"] if x["id"] == s["id"])
            name = group_label(g, False)
            out.put(section, s, name, "", "total", "总分", row["total"], "points")
            for item in row["items"]:
                out.put(section, s, name, item["key"], "mean", labels[item["key"]],
                        item["mean"], "points")


def _validity(out: _Rows, res: dict[str, Any], weights: dict[str, float]) -> None:
    v = res["validity"]
    weighted = bool(res["rules"].get("use_category_weights")) and res["kind"] != "recommendation"
    for name, row, group in [*((group_label(g, False), g, g) for g in v["by_category"]),
                             (ALL, v["total"], None)]:
        for measure, label in (("expected", "应到"), ("cast", "实到"), ("valid", "有效票"),
                               ("invalid", "无效票")):
            out.put("validity", None, name, "", measure, label, row[measure], "count")
        out.put("validity", None, name, "", "turnout", "参评率", row["turnout_pct"], "ratio")
        if weighted and group is not None:
            out.put("validity", None, name, "", "weight", "权重", group_weight(group, weights),
                    "weight")
    out.put("validity", None, ALL, "", "publishable", "可以公布", v["publishable"], "bool")


def tidy_rows(report: Report) -> Iterator[list[Any]]:
    """The header and the rows of the report's results."""
    res = report.results
    out = _Rows(report.round_id, report.rehearsal)
    _validity(out, res, report.weights)
    {"appraisal": _appraisal, "recommendation": _recommendation,
     "scoring": _scoring}[res["kind"]](out, res)
    yield HEADER
    yield from out.rows


def render_csv(report: Report) -> bytes:
    return csv_bytes(tidy_rows(report))
