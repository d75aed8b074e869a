"""The results report as plain tables, drawn the same way by the Excel and PDF exports
(the CSV, export_csv.py, is the same figures tidy, for programs).

Sheets (sections): 汇总 (ranking), the detail sheets (one per subject for an
appraisal; per voter-category group for a recommendation or scoring), and
有效性 (应到/实到/有效/无效/参评率, rules, notes). Every figure comes from the
engine's k-anonymous output; nothing here looks at ballots or categories on
its own, so a category below k cannot appear in any export.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from server.core.clock import china_time
from server.results.rules import describe
from server.resultsengine.engine import pct, result_sections

REHEARSAL_LABEL = "演练 · 不计入正式结果"

KIND_TITLES = {"appraisal": "民主测评结果", "recommendation": "民主推荐结果",
               "scoring": "述职评议评分结果"}
STATUS_TITLES = {"closed": "投票已结束，结果已冻结，尚未发布", "published": "结果已发布"}
RECOMMEND_STATUS = {"selected": "推荐人选", "tie": "得票相同，待定", "not_selected": "未进入名额",
                    "below_threshold": "未超过规定比例"}
DASH = "—"

def sheet_title(name: str, taken: set[str]) -> str:
    """An Excel sheet name: no []:*?/\\, no leading formula character or apostrophe,
    at most 31 characters, unique in the workbook."""
    base = re.sub(r"[\[\]:*?/\\]", "", name).lstrip("'=+-@＝＋－＠ \t\r\n").rstrip("'") or "对象"
    base = base[:28]
    title, n = base, 2
    while title in taken:
        title = f"{base[:26]}({n})"
        n += 1
    taken.add(title)
    return title


@dataclass
class Head:
    """A header cell; spans columns and/or header rows."""

    text: str
    cols: int = 1
    rows: int = 1


@dataclass
class Column:
    width: float  # Excel column width (characters; a CJK character is about 2)
    fmt: str = "text"  # text | center | int | num | dec2 | pct (37.5 is 37.5%)


@dataclass
class Table:
    title: str | None
    header: list[list[Head]]
    columns: list[Column]
    rows: list[list[Any]]
    bold_rows: set[int] = field(default_factory=set)

    def placed_header(self) -> list[tuple[int, int, Head]]:
        """(row, col, cell) of every header cell, skipping columns spanned from above."""
        taken: set[tuple[int, int]] = set()
        out = []
        for r, row in enumerate(self.header):
            c = 0
            for cell in row:
                while (r, c) in taken:
                    c += 1
                out.append((r, c, cell))
                for dr in range(cell.rows):
                    for dc in range(cell.cols):
                        taken.add((r + dr, c + dc))
                c += cell.cols
        return out

    def flat_header(self) -> list[str]:
        """One label per column (a spanning parent joined with its child), for CSV."""
        labels: list[list[str]] = [[] for _ in self.columns]
        for _, c, cell in self.placed_header():
            for dc in range(cell.cols):
                if cell.text and cell.text not in labels[c + dc]:
                    labels[c + dc].append(cell.text)
        return [" ".join(parts) for parts in labels]


@dataclass
class Section:
    name: str  # the sheet's name
    heading: str
    tables: list[Table]
    lines: list[str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    subtitle: str
    sections: list[Section]
    footer: str
    round_id: int = 0
    results: dict[str, Any] = field(default_factory=dict)  # the k-safe results drawn
    weights: dict[str, float] = field(default_factory=dict)  # category name -> weight
    rehearsal: bool = False


def format_value(value: Any, fmt: str) -> str:
    """A cell as text (PDF)."""
    if value is None:
        return DASH
    if isinstance(value, str):
        return value
    if fmt == "pct":
        return f"{value:.2f}%"
    if fmt == "dec2":
        return f"{value:.2f}"
    if fmt == "int":
        return str(int(value))
    if fmt == "num":
        return f"{value:g}"
    return str(value)


def group_label(row: dict[str, Any], with_count: bool = True) -> str:
    """A category group's name; a merged group (其他) lists what it holds."""
    name = row["name"]
    if row.get("merged"):
        name = f"{name}（{'、'.join(row['categories'])}）"
    return f"{name}（{row['ballots']}人）" if with_count else name


