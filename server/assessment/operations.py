"""Combined assessments (综合考核): define, set the parts, import a sheet, compute.

Members are matched across parts by roster identity: a round's subject by its
link to the roster (subjects.member_id); an unlinked subject only when its name
is unique in the committee's roster (and the result says so); a sheet's rows by
工号 (or a unique 姓名, see sheet.py). Whatever cannot be matched is reported.
"""

from __future__ import annotations

import json
from collections import defaultdict
from fractions import Fraction
from typing import Any

from server.assessment import sheet as sheets
from server.assessment.combine import PartScores, check_levels, combine, weights_of
from server.assessment.history import Series, histories, section_result, series_key
from server.assessment.history import result_parts as round_tables
from server.assessment.models import Assessment, AssessmentPart, AssessmentScore
from server.core import audit
from server.core.clock import utcnow
from server.core.db import db
from server.core.errors import ApiError
from server.core.tabular import normalize_name
from server.core.text import display_text
from server.organization.models import Branch, Member
from server.resultsengine.config import fraction_of
from server.resultsengine.engine import round2
from server.resultsengine.levels import level_words
from server.roundbase.models import Round

MAX_PARTS = 8
SCORE_NAME = "综合得分"


def _bad(code: str, zh: str, en: str, fld: str | None = None, status: int = 422) -> ApiError:
    return ApiError(code, zh, en, status, fld)


def list_assessments(committee_id: int | None) -> list[Assessment]:
    q = db.select(Assessment).order_by(Assessment.year.desc(), Assessment.id.desc())
    if committee_id is not None:
        q = q.where(Assessment.committee_id == committee_id)
    return list(db.session.execute(q).scalars())


def get_assessment(assessment_id: int, committee_id: int | None) -> Assessment:
    a = db.session.get(Assessment, assessment_id)
    if a is None or (committee_id is not None and a.committee_id != committee_id):
        raise _bad("assessment_not_found", "找不到该综合考核", "assessment not found",
                   "assessment_id", 404)
    return a


def create_assessment(committee_id: int, user: Any, title: str, year: int | None,
                      levels: Any = None, parts: list[dict[str, Any]] | None = None
                      ) -> Assessment:
    title = display_text(title) if isinstance(title, str) else ""
    if not title:
        raise _bad("title_required", "请填写考核名称", "title is required", "title")
    year = utcnow().year if year is None else year
    if not 2000 <= year <= 2100:
        raise _bad("bad_year", "考核年度应在 2000 到 2100 之间", "year out of range", "year")
    try:
        checked = check_levels(levels)
    except ValueError as exc:
        raise _bad("bad_levels", f"考核等次规则有误：{exc}", str(exc), "levels") from None
    a = Assessment(committee_id=committee_id, year=year, title=title[:200],
                   levels_json=json.dumps(checked, ensure_ascii=False),
                   created_by=getattr(user, "id", None))
    db.session.add(a)
    if parts:
        _set_parts(a, parts)
    db.session.flush()
    audit.record(user, "assessment.create", f"assessment:{a.id}", f"{a.year} {a.title}")
    db.session.commit()
    return a


def set_parts(a: Assessment, parts: list[dict[str, Any]], user: Any) -> Assessment:
    """Replace the parts (all or nothing). A sheet part keeps its imported rows when it
    keeps its label."""
    _set_parts(a, parts)
    audit.record(user, "assessment.parts", f"assessment:{a.id}",
                 "；".join(f"{p.label} {p.weight}" for p in a.parts))
    db.session.commit()
    return a


