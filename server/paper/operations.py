"""Paper ballots: issue them against 应到, enter each twice (双人录入), count on agreement.

Rules (docs/paper.md):
* Paper slips are issued per voter category while the round is a draft or open,
  counted against 应到 together with the electronic slips (409 over_expected
  unless allow_over); never for a rehearsal.
* Paper ballots are entered after the electronic vote has closed and before the
  results are published (the sheets are collected at the meeting), one entry per
  person per sheet: a second entry by the one who made the first is refused.
* A sheet counts when its second entry agrees with its first (same answers, or
  both 无效 for the same reason); otherwise both see which fields differ and
  either re-enters. A counted sheet refreshes the round's frozen results.
* No more sheets than were issued for the category; an entry that does not fit the
  form is refused unless entered as 无效 with a reason. Publishing waits until
  every sheet is counted.

Each entry holds the round's row (an UPDATE of it first: on PostgreSQL a row lock,
on SQLite the write lock), so entries of a round are serialised: numbers, the
issued limit and the frozen results never race.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, text

from server.accounts.models import User
from server.core import audit
from server.core.db import changed_rows, db
from server.core.errors import ApiError
from server.forms.answers import check_answers
from server.forms.sections import round_form
from server.forms.storage import encode_answers
from server.paper.models import COUNTED, INVALID_REASONS, MISMATCH, PENDING, PaperBallot
from server.paper.sheet import shown_fields
from server.results.official import official_results
from server.roundbase.models import Round, VoterCategory

MAX_PER_BATCH = 5000


def _category(rnd: Round, category_id: Any) -> VoterCategory:
    category = next((c for c in rnd.categories if c.id == category_id), None)
    if category is None or isinstance(category_id, bool):
        raise ApiError("unknown_category", "参评人员类别不存在", "Unknown voter category", 422,
                       "category_id")
    return category


def over_expected(category: VoterCategory, count: int) -> int:
    """How many of `count` new slips go beyond 应到, electronic and paper together."""
    issued = category.issued_count + category.paper_issued
    return max(0, issued + count - max(category.expected_count, issued))


# ----------------------------------------------------------------------------- issue


def issue_paper(rnd: Round, category_id: Any, count: Any, allow_over: bool = False,
                user: Any | None = None) -> VoterCategory:
    """Record `count` more paper slips handed out in one category (their sheets are the
    round's printed ballot, paper/ballot_pdf.py); committed."""
    if rnd.rehearsal:
        raise ApiError("paper_not_in_rehearsal", "演练不使用纸质票",
                       "A rehearsal takes no paper ballots", 409)
    if rnd.status not in ("draft", "open"):
        raise ApiError("round_already_closed", "该测评已结束，不能再发放选票",
                       "Cannot issue paper slips for a closed round", 409)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PER_BATCH:
        raise ApiError("invalid_count", f"发放数量应为 1～{MAX_PER_BATCH} 的整数",
                       f"count must be an integer in [1, {MAX_PER_BATCH}]", 422, "count")
    category = _category(rnd, category_id)
    extra = over_expected(category, count)
    if extra and not allow_over:
        raise ApiError(
            "over_expected",
            f"“{category.name}”应到 {category.expected_count} 人，已发放电子票 "
            f"{category.issued_count} 张、纸质票 {category.paper_issued} 张，再发 {count} 张"
            f"将超出应到人数 {extra} 张",
            f"{count} more slips would exceed the category's expected count by {extra}; "
            "send allow_over to issue them anyway", 409, "count",
            details={"expected": category.expected_count, "issued": category.issued_count,
                     "paper_issued": category.paper_issued, "over": extra})
    db.session.execute(
        text("UPDATE voter_categories SET paper_issued = paper_issued + :n WHERE id = :c"),
        {"n": count, "c": category.id})
    audit.record(user, "paper.issue", f"round:{rnd.id}", f"{category.name}: {count}")
    db.session.commit()
    db.session.refresh(category)
    return category


# ----------------------------------------------------------------------------- entry


def _hold(rnd: Round) -> None:
    """Take the round's row for this transaction, and check paper may be entered now."""
    held = changed_rows(
        text("UPDATE rounds SET status = status WHERE id = :r AND status = 'closed'"),
        {"r": rnd.id})
    if held:
        return
    db.session.rollback()
    db.session.refresh(rnd)
    if rnd.status == "published":
        raise ApiError("round_already_published", "结果已发布，不能再录入纸质票",
                       "The results are published; paper ballots can no longer be entered",
                       409)
    raise ApiError("round_not_closed", "纸质票在电子投票结束后录入，请先结束投票",
                   "Paper ballots are entered once the electronic vote is closed", 409)


def read_entry(rnd: Round, body: dict[str, Any]) -> tuple[str, str]:
    """One person's reading of a sheet as (stored answers, ''), or ('', reason) for 无效.

    A sheet that does not fit the form (more marks than allowed, a missing answer, a
    score out of range) is refused (422 paper_ballot_misfit) unless entered as 无效."""
    reason = body.get("invalid") or ""
    if reason:
        if reason not in INVALID_REASONS:
            raise ApiError("invalid_reason", "无效原因应为：" + "、".join(INVALID_REASONS.values()),
                           f"invalid must be one of {sorted(INVALID_REASONS)}", 422, "invalid")
        if body.get("answers") is not None:
            raise ApiError("answers_and_invalid", "无效票不填写选票内容",
                           "an invalid paper ballot carries no answers", 422, "answers")
        return "", reason
    form = round_form(rnd)
    try:
        answers = check_answers(form, [s.id for s in rnd.subjects], body.get("answers"))
    except ApiError as err:
        raise ApiError(
            "paper_ballot_misfit",
            f"该纸质票不符合测评表要求（{err.message}）。如选票确实如此，请录入为无效票并选择原因",
            f"the paper ballot does not fit the form ({err.message_en}); enter it as invalid "
            "with a reason if the sheet is so", 422, err.field, details={"check": err.code},
        ) from None
    return encode_answers(form, answers), ""


def _user_id(user: Any) -> int:
    uid = getattr(user, "id", None)
    if uid is None:
        raise ApiError("entry_needs_account", "纸质票须由登录的工作人员录入",
                       "paper ballots are entered by a signed-in account", 403)
    return uid


def enter_first(rnd: Round, user: Any, body: dict[str, Any]) -> PaperBallot:
    """The first entry of a new sheet: it gets the next number (第 N 张); committed."""
    uid = _user_id(user)
    category = _category(rnd, body.get("category_id"))
    answers, reason = read_entry(rnd, body)
    _hold(rnd)
    entered = db.session.scalar(db.select(func.count()).select_from(PaperBallot).where(
        PaperBallot.round_id == rnd.id, PaperBallot.category_id == category.id))
    if entered >= category.paper_issued:
        db.session.rollback()
        raise ApiError(
            "paper_beyond_issued",
            f"“{category.name}”只发放了纸质票 {category.paper_issued} 张，已全部录入，不能再录入",
            f"all {category.paper_issued} paper slips issued for this category are entered",
            409, "category_id")
    number = (db.session.scalar(db.select(func.max(PaperBallot.number))
                                .where(PaperBallot.round_id == rnd.id)) or 0) + 1
    sheet = PaperBallot(round_id=rnd.id, category_id=category.id, number=number,
                        status=PENDING, first_by=uid, first_answers=answers,
                        first_invalid=reason)
    db.session.add(sheet)
    audit.record(user, "paper.enter", f"round:{rnd.id}", f"第 {number} 张：第一次录入")
    db.session.commit()
    return sheet


def _sheet(rnd: Round, number: int) -> PaperBallot:
    sheet = db.session.execute(db.select(PaperBallot).filter_by(
        round_id=rnd.id, number=number)).scalar_one_or_none()
    if sheet is None:
        raise ApiError("unknown_paper_ballot", f"没有第 {number} 张纸质票的录入记录",
                       "no such paper ballot", 404)
    return sheet


def enter_again(rnd: Round, number: int, user: Any, body: dict[str, Any]) -> PaperBallot:
    """The second entry of sheet `number` by another person, or a re-entry by either of
    the two after a mismatch; counts the sheet when the two agree; committed."""
    uid = _user_id(user)
    sheet = _sheet(rnd, number)
    answers, reason = read_entry(rnd, body)
    if "category_id" in body and body["category_id"] != sheet.category_id:
        raise ApiError("category_differs", "参评类别与第一次录入不同，请核对选票上的类别",
                       "the category differs from the first entry's", 409, "category_id")
    _hold(rnd)
    db.session.refresh(sheet)
    if sheet.status == COUNTED:
        db.session.rollback()
        raise ApiError("paper_ballot_counted", f"第 {number} 张已经两次录入一致并计入结果",
                       "this paper ballot is already counted", 409)
    slot = sheet.slot(uid)
    if sheet.status == PENDING:
        if slot == "first":
            db.session.rollback()
            raise ApiError("same_person_entry", "第二次录入须由另一位工作人员独立完成",
                           "the second entry must be made by someone else", 409)
        slot = "second"
        sheet.second_by = uid
    elif slot is None:
        db.session.rollback()
        raise ApiError("not_an_enterer",
                       "两次录入不一致时，由原来的两位录入人员之一核对选票后重新录入",
                       "after a mismatch only the two who entered it may re-enter", 409)
    setattr(sheet, f"{slot}_answers", answers)
    setattr(sheet, f"{slot}_invalid", reason)
    agree = (sheet.first_answers, sheet.first_invalid) == (sheet.second_answers,
                                                         sheet.second_invalid)
    sheet.status = COUNTED if agree else MISMATCH
    audit.record(user, "paper.enter", f"round:{rnd.id}",
                 f"第 {number} 张：{'一致，计入结果' if agree else '与另一次录入不一致'}")
    db.session.flush()
    if agree:
        refresh_results(rnd)
    db.session.commit()
    return sheet


def refresh_results(rnd: Round) -> None:
    """The round's frozen official results again, now with its counted paper ballots."""
    result = rnd.result or {}
    result["official"] = official_results(rnd)
    db.session.execute(text("UPDATE rounds SET result_json = :res WHERE id = :r"),
                       {"res": json.dumps(result), "r": rnd.id})
    db.session.expire(rnd, ["result_json"])


# ----------------------------------------------------------------------------- reading


def unresolved(round_id: int) -> int:
    """Sheets entered once or entered twice without agreeing."""
    return db.session.scalar(db.select(func.count()).select_from(PaperBallot).where(
        PaperBallot.round_id == round_id, PaperBallot.status != COUNTED)) or 0


UNRESOLVED = ("paper_entry_unresolved",
              "还有纸质票未完成双人录入或两次录入不一致，全部核对一致后才能发布结果",
              "some paper ballots are entered once or their two entries differ")


def refuse_unresolved(round_id: int, **_: Any) -> None:
    """round_publishing's receiver: results are published once every paper ballot of
    the round is entered twice alike (409 paper_entry_unresolved)."""
    waiting = unresolved(round_id)
    if waiting:
        raise ApiError(*UNRESOLVED, 409, details={"unresolved": waiting})


def _reading(rnd: Round, stored: str, reason: str) -> list[tuple[str, str]]:
    if reason:
        return [("是否有效", f"无效（{INVALID_REASONS[reason]}）")]
    return [("是否有效", "有效"), *shown_fields(round_form(rnd), rnd.subjects, stored)]


def differences(rnd: Round, sheet: PaperBallot) -> list[dict[str, str]]:
    """The fields two entries of a mismatched sheet disagree on, with both readings."""
    if sheet.status != MISMATCH:
        return []
    first = _reading(rnd, sheet.first_answers, sheet.first_invalid)
    second = _reading(rnd, sheet.second_answers, sheet.second_invalid)
    if first[0] != second[0]:
        return [{"field": first[0][0], "first": first[0][1], "second": second[0][1]}]
    return [{"field": a[0], "first": a[1], "second": b[1]}
            for a, b in zip(first, second, strict=True) if a != b]


def sheet_view(rnd: Round, sheet: PaperBallot, names: dict[int, str]) -> dict[str, Any]:
    """What the console and the API show of a sheet: never an entry's answers before
    the two are compared (the second person enters blind)."""
    return {"number": sheet.number, "category_id": sheet.category_id,
            "status": sheet.status, "first_by": names.get(sheet.first_by, ""),
            "second_by": names.get(sheet.second_by, "") if sheet.second_by else None,
            "invalid": (sheet.first_invalid or None) if sheet.status == COUNTED else None,
            "differences": differences(rnd, sheet)}


def sheets(rnd: Round) -> list[PaperBallot]:
    return list(db.session.execute(db.select(PaperBallot).filter_by(round_id=rnd.id)
                                   .order_by(PaperBallot.number)).scalars())


def overview(rnd: Round) -> dict[str, Any]:
    """Per category: 应到, electronic and paper slips issued, sheets entered, counted
    (valid / invalid), waiting; and every sheet."""
    rows = sheets(rnd)
    names = _names({r.first_by for r in rows} | {r.second_by for r in rows if r.second_by})
    cats = []
    for c in rnd.categories:
        mine = [r for r in rows if r.category_id == c.id]
        counted = [r for r in mine if r.status == COUNTED]
        cats.append({"id": c.id, "name": c.name, "expected": c.expected_count,
                     "issued": c.issued_count, "paper_issued": c.paper_issued,
                     "entered": len(mine),
                     "counted_valid": sum(1 for r in counted if not r.first_invalid),
                     "counted_invalid": sum(1 for r in counted if r.first_invalid),
                     "waiting": len(mine) - len(counted)})
    return {"round_id": rnd.id, "status": rnd.status, "categories": cats,
            "unresolved": sum(c["waiting"] for c in cats),
            "sheets": [sheet_view(rnd, r, names) for r in rows]}


def view(rnd: Round, sheet: PaperBallot) -> dict[str, Any]:
    """sheet_view with the two people's names."""
    return sheet_view(rnd, sheet, _names({i for i in (sheet.first_by, sheet.second_by)
                                         if i is not None}))


def _names(ids: set[int]) -> dict[int, str]:
    """User names of the people who entered sheets."""
    if not ids:
        return {}
    return dict(db.session.execute(db.select(User.id, User.username)
                                   .where(User.id.in_(ids))).tuples().all())


def meeting_category(rounds: list[Round], name: str | None) -> str:
    """A meeting's category by name (its forms share their categories), for the printed
    ballot; '' for none, 422 unknown_category for a name none of them has."""
    if not name:
        return ""
    if not rounds or name not in {c.name for c in rounds[0].categories}:
        raise ApiError("unknown_category", "参评人员类别不存在", "Unknown voter category", 422,
                       "category")
    return name


def category_name(rnd: Round, category_id: int | None) -> str:
    """The category's name to print on a sheet ('' for none; 422 for another round's)."""
    return "" if category_id is None else _category(rnd, category_id).name
