"""What the bot posts, as plain data: a leaderboard as its viewers may see it, or a
round-closed notice. Renderers (bot/render/) turn these into messages and cards.

A board is read exactly as a member would see it on the share page
(`standings.view(..., staff=False)`): a hidden board is refused
(`board_hidden`), a frozen one shows its frozen standings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from server.core.clock import utcnow
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Branch, Committee
from server.points import standings
from server.points.amounts import fmt
from server.points.calendar import CHINA, Period
from server.points.periods import state_of
from server.points.rulebook import rules_for_committee
from server.points.rules import BOARD_SHOWS, DEFAULT_BOARD_SHOWS, UNRATED
from server.results.official import frozen_results

SUBJECT_WORDS = {"members": "人", "groups": "个党小组", "branches": "个党支部"}


def china_day(moment: dt.datetime) -> str:
    local = moment.replace(tzinfo=dt.UTC).astimezone(CHINA) if moment.tzinfo is None else \
        moment.astimezone(CHINA)
    return f"{local.year}年{local.month}月{local.day}日"


def china_minute(moment: dt.datetime) -> str:
    local = moment.replace(tzinfo=dt.UTC).astimezone(CHINA)
    return f"{china_day(moment)} {local:%H:%M}"


@dataclass(frozen=True)
class Row:
    rank: int
    name: str
    points: int  # tenths
    deductions: int = 0  # tenths, a magnitude
    stars: int | None = None
    has_level: bool = False  # a year board of members: stars / level apply
    level: str = ""
    members: int | None = None  # branches board: party members counted
    subject_id: int = 0  # member, party group or branch id
    shows: tuple[str, ...] = BOARD_SHOWS  # what of the row may be shown (rule set's board_shows)

    @property
    def show_points(self) -> bool:
        return "points" in self.shows

    @property
    def points_text(self) -> str:
        return fmt(self.points) if self.show_points else ""

    @property
    def star_text(self) -> str:
        if not self.has_level:
            return ""
        if self.stars is None:
            return "取消评星资格" if "veto" in self.shows and self.level != UNRATED else ""
        if self.stars:
            return "★" * self.stars if "stars" in self.shows else ""
        return (self.level or "未达星级") if "fail" in self.shows else ""


@dataclass
class BoardContent:
    board: str
    scope_id: int
    period: Period
    board_label: str  # 党员积分榜
    scope_name: str  # 第一党支部 (or the committee for the branches board)
    committee_name: str
    rows: list[Row]
    total: int
    showing: str  # live | frozen
    data_at: dt.datetime  # naive UTC: when these standings were taken
    final: bool  # the period's standings have been published
    share_url: str | None = None

    @property
    def title(self) -> str:
        return f"{self.scope_name}{self.board_label}"

    @property
    def edition_label(self) -> str:
        return "已公布" if self.final else "阶段排名"

    @property
    def data_date(self) -> str:
        return china_day(self.data_at)

    @property
    def count_text(self) -> str:
        return f"共{self.total}{SUBJECT_WORDS.get(self.board, '项')}"

    @property
    def points_label(self) -> str:
        return "人均积分" if self.board == "branches" else "积分"


def _rows(board: str, raw: list[dict[str, Any]], period: Period,
          shows: tuple[str, ...] = BOARD_SHOWS) -> list[Row]:
    """The rows as the board may show them: of named members only what the rule set's
    `board_shows` lists (deductions, points, stars, the fail level and vetoes are left
    out of the row itself, so no renderer can show them)."""
    out = []
    for r in raw:
        has_level = board == "members" and period.is_year and "stars" in r
        out.append(Row(rank=int(r["rank"]), name=str(r.get("name") or ""),
                       points=int(r.get("points") or 0) if "points" in shows else 0,
                       deductions=int(r.get("deductions") or 0) if "deductions" in shows else 0,
                       stars=r.get("stars"), has_level=has_level, level=str(r.get("level") or ""),
                       members=r.get("members") if board == "branches" else None,
                       subject_id=int(r.get("id") or 0), shows=shows))
    return out


def board_shows(board: str, committee_id: int, period: Period) -> tuple[str, ...]:
    """What a chat board shows of each row: for named members the rule set's
    `board_shows` (不合格 and vetoes not by default); everything on other boards."""
    if board != "members" or not committee_id:
        return BOARD_SHOWS
    try:
        return rules_for_committee(committee_id, period.year).member.board_shows
    except ApiError:  # no rules for the year: the defaults
        return DEFAULT_BOARD_SHOWS


def committee_of(board: str, scope_id: int) -> tuple[int, str, str]:
    """(committee id, committee name, scope name) of a board's scope."""
    if board == "branches":
        committee = db.session.get(Committee, scope_id)
        name = committee.name if committee else ""
        return scope_id, name, name
    branch = db.session.get(Branch, scope_id)
    if branch is None:
        return 0, "", ""
    committee = db.session.get(Committee, branch.committee_id)
    return branch.committee_id, committee.name if committee else "", branch.name


def board_content(board: str, scope_id: int, period: Period, share_url: str | None = None,
                  limit: int = 0) -> BoardContent:
    """The board as its members see it (ApiError board_hidden when hidden): its top
    `limit` rows, or all of them (0); `total` counts them all either way."""
    view = standings.view(board, scope_id, period, staff=False, limit=limit)
    committee_id, committee_name, scope_name = committee_of(board, scope_id)
    frozen_at = view.get("frozen_at")
    data_at = frozen_at if view["showing"] == "frozen" and frozen_at else utcnow()
    final = state_of(committee_id, period) in ("published", "final") if committee_id else False
    return BoardContent(board=board, scope_id=scope_id, period=period,
                        board_label=view["label"], scope_name=scope_name,
                        committee_name=committee_name,
                        rows=_rows(board, view["rows"], period,
                                   board_shows(board, committee_id, period)),
                        total=int(view["total"]), showing=view["showing"], data_at=data_at,
                        final=final, share_url=share_url)


@dataclass
class NoticeContent:
    round_id: int
    title: str
    committee_name: str
    closed_at: dt.datetime | None
    expected: int
    cast: int
    valid: int
    turnout_pct: float | None
    published: bool
    results_url: str
    public_url: str | None = None
    extra: list[str] = field(default_factory=list)

    @property
    def closed_text(self) -> str:
        return china_minute(self.closed_at) if self.closed_at else ""


def notice_content(rnd: Any, base_url: str) -> NoticeContent:
    """Turnout of a closed round and where to see its results (no figures per subject)."""
    total = frozen_results(rnd)["validity"]["total"]
    committee = db.session.get(Committee, rnd.committee_id)
    base = base_url.rstrip("/")
    published = rnd.status == "published"
    return NoticeContent(
        round_id=rnd.id, title=f"【演练】{rnd.title}" if rnd.rehearsal else rnd.title,
        committee_name=committee.name if committee else "",
        closed_at=rnd.closed_at, expected=int(total["expected"]), cast=int(total["cast"]),
        valid=int(total["valid"]), turnout_pct=total.get("turnout_pct"), published=published,
        results_url=f"{base}/console/rounds/{rnd.id}/results",
        public_url=f"{base}/r/{rnd.id}" if published else None)
