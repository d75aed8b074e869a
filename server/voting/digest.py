"""A round's ballots read from SQL once and counted, for the recount and the results.

The close needs two things from the record: the recount (every ballot's tally
fields, `answers.tally_fields`, what the live tally added up) and the official
results (every ballot checked against the form again, `answers.check_answers`, a
ballot that does not fit counted as invalid, the rest counted into the engine's
cells). Ballot by ballot that is 100,000 JSON documents parsed and checked twice.
Instead the ballots are counted first, and each distinct piece is parsed once:

* Identical ballots of a category are taken together.
* On appraisal and scoring forms a ballot holds one row per subject, and a row
  recurs far more often than a whole ballot. A ballot stored in the canonical
  shape of its round, `{"<id>":{...},"<id>":{...}}` with exactly the round's
  subject ids in sorted order and rows without nested braces, is cut into its
  rows by one regular expression anchored on those ids. Each distinct row is
  parsed, checked (`answers.check_row`, the check `check_answers` makes of every
  row) and tallied once, then weighed by how many ballots hold it. Such a ballot
  parses to exactly {id: row, ...}; its tally fields are the union of its rows'
  (distinct subject ids give distinct field names), and it checks out exactly
  when each of its rows does (it names every subject once: the expression saw to
  that).
* An appraisal ballot stored compact (forms/storage.py: `A:<id>=<code>,...`, the
  same subjects in the same order) is cut at its commas; each distinct code is
  read back into its row (`storage.decode_row`) and then treated as above.
* On a form of several sections (bound to the round's subjects, forms/sections.py)
  a row is known by its subject's section and its text: the same code names other
  grades on another section's scale.
* On a round scored per subject (answers.PER_SUBJECT) a ballot holds one subject's
  row, `{"<id>":{...}}`; it is cut the same way, into that subject's row, and a
  category's turnout is the most-scored subject's count (answers.turnout_of).
* Every other ballot (a recommendation, another shape, or one holding a row that
  does not parse, check or tally) is parsed, tallied and checked whole, as it
  always was, so whatever it did before (count as invalid, or stop the recount)
  it still does.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import text

from server.core.db import db
from server.core.errors import ApiError
from server.forms.answers import PER_SUBJECT, check_answers, check_row, tally_fields, turnout_of
from server.forms.sections import SUBJECT_SECTIONS, section_view, subject_section_key
from server.forms.storage import APPRAISAL, decode_answers, decode_row
from server.resultsengine.engine import Cell, Cells, CountedBallots

ROW_FORMS = ("appraisal", "scoring")


@dataclass(frozen=True)
class _Row:
    """One distinct row text: as parsed (what the recount tallies) and its cells (what
    the results count, from the checked, canonical row)."""

    answers: dict[str, Any]
    cells: list[tuple[str, Any]]
    # answers.tally_fields of this row under any subject id, without the "<id>:" prefix
    fields: list[tuple[str, int]]


@dataclass
class Digest:
    """A round's ballots, counted: split into rows where they can be, whole otherwise."""

    form: dict[str, Any]
    subject_ids: list[int]
    # (category id, stored answers) -> ballots, for the ballots handled whole
    whole: Counter[tuple[int, str]] = field(default_factory=Counter)
    # category id -> ballots split into rows
    split: Counter[int] = field(default_factory=Counter)
    # category id -> subject id (str) -> row text -> ballots holding that row
    rows: dict[int, dict[str, Counter[str]]] = field(default_factory=dict)
    parsed: dict[str, _Row] = field(default_factory=dict)
    _counted: tuple[dict[int, CountedBallots], dict[int, int]] | None = None

    def categories(self) -> list[int]:
        return sorted(set(self.split) | {cid for cid, _ in self.whole})

    def recount(self) -> dict[str, Any]:
        """{"turnout": {cat: n}, "tallies": {cat: {field: n}}}: what tallying every
        ballot's answers.tally_fields one by one gives (nonzero fields only).

        Categories and fields come in sorted order: the close freezes this in the
        round's record, and an order of first appearance would follow the ballots'
        arrival (the first keys would spell out the first ballot)."""
        turnout: dict[int, int] = {}
        tallies: dict[int, dict[str, int]] = {}
        for cid in self.categories():
            turnout[cid] = self.split[cid]
            bucket: Counter[str] = Counter()
            for sid, texts in self.rows.get(cid, {}).items():
                # a row's fields differ between subjects only in their "<id>:" prefix
                per_row: dict[str, int] = {}
                for row_text, n in texts.items():
                    for suffix, value in self.parsed[row_text].fields:
                        per_row[suffix] = per_row.get(suffix, 0) + value * n
                for suffix, total in per_row.items():
                    bucket[f"{sid}:{suffix}"] += total
            tallies[cid] = bucket
        for (cid, stored), n in self.whole.items():
            turnout[cid] += n
            _add(tallies[cid], tally_fields(self.form, decode_answers(self.form, stored)), n)
        return {"turnout": {c: turnout_of(self.form, n, tallies[c]) for c, n in turnout.items()},
                "tallies": {c: {f: n for f, n in sorted(t.items()) if n}
                            for c, t in tallies.items()}}

    def counted(self) -> tuple[dict[int, CountedBallots], dict[int, int]]:
        """The valid ballots counted for the results engine, and the invalid ballots
        (those check_answers refuses) per category (computed once)."""
        if self._counted is None:
            self._counted = self._count()
        return self._counted

    def _count(self) -> tuple[dict[int, CountedBallots], dict[int, int]]:
        reader = Cells(self.form, self.subject_ids)
        sizes: Counter[int] = Counter(self.split)
        if self.form.get(PER_SUBJECT):  # a ballot is one subject's: count the panel
            sizes = Counter({cid: max((sum(t.values()) for t in by_subject.values()), default=0)
                             for cid, by_subject in self.rows.items()})
        cells: dict[int, Counter[Cell]] = {cid: Counter() for cid in self.categories()}
        invalid: Counter[int] = Counter()
        for cid, by_subject in self.rows.items():
            bucket = cells[cid]
            for sid, texts in by_subject.items():
                per_row: dict[tuple[str, Any], int] = {}
                for row_text, n in texts.items():
                    for cell in self.parsed[row_text].cells:
                        per_row[cell] = per_row.get(cell, 0) + n
                for (key, value), total in per_row.items():
                    bucket[(sid, key, value)] += total
        for (cid, stored), n in self.whole.items():
            try:
                raw = decode_answers(self.form, stored)
                answers = check_answers(self.form, _answered_ids(self.form, self.subject_ids, raw),
                                        raw)
            except (ApiError, ValueError):
                invalid[cid] += n
                continue
            sizes[cid] += n
            for item in reader.ballot(answers):
                cells[cid][item] += n
        counted = {cid: CountedBallots(sizes[cid], c) for cid, c in cells.items()}
        return counted, dict(invalid)


