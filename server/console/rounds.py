"""Console pages for rounds: the list, a new round, a round's page and its actions."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from server.console import access
from server.console.access import READERS, STAFF
from server.console.forms import (
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
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.forms import available_forms
from server.results.official import publish_problem
from server.results.rules import site_k
from server.rounds import live
from server.rounds.models import Round
from server.rounds.operations import close_round, create_round, open_round, publish_round

SLIPS_WARNING = "选票二维码只显示这一次，系统不保存；请妥善打印保管，并随机发放给参会人员。"


def _detail(round_id: int) -> BaseResponse:
    return redirect(url_for("console.round_detail", round_id=round_id), 303)


@require_console_role(*READERS)
def round_list() -> str:
    q = db.select(Round).order_by(Round.id.desc())
    scope = access.committee_scope()
    if scope is not None:
        q = q.where(Round.committee_id == scope)
    rounds = db.session.execute(q.limit(500)).scalars().all()
    return render_template("console/rounds.html", rounds=rounds)


def _new_values() -> dict[str, Any]:
    forms = available_forms()
    return {"form": "appraisal" if "appraisal" in forms else next(iter(forms), ""),
            "title": "", "subjects": "", "categories": DEFAULT_CATEGORIES,
            "show_live_results": False, "closes_at": "", "min_choices": "",
            "max_choices": "", **{name: "" for name, *_ in RULE_INPUTS}}


def _new_page(forms: dict[str, Any], values: dict[str, Any], **extra: Any) -> str:
    return render_template(
        "console/round_new.html", forms=forms, values=values,
        defaults={key: rule_defaults(f, site_k()) for key, f in forms.items()},
        flag_grades={key: (flag_grade(f) or {}).get("label", "") for key, f in forms.items()},
        **extra)


def _located(err: ApiError) -> dict[str, str]:
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
    return {"field": base, "message": message, "code": err.code}


@require_console_role(*STAFF)
def round_new() -> str | BaseResponse | tuple[str, int]:
    forms = available_forms()
    if request.method == "GET":
        return _new_page(forms, _new_values())
    f = request.form
    values = {"form": f.get("form", ""), "title": f.get("title", ""),
              "subjects": f.get("subjects", ""), "categories": f.get("categories", ""),
              "show_live_results": bool(f.get("show_live_results")),
              "closes_at": f.get("closes_at", ""), "min_choices": f.get("min_choices", ""),
              "max_choices": f.get("max_choices", ""),
              **{name: f.get(name, "") for name, *_ in RULE_INPUTS}}
    try:
        cid = access.own_committee()
        is_rec = forms.get(values["form"], {}).get("kind") == "recommendation"
        rnd = create_round(
            cid, values["form"], values["title"],
            parse_subjects(values["subjects"]), parse_categories(values["categories"]),
            show_live_results=values["show_live_results"],
            closes_at=parse_deadline(values["closes_at"]),
            min_choices=parse_choice_limit(values["min_choices"], "min_choices", "最少推荐人数")
            if is_rec else None,
            max_choices=parse_choice_limit(values["max_choices"], "max_choices", "最多推荐人数")
            if is_rec else None,
            results=parse_rules(values, forms.get(values["form"], {})),
            user=access.user(),
        )
    except ApiError as err:
        db.session.rollback()
        return _new_page(forms, values, error=_located(err)), err.status
    flash(f"已创建测评“{rnd.title}”。下一步：发放选票，然后开始投票。", "success")
    return _detail(rnd.id)


@require_console_role(*READERS)
def round_detail(round_id: int) -> str:
    rnd = access.load_round(round_id)
    turnout = live.turnout(rnd)
    problem = publish_problem(rnd) if rnd.status == "closed" else None
    return render_template("console/round_detail.html", rnd=rnd, turnout=turnout,
                           slips_warning=SLIPS_WARNING,
                           publish_block=problem[0] if problem else None)


def _lifecycle(round_id: int, action: Any, done: str) -> BaseResponse:
    rnd = access.load_round(round_id)
    try:
        action(rnd, access.user())
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        flash(done, "success")
    return _detail(round_id)


@require_console_role(*STAFF)
def round_open(round_id: int) -> BaseResponse:
    return _lifecycle(round_id, open_round, "投票已开始。")


@require_console_role(*STAFF)
def round_close(round_id: int) -> BaseResponse:
    return _lifecycle(round_id, close_round, "投票已结束，计票完成，结果已冻结。")


@require_console_role(*STAFF)
def round_publish(round_id: int) -> BaseResponse:
    return _lifecycle(round_id, publish_round, "结果已发布。")


@require_console_role(*STAFF)
def round_rehearse(round_id: int) -> BaseResponse:
    from server.rounds.rehearsal import open_rehearsal

    return _lifecycle(round_id, open_rehearsal,
                      "演练已开始：现在生成的选票都是演练票，不计入正式结果。演练结束后请清空演练数据。")


@require_console_role(*STAFF)
def round_purge(round_id: int) -> BaseResponse:
    from server.rounds.rehearsal import purge_rehearsal

    return _lifecycle(round_id, purge_rehearsal,
                      "演练数据已清空，测评已回到草稿状态，可以修改后正式开始投票。")


def _int_field(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


@require_console_role(*STAFF)
def round_slips(round_id: int) -> BaseResponse:
    """Issue N tokens of one category and answer with the printable slips (the only copy)."""
    rnd = access.load_round(round_id)
    category = next((c for c in rnd.categories if c.id == _int_field("category_id")), None)
    if category is None:
        flash("参评人员类别不存在", "error")
        return _detail(round_id)
    count = _int_field("count")
    if count is None:
        flash("发放数量应为正整数", "error")
        return _detail(round_id)
    from server.rounds.api import base_url
    from server.tokens.operations import issue_slips

    try:
        category, pdf = issue_slips(rnd, category.id, count, base_url(), access.user())
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
        return _detail(round_id)
    current_app.logger.info("console: %d slips issued for round %d category %d",
                            count, rnd.id, category.id)
    ascii_name = f"slips-round{rnd.id}-cat{category.id}.pdf"
    utf8_name = quote(f"slips-round{rnd.id}-{category.name}.pdf")
    return Response(pdf, 200, mimetype="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{utf8_name}",
        "Cache-Control": "no-store",
    })