def _set_parts(a: Assessment, parts: list[dict[str, Any]]) -> None:
    if not parts:
        raise _bad("parts_required", "请至少设置一个组成部分", "at least one part", "parts")
    if len(parts) > MAX_PARTS:
        raise _bad("too_many_parts", f"组成部分不能超过 {MAX_PARTS} 个",
                   f"at most {MAX_PARTS} parts", "parts")
    labels: set[str] = set()
    checked = []
    for i, raw in enumerate(parts):
        label = display_text(str(raw.get("label") or ""))
        if not label or len(label) > 60:
            raise _bad("bad_part_label", "请填写组成部分名称（不超过 60 个字）",
                       "a part needs a label of 1-60 characters", f"parts[{i}].label")
        if label in labels:
            raise _bad("duplicate_part", f"组成部分“{label}”重复", "duplicate part label",
                       f"parts[{i}].label")
        labels.add(label)
        round_id, section = raw.get("round_id"), str(raw.get("section") or "")
        if round_id is not None:
            section = _check_round(a.committee_id, round_id, section, i)
        elif section:
            raise _bad("bad_section", "导入的成绩表没有部分可选", "a sheet part has no section",
                       f"parts[{i}].section")
        checked.append((label, round_id, section, raw.get("weight")))
    try:
        weights_of([w for *_, w in checked])
    except ValueError as exc:
        raise _bad("weights_sum", str(exc), "part weights must be shares adding up to 100%",
                   "parts") from None
    old = {p.label: p for p in a.parts}
    new = []
    for pos, (label, round_id, section, weight) in enumerate(checked):
        part = old.pop(label, None) or AssessmentPart(label=label)
        if round_id is not None or part.round_id is not None:
            part.scores = []
            part.sheet_name, part.sheet_at = "", None
        part.position, part.round_id, part.section = pos, round_id, section
        part.weight = str(weight)[:20]
        new.append(part)
    a.parts = new
    db.session.flush()


def _check_round(committee_id: int, round_id: Any, section: str, i: int) -> str:
    fld = f"parts[{i}].round_id"
    rnd = db.session.get(Round, round_id) if isinstance(round_id, int) else None
    if rnd is None or rnd.committee_id != committee_id:
        raise _bad("unknown_round", "找不到该测评", "round not found", fld)
    if rnd.status != "published" or rnd.rehearsal:
        raise _bad("round_not_published", f"“{rnd.title}”的结果尚未发布，不能计入综合考核",
                   "only a published round's results can be combined", fld)
    if rnd.kind not in ("appraisal", "scoring"):
        raise _bad("round_has_no_score", f"“{rnd.title}”是推荐，没有得分，不能计入综合考核",
                   "a recommendation round has no scores", fld)
    tables = round_tables(rnd)
    keys = [t.get("key", "") for t in tables]
    if len(tables) > 1:
        if section not in keys:
            names = "、".join(str(t.get("label") or t.get("key")) for t in tables)
            raise _bad("section_required", f"“{rnd.title}”有多个部分（{names}），请选择一个",
                       f"choose one of the round's sections: {keys}", f"parts[{i}].section")
        return section
    if section:
        raise _bad("bad_section", f"“{rnd.title}”只有一个部分，不需要选择",
                   "the round has one section", f"parts[{i}].section")
    return ""


def import_sheet(a: Assessment, part_ref: Any, filename: str, data: bytes,
                 user: Any) -> AssessmentPart:
    """Replace a sheet part's scores with the file's rows (all or none)."""
    part = _sheet_part(a, part_ref)
    rows = sheets.read_sheet(a.committee_id, filename, data)
    part.scores = []
    db.session.flush()
    part.scores = [AssessmentScore(member_id=r.member.id, row=r.row, score=r.score,
                                   matched_by=r.matched_by) for r in rows]
    part.sheet_name = (display_text(filename or "") or "upload.xlsx")[:200]
    part.sheet_at = utcnow()
    audit.record(user, "assessment.sheet", f"assessment:{a.id}",
                 f"{part.label}: {part.sheet_name}, {len(rows)} rows")
    db.session.commit()
    return part


def _sheet_part(a: Assessment, ref: Any) -> AssessmentPart:
    sheet_parts = [p for p in a.parts if p.source == "sheet"]
    ref = str(ref or "").strip()
    if not ref and len(sheet_parts) == 1:
        return sheet_parts[0]
    for p in sheet_parts:
        if ref in (p.label, str(p.id)):
            return p
    names = "、".join(p.label for p in sheet_parts) or "无"
    raise _bad("unknown_part", f"请选择要导入成绩的组成部分（导入成绩表的部分：{names}）",
               "part must name a sheet part of the assessment (label or id)", "part")


# --------------------------------------------------------------------------- results


