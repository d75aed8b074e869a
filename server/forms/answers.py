"""Check a ballot's answers against its round's form; derive its tally fields.

Pure functions: the submit path and the close-time recount both call
`tally_fields`, so Redis and SQL count with exactly the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from server.core.errors import ApiError
from server.forms.sections import SUBJECT_SECTIONS, row_form, subject_section_key


def _bad(code: str, zh: str, en: str, field: str | None = None) -> ApiError:
    return ApiError(code, zh, en, 422, field)


def _subject_map(raw: Any, subject_ids: list[int], name: str) -> dict[int, Any]:
    if not isinstance(raw, dict):
        raise _bad("answers_type", "选票内容格式不正确", f"{name} must be an object", name)
    wanted = {str(s): s for s in subject_ids}
    out: dict[int, Any] = {}
    for key, value in raw.items():
        if key not in wanted:
            raise _bad("unknown_subject", "选票中包含不在本次测评中的对象",
                        f"unknown subject {key!r}", f"{name}.{key}"[:80])
        out[wanted[key]] = value
    for key, sid in wanted.items():
        if sid not in out:
            raise _bad("missing_subject", "还有测评对象未作评价",
                        f"subject {key} not answered", f"{name}.{key}")
    return out


def _appraisal_keys(form: dict[str, Any]) -> tuple[list[str], frozenset[str], frozenset[str]]:
    """(criterion keys in order, the same as a set, grade keys)."""
    crit_keys = [c["key"] for c in form["criteria"]]
    return crit_keys, frozenset(crit_keys), frozenset(g["key"] for g in form["grades"])


def _appraisal_row(form: dict[str, Any], row: Any, sid: str,
                   keys: tuple[list[str], frozenset[str], frozenset[str]] | None = None
                   ) -> dict[str, str]:
    """One subject's row checked against its section's criteria and grades (`keys`:
    those, worked out once per ballot)."""
    crit_keys, crit_set, grade_keys = keys or _appraisal_keys(row_form(form, sid))
    if not isinstance(row, dict):
        where = f"answers.{sid}"
        raise _bad("answers_type", "选票内容格式不正确", f"{where} must be an object", where)
    extra = row.keys() - crit_set
    if extra:
        key = sorted(map(str, extra))[0]
        raise _bad("unknown_criterion", "选票中包含不存在的测评指标",
                    f"unknown criterion {key!r}", f"answers.{sid}.{key}"[:80])
    clean: dict[str, str] = {}
    for key in crit_keys:
        grade = row.get(key)
        if grade is None:
            raise _bad("missing_criterion", "还有测评指标未选择等次",
                        f"criterion {key} of subject {sid} not answered", f"answers.{sid}.{key}")
        if not isinstance(grade, str) or grade not in grade_keys:
            raise _bad("invalid_grade", "所选等次不在可选范围内",
                        f"grade must be one of {sorted(grade_keys)}", f"answers.{sid}.{key}")
        clean[key] = grade
    return clean


def _appraisal(form: dict[str, Any], subject_ids: list[int], raw: Any) -> dict[str, Any]:
    rows = _subject_map(raw, subject_ids, "answers")
    if not form.get(SUBJECT_SECTIONS):  # one scale: its keys once per ballot
        keys = _appraisal_keys(form)
        return {str(sid): _appraisal_row(form, row, str(sid), keys) for sid, row in rows.items()}
    per_section: dict[str, tuple[list[str], frozenset[str], frozenset[str]]] = {}
    out: dict[str, Any] = {}
    for sid, row in rows.items():
        section = subject_section_key(form, str(sid))
        if section not in per_section:
            per_section[section] = _appraisal_keys(row_form(form, str(sid)))
        out[str(sid)] = _appraisal_row(form, row, str(sid), per_section[section])
    return out


def _recommendation(form: dict[str, Any], subject_ids: list[int], raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or set(raw) != {"choices"}:
        raise _bad("answers_type", "选票内容格式不正确",
                   'answers must be {"choices": [candidate ids]}', "answers")
    choices = raw["choices"]
    if not isinstance(choices, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in choices
    ):
        raise _bad("answers_type", "推荐人选格式不正确",
                   "choices must be a list of candidate ids", "answers.choices")
    if len(set(choices)) != len(choices):
        raise _bad("duplicate_choice", "同一候选人只能推荐一次",
                   "a candidate is chosen twice", "answers.choices")
    allowed = set(subject_ids)
    for c in choices:
        if c not in allowed:
            raise _bad("unknown_candidate", "推荐的人选不在候选人名单中",
                        f"unknown candidate {c}", "answers.choices")
    lo, hi = form["min_choices"], form["max_choices"]
    if len(choices) > hi:
        raise _bad("too_many_choices", f"最多只能推荐 {hi} 人",
                   f"at most {hi} choices allowed", "answers.choices")
    if len(choices) < lo:
        raise _bad("too_few_choices", f"至少需要推荐 {lo} 人",
                   f"at least {lo} choices required", "answers.choices")
    return {"choices": sorted(choices)}


def _scoring_row(form: dict[str, Any], row: Any, sid: str) -> dict[str, float | int]:
    where = f"answers.{sid}"
    items = form["items"]
    decimals = form["decimals"]
    scale = 10**decimals
    if not isinstance(row, dict):
        raise _bad("answers_type", "选票内容格式不正确", f"{where} must be an object", where)
    extra = set(row) - {i["key"] for i in items}
    if extra:
        key = sorted(map(str, extra))[0]
        raise _bad("unknown_item", "选票中包含不存在的评分项目",
                    f"unknown item {key!r}", f"{where}.{key}"[:80])
    clean: dict[str, float | int] = {}
    for item in items:
        key, value = item["key"], row.get(item["key"])
        field = f"{where}.{key}"
        if value is None:
            raise _bad("missing_score", "还有评分项目未打分",
                        f"item {key} of subject {sid} not scored", field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad("score_not_number", "分数必须是数字", "score must be a number", field)
        if not math.isfinite(value) or not item["min"] <= value <= item["max"]:
            raise _bad("score_out_of_range",
                        f"{item['label']}的分数应在 {item['min']}～{item['max']} 之间",
                        f"score must lie in [{item['min']}, {item['max']}]", field)
        scaled = round(value * scale)
        if abs(value * scale - scaled) > 1e-6:
            raise _bad("score_precision", f"分数最多保留 {decimals} 位小数",
                        f"at most {decimals} decimal places", field)
        clean[key] = scaled if decimals == 0 else scaled / scale
    return clean


def _scoring(form: dict[str, Any], subject_ids: list[int], raw: Any) -> dict[str, Any]:
    return {str(sid): _scoring_row(form, row, str(sid))
            for sid, row in _subject_map(raw, subject_ids, "answers").items()}


CHECKS = {"appraisal": _appraisal, "recommendation": _recommendation, "scoring": _scoring}
# Forms whose answers are one row per subject ({"<subject id>": {key: value}}): a ballot
# checks out when it names every subject once and each row checks out on its own.
ROW_CHECKS: dict[str, Callable[[dict[str, Any], Any, str], dict[str, Any]]] = {
    "appraisal": _appraisal_row, "scoring": _scoring_row}


def check_answers(form: dict[str, Any], subject_ids: list[int], raw: Any) -> dict[str, Any]:
    """Return the canonical answers, or raise ApiError (422) naming the field.

    An appraisal form of several sections must be bound to the round's subjects
    (forms/sections.py round_form): each row is checked against its subject's section."""
    if raw is None:
        raise _bad("answers_missing", "请填写选票后再提交", "answers are required", "answers")
    return CHECKS[form["kind"]](form, subject_ids, raw)


