"""What the ballot path needs to know about a round, cached once it is open.

A round's form, subjects and categories are frozen when it opens, so caching
them per process is safe (status is never cached: Redis and SQL decide it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.core.db import db
from server.core.errors import error_kind
from server.forms.codec import AppraisalCodec, answer_codec
from server.forms.sections import round_form, subject_sections
from server.roundbase.models import Round

UNKNOWN_TOKEN = error_kind("token_unknown", "投票码无效，请确认扫描的是本次会议发放的选票",
                           "Unknown voting token", 404, "token")


@dataclass(frozen=True)
class RoundInfo:
    id: int
    title: str
    kind: str
    form: dict[str, Any]
    subject_ids: list[int]
    subjects: list[dict[str, Any]]
    categories: dict[int, str]
    rehearsal: bool = False  # 演练 (rounds/rehearsal.py)
    # the form compiled for this round's subjects (None: the general checks only)
    codec: AppraisalCodec | None = field(default=None, compare=False, repr=False)
    # the longest ballot-form answer any voter of the round gets, by what else varies
    # (voting/ballots.py pads every answer to it); filled on first use
    form_sizes: dict[tuple[Any, ...], int] = field(default_factory=dict, compare=False,
                                                   repr=False)


_CACHE: dict[int, RoundInfo] = {}
_CACHE_MAX = 512


def round_info(round_id: int) -> tuple[RoundInfo, str]:
    """(info, SQL status); raises token_unknown when the round does not exist."""
    cached = _CACHE.get(round_id)
    if cached is not None:
        return cached, ""
    rnd = db.session.get(Round, round_id)
    if rnd is None:
        raise UNKNOWN_TOKEN
    subject_ids = [s.id for s in rnd.subjects]
    form = round_form(rnd)  # a form of several sections knows each subject's
    sections = (subject_sections(form, ((s.id, s.section) for s in rnd.subjects))
                if rnd.kind == "appraisal" else {})
    info = RoundInfo(
        id=rnd.id,
        title=rnd.title,
        kind=rnd.kind,
        form=form,
        subject_ids=subject_ids,
        subjects=[{"id": s.id, "name": s.name, "note": s.note,
                   "section": sections.get(str(s.id), "")} for s in rnd.subjects],
        categories={c.id: c.name for c in rnd.categories},
        rehearsal=bool(rnd.rehearsal),
        codec=answer_codec(form, subject_ids),
    )
    # A rehearsal is not cached: its purge returns it to an editable draft, and other
    # processes would keep what they had cached.
    if rnd.status != "draft" and not rnd.rehearsal:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[round_id] = info
    return info, rnd.status


def cached_round_info(round_id: int) -> RoundInfo | None:
    """The round's info if this process has it (no I/O), else None."""
    return _CACHE.get(round_id)


def forget(round_id: int) -> None:
    _CACHE.pop(round_id, None)
