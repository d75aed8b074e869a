"""Building rounds and moving them through draft → open → closed → published."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

from flask import current_app
from sqlalchemy import Connection, text

from server.core import audit, signals
from server.core.clock import utcnow
from server.core.db import changed_rows, db
from server.core.errors import ApiError, error_kind
from server.core.text import display_text, lookalike_key
from server.forms import available_forms
from server.forms.answers import PER_SUBJECT
from server.forms.operations import resolve_version
from server.forms.sections import round_form, sections_of
from server.organization.models import Branch, Member
from server.results.official import official_results, publish_problem
from server.results.rules import build_rules
from server.results.view import forget_projector
from server.roundbase.models import Round, Subject, VoterCategory
from server.roundbase.scrub import scrub_after_close
from server.roundbase.scrub import wait_for_scrub as wait_for_scrub  # callers import it here
from server.roundbase.shuffle import BALLOTS, CLAIMS, rewrite_in_random_order
from server.voting import livetally
from server.voting.digest import digest, read_ballots
from server.voting.rebuild import epoch, rebuild
from server.voting.recount import differences
from server.voting.roundinfo import forget

log = logging.getLogger(__name__)

# A rehearsal (rounds/rehearsal.py) is never published.
NOT_PUBLISHABLE = error_kind("rehearsal_not_publishable",
                             "演练数据不能发布为正式结果，请先清空演练数据",
                             "A rehearsal can never be published; purge it first", 409)

def _bad(code: str, zh: str, en: str, field: str | None = None, status: int = 422) -> ApiError:
    return ApiError(code, zh, en, status, field)


def _clean_text(value: Any, field: str, max_len: int, label: str) -> str:
    """Stored as shown: single spaces, no control or invisible characters (core/text.py)."""
    if isinstance(value, str):
        value = display_text(value)
    if not isinstance(value, str) or not value:
        raise _bad("missing_field", f"请填写{label}", f"{field} is required", field)
    if len(value) > max_len:
        raise _bad("too_long", f"{label}不能超过 {max_len} 个字", f"{field} too long", field)
    return value


def form_source(committee_id: int, form_key: str | None, form_id: int | None = None,
                form_version: int | None = None) -> tuple[dict[str, Any], str, int | None]:
    """The form a draft is built from: a preset (`form_key`) or a designed form's
    version (`form_id`, `form_version`, default the latest), exactly one of them.

    Returns (a copy of its definition, the round's form_key, the form_version_id).
    """
    if (form_key is None) == (form_id is None) or (form_id is None and form_version is not None):
        raise _bad("form_choice", "请选择一个测评表：预设模板或已设计的测评表，二者选一",
                   "give exactly one of form (a preset key) and form_id", "form")
    if form_key is not None:
        forms = available_forms()
        if form_key not in forms:
            raise _bad("unknown_form", "测评表模板不存在", f"unknown form {form_key!r}", "form")
        return copy.deepcopy(forms[form_key]), form_key, None

    assert form_id is not None  # exactly one of form_key and form_id (checked above)
    version = resolve_version(committee_id, form_id, form_version)
    form = copy.deepcopy(version.definition)
    form["key"] = f"form-{version.form_id}-v{version.version}"  # what voters' pages name it by
    return form, form["key"], version.id


def _weights_sum(weights: list[float]) -> None:
    """Weights as shares of a whole (any weight but 1) must add to 1 or to 100."""
    if all(w == 1 for w in weights):
        return
    total = sum((Fraction(repr(float(w))) for w in weights), Fraction(0))
    if total in (1, 100):
        return
    percent = total * 100 if all(w <= 1 for w in weights) else total
    shown = f"{float(percent):.4f}".rstrip("0").rstrip(".")
    raise _bad("weights_sum", f"各类别权重之和应为 100%，现为 {shown}%",
               f"category weights must add up to 1 (or 100), not {float(total):g}",
               "categories")


def check_draft(committee_id: int, form: dict[str, Any], values: dict[str, Any],
                check_deadline: bool = True) -> dict[str, Any]:
    """Every value of a draft round checked against its form; raises ApiError, changes
    nothing. Create and edit both run it.

    `values`: title, subjects, categories (each may carry the `id` it keeps),
    show_live_results, closes_at, min_choices, max_choices, results (overrides of
    the form's result rules), year, branch_id, announce_on_close, per_subject (a
    scoring round scored as each report ends, kept in the form snapshot; absent or
    None: as the form has it). Returns the
    cleaned values, with `form`: the snapshot to store, its result rules merged.
    """
    title = _clean_text(values.get("title"), "title", 200, "测评名称")
    subjects, categories = values.get("subjects") or [], values.get("categories") or []
    if not subjects:
        raise _bad("missing_subjects", "请至少添加一个测评对象或候选人",
                   "at least one subject is required", "subjects")
    if not categories:
        raise _bad("missing_categories", "请至少添加一个参评人员类别",
                   "at least one voter category is required", "categories")
    min_choices, max_choices = values.get("min_choices"), values.get("max_choices")
    if form["kind"] == "recommendation":
        lo = form["min_choices"] if min_choices is None else min_choices
        hi = form["max_choices"] if max_choices is None else max_choices
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi and hi >= 1):
            raise _bad("invalid_choice_limits", "推荐人数范围不正确",
                       "need 0 <= min_choices <= max_choices, max >= 1", "max_choices")
        if hi > len(subjects):
            raise _bad("invalid_choice_limits", "最多推荐人数不能超过候选人数",
                       "max_choices exceeds the number of candidates", "max_choices")
        form["min_choices"], form["max_choices"] = lo, hi
    per_subject = values.get(PER_SUBJECT)
    if per_subject is None:
        per_subject = form.get(PER_SUBJECT, False)
    if per_subject and form["kind"] != "scoring":
        raise _bad("per_subject_not_scoring", "只有评分类测评可以逐人评分、逐个提交",
                   "only a scoring round can be scored per subject", PER_SUBJECT)
    form.pop(PER_SUBJECT, None)
    if per_subject:
        form[PER_SUBJECT] = True
    closes_at = values.get("closes_at")
    if check_deadline and closes_at is not None and closes_at <= utcnow():
        raise _bad("invalid_deadline", "截止时间必须晚于现在", "closes_at must be in the future",
                   "closes_at")
    year = values.get("year")
    year = utcnow().year if year is None else year
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        raise _bad("invalid_field", "考核年度应为 2000～2100 之间的年份",
                   "year must be in [2000, 2100]", "year")
    branch_id = values.get("branch_id")
    if branch_id is not None:

        branch = db.session.get(Branch, branch_id) if isinstance(branch_id, int) else None
        if branch is None or branch.committee_id != committee_id:
            raise _bad("unknown_branch", "所选支部不属于本党委", "no such branch in the committee",
                       "branch_id")

    # Names that only look alike (全角/半角, a zero-width space) count as the same.
    out_subjects: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, s in enumerate(subjects):
        name = _clean_text(s.get("name"), f"subjects[{i}].name", 100, "姓名")
        note = s.get("note") or ""
        if not isinstance(note, str) or len(note) > 200:
            raise _bad("invalid_field", "职务说明过长", "note too long", f"subjects[{i}].note")
        note = display_text(note)
        key = f"{lookalike_key(name)}\n{lookalike_key(note)}"
        if key in seen:
            raise _bad("duplicate_subject", "测评对象重复（姓名和职务都相同），请用职务加以区分",
                       f"duplicate subject {name}", f"subjects[{i}].name")
        seen.add(key)
        out_subjects.append({"name": name, "note": note,
                             "member_id": _subject_member(committee_id, s, i),
                             "section": _subject_section(form, s, i)})
    seen.clear()
    out_categories: list[dict[str, Any]] = []
    for i, c in enumerate(categories):
        name = _clean_text(c.get("name"), f"categories[{i}].name", 60, "类别名称")
        if lookalike_key(name) in seen:
            raise _bad("duplicate_category", "参评人员类别名称重复",
                       f"duplicate category {name}", f"categories[{i}].name")
        seen.add(lookalike_key(name))
        expected, weight = c.get("expected_count", 0), c.get("weight", 1.0)
        if (isinstance(expected, bool) or not isinstance(expected, int)
                or not 0 <= expected <= 100000):
            raise _bad("invalid_field", "应到人数应为 0～100000 的整数",
                       "expected_count must be an integer in [0, 100000]",
                       f"categories[{i}].expected_count")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 100:
            raise _bad("invalid_field", "权重应为大于 0 的数", "weight must be in (0, 100]",
                       f"categories[{i}].weight")
        out_categories.append({"id": c.get("id"), "name": name, "expected_count": expected,
                               "weight": float(weight)})
    _weights_sum([c["weight"] for c in out_categories])
    form["results"] = build_rules(
        form, [{k: c[k] for k in ("name", "expected_count", "weight")} for c in out_categories],
        len(out_subjects), values.get("results"))
    return {"form": form, "title": title, "subjects": out_subjects,
            "categories": out_categories, "closes_at": closes_at, "year": year,
            "branch_id": branch_id,
            "show_live_results": bool(values.get("show_live_results")),
            "announce_on_close": bool(values.get("announce_on_close"))}


def _subject_member(committee_id: int, raw: dict[str, Any], i: int) -> int | None:
    """The roster member subject `i` is linked to (None: not linked); it must be a
    member of the round's committee."""

    member_id = raw.get("member_id")
    if member_id is None:
        return None
    member = (db.session.get(Member, member_id)
              if isinstance(member_id, int) and not isinstance(member_id, bool)
              and 0 < member_id < 2**31 else None)
    if member is None or member.committee_id != committee_id:
        raise _bad("unknown_member", "所选人员不在本党委花名册中",
                   "member_id is not a member of the committee", f"subjects[{i}].member_id")
    return member.id


def _subject_section(form: dict[str, Any], raw: dict[str, Any], i: int) -> str:
    """The key of the form section subject `i` is rated in: required on an appraisal
    form of several sections, the only section's by default ('' on other forms)."""
    if form["kind"] != "appraisal":
        return ""
    keys = [sec["key"] for sec in sections_of(form)]
    key = raw.get("section") or ""
    if not key and len(keys) == 1:
        return keys[0]
    if key not in keys:
        zh = "请为测评对象选择所属测评部分" if not key else "所选测评部分不在测评表中"
        raise _bad("unknown_section", zh, f"section must be one of {keys}",
                   f"subjects[{i}].section")
    return key


def create_round(
    committee_id: int,
    form_key: str | None,
    title: str,
    subjects: list[dict[str, Any]],
    categories: list[dict[str, Any]],
    *,
    form_id: int | None = None,
    form_version: int | None = None,
    show_live_results: bool = False,
    announce_on_close: bool = False,
    per_subject: bool | None = None,
    closes_at: dt.datetime | None = None,
    min_choices: int | None = None,
    max_choices: int | None = None,
    results: dict[str, Any] | None = None,
    year: int | None = None,
    branch_id: int | None = None,
    user: Any | None = None,
) -> Round:
    """Create a draft round from a preset (`form_key`) or a designed form's version
    (`form_id`, `form_version`); every argument is checked (check_draft).

    `results` overrides the form's result rules (server/results/rules.py);
    the merged rules are kept in the round's form snapshot under "results".
    """
    form, key, version_id = form_source(committee_id, form_key, form_id, form_version)
    values = {"title": title, "subjects": subjects, "categories": categories,
              "show_live_results": show_live_results, "announce_on_close": announce_on_close,
              "closes_at": closes_at, "min_choices": min_choices, "max_choices": max_choices,
              "results": results, "year": year, "branch_id": branch_id,
              PER_SUBJECT: per_subject}
    checked = check_draft(committee_id, form, values)
    rnd = new_draft(committee_id, key, version_id, checked, user)
    audit.record(user, "round.create", f"round:{rnd.id}", rnd.title)
    db.session.commit()
    return rnd


def new_draft(committee_id: int, form_key: str, form_version_id: int | None,
              checked: dict[str, Any], user: Any | None = None) -> Round:
    """Add (flush, not commit) a draft round of check_draft's values."""
    rnd = Round(committee_id=committee_id, form_key=form_key, status="draft",
                form_version_id=form_version_id, created_by=getattr(user, "id", None))
    write_draft(rnd, checked)
    rnd.subjects = [Subject(position=i, **s) for i, s in enumerate(checked["subjects"])]
    rnd.categories = [VoterCategory(position=i, name=c["name"],
                                    expected_count=c["expected_count"], weight=c["weight"])
                      for i, c in enumerate(checked["categories"])]
    db.session.add(rnd)
    db.session.flush()
    return rnd


def write_draft(rnd: Round, checked: dict[str, Any]) -> None:
    """The round's own columns from check_draft's values (not subjects, categories)."""
    form = checked["form"]
    rnd.title, rnd.kind = checked["title"], form["kind"]
    rnd.form_json = json.dumps(form, ensure_ascii=False)
    rnd.__dict__.pop("_form_cache", None)
    for name in ("closes_at", "year", "branch_id", "show_live_results", "announce_on_close"):
        setattr(rnd, name, checked[name])


def open_round(rnd: Round, user: Any | None = None) -> Round:
    """draft → open; opening an open round does nothing."""
    if rnd.status == "open":
        return rnd
    if rnd.status != "draft":
        raise ApiError("round_already_closed", "该测评已结束，不能重新开始",
                       "A closed round never reopens", 409)
    updated = changed_rows(
        text("UPDATE rounds SET status = 'open', opened_at = :now "
             "WHERE id = :r AND status = 'draft'"), {"r": rnd.id, "now": utcnow()}
    )
    if updated:
        audit.record(user, "round.open", f"round:{rnd.id}")
    db.session.commit()
    db.session.refresh(rnd)
    if not updated:
        # Another request opened it first (and rebuilds its live state); it may
        # even have been closed since: that round never reopens.
        if rnd.status != "open":
            raise ApiError("round_already_closed", "该测评已结束，不能重新开始",
                           "A closed round never reopens", 409)
        return rnd
    forget(rnd.id)
    rebuild(rnd.id)
    return rnd


def close_round(rnd: Round, user: Any | None = None, reason: str = "") -> Round:
    """open → closed: stop votes, drain, recount from SQL, compare, shuffle, freeze.

    Refuses (409 `tally_mismatch`, the round stays in `closing`, no votes are
    taken) when the live tally differs from the SQL recount; `pingyi tally
    rebuild` and another close then finish it. Closing a closed round does nothing.
    """
    if rnd.status in ("closed", "published"):
        return rnd
    if rnd.status == "draft":
        raise ApiError("round_not_open", "测评尚未开始，不能结束", "Round has not been opened", 409)
    round_id = rnd.id
    if rnd.status == "open":
        # Redis first: no ballot is held from here on, and the held ones (a batch
        # still being mixed, voting/mixing.py) are written at once, while SQL takes them.
        livetally.set_state(round_id, "closing")
        livetally.wait_drained(round_id, current_app.config["CLOSE_DRAIN_TIMEOUT_S"])
        if db.engine.dialect.name == "postgresql":
            # Waits for every ballot transaction holding KEY SHARE on this row.
            db.session.execute(text("SELECT id FROM rounds WHERE id = :r FOR UPDATE"),
                               {"r": round_id})
        db.session.execute(
            text("UPDATE rounds SET status = 'closing' WHERE id = :r AND status = 'open'"),
            {"r": round_id},
        )
        db.session.commit()
    db.session.refresh(rnd)
    if rnd.status != "closing":
        return rnd  # a concurrent close finished first: leave the live state alone
    livetally.set_state(round_id, "closing")
    livetally.wait_drained(round_id, current_app.config["CLOSE_DRAIN_TIMEOUT_S"])
    db.session.refresh(rnd)
    if rnd.status != "closing":
        return rnd  # a concurrent close finished first

    if not livetally.has_state(round_id):
        rebuild(round_id)
    # One closer recounts, shuffles and freezes. This UPDATE holds the round row (on
    # SQLite the database) until the commit below; a concurrent close waits for it,
    # then finds the round no longer closing and returns it as it is.
    if not changed_rows(
            text("UPDATE rounds SET status = 'closing' WHERE id = :r AND status = 'closing'"),
            {"r": round_id}):
        db.session.rollback()
        db.session.refresh(rnd)
        return rnd
    form, subject_ids = round_form(rnd), [s.id for s in rnd.subjects]
    stored = read_ballots(round_id)  # read once: the recount and the results count them
    # While the database rewrites the ballots and spent tokens in random order (in this
    # transaction, on this session's connection), Python counts what it has read: the
    # recount and the results are pure functions of `stored`, so nothing in the block
    # touches the database until the rewrite is done.
    with _meanwhile(_shuffle_storage, db.session.connection(), round_id):
        ballots = digest(form, subject_ids, stored)
        sql_counts = ballots.recount()
        ballots.counted()  # for the official results, below
    live = livetally.read(round_id, [c.id for c in rnd.categories])
    diff = differences(sql_counts, live)
    if diff:
        db.session.rollback()  # the rewrite too: nothing changes but the problem noted
        problem = "; ".join(diff)
        db.session.execute(text("UPDATE rounds SET close_problem = :p "
                                "WHERE id = :r AND status = 'closing'"),
                           {"p": problem[:500], "r": round_id})
        audit.record(user, "round.close_refused", f"round:{round_id}", problem)
        db.session.commit()
        raise ApiError(
            "tally_mismatch",
            "实时计数与数据库重新计数不一致，已停止投票但未出结果。请运行 "
            f"“pingyi tally rebuild {round_id}” 后再次结束投票。差异：{problem}",
            f"Live tally differs from the SQL recount: {problem}. "
            f"Run `pingyi tally rebuild {round_id}`, then close again.",
            409,
        )
    signals.round_closing.send(round_id)
    result = {
        "turnout": {str(c): n for c, n in sql_counts["turnout"].items()},
        "tallies": {str(c): t for c, t in sql_counts["tallies"].items()},
        "ballots": sum(sql_counts["turnout"].values()),
        "official": official_results(rnd, ballots),
    }
    db.session.execute(
        text("UPDATE rounds SET status = 'closed', closed_at = :now, close_problem = '', "
             "result_json = :res WHERE id = :r AND status = 'closing'"),
        {"now": utcnow(), "res": json.dumps(result), "r": round_id},
    )
    audit.record(user, "round.close", f"round:{round_id}", reason)
    db.session.commit()
    db.session.refresh(rnd)
    livetally.set_state(round_id, "closed")
    _scrub_old_row_images(round_id)
    forget_projector(round_id)
    signals.round_closed.send(rnd)
    return rnd


def _scrub_old_row_images(round_id: int) -> None:
    """After the shuffle commits, drop the pre-close row images the engine still keeps
    (server/roundbase/scrub.py: at once on SQLite, in the background on PostgreSQL, where
    `wait_for_scrub` waits for it), and the live state's per-token keys, which tell
    used slips from unused ones (`livetally.forget_tokens`).
    """
    try:  # at once (UNLINK: quick whatever the round's size), before close returns
        livetally.forget_tokens(round_id)
    except Exception as exc:  # noqa: BLE001 - the close itself has succeeded
        log.warning("could not forget the round's tokens in Redis: %s", type(exc).__name__)
    scrub_after_close(db.engine)


def _shuffle_storage(conn: Connection, round_id: int) -> None:
    """Rewrite the round's ballots in a random order and forget its spent tokens.

    While a round is open, insertion order (rowid, ctid, xmin) could pair a
    spent token with its ballot. Once the round is closed the spent tokens have
    done their work (a closed round takes no ballot, whatever the token), so
    close deletes them, as a paper count keeps the ballots and not who handed
    which one in, and rewrites the ballots, in one transaction, in an order drawn
    at random: no trace of arrival is left in the record, and no list of which
    slips were used. Session-QR claims are rewritten too: their order is the order in
    which WeChat identities claimed.
    """
    rewrite_in_random_order(conn, *BALLOTS, round_id)
    rewrite_in_random_order(conn, *CLAIMS, round_id)
    conn.execute(text("DELETE FROM spent_tokens WHERE round_id = :r"), {"r": round_id})


@contextmanager
def _meanwhile(work: Callable[..., None], *args: Any) -> Iterator[None]:
    """Run work(*args) in another thread while the block runs; wait for it when the
    block ends, and raise its error if it failed (the block's own error first).

    The thread spends its time waiting on the database, which releases the GIL, so
    the database and the block's Python work run at once.
    """
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            failed.append(exc)

    thread = threading.Thread(target=run, name="close-rewrite", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if failed:
        raise failed[0]


def publish_round(rnd: Round, user: Any | None = None) -> Round:
    """closed → published (frozen); publishing a published round does nothing."""
    if rnd.status == "published":
        return rnd
    if rnd.status != "closed":
        raise ApiError("round_not_closed", "请先结束投票并完成计票，再发布结果",
                       "Only a closed, counted round can be published", 409)
    if rnd.rehearsal:
        raise NOT_PUBLISHABLE
    problem = publish_problem(rnd)
    if problem:
        audit.record(user, "round.publish_refused", f"round:{rnd.id}", problem[0])
        db.session.commit()
        raise ApiError("turnout_below_threshold", *problem, 409)
    if changed_rows(
            text("UPDATE rounds SET status = 'published', published_at = :now "
                 "WHERE id = :r AND status = 'closed'"), {"r": rnd.id, "now": utcnow()}
    ):
        _refuse_incomplete(rnd)
        audit.record(user, "round.publish", f"round:{rnd.id}")
    db.session.commit()
    db.session.refresh(rnd)
    livetally.set_state(rnd.id, "published")
    forget_projector(rnd.id)
    return rnd


def _refuse_incomplete(rnd: Round) -> None:
    """Publishing waits for what other features hold of the round (paper ballots entered
    twice alike: server/paper/), asked once the round's row is held."""
    try:
        signals.round_publishing.send(rnd.id)
    except ApiError:
        db.session.rollback()
        raise


def close_due(now: dt.datetime | None = None) -> list[int]:
    """Close every open round whose deadline has passed; returns their ids."""
    now = now or utcnow()
    due = db.session.execute(
        db.select(Round).where(Round.status.in_(("open", "closing")), Round.closes_at.is_not(None),
                               Round.closes_at <= now)
    ).scalars().all()
    closed = []
    for rnd in due:
        try:
            close_round(rnd, None, "deadline")
            closed.append(rnd.id)
        except ApiError:
            db.session.rollback()
    return closed


def set_deadline(rnd: Round, closes_at: dt.datetime | None, user: Any | None = None) -> Round:
    if rnd.status not in ("draft", "open"):
        raise ApiError("round_already_closed", "该测评已结束", "Round is closed", 409)
    rnd.closes_at = closes_at
    audit.record(user, "round.deadline", f"round:{rnd.id}", str(closes_at))
    db.session.commit()
    livetally.set_state(rnd.id, rnd.status, epoch(closes_at))
    return rnd