def _answered_ids(form: dict[str, Any], subject_ids: list[int], raw: Any) -> list[int]:
    """The subjects a ballot must answer: all of the round's, or on a round scored per
    subject the one it names (when it names one of the round's)."""
    if form.get(PER_SUBJECT) and isinstance(raw, dict) and len(raw) == 1:
        sid = next(iter(raw))
        return [int(sid)] if sid in {str(s) for s in subject_ids} else subject_ids
    return subject_ids


def _add(bucket: dict[str, int] | Counter[str], fields: dict[str, int], times: int) -> None:
    for key, value in fields.items():
        bucket[key] = bucket.get(key, 0) + value * times


def row_pattern(subject_ids: Sequence[int]) -> re.Pattern[str]:
    """A ballot in canonical shape: every subject once, ids sorted as text (json.dumps
    sort_keys), compact, each row an object without nested braces; one group per row."""
    ids = sorted(str(int(s)) for s in subject_ids)
    rows = ",".join(f'"{re.escape(sid)}":(\\{{[^{{}}]*\\}})' for sid in ids)
    return re.compile(r"\{" + rows + r"\}")


def _parse_row(form: dict[str, Any], reader: Cells, row_text: str) -> _Row | None:
    """The row, or None when it does not parse, check or tally: its ballots are then
    handled whole, by the same code as always."""
    try:
        answers = json.loads(row_text) if row_text.startswith("{") else decode_row(form, row_text)
        fields = [(name.partition(":")[2], value)
                  for name, value in tally_fields(form, {"0": answers}).items()]
        return _Row(answers, reader.row(check_row(form, answers)), fields)
    except Exception:  # noqa: BLE001 - any surprise: leave the ballot to the whole path
        return None