def group_weight(row: dict[str, Any], weights: dict[str, float]) -> float:
    return round(sum(weights.get(n, 0.0) for n in row["categories"]), 4)


# --------------------------------------------------------------------------- decisions


def level_text(s: dict[str, Any]) -> str:
    """A subject's 考核等次 as the reports write it (a quota tie says so)."""
    text = s.get("level") or DASH
    if s.get("level_tie"):
        text += f"（“{s['level_tie']}”并列待定）"
    return text


def marks(s: dict[str, Any]) -> str:
    """一票否决 and flags of a subject, for the 标记 column."""
    return "；".join([*(f"一票否决：{v}" for v in s.get("vetoes") or ()), *s["flags"]])


def _rate(s: dict[str, Any], key: str) -> float | None:
    return next((r["pct"] for r in s.get("rates") or () if r["key"] == key), None)


# --------------------------------------------------------------------------- appraisal


def _grade_header(first: list[Head], grades: list[dict[str, Any]], tail: list[Head]
                  ) -> list[list[Head]]:
    graded = [g for g in grades if not g["abstain"]]
    abstain = [g for g in grades if g["abstain"]]
    top = [*first, *(Head(g["label"], cols=2) for g in graded),
           *(Head(f"{g['label']}（票）", rows=2) for g in abstain), *tail]
    return [top, [Head(t) for _ in graded for t in ("票数", "比例")]]


def _grade_cells(criteria_rows: list[dict[str, Any]], grades: list[dict[str, Any]]
                 ) -> list[Any]:
    """Counts and rates of the graded grades, then abstentions, summed over `criteria_rows`."""
    if any(row["answered"] is None for row in criteria_rows):  # withheld (counts_hidden)
        return [None] * len(_grade_columns(grades))
    counts = {g["key"]: 0 for g in grades}
    answered = 0
    for row in criteria_rows:
        answered += row["answered"]
        for x in row["grades"]:
            counts[x["key"]] += x["count"]
    cells: list[Any] = []
    for g in grades:
        if not g["abstain"]:
            cells += [counts[g["key"]], pct(counts[g["key"]], answered)]
    cells += [counts[g["key"]] for g in grades if g["abstain"]]
    return cells


def _grade_columns(grades: list[dict[str, Any]]) -> list[Column]:
    cols: list[Column] = []
    for g in grades:
        cols += [Column(8, "int"), Column(9, "pct")] if not g["abstain"] else [Column(12, "int")]
    return cols


def _appraisal(res: dict[str, Any], weights: dict[str, float], taken: set[str]
               ) -> list[Section]:
    """The summary and a sheet per subject; on a form of several sections, those of
    each section in turn, each on its own scale and headed by its label."""
    return [sheet for part in result_sections(res["appraisal"])
            for sheet in _appraisal_part(part, weights, taken)]


