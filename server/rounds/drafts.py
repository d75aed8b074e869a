"""Correcting and repeating rounds: edit or delete a draft, clone any round, and build
the same draft for every branch of a committee.

Every value goes through `operations.check_draft`, the checks a new round gets, and
each action commits once: a refused request changes nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import text

from server.core import audit
from server.core.clock import utcnow
from server.core.db import changed_rows, db
from server.core.errors import ApiError
from server.core.redis import get_redis
from server.forms.models import FormVersion
from server.forms.sections import SUBJECT_SECTIONS
from server.organization.models import Branch, Committee
from server.results.official import publish_problem
from server.roundbase.models import Round, Subject, VoterCategory
from server.rounds.operations import check_draft, form_source, new_draft, write_draft
from server.voting import livetally
from server.voting.roundinfo import forget

# What PATCH may change besides the form (form, form_id, form_version).
EDITABLE = ("title", "subjects", "categories", "show_live_results", "announce_on_close",
            "per_subject", "closes_at", "min_choices", "max_choices", "results", "year",
            "branch_id")
REHOLD = "（重新测评）"
# Rows a round owns, children first (tokens and blind keys name its categories).
OWNED_TABLES = ("ballots", "ballot_comments", "spent_tokens", "tokens", "slip_codes",
                "blind_keys", "session_claims", "subjects", "voter_categories")

NOT_DRAFT = ("round_not_draft", "只有草稿状态的测评可以修改或删除",
             "only a draft round can be edited or deleted")


def _not_draft() -> ApiError:
    return ApiError(*NOT_DRAFT, 409)


def _hold_draft(rnd: Round) -> None:
    """Hold the round's row until commit, as long as it is a draft (else 409): an
    open racing this edit waits for it, or wins and the edit is refused."""
    if not changed_rows(text("UPDATE rounds SET status = 'draft' "
                             "WHERE id = :r AND status = 'draft'"),
                        {"r": rnd.id}):
        db.session.rollback()
        raise _not_draft()


def draft_values(rnd: Round) -> dict[str, Any]:
    """A round's values as check_draft takes them (categories with their ids)."""
    return {
        "title": rnd.title,
        "subjects": [{"name": s.name, "note": s.note, "member_id": s.member_id,
                      "section": s.section} for s in rnd.subjects],
        "categories": [{"id": c.id, "name": c.name, "expected_count": c.expected_count,
                        "weight": c.weight} for c in rnd.categories],
        "show_live_results": rnd.show_live_results, "announce_on_close": rnd.announce_on_close,
        "closes_at": rnd.closes_at, "year": rnd.year, "branch_id": rnd.branch_id,
        "min_choices": None, "max_choices": None, "results": None,
        "per_subject": rnd.per_subject,
    }


def _snapshot(rnd: Round) -> dict[str, Any]:
    """The round's form snapshot as a base to build on (its rules already merged)."""
    form = copy.deepcopy(rnd.form)
    form.pop(SUBJECT_SECTIONS, None)
    return form


# -- edit ------------------------------------------------------------------------------

def update_round(rnd: Round, changes: dict[str, Any], user: Any | None = None) -> Round:
    """Change anything about a draft: the given fields replace the round's (subjects
    and categories as whole lists; a category keeps its id, matched by `id` when
    given, else by position); `form`/`form_id`/`form_version` re-snapshot the form.
    """
    if rnd.status != "draft":
        raise _not_draft()
    values = {**draft_values(rnd), **{k: changes[k] for k in EDITABLE if k in changes}}
    if any(k in changes for k in ("form", "form_id", "form_version")):
        form_id = changes.get("form_id")
        if form_id is None and "form" not in changes and rnd.form_version_id is not None:
            form_id = db.session.get_one(FormVersion, rnd.form_version_id).form_id
        form, key, version_id = form_source(rnd.committee_id, changes.get("form"), form_id,
                                            changes.get("form_version"))
    else:
        form, key, version_id = _snapshot(rnd), rnd.form_key, rnd.form_version_id
    checked = check_draft(rnd.committee_id, form, values,
                          check_deadline="closes_at" in changes)
    rows = _match_categories(rnd, checked["categories"], by_id="categories" not in changes
                             or any(c.get("id") is not None for c in changes["categories"]))
    _hold_draft(rnd)
    _write_categories(rnd, rows, checked["categories"])
    _write_subjects(rnd, checked["subjects"])
    write_draft(rnd, checked)
    rnd.form_key, rnd.form_version_id = key, version_id
    audit.record(user, "round.update", f"round:{rnd.id}", ", ".join(sorted(changes)))
    db.session.commit()
    forget(rnd.id)
    return rnd


