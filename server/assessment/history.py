"""Year over year: a roster member's results in published rounds, by year.

A subject is this member only when the round links it (subjects.member_id): no
guessing by name here. Rounds are grouped into series of the same kind: the same
form (a preset, or a designed form whatever its version) and, on a form of
several sections, the same section. Each point is the member's composite
(appraisal) or total (scoring) as the round's official results show it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.core.db import db
from server.results.official import frozen_results
from server.resultsengine.engine import result_sections
from server.roundbase.models import Round, Subject

SCORED = ("appraisal", "scoring")
_VERSION = re.compile(r"-v\d+$")
_YEAR_PREFIX = re.compile(r"^\s*\d{4}\s*年(度)?\s*")
_REMARK = re.compile(r"\s*[（(][^（）()]*[）)]\s*$")  # "（已发布…）" after a title


@dataclass
class Point:
    year: int | None
    round_id: int
    title: str
    score: float | None
    rank: int | None
    of: int  # subjects ranked beside it
    level: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Series:
    key: str
    kind: str
    label: str
    points: list[Point] = field(default_factory=list)

    def by_year(self) -> dict[int, Point]:
        """The latest round's point of each year."""
        return {p.year: p for p in sorted(self.points, key=lambda p: p.round_id)
                if p.year is not None}

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "label": self.label,
                "points": [p.to_dict() for p in self.points]}


def series_key(rnd: Round, section: str) -> str:
    """The kind of result a round gives: its form (designed forms by form, not version)
    and section."""
    return f"{rnd.kind}:{_VERSION.sub('', rnd.form_key)}:{section}"


def result_parts(rnd: Round) -> list[Mapping[str, Any]]:
    """The ranked tables of a round's frozen official results: one per section of an
    appraisal form of several sections (each with its `key` and `label`), else one."""
    res = frozen_results(rnd)
    body = res.get(res["kind"]) or {}
    return result_sections(body) if res["kind"] == "appraisal" else [body]


def section_result(rnd: Round, section: str) -> Mapping[str, Any] | None:
    """The table of `section` ("" on a round of one section), or None."""
    return next((p for p in result_parts(rnd) if p.get("key", "") == section), None)


def locate(parts: Iterable[Mapping[str, Any]], sid: int
           ) -> tuple[str, Mapping[str, Any]] | None:
    """(section key, its table) of the subject's result among a round's tables, or None."""
    for part in parts:
        if any(s["id"] == sid for s in part.get("subjects", ())):
            return part.get("key", ""), part
    return None


def subject_score(res: Mapping[str, Any], sid: int) -> tuple[float | None, Mapping[str, Any]]:
    row: Mapping[str, Any] = next((s for s in res.get("subjects", ()) if s["id"] == sid), {})
    value = row.get("score", row.get("total"))
    return value, row


def _label(rnd: Round, res: Mapping[str, Any]) -> str:
    title = _REMARK.sub("", _YEAR_PREFIX.sub("", rnd.title)) or rnd.title
    return f"{title} · {res['label']}" if res.get("label") else title


def histories(committee_id: int, member_ids: Iterable[int]) -> dict[int, list[Series]]:
    """Each member's series, oldest year first; rehearsals and unpublished rounds left out."""
    ids = set(member_ids)
    out: dict[int, dict[str, Series]] = {mid: {} for mid in ids}
    if not ids:
        return {}
    rows = db.session.execute(
        db.select(Subject, Round).join(Round, Subject.round_id == Round.id)
        .where(Subject.member_id.in_(ids), Round.committee_id == committee_id,
               Round.status == "published", Round.rehearsal.is_(False),
               Round.kind.in_(SCORED))
        .order_by(Round.year, Round.id)).all()
    tables: dict[int, list[Mapping[str, Any]]] = {}
    for subject, rnd in rows:
        if rnd.id not in tables:
            tables[rnd.id] = result_parts(rnd)
        found = locate(tables[rnd.id], subject.id)
        if found is None:
            continue
        section, res = found
        score, row = subject_score(res, subject.id)
        ranked = sum(1 for s in res.get("subjects", ()) if s.get("rank") is not None)
        key = series_key(rnd, section)
        series = out[subject.member_id].setdefault(
            key, Series(key, rnd.kind, _label(rnd, res)))
        series.label = _label(rnd, res)  # the latest round names the series
        series.points.append(Point(rnd.year, rnd.id, rnd.title, score, row.get("rank"),
                                   ranked, row.get("level")))
    return {mid: list(s.values()) for mid, s in out.items()}