def _round_scores(part: AssessmentPart, roster: _Roster, unmatched: list[dict[str, Any]]
                  ) -> PartScores:
    rnd = db.session.get(Round, part.round_id)
    ps = PartScores(part.label, Fraction(0))
    res = section_result(rnd, part.section) if rnd is not None else None
    if rnd is None or res is None:
        unmatched.append({"part": part.label, "name": "", "row": None,
                          "reason": "测评或其部分已不存在"})
        return ps
    links = {s.id: s.member_id for s in rnd.subjects}
    for row in res.get("subjects", ()):
        mid, how = links.get(row["id"]), "member"
        if mid is None:
            mid, how = roster.unique_name(row["name"]), "name"
        if mid is None:
            unmatched.append({"part": part.label, "name": row["name"], "row": None,
                              "reason": roster.why_not(row["name"])})
            continue
        if mid in ps.scores:
            unmatched.append({"part": part.label, "name": row["name"], "row": None,
                              "reason": "与本部分另一测评对象是花名册中的同一人，未重复计入"})
            continue
        value = row.get("score", row.get("total"))
        if value is None:
            continue  # no answers for this subject: missing, as in the round
        ps.scores[mid] = fraction_of(value)  # the 2 decimals the results show, exactly
        if row.get("rank") is None:
            ps.excluded.add(mid)
        ps.flags[mid] = [*row.get("flags", ()), *row.get("vetoes", ())]
        roster.matched_by[(part.label, mid)] = how
    return ps


class _Roster:
    def __init__(self, committee_id: int) -> None:
        self.members = {m.id: m for m in db.session.execute(
            db.select(Member).filter_by(committee_id=committee_id)).scalars()}
        self.by_name: dict[str, list[int]] = defaultdict(list)
        for m in self.members.values():
            self.by_name[normalize_name(m.name)].append(m.id)
        self.matched_by: dict[tuple[str, int], str] = {}

    def unique_name(self, name: str) -> int | None:
        found = self.by_name.get(normalize_name(name), [])
        return found[0] if len(found) == 1 else None

    def why_not(self, name: str) -> str:
        n = len(self.by_name.get(normalize_name(name), []))
        return ("未关联花名册人员，花名册中也没有同名人员" if not n else
                f"未关联花名册人员，花名册中有 {n} 个同名人员，无法确定是谁")


def result_of(a: Assessment) -> dict[str, Any]:
    """The combined result: each member's part scores, combined score, rank, 等次,
    what is missing; unmatched subjects; notes and the rules in words."""
    roster = _Roster(a.committee_id)
    unmatched: list[dict[str, Any]] = []
    notes: list[str] = []
    parts: list[PartScores] = []
    try:
        weights = weights_of([p.weight for p in a.parts]) if a.parts else []
    except ValueError as exc:
        weights, notes = [], [str(exc)]
    order: dict[int, None] = {}
    for p, w in zip(a.parts, weights, strict=False):
        if p.source == "round":
            ps = _round_scores(p, roster, unmatched)
        else:
            ps = PartScores(p.label, Fraction(0))
            for s in p.scores:
                ps.scores[s.member_id] = fraction_of(s.score)
                roster.matched_by[(p.label, s.member_id)] = s.matched_by
            if not p.scores:
                notes.append(f"“{p.label}”尚未导入成绩表")
        ps.weight = w
        parts.append(ps)
        order.update(dict.fromkeys(ps.scores))
    members = [mid for mid in order if mid in roster.members]
    combined, level_notes = combine(parts, members, a.levels)
    notes += level_notes
    for (label, mid), how in roster.matched_by.items():
        if how == "name":
            notes.append(f"“{label}”中的{roster.members[mid].name}没有关联花名册或填写工号，"
                         "按姓名匹配（该姓名在本党委花名册中唯一）")
    branches = {b.id: b.name for b in db.session.execute(
        db.select(Branch).filter_by(committee_id=a.committee_id)).scalars()}
    subjects = []
    for mid in members:
        c, m = combined[mid], roster.members[mid]
        subjects.append({
            "member_id": mid, "name": m.name, "member_no": m.member_no, "title": m.title,
            "branch": branches.get(m.branch_id, ""),
            "parts": [{"label": p.label, "score": round2(v),
                       "matched_by": roster.matched_by.get((p.label, mid))}
                      for p, v in zip(parts, c["parts"], strict=True)],
            "score": round2(c["exact"]), "rank": c["rank"], "level": c["level"],
            "level_tie": c["level_tie"], "flags": c["flags"], "missing": c["missing"],
            "excluded": c["excluded"]})
    big = len(subjects) + 1
    subjects.sort(key=lambda s: (s["rank"] or big, members.index(s["member_id"])))
    return {"complete": bool(parts) and all(p.scores for p in parts)
            and all(not s["missing"] for s in subjects),
            "weights_ok": bool(weights) or not a.parts,
            "subjects": subjects, "unmatched": unmatched, "notes": notes,
            "rules_text": rules_text(a, weights)}


