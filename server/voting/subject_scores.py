"""Scoring as the reports end (述职评议, 逐人评分): one subject's scores at a time.

On a scoring round whose form snapshot says `per_subject` (rounds/operations.py), a
panel member's slip sends each subject's scores when that report ends; they are
final when sent. Each is a ballot of its own, `{"<subject id>": {item: score}}`,
through the same group committer as a whole ballot: what it spends is not the token
(which stays issued for the other subjects) but a marker of the token and the
subject (tokens/codec.subject_marker), so the stored markers of one slip share
nothing that pairs them, and a second send of a subject is refused by the marker's
spent-token row, the authority, like a second ballot.

A category's turnout is the most-scored subject's count (answers.turnout_of); the
organizer sees how many scored each subject (`progress`), never a score.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from server.core import ratelimit
from server.core.errors import ApiError, error_kind
from server.forms.answers import PER_SUBJECT, SCORED, check_row, pack_fields, tally_fields
from server.forms.storage import encode_answers
from server.tokens.codec import new_ballot_id, new_receipt, subject_marker
from server.voting.ballots import Accepted, commit, locate
from server.voting.groupcommit import Pending

SUBJECT_SENT = error_kind("subject_already_scored", "对该述职人的评分已经提交过，不能重复提交",
                          "This subject's scores were already sent with this token", 409,
                          "subject_id")
NOT_PER_SUBJECT = error_kind("not_per_subject", "本测评须一次提交全部评分，请使用整张选票提交",
                             "This round is not scored per subject: submit a whole ballot", 409)
UNKNOWN_SUBJECT = error_kind("unknown_subject", "该述职人不在本次测评中",
                             "subject_id is not a subject of this round", 422, "subject_id")


def submit_subject_scores(raw_token: Any, raw_subject: Any, raw_scores: Any) -> Accepted:
    """Record one subject's scores for a token; 201's receipt, or the refusal raised.
    Everything is checked before anything is written."""
    info, token_hash = locate(raw_token)
    if not info.form.get(PER_SUBJECT):
        raise NOT_PER_SUBJECT
    if isinstance(raw_subject, bool) or raw_subject not in info.subject_ids:
        raise UNKNOWN_SUBJECT
    sid = str(raw_subject)
    try:
        row = check_row(info.form, raw_scores, sid)
    except ApiError as exc:  # its field named as this request's body names it
        raise ApiError(exc.code, exc.message, exc.message_en, exc.status,
                       "scores" + (exc.field or "").removeprefix(f"answers.{sid}")) from None
    answers = {sid: row}
    item = Pending(
        round_id=info.id, token_hash=token_hash, guess=ratelimit.round_guess_args(info.id),
        ballot_id=new_ballot_id(), receipt=new_receipt(),
        answers=encode_answers(info.form, answers),
        tally=pack_fields(tally_fields(info.form, answers)),
        future=Future(),
        marker=subject_marker(raw_token, raw_subject), counter=f"{sid}:{SCORED}",
    )
    try:
        return commit(info, item)
    except ApiError as exc:
        if exc.code == "token_spent":  # here: this subject's marker is spent
            raise SUBJECT_SENT from None
        raise


def progress(subjects: list[dict[str, Any]], tallies: Mapping[Any, Mapping[str, int]]
             ) -> list[dict[str, Any]]:
    """How many panel members scored each subject, from the round's tallies (live or
    frozen at close): counts only, never a score."""
    out = []
    for s in subjects:
        field = f"{s['id']}:{SCORED}"
        out.append({"id": s["id"], "name": s["name"], "note": s.get("note", ""),
                    "scored": sum(int(t.get(field, 0)) for t in tallies.values())})
    return out
