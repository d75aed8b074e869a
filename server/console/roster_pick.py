"""Round subjects linked to roster members on the new/edit round page.

A subjects line may end with "#工号" (the picker writes it: "张建国 支部书记 #10001"):
that subject is the committee's member with that number, so 党员互评 / 群众测评
results can feed the member's points. Lines without it are not linked (nothing is
guessed from names).
"""

from __future__ import annotations

import re
from typing import Any

from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Branch, Member

MARK = "#"
_NUMBER = re.compile(r"(?:^|\s)[#＃](\S{1,40})\s*$")


def split_member_no(line_rest: str) -> tuple[str, str]:
    """("职务", "工号") from the rest of a subjects line: "#工号" is its last word
    ("" when there is none; a "#" inside a word, as in "3#机组", is not one)."""
    found = _NUMBER.search(line_rest)
    if found is None:
        return line_rest, ""
    return line_rest[:found.start()].strip(), found.group(1)


def link_subjects(committee_id: int, subjects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Subjects with `member_no` given their `member_id` (422 unknown_member, naming the
    line, for a number not on the committee's roster)."""
    out = []
    for i, s in enumerate(subjects):
        s = dict(s)
        number = s.pop("member_no", "")
        if number:
            member_id = db.session.execute(db.select(Member.id).filter_by(
                committee_id=committee_id, member_no=number)).scalar_one_or_none()
            if member_id is None:
                raise ApiError("unknown_member", f"花名册中没有工号为“{number[:40]}”的人员",
                               f"no member numbered {number!r}", 422, f"subjects[{i}].member_id")
            s["member_id"] = member_id
        out.append(s)
    return out


def subject_line(subject: Any, numbers: dict[int, str]) -> str:
    """A subject as the page's line: "姓名 职务", then "#工号" when linked."""
    line = f"{subject.name} {subject.note}".strip()
    number = numbers.get(subject.member_id) if subject.member_id else None
    return f"{line} {MARK}{number}" if number else line


def member_numbers(subjects: list[Any]) -> dict[int, str]:
    ids = {s.member_id for s in subjects if s.member_id}
    if not ids:
        return {}
    return dict(db.session.execute(
        db.select(Member.id, Member.member_no).where(Member.id.in_(ids))).tuples().all())


def roster(committee_id: int | None) -> list[tuple[str, list[Member]]]:
    """The committee's roster by branch, for the picker (empty for no committee)."""
    if committee_id is None:
        return []
    branches = db.session.execute(db.select(Branch).filter_by(committee_id=committee_id)
                                  .order_by(Branch.id)).scalars()
    out = []
    for b in branches:
        people = sorted(b.members, key=lambda m: (not m.is_party_member, m.member_no))
        if people:
            out.append((b.name, people))
    return out
