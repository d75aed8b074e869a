"""Console pages that build and correct rounds: new, edit, delete, clone, and one
draft per branch. New and edit share one page (round_new.html) and one reader."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from server.console import access, roster_pick
from server.console.forms import (
    CHINA,
    DEFAULT_CATEGORIES,
    RULE_INPUTS,
    flag_grade,
    parse_categories,
    parse_choice_limit,
    parse_deadline,
    parse_rules,
    parse_subjects,
    rule_defaults,
)
from server.core.clock import utcnow
from server.core.db import db
from server.core.errors import ApiError
from server.forms import available_forms
from server.forms.models import FormVersion
from server.forms.operations import list_forms
from server.forms.sections import is_multi, sections_of
from server.organization.models import Branch
from server.results.rules import site_k
from server.roundbase.models import Round
from server.rounds.drafts import batch_create, clone_round, delete_round, update_round
from server.rounds.operations import create_round

DESIGNED = "v:"  # a designed form's choice: "v:<form id>:<version>"


# -- the choice of form ----------------------------------------------------------------

def form_choices(committee_id: int | None, current: Round | None = None
                 ) -> dict[str, dict[str, Any]]:
    """The forms a round may be built from, by the select's value: the presets, then
    every version of the committee's designed forms (newest first). Editing, the
    round's own choice is its snapshot (its rules as the placeholders)."""
    choices = {key: f for key, f in available_forms().items()}
    if committee_id is not None:
        for form in list_forms(committee_id):
            for version in reversed(form.versions):
                definition = version.definition
                name = definition.get("name") or form.name
                definition["name"] = f"{name}（第 {version.version} 版）"
                choices[f"{DESIGNED}{form.id}:{version.version}"] = definition
    if current is not None:
        value = choice_of(current)
        snapshot = copy.deepcopy(current.form)
        snapshot["name"] = choices.get(value, snapshot).get("name", snapshot.get("name", ""))
        choices[value] = snapshot
    return choices


def choice_of(rnd: Round) -> str:
    if rnd.form_version_id is None:
        return rnd.form_key
    version = db.session.get_one(FormVersion, rnd.form_version_id)
    return f"{DESIGNED}{version.form_id}:{version.version}"


def _form_args(value: str) -> dict[str, Any]:
    """create_round's form arguments for a select value."""
    if value.startswith(DESIGNED):
        form_id, _, version = value[len(DESIGNED):].partition(":")
        if form_id.isdigit() and version.isdigit() and len(form_id + version) < 18:
            return {"form": None, "form_id": int(form_id), "form_version": int(version)}
        raise ApiError("unknown_form", "测评表不存在", "unknown form choice", 422, "form")
    return {"form": value}


# -- the page's values -----------------------------------------------------------------

def _blank() -> dict[str, Any]:
    forms = available_forms()
    return {"form": "appraisal" if "appraisal" in forms else next(iter(forms), ""),
            "title": "", "subjects": "", "sections": {}, "categories": DEFAULT_CATEGORIES,
            "show_live_results": False, "announce_on_close": False, "per_subject": False,
            "closes_at": "",
            "year": str(utcnow().year), "branch_id": "", "min_choices": "", "max_choices": "",
            **{name: "" for name, *_ in RULE_INPUTS}}


def _posted(choices: dict[str, Any]) -> dict[str, Any]:
    f = request.form
    value = f.get("form", "")
    sections = {}
    if value in choices and is_multi(choices[value]):
        sections = {s["key"]: f.get(f"subjects.{value}.{s['key']}", "")
                    for s in sections_of(choices[value])}
    return {"form": value, "title": f.get("title", ""), "subjects": f.get("subjects", ""),
            "sections": sections, "categories": f.get("categories", ""),
            "show_live_results": bool(f.get("show_live_results")),
            "announce_on_close": bool(f.get("announce_on_close")),
            "per_subject": bool(f.get("per_subject")),
            "closes_at": f.get("closes_at", ""), "year": f.get("year", "").strip(),
            "branch_id": f.get("branch_id", "").strip(),
            "min_choices": f.get("min_choices", ""), "max_choices": f.get("max_choices", ""),
            **{name: f.get(name, "") for name, *_ in RULE_INPUTS}}


def _lines_of(subjects: list[Any]) -> str:
    numbers = roster_pick.member_numbers(subjects)
    return "\n".join(roster_pick.subject_line(s, numbers) for s in subjects)


