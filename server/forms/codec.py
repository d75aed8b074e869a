"""An appraisal ballot checked, stored and counted in one pass.

The general path walks a ballot four times: `answers.check_answers`, then
`storage.encode_answers`, then `answers.tally_fields`, then `pack_fields` for
the live tally. For a 7-subject, 6-criterion appraisal that was ~60 µs of the
event loop's time per ballot. A round's form and subjects are frozen once it
opens (voting/roundinfo.py caches them), so every name those steps build can be
built once per round instead: each subject's tally field for each criterion and
grade, and the packed fields of each row code seen so far.

`encode` answers only a well-formed ballot; for anything else it returns None
and the caller runs the general checks, which raise the documented error.
tests/test_answer_codec.py holds both paths to the same results.
"""

from __future__ import annotations

from typing import Any

from server.forms.answers import FIELD_SEP, pack_fields
from server.forms.storage import APPRAISAL, DIGITS

ROW_CACHE_MAX = 20_000  # packed rows kept per round (~100 bytes each)


class AppraisalCodec:
    """One round's appraisal form and subjects, compiled."""

    def __init__(self, form: dict[str, Any], subject_ids: list[int]) -> None:
        self._criteria = [c["key"] for c in form["criteria"]]
        grades = [g["key"] for g in form["grades"]]
        self._digit = {g: DIGITS[i] for i, g in enumerate(grades)}
        # encode_answers stores rows in the order sorted() gives their text ids
        self._subjects = sorted({str(s) for s in subject_ids})
        self._cells = {
            sid: [{DIGITS[i]: pack_fields({f"{sid}:{crit}:{g}": 1})
                   for i, g in enumerate(grades)} for crit in self._criteria]
            for sid in self._subjects}
        self._rows: dict[str, str] = {}

    def encode(self, raw: Any) -> tuple[str, str] | None:
        """(stored answers, packed tally fields), or None: not a well-formed ballot."""
        if type(raw) is not dict or len(raw) != len(self._subjects):
            return None
        digit, criteria, width = self._digit, self._criteria, len(self._criteria)
        parts: list[str] = []
        packed: list[str] = []
        try:
            for sid in self._subjects:
                row = raw[sid]
                if type(row) is not dict or len(row) != width:
                    return None
                part = sid + "=" + "".join(map(digit.__getitem__, map(row.__getitem__, criteria)))
                parts.append(part)
                packed.append(self._rows.get(part) or self._packed_row(sid, part))
        except (KeyError, TypeError):  # a subject or criterion missing, an unknown grade
            return None
        return APPRAISAL + ",".join(parts), FIELD_SEP.join(packed)

    def _packed_row(self, sid: str, part: str) -> str:
        cells = self._cells[sid]
        code = part[len(sid) + 1:]
        packed = FIELD_SEP.join(map(dict.__getitem__, cells, code))
        if len(self._rows) < ROW_CACHE_MAX:
            self._rows[part] = packed
        return packed


def answer_codec(form: dict[str, Any], subject_ids: list[int]) -> AppraisalCodec | None:
    """The compiled codec for a form that has one (appraisal), else None."""
    if (form.get("kind") != "appraisal" or not form["criteria"]
            or len(form["grades"]) > len(DIGITS)):
        return None
    return AppraisalCodec(form, subject_ids)