def _match_categories(rnd: Round, wanted: list[dict[str, Any]],
                      by_id: bool) -> list[VoterCategory | None]:
    """The existing row each wanted category keeps (None: a new one); refuses to drop
    a category that has issued slips."""
    existing = {c.id: c for c in rnd.categories}
    rows: list[VoterCategory | None] = []
    for i, c in enumerate(wanted):
        if not by_id:
            rows.append(rnd.categories[i] if i < len(rnd.categories) else None)
            continue
        if c.get("id") is None:
            rows.append(None)
            continue
        row = existing.get(c["id"])
        if row is None or row in rows:
            raise ApiError("unknown_category", "参评人员类别不存在或重复", "unknown or repeated "
                           f"category id {c['id']}", 422, f"categories[{i}].id")
        rows.append(row)
    for row in rnd.categories:
        if row not in rows and _has_slips(row):
            raise ApiError("category_has_slips", f"类别“{row.name}”已发放选票，不能删除",
                           f"category {row.name} has issued slips", 409, "categories")
    return rows


def _has_slips(row: VoterCategory) -> bool:
    if row.issued_count or row.paper_issued:
        return True
    sql = "SELECT 1 FROM {} WHERE category_id = :c"
    return any(db.session.execute(text(sql.format(table)), {"c": row.id}).first()
               for table in ("tokens", "blind_keys"))


def _write_categories(rnd: Round, rows: list[VoterCategory | None],
                      wanted: list[dict[str, Any]]) -> None:
    for row in [c for c in rnd.categories if c not in rows]:
        rnd.categories.remove(row)
    db.session.flush()  # dropped names are free before a row takes one of them
    renamed = [(row, c) for row, c in zip(rows, wanted, strict=True)
               if row is not None and row.name != c["name"]]
    for row, _ in renamed:  # names may swap between rows: free them all first
        row.name = f"~{row.id}~"
    if renamed:
        db.session.flush()
    kept = []
    for i, (existing, c) in enumerate(zip(rows, wanted, strict=True)):
        row = existing or VoterCategory(round_id=rnd.id)
        row.position, row.name = i, c["name"]
        row.expected_count, row.weight = c["expected_count"], c["weight"]
        kept.append(row)
    rnd.categories = kept


def _write_subjects(rnd: Round, wanted: list[dict[str, Any]]) -> None:
    """Subjects in place, in order; extra rows go, missing ones are added."""
    rows = list(rnd.subjects)
    for i, s in enumerate(wanted):
        if i < len(rows):
            rows[i].position = i
            for name, value in s.items():
                setattr(rows[i], name, value)
        else:
            rows.append(Subject(position=i, **s))
    rnd.subjects = rows[:len(wanted)]


# -- delete ----------------------------------------------------------------------------

def delete_round(rnd: Round, user: Any | None = None) -> None:
    """Delete a draft with its subjects, categories, slips and Redis keys."""
    if rnd.status != "draft":
        raise _not_draft()
    round_id, title = rnd.id, rnd.title
    _hold_draft(rnd)
    for table in OWNED_TABLES:
        sql = f"DELETE FROM {table} WHERE round_id = :r"  # noqa: S608 - our table names
        db.session.execute(text(sql), {"r": round_id})
    db.session.execute(text("DELETE FROM rounds WHERE id = :r AND status = 'draft'"),
                       {"r": round_id})
    audit.record(user, "round.delete", f"round:{round_id}", title)
    db.session.commit()
    db.session.expunge(rnd)
    forget(round_id)
    drop_redis_keys(round_id)


def drop_redis_keys(round_id: int) -> int:
    """Delete every Redis key of the round (they all share its hash tag `{r:<id>}`)."""
    client = get_redis()
    found = list(client.scan_iter(match=f"{livetally.tag(round_id)}:*", count=1000))
    for i in range(0, len(found), 500):
        client.delete(*found[i:i + 500])
    return len(found)


# -- clone -----------------------------------------------------------------------------