def values_of(rnd: Round) -> dict[str, Any]:
    """The edit page prefilled from a draft (rule inputs empty: keep the round's)."""
    form = rnd.form
    sections = {}
    if is_multi(form):
        sections = {s["key"]: _lines_of([x for x in rnd.subjects if x.section == s["key"]])
                    for s in sections_of(form)}
    closes = (rnd.closes_at.replace(tzinfo=dt.UTC).astimezone(CHINA).strftime(
        "%Y-%m-%dT%H:%M") if rnd.closes_at else "")
    rec = rnd.kind == "recommendation"
    return {**_blank(), "form": choice_of(rnd), "title": rnd.title,
            "subjects": _lines_of(rnd.subjects), "sections": sections,
            "categories": "\n".join(f"{c.name},{c.expected_count},{c.weight:g}"
                                    for c in rnd.categories),
            "show_live_results": rnd.show_live_results,
            "announce_on_close": rnd.announce_on_close, "per_subject": rnd.per_subject,
            "closes_at": closes,
            "year": str(rnd.year or ""), "branch_id": str(rnd.branch_id or ""),
            "min_choices": str(form.get("min_choices", "")) if rec else "",
            "max_choices": str(form.get("max_choices", "")) if rec else ""}


def _int(raw: str, field: str, label: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise ApiError("invalid_input", f"{label}应为整数", f"{field} must be an integer", 422,
                       field)
    return int(raw)


def round_args(values: dict[str, Any], choices: dict[str, Any]) -> dict[str, Any]:
    """The page's values as create_round's keyword arguments (raises ApiError)."""
    if values["form"] not in choices:
        raise ApiError("unknown_form", "测评表模板不存在", "unknown form", 422, "form")
    definition = choices[values["form"]]
    if values["sections"]:
        subjects = [{**s, "section": key} for key, text in values["sections"].items()
                    for s in parse_subjects(text)]
    else:
        subjects = parse_subjects(values["subjects"])
    rec = definition.get("kind") == "recommendation"
    return {
        **_form_args(values["form"]), "title": values["title"], "subjects": subjects,
        "categories": parse_categories(values["categories"]),
        "show_live_results": values["show_live_results"],
        "announce_on_close": values["announce_on_close"],
        "per_subject": values["per_subject"],
        "closes_at": parse_deadline(values["closes_at"]),
        "year": _int(values["year"], "year", "考核年度"),
        "branch_id": _int(values["branch_id"], "branch_id", "所属支部"),
        "min_choices": parse_choice_limit(values["min_choices"], "min_choices", "最少推荐人数")
        if rec else None,
        "max_choices": parse_choice_limit(values["max_choices"], "max_choices", "最多推荐人数")
        if rec else None,
        "results": parse_rules(values, definition),
    }


def located(err: ApiError) -> dict[str, str]:
    """The error for the page: which input it belongs to, and which entry of a list."""
    field = err.field or ""
    if field == "results" or field.startswith("results."):
        key = field.partition(".")[2].split(".")[0].split("[")[0]
        field = {"flags": "flag_share", "": "rules"}.get(key, key)
    base, _, rest = field.partition("[")
    message = err.message
    if rest and rest.split("]")[0].isdigit():
        n = int(rest.split("]")[0]) + 1
        what = {"subjects": "测评对象", "categories": "参评人员类别"}.get(base, "")
        message = f"第 {n} 个{what}：{message}"
    if base in ("form_id", "version", "form_version"):
        base = "form"
    return {"field": base, "message": message, "code": err.code}


def branches_of(committee_id: int | None) -> list[Branch]:
    q = db.select(Branch).order_by(Branch.name)
    if committee_id is not None:
        q = q.where(Branch.committee_id == committee_id)
    return list(db.session.execute(q).scalars())


def render_page(choices: dict[str, Any], values: dict[str, Any], rnd: Round | None = None,
                **extra: Any) -> str:
    sectioned = {key: sections_of(f) for key, f in choices.items() if is_multi(f)}
    return render_template(
        "console/round_new.html", forms=choices, values=values, rnd_edit=rnd,
        sectioned=sectioned, branches=branches_of(access.committee_scope()),
        roster=roster_pick.roster(rnd.committee_id if rnd else access.user().committee_id),
        defaults={key: rule_defaults(f, site_k()) for key, f in choices.items()},
        flag_grades={key: (flag_grade(f) or {}).get("label", "") for key, f in choices.items()},
        **extra)


def _detail(round_id: int) -> BaseResponse:
    return redirect(url_for("console.round_detail", round_id=round_id), 303)


# -- the views (role checks in server/console/rounds.py's wrappers) --------------------

def new_round() -> str | BaseResponse | tuple[str, int]:
    choices = form_choices(access.user().committee_id)
    if request.method == "GET":
        return render_page(choices, _blank())
    values = _posted(choices)
    try:
        cid = access.own_committee()
        args = round_args(values, choices)
        args["subjects"] = roster_pick.link_subjects(cid, args["subjects"])
        rnd = create_round(cid, args.pop("form"), args.pop("title"), args.pop("subjects"),
                           args.pop("categories"), user=access.user(), **args)
    except ApiError as err:
        db.session.rollback()
        return render_page(choices, values, error=located(err)), err.status
    flash(f"已创建测评“{rnd.title}”。下一步：发放选票，然后开始投票。", "success")
    return _detail(rnd.id)


def _category_ids(rnd: Round, wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines of the categories box matched to the round's categories: by name, then
    the rest in order (a renamed line keeps its row and its slips)."""
    left = [c for c in rnd.categories if c.name not in {w["name"] for w in wanted}]
    by_name = {c.name: c.id for c in rnd.categories}
    out = []
    for w in wanted:
        cid = by_name.get(w["name"])
        if cid is None and left:
            cid = left.pop(0).id
        out.append({**w, "id": cid})
    return out


def edit_round(round_id: int) -> str | BaseResponse | tuple[str, int]:
    rnd = access.load_round(round_id)
    if rnd.status != "draft":
        flash("只有草稿状态的测评可以修改", "error")
        return _detail(round_id)
    choices = form_choices(rnd.committee_id, rnd)
    before = values_of(rnd)
    if request.method == "GET":
        return render_page(choices, before, rnd)
    values = _posted(choices)
    try:
        args = round_args(values, choices)
        args["subjects"] = roster_pick.link_subjects(rnd.committee_id, args["subjects"])
        changes = {k: args[k] for k in ("title", "subjects", "show_live_results",
                                        "announce_on_close", "per_subject", "year", "branch_id",
                                        "min_choices", "max_choices", "results")}
        changes["categories"] = _category_ids(rnd, args["categories"])
        if values["closes_at"] != before["closes_at"]:
            changes["closes_at"] = args["closes_at"]
        if values["form"] != before["form"]:
            changes.update({k: args[k] for k in ("form", "form_id", "form_version")
                            if args.get(k) is not None})
        update_round(rnd, changes, access.user())
    except ApiError as err:
        db.session.rollback()
        return render_page(choices, values, access.load_round(round_id),
                           error=located(err)), err.status
    flash("已保存修改。", "success")
    return _detail(round_id)


def remove_round(round_id: int) -> BaseResponse:
    rnd = access.load_round(round_id)
    title = rnd.title
    try:
        delete_round(rnd, access.user())
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
        return _detail(round_id)
    flash(f"已删除测评“{title}”。", "success")
    return redirect(url_for("console.rounds"), 303)


def copy_round(round_id: int) -> BaseResponse:
    src = access.load_round(round_id)
    title = request.form.get("title", "").strip() or None
    try:
        year = _int(request.form.get("year", "").strip(), "year", "考核年度")
        rnd = clone_round(src, title, year, "same", access.user())
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
        return _detail(round_id)
    flash(f"已复制为新测评“{rnd.title}”（草稿），可修改后发放选票。", "success")
    return _detail(rnd.id)


def batch_page() -> str | BaseResponse | tuple[str, int]:
    cid = access.user().committee_id
    rounds = db.session.execute(
        db.select(Round).where(Round.committee_id == cid).order_by(Round.id.desc()).limit(200)
    ).scalars().all() if cid is not None else []
    branches = branches_of(cid) if cid is not None else []
    f = request.form
    values: dict[str, Any] = {
        "template_round_id": f.get("template_round_id", ""), "title": f.get("title", ""),
        "branches": f.getlist("branches") if request.method == "POST" else
        [str(b.id) for b in branches],
        "subjects_from": f.get("subjects_from", "none")}
    if request.method == "GET":
        return render_template("console/round_batch.html", rounds=rounds, branches=branches,
                               values=values)
    try:
        cid = access.own_committee()
        if not values["branches"]:
            raise ApiError("no_branches", "请至少选择一个支部", "choose a branch", 422, "branches")
        template = access.load_round(_int(values["template_round_id"], "template_round_id",
                                          "模板测评") or 0)
        body = {"branches": [int(b) for b in values["branches"] if b.isdigit() and len(b) < 10],
                "subjects_from": values["subjects_from"],
                "title": values["title"].strip() or None}
        created = batch_create(cid, body, template, access.user())
    except ApiError as err:
        db.session.rollback()
        error = located(err)
        if err.code == "round_not_found":
            error = {"field": "template_round_id", "message": "请选择模板测评", "code": err.code}
        return render_template("console/round_batch.html", rounds=rounds, branches=branches,
                               values=values, error=error), err.status
    flash(f"已为 {len(created)} 个支部各创建一个测评草稿。", "success")
    return redirect(url_for("console.rounds", status="draft"), 303)