def check_row(form: dict[str, Any], row: Any, sid: str = "*") -> dict[str, Any]:
    """One subject's row of an appraisal or scoring ballot, checked and made canonical
    exactly as check_answers does it for every row; raise ApiError (422) otherwise.
    (In a bound form, `sid` names the subject whose section the row is checked by.)"""
    return ROW_CHECKS[form["kind"]](form, row, sid)


def tally_fields(form: dict[str, Any], answers: dict[str, Any]) -> dict[str, int]:
    """Integer counters this ballot adds to its category's live tally."""
    kind = form["kind"]
    if kind == "appraisal":
        return {
            f"{sid}:{crit}:{grade}": 1
            for sid, row in answers.items()
            for crit, grade in row.items()
        }
    if kind == "recommendation":
        return {str(c): 1 for c in answers["choices"]}
    scale = 10 ** form["decimals"]
    fields = {
        f"{sid}:{item}": round(value * scale)
        for sid, row in answers.items()
        for item, value in row.items()
    }
    if form.get(PER_SUBJECT):  # how many scored each subject: its 实到 and its progress
        fields.update({f"{sid}:{SCORED}": 1 for sid in answers})
    return fields


def all_tally_fields(form: dict[str, Any], subject_ids: Iterable[int]) -> list[str]:
    """Every field a ballot of this form can add to, in the form's own order (subjects,
    then criteria and grades, or items): the live tally creates them all at 0 when
    the round opens, so a hash's field order says nothing about which came first."""
    kind, sids = form["kind"], [str(s) for s in subject_ids]
    if kind == "appraisal":
        out = []
        for sid in sids:
            row = row_form(form, sid)
            out += [f"{sid}:{c['key']}:{g['key']}" for c in row["criteria"]
                    for g in row["grades"]]
        return out
    if kind == "recommendation":
        return sids
    scored = [SCORED] if form.get(PER_SUBJECT) else []
    return [f"{sid}:{key}" for sid in sids
            for key in [*(i["key"] for i in form["items"]), *scored]]


# A scoring round "scored as each report ends" (逐人评分) carries this flag in its form
# snapshot (rounds/operations.check_draft): each ballot then holds one subject's scores
# (voting/subject_scores.py), and its tally counts them in "<sid>:#".
PER_SUBJECT = "per_subject"
SCORED = "#"


def turnout_of(form: Mapping[str, Any], turnout: int, fields: Mapping[str, int]) -> int:
    """A category's turnout from its ballots and its tally fields: on a round scored per
    subject the panel members who scored the most-scored subject (a ballot is one
    subject's scores), otherwise its ballots."""
    if not form.get(PER_SUBJECT):
        return turnout
    return max((n for f, n in fields.items() if f.endswith(":" + SCORED)), default=0)


FIELD_SEP = ";"


def pack_fields(fields: Mapping[str, int]) -> str:
    """Tally fields as one text, `field=n;field=n`: how the live tally's settle
    script takes a ballot's counts (voting/livetally.py SETTLE_MANY)."""
    return FIELD_SEP.join(f"{key}={n}" for key, n in fields.items())


def add_fields(total: dict[str, int], fields: Iterable[tuple[str, int]]) -> None:
    for key, value in fields:
        total[key] = total.get(key, 0) + value