def _appraisal_part(a: Mapping[str, Any], weights: dict[str, float], taken: set[str]
                    ) -> list[Section]:
    label = a.get("label") or ""
    grades = a["grades"]
    basis = set(a["score_criteria"])
    caption = "、".join(c["label"] for c in a["criteria"] if c["key"] in basis)
    labels = {c["key"]: c["label"] for c in a["criteria"]}
    by_id = {s["id"]: s for s in a["subjects"]}
    score_name = "综合得分（加权）" if a["weighted"] else "综合得分"

    cumulative = [d for d in a.get("rate_defs", []) if d["key"].endswith("+")]
    with_levels = bool(a.get("levels")) or any(s.get("level") for s in a["subjects"])
    abstain = "“不了解”计入比例" if a.get("abstain_in_rates") == "include" else "“不了解”不计入比例"
    summary = Table(
        f"{score_name}排名{'、考核等次' if with_levels else ''}及“{caption}”等次分布（{abstain}）",
        _grade_header([Head("名次", rows=2), Head("姓名", rows=2), Head("职务", rows=2),
                       Head(score_name, rows=2),
                       *([Head("考核等次", rows=2)] if with_levels else [])], grades,
                      [*(Head(d["label"], rows=2) for d in cumulative), Head("标记", rows=2)]),
        [Column(6, "int"), Column(16), Column(22), Column(14, "dec2"),
         *([Column(12)] if with_levels else []),
         *_grade_columns(grades), *(Column(12, "pct") for _ in cumulative), Column(24)],
        [[s["rank"], s["name"], s["note"], s["score"],
          *([level_text(s)] if with_levels else []),
          *_grade_cells([c for c in s["criteria"] if c["key"] in basis], grades),
          *(_rate(s, d["key"]) for d in cumulative), marks(s)]
         for s in (by_id[i] for i in a["order"])],
    )
    sections = [Section(sheet_title(f"{label}汇总", taken),
                        f"{label}测评结果汇总表" if label else "测评结果汇总表", [summary])]

    for s in a["subjects"]:
        detail = Table(
            "各项测评指标等次分布",
            _grade_header([Head("测评指标", rows=2)], grades, [Head("有效评价", rows=2)]),
            [Column(16), *_grade_columns(grades), Column(10, "int")],
            [[labels[c["key"]], *_grade_cells([c], grades), c["answered"]]
             for c in s["criteria"]],
        )
        score = Table(None, [[Head(score_name), Head("名次"), Head("考核等次"), Head("标记")]],
                      [Column(16, "dec2"), Column(8, "int"), Column(14), Column(30)],
                      [[s["score"], s["rank"], level_text(s), marks(s) or "无"]])
        rates = Table("各项比例", [[Head(r["label"]) for r in s.get("rates") or ()]],
                      [Column(12, "pct") for _ in s.get("rates") or ()],
                      [[r["pct"] for r in s.get("rates") or ()]])
        tables = [detail, score, *([rates] if s.get("rates") else [])]
        rows = []
        for group in a["by_category"]:
            sub = next(x for x in group["subjects"] if x["id"] == s["id"])
            row = [group_label(group, False), group["ballots"], sub["score"]]
            if a["weighted"]:
                row.append(group_weight(group, weights))
            rows.append(row)
        if rows:
            head = [Head("参评类别"), Head("有效票"), Head("得分")]
            cols = [Column(30), Column(10, "int"), Column(10, "dec2")]
            if a["weighted"]:
                head.append(Head("权重"))
                cols.append(Column(8, "num"))
            tables.append(Table("分类得分", [head], cols, rows))
        heading = (f"{label} · " if label else "") + f"测评对象：{s['name']}" + (
            f"（{s['note']}）" if s["note"] else "")
        sections.append(Section(sheet_title(s["name"], taken), heading, tables))
    return sections


# --------------------------------------------------------------------------- recommendation