def rules_text(a: Assessment, weights: list[Fraction]) -> list[str]:
    out = []
    if a.parts and weights:
        terms = " + ".join(f"{p.label} × {_pct(w)}" for p, w in zip(a.parts, weights,
                                                                      strict=True))
        out.append(f"{SCORE_NAME} = {terms}（精确计算，四舍五入保留两位小数显示）")
    out.append(f"按{SCORE_NAME}（显示值）从高到低排名，显示值相同者并列；缺少任一组成部分成绩的"
               "不计算综合得分、不排名；在任一测评中因一票否决不参加排名的，综合考核也不排名")
    out += [level_words(r, SCORE_NAME) for r in a.levels]
    return out


def _pct(w: Fraction) -> str:
    return f"{float(w * 100):.4f}".rstrip("0").rstrip(".") + "%"


def shares(a: Assessment) -> list[Fraction | None]:
    """Each part's weight as an exact share (None for all if they do not add up)."""
    try:
        return list(weights_of([p.weight for p in a.parts]))
    except ValueError:
        return [None] * len(a.parts)


def weight_text(share: Fraction | None, written: str) -> str:
    """A weight as shown: as written when it says % or a fraction, else a percentage."""
    if share is None or "%" in written or "/" in written:
        return written
    return _pct(share)


def part_info(p: AssessmentPart, share: Fraction | None) -> dict[str, Any]:
    rnd = db.session.get(Round, p.round_id) if p.round_id is not None else None
    pct = None if share is None else float(share * 100)
    return {"id": p.id, "position": p.position, "label": p.label, "source": p.source,
            "round_id": p.round_id, "round_title": rnd.title if rnd else None,
            "round_year": rnd.year if rnd else None, "section": p.section,
            "weight": p.weight, "weight_pct": pct, "weight_text": weight_text(share, p.weight),
            "sheet": ({"filename": p.sheet_name, "rows": len(p.scores),
                       "uploaded_at": p.sheet_at} if p.source == "sheet" and p.sheet_at
                      else None)}


def part_series(a: Assessment) -> list[tuple[str, str]]:
    """(part label, history series key) of each round part."""
    out = []
    for p in a.parts:
        rnd = db.session.get(Round, p.round_id) if p.round_id is not None else None
        if rnd is not None:
            out.append((p.label, series_key(rnd, p.section)))
    return out


def year_over_year(a: Assessment, member_ids: list[int]
                   ) -> tuple[list[tuple[str, list[int]]], dict[int, dict[str, Series]]]:
    """For each round part, the years its series has up to the assessment's year, and
    each member's series by part label."""
    keys = part_series(a)
    hist = histories(a.committee_id, member_ids)
    mine: dict[int, dict[str, Series]] = {}
    years: dict[str, set[int]] = {label: set() for label, _ in keys}
    for mid in member_ids:
        found = {s.key: s for s in hist.get(mid, [])}
        mine[mid] = {}
        for label, key in keys:
            if key in found:
                mine[mid][label] = found[key]
                years[label] |= {y for y in found[key].by_year() if y <= a.year}
    return [(label, sorted(years[label])) for label, _ in keys], mine


def to_dict(a: Assessment) -> dict[str, Any]:
    return {"id": a.id, "committee_id": a.committee_id, "year": a.year, "title": a.title,
            "levels": a.levels, "created_at": a.created_at,
            "parts": [part_info(p, w) for p, w in zip(a.parts, shares(a), strict=True)]}