def clone_round(src: Round, title: str | None = None, year: int | None = None,
                form_version: str = "same", user: Any | None = None) -> Round:
    """A new draft like `src` (any state): its form snapshot ("same") or its form's
    latest version ("latest", keeping its rules), subjects, categories and rules;
    no slips, no ballots, no deadline."""
    rehold = src.status == "closed" and bool(src.result_json) and bool(publish_problem(src))
    if year is None:
        year = src.year if rehold or src.year is None else utcnow().year
    if title is None:
        title = src.title
        if rehold and not title.endswith(REHOLD):
            title += REHOLD
        elif src.year and year != src.year and str(src.year) in title:
            title = title.replace(str(src.year), str(year))
    values = {**draft_values(src), "title": title, "year": year, "closes_at": None}
    values["categories"] = [{**c, "id": None} for c in values["categories"]]
    if form_version == "latest":
        form, key, version_id = _latest_source(src)
        values["results"] = dict(src.result_rules)
        values["min_choices"] = src.form.get("min_choices")
        values["max_choices"] = src.form.get("max_choices")
    else:
        form, key, version_id = _snapshot(src), src.form_key, src.form_version_id
    checked = check_draft(src.committee_id, form, values, check_deadline=False)
    rnd = new_draft(src.committee_id, key, version_id, checked, user)
    audit.record(user, "round.clone", f"round:{rnd.id}", f"from round:{src.id}")
    db.session.commit()
    return rnd


def _latest_source(src: Round) -> tuple[dict[str, Any], str, int | None]:
    if src.form_version_id is None:
        return form_source(src.committee_id, src.form_key)
    form_id = db.session.get_one(FormVersion, src.form_version_id).form_id
    return form_source(src.committee_id, None, form_id)


# -- one draft per branch --------------------------------------------------------------

def batch_create(committee_id: int, body: dict[str, Any], template: Round | None,
                 user: Any | None = None) -> list[Round]:
    """One draft per branch (`branches`: "all" or a list of ids) from `template` or
    from the round fields of `body`; `subjects_from` "branch_members" makes each
    branch's roster its subjects. All or nothing."""
    committee = db.session.get(Committee, committee_id)
    if committee is None:
        raise ApiError("committee_not_found", "找不到该党委", "committee not found", 404,
                       "committee_id")
    branches = _branches(committee, body.get("branches"))
    if template is not None:
        values = draft_values(template)
        values["categories"] = [{**c, "id": None} for c in values["categories"]]
        values.update({k: body[k] for k in EDITABLE if body.get(k) is not None})
        form, key, version_id = _snapshot(template), template.form_key, template.form_version_id
    else:
        values = {k: body.get(k) for k in EDITABLE}
        form, key, version_id = form_source(committee_id, body.get("form"), body.get("form_id"),
                                            body.get("form_version"))
    created = []
    for branch in branches:
        one = {**values, "branch_id": branch.id,
               "title": f"{values.get('title') or ''}（{branch.name}）"}
        if body.get("subjects_from") == "branch_members":
            one["subjects"] = [{"name": m.name, "note": m.title, "member_id": m.id}
                               for m in branch.members]
            if not one["subjects"]:
                raise ApiError("missing_subjects", f"{branch.name}：名册中没有人员",
                               f"branch {branch.name} has no members", 422, "subjects_from")
        try:
            checked = check_draft(committee_id, copy.deepcopy(form), one)
        except ApiError as err:
            db.session.rollback()
            raise ApiError(err.code, f"{branch.name}：{err.message}",
                           f"{branch.name}: {err.message_en}", err.status, err.field) from None
        created.append(new_draft(committee_id, key, version_id, checked, user))
    audit.record(user, "round.batch", f"committee:{committee_id}",
                 ",".join(str(r.id) for r in created))
    db.session.commit()
    return created


def _branches(committee: Committee, wanted: Any) -> list[Branch]:
    if wanted == "all":
        branches = list(committee.branches)
    elif (isinstance(wanted, list) and wanted and len(wanted) <= 500
          and all(isinstance(b, int) and not isinstance(b, bool) for b in wanted)):
        by_id = {b.id: b for b in committee.branches}
        missing = [b for b in wanted if b not in by_id]
        if missing or len(set(wanted)) != len(wanted):
            raise ApiError("unknown_branch", "所选支部不存在、重复或不属于本党委",
                           f"unknown or repeated branches {missing}", 422, "branches")
        branches = [by_id[b] for b in wanted]
    else:
        raise ApiError("invalid_field", "branches 应为 \"all\" 或支部编号列表",
                       'branches must be "all" or a list of branch ids', 422, "branches")
    if not branches:
        raise ApiError("no_branches", "该党委还没有支部", "the committee has no branches", 422,
                       "branches")
    return branches
