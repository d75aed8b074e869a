"""An appraisal ballot checked and stored in one pass, and counted from its code.

The general path walks a ballot four times: `answers.check_answers`, then
`storage.encode_answers`, then `answers.tally_fields`, then `pack_fields` for
the live tally (~2.5 KB of field names per 7-subject, 6-criterion ballot, sent
to Redis and parsed there). A round's form and subjects are frozen once it
opens (voting/roundinfo.py caches them), so here the checks and the stored
code are one pass, and the stored code (~60 bytes) is what the live tally
gets: its settle script counts each distinct row once per batch and names the
fields from the form's `legend` (voting/livetally.py SETTLE_MANY).

`encode` answers only a well-formed ballot; for anything else it returns None
and the caller runs the general checks, which raise the documented error.
tests/test_answer_codec.py holds both paths to the same results.
"""

from __future__ import annotations

from typing import Any

from server.forms.answers import FIELD_SEP
from server.forms.sections import is_multi
from server.forms.storage import APPRAISAL, DIGITS


class AppraisalCodec:
    """One round's appraisal form and subjects, compiled."""

    def __init__(self, form: dict[str, Any], subject_ids: list[int]) -> None:
        self._criteria = [c["key"] for c in form["criteria"]]
        grades = [g["key"] for g in form["grades"]]
        self._digit = {g: DIGITS[i] for i, g in enumerate(grades)}
        # encode_answers stores rows in the order sorted() gives their text ids
        self._heads = [(sid, sid + "=") for sid in sorted({str(s) for s in subject_ids})]
        # criterion keys, then grade keys (the code's characters name them in order)
        self.legend = (FIELD_SEP.join(self._criteria), FIELD_SEP.join(grades))

    def encode(self, raw: Any) -> str | None:
        """The stored answers (also the live tally's fields), or None: not well formed."""
        if type(raw) is not dict or len(raw) != len(self._heads):
            return None
        digit, criteria, width = self._digit, self._criteria, len(self._criteria)
        parts: list[str] = []
        try:
            for sid, head in self._heads:
                row = raw[sid]
                if type(row) is not dict or len(row) != width:
                    return None
                parts.append(head + "".join(map(digit.__getitem__, map(row.__getitem__, criteria))))
        except (KeyError, TypeError):  # a subject or criterion missing, an unknown grade
            return None
        return APPRAISAL + ",".join(parts)


def answer_codec(form: dict[str, Any], subject_ids: list[int]) -> AppraisalCodec | None:
    """The compiled codec for a form that has one (appraisal on one scale), else None
    (a form of several sections takes the general path: its rows differ by section)."""
    if (form.get("kind") != "appraisal" or is_multi(form) or not form["criteria"]
            or len(form["grades"]) > len(DIGITS)):
        return None
    return AppraisalCodec(form, subject_ids)