def _row_parser(form: dict[str, Any], subject_ids: Sequence[int]) -> Callable[[str], _Row | None]:
    """_parse_row for this form. On a form bound to its subjects' sections (forms/
    sections.py) the same text means another row in another section, so there a row's
    text is qualified, `<section key>:<text>`, and parsed by that section's view."""
    if not form.get(SUBJECT_SECTIONS):
        reader = Cells(form, subject_ids)
        return lambda text_: _parse_row(form, reader, text_)
    views: dict[str, tuple[dict[str, Any], Cells]] = {}

    def parse(qualified: str) -> _Row | None:
        section, _, text_ = qualified.partition(":")
        if section not in views:
            view = section_view(form, section)
            views[section] = (view, Cells(view, subject_ids))
        return _parse_row(*views[section], text_)

    return parse


def digest(form: dict[str, Any], subject_ids: Sequence[int],
           ballots: Iterable[tuple[int, str]]) -> Digest:
    """Count (category id, stored answers) pairs: pure, see the module docstring."""
    counts = Counter(ballots)
    out = Digest(form, list(subject_ids))
    if form["kind"] not in ROW_FORMS or not subject_ids:
        out.whole = counts
        return out
    if form.get(PER_SUBJECT):
        return _digest_per_subject(out, counts)
    pattern = row_pattern(subject_ids)
    sids = sorted(str(int(s)) for s in subject_ids)
    # forms/storage.py: one code per subject, "A:<sid>=<code>,..." in this order
    codes = re.compile(re.escape(APPRAISAL)
                       + ",".join(re.escape(sid) + "=([^,]*)" for sid in sids))
    # a bound form's rows, qualified by their subjects' sections (see _row_parser)
    sections = ([subject_section_key(form, sid) + ":" for sid in sids]
                if form.get(SUBJECT_SECTIONS) else None)
    matched: dict[tuple[int, str], tuple[str, ...]] = {}
    for key in counts:
        text_ = key[1]
        if m := (codes if text_.startswith(APPRAISAL) else pattern).fullmatch(text_):
            matched[key] = (m.groups() if sections is None
                            else tuple(map(str.__add__, sections, m.groups())))

    def split(bad: set[str]) -> None:
        """Matched ballots without a bad row into out.rows, the others whole."""
        out.whole, out.split = Counter(), Counter()
        columns: dict[int, list[tuple[str, ...]]] = {}
        for key, n in counts.items():
            groups = matched.get(key)
            if groups is None or (bad and not bad.isdisjoint(groups)):
                out.whole[key] += n
                continue
            out.split[key[0]] += n
            columns.setdefault(key[0], []).extend([groups] * n)
        out.rows = {cid: {sid: Counter(map(itemgetter(i), groups_list))
                          for i, sid in enumerate(sids)}
                    for cid, groups_list in columns.items()}

    split(set())  # every matched ballot: its rows are all the distinct rows there are
    parse = _row_parser(form, subject_ids)
    distinct = set().union(*(texts.keys() for by_subject in out.rows.values()
                             for texts in by_subject.values()))
    parsed = {t: parse(t) for t in distinct}
    bad = {t for t, row in parsed.items() if row is None}
    if bad:  # rare: the ballots holding such a row are handled whole instead
        split(bad)
    out.parsed = {t: row for t, row in parsed.items() if row is not None}
    return out


ONE_ROW = re.compile(r'\{"([0-9]+)":(\{[^{}]*\})\}')


def _digest_per_subject(out: Digest, counts: Counter[tuple[int, str]]) -> Digest:
    """A round scored per subject: each ballot, one subject's row, into that row."""
    sids = {str(int(s)) for s in out.subject_ids}
    parse = _row_parser(out.form, out.subject_ids)
    for key, n in counts.items():
        m = ONE_ROW.fullmatch(key[1])
        if m and m.group(1) in sids:
            row = out.parsed.get(m.group(2)) or parse(m.group(2))
            if row is not None:
                out.parsed[m.group(2)] = row
                texts = out.rows.setdefault(key[0], {}).setdefault(m.group(1), Counter())
                texts[m.group(2)] += n
                out.split[key[0]] += n
                continue
        out.whole[key] += n
    return out


def read_ballots(round_id: int) -> list[tuple[int, str]]:
    """(category id, stored answers) of every ballot of the round, from SQL, the record."""
    rows = db.session.execute(
        text("SELECT category_id, answers FROM ballots WHERE round_id = :r"), {"r": round_id})
    return [(cid, answers) for cid, answers in rows]


def read_digest(round_id: int, form: dict[str, Any], subject_ids: Sequence[int]) -> Digest:
    """The round's ballots from SQL, counted."""
    return digest(form, subject_ids, read_ballots(round_id))