def _recommendation(res: dict[str, Any], taken: set[str]) -> list[Section]:
    r = res["recommendation"]
    by_id = {c["id"]: c for c in r["candidates"]}
    threshold = f"{r['threshold_pct']:g}%"
    summary = Table(
        f"得票排名（有效票 {r['valid_ballots']} 张，推荐 {r['places']} 名，"
        f"得票须超过有效票的 {threshold}）",
        [[Head("名次"), Head("姓名"), Head("职务"), Head("得票"), Head("得票率"),
          Head(f"超过{threshold}"), Head("结果")]],
        [Column(6, "int"), Column(14), Column(24), Column(8, "int"), Column(10, "pct"),
         Column(10, "center"), Column(16)],
        [[c["rank"], c["name"], c["note"], c["votes"], c["vote_pct"],
          "是" if c["passes_threshold"] else "否", RECOMMEND_STATUS[c["status"]]]
         for c in (by_id[i] for i in r["order"])],
    )
    lines = []
    for tie in r["ties"]:
        names = "、".join(by_id[i]["name"] for i in tie["candidates"])
        lines.append(f"第{tie['rank']}名 {names} 得票相同（{tie['votes']}票），"
                     f"争 {tie['places_left']} 个名额，需另行确定。")
    sections = [Section(sheet_title("汇总", taken), "民主推荐结果汇总表", [summary], lines)]
    groups = r["by_category"]
    if len(groups) > 1:
        votes = {g["name"]: {c["id"]: c["votes"] for c in g["candidates"]} for g in groups}
        table = Table(
            "分类得票",
            [[Head("名次"), Head("姓名"), *(Head(group_label(g)) for g in groups), Head("合计")]],
            [Column(6, "int"), Column(14), *(Column(16, "int") for _ in groups),
             Column(8, "int")],
            [[c["rank"], c["name"], *(votes[g["name"]][c["id"]] for g in groups), c["votes"]]
             for c in (by_id[i] for i in r["order"])],
        )
        sections.append(Section(sheet_title("分类得票", taken), "分类得票", [table]))
    return sections


# --------------------------------------------------------------------------- scoring


def _scoring(res: dict[str, Any], taken: set[str]) -> list[Section]:
    s = res["scoring"]
    by_id = {x["id"]: x for x in s["subjects"]}
    items = s["items"]
    if s["trim"] and s.get("trim_by", "item") == "item":
        how = f"各项为去掉最高分和最低分各 {s['trim']} 个后的平均分；总分为各项加权之和"
    elif s["trim"]:
        how = (f"总分为去掉每位评委所给总分中最高和最低各 {s['trim']} 个后的平均；"
               "各项平均分未去分")
    else:
        how = "各项为平均分；总分为各项加权之和"
    with_levels = bool(s.get("levels"))
    summary = Table(
        f"评分排名（{how}）",
        [[Head("名次", rows=2), Head("姓名", rows=2), Head("职务", rows=2),
          Head("各项平均分", cols=len(items)), Head("总分", rows=2),
          *([Head("考核等次", rows=2)] if with_levels else []), Head("标记", rows=2)],
         [Head(f"{i['label']}（{i['max']:g}分）") for i in items]],
        [Column(6, "int"), Column(12), Column(20), *(Column(12, "dec2") for _ in items),
         Column(10, "dec2"), *([Column(12)] if with_levels else []), Column(20)],
        [[x["rank"], x["name"], x["note"], *(i["mean"] for i in x["items"]), x["total"],
          *([level_text(x)] if with_levels else []), marks(x)]
         for x in (by_id[i] for i in s["order"])],
    )
    sections = [Section(sheet_title("汇总", taken), "述职评议评分汇总表", [summary])]
    groups = s["by_category"]
    if len(groups) > 1:
        totals = {g["name"]: {x["id"]: x["total"] for x in g["subjects"]} for g in groups}
        table = Table(
            "分类评分（各类别的总分）",
            [[Head("名次"), Head("姓名"), *(Head(group_label(g)) for g in groups), Head("总分")]],
            [Column(6, "int"), Column(12), *(Column(16, "dec2") for _ in groups),
             Column(10, "dec2")],
            [[x["rank"], x["name"], *(totals[g["name"]][x["id"]] for g in groups), x["total"]]
             for x in (by_id[i] for i in s["order"])],
        )
        sections.append(Section(sheet_title("分类评分", taken), "分类评分", [table]))
    return sections


# --------------------------------------------------------------------------- validity


CHANNEL_HEADS = ("实到", "有效", "无效")


def channels(row: dict[str, Any]) -> list[int]:
    """A validity row's electronic and paper (实到, 有效, 无效); results frozen before
    paper ballots existed hold electronic ballots only."""
    paper = row.get("paper") or {"cast": 0, "valid": 0, "invalid": 0}
    electronic = row.get("electronic") or {k: row[k] for k in ("cast", "valid", "invalid")}
    return [electronic["cast"], electronic["valid"], electronic["invalid"],
            paper["cast"], paper["valid"], paper["invalid"]]


def _validity(res: dict[str, Any], weights: dict[str, float], taken: set[str]) -> Section:
    v = res["validity"]
    weighted = bool(res["rules"].get("use_category_weights")) and res["kind"] != "recommendation"
    head = [Head("参评类别", rows=2), Head("应到", rows=2), Head("实到", rows=2),
            Head("有效票", rows=2), Head("无效票", rows=2), Head("参评率", rows=2),
            Head("电子票", cols=3), Head("纸质票", cols=3)]
    cols = [Column(34), Column(8, "int"), Column(8, "int"), Column(8, "int"), Column(8, "int"),
            Column(10, "pct"), *(Column(8, "int") for _ in range(6))]
    if weighted:
        head.append(Head("权重", rows=2))
        cols.append(Column(8, "num"))

    def row(label: str, x: dict[str, Any], weight: float | None) -> list[Any]:
        out = [label, x["expected"], x["cast"], x["valid"], x["invalid"], x["turnout_pct"],
               *channels(x)]
        return out + [weight] if weighted else out

    rows = [row(group_label(g, False), g, group_weight(g, weights)) for g in v["by_category"]]
    rows.append(row("合计", v["total"], round(sum(weights.values()), 4)))
    heads = [head, [Head(t) for t in CHANNEL_HEADS * 2]]
    table = Table("应到、实到、有效票、无效票与参评率", heads, cols, rows, {len(rows) - 1})
    lines = ["公布条件：" + ("已达到规定参评率，可以公布" if v["publishable"]
                         else f"未达到——{v['reason']}")]
    lines += ["计算规则：" + "；".join(describe(res["rules"], res["kind"]))]
    lines += [f"说明：{n}" for n in res["notes"]]
    return Section(sheet_title("有效性", taken), "有效性与计算规则", [table], lines)


def build_report(rnd: Any, res: dict[str, Any], now: dt.datetime | None = None) -> Report:
    """The report of a closed round from its frozen (k-safe) results."""
    weights = {c.name: float(c.weight) for c in rnd.categories}
    taken: set[str] = set()
    kind = res["kind"]
    if kind == "appraisal":
        sections = _appraisal(res, weights, taken)
    elif kind == "recommendation":
        sections = _recommendation(res, taken)
    else:
        sections = _scoring(res, taken)
    sections.append(_validity(res, weights, taken))
    closed = china_time(rnd.closed_at)
    subtitle = " · ".join(x for x in (
        KIND_TITLES.get(kind, ""), STATUS_TITLES.get(rnd.status, ""),
        f"投票结束：{closed}" if closed else "",
        f"有效票 {res['validity']['total']['valid']} 张") if x)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    footer = f"评议系统生成于 {china_time(now)}（北京时间）　无记名投票，选票与投票人不可关联"
    return Report(title=rnd.title, subtitle=subtitle, sections=sections, footer=footer,
                  round_id=rnd.id, results=res, weights=weights)


def mark_rehearsal(report: Report) -> Report:
    """A rehearsal's report marked 演练 in title, sheet names, subtitle and footer."""
    report.title = f"【演练】{report.title}"
    report.subtitle = (f"{REHEARSAL_LABEL} · {report.subtitle}" if report.subtitle
                       else REHEARSAL_LABEL)
    report.footer = f"{REHEARSAL_LABEL}　{report.footer}"
    taken: set[str] = set()
    for section in report.sections:
        section.name = sheet_title(f"演练-{section.name}", taken)
        section.heading = f"{section.heading}（演练）"
    return report
