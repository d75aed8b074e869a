"""Rule sets (积分规则) from config/points/*.toml: loading, checking, caps and stars.

Pure: no database, no Flask. A rule set has two schemes, `member` (党员评星定级)
and `group` (党小组动态考评); each has categories of items. See
config/points/default-2026.toml for the format and the meaning of each field.
All amounts are ints of tenths (see `amounts`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.points.amounts import AmountError, fmt, to_tenths

KINDS = ("award", "bonus", "deduction", "veto")
SUBJECTS = ("member", "group")
CAP_PERIODS = ("year", "quarter")
_TOP_KEYS = {"key", "year", "name", "committees", "objection_days", "allow_self_approval",
             "member", "group"}
_SCHEME_KEYS = {"label", "cap_per", "fail_label", "stars", "categories", "board_shows"}
# What a group-chat board (and its share page) shows of named members beside rank and name:
# stars (星级), points (积分), deductions (扣分), fail (the fail_label, 不合格),
# veto (取消评星资格). Not listed: not shown.
BOARD_SHOWS = ("stars", "points", "deductions", "fail", "veto")
DEFAULT_BOARD_SHOWS = ("stars", "points", "deductions")
UNRATED = "未评定"
_CATEGORY_KEYS = {"key", "label", "description", "kind", "cap", "cap_per", "items"}
_ITEM_KEYS = {"key", "label", "description", "points", "max_entry", "cap", "cap_per",
              "from_round"}


class RuleSetError(ValueError):
    """A rule set that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    category: str
    kind: str
    points: int | None  # standard points of one occurrence (tenths)
    max_entry: int | None  # most one entry may carry (tenths); None for vetoes
    cap: int | None  # most the item may add up to within cap_per (tenths)
    cap_per: str
    from_round: bool = False
    description: str = ""

    @property
    def is_veto(self) -> bool:
        return self.kind == "veto"

    @property
    def is_deduction(self) -> bool:
        return self.kind == "deduction"

    def signed(self, magnitude: int) -> int:
        """An entered magnitude as the ledger stores it (deductions are negative)."""
        return -magnitude if self.is_deduction else magnitude


@dataclass(frozen=True)
class Category:
    key: str
    label: str
    kind: str
    cap: int | None
    cap_per: str
    items: tuple[Item, ...]
    description: str = ""


@dataclass(frozen=True)
class Star:
    min: int  # tenths
    stars: int
    label: str


@dataclass(frozen=True)
class StarLevel:
    stars: int | None  # None: vetoed (no star rating at all); 0: below the lowest threshold
    label: str
    vetoed: bool = False

    @property
    def badge(self) -> str:
        return "★" * (self.stars or 0)


@dataclass(frozen=True)
class Scheme:
    subject: str  # member | group
    label: str
    cap_per: str
    categories: tuple[Category, ...]
    stars: tuple[Star, ...] = ()
    fail_label: str = "不合格"
    board_shows: tuple[str, ...] = DEFAULT_BOARD_SHOWS
    _items: dict[str, Item] = field(default_factory=dict, compare=False, repr=False)

    @property
    def items(self) -> dict[str, Item]:
        if not self._items:
            self._items.update({i.key: i for c in self.categories for i in c.items})
        return self._items

    def category(self, key: str) -> Category:
        return next(c for c in self.categories if c.key == key)

    def find_item(self, text: str) -> Item | None:
        """An item by key or by label (as a spreadsheet names it)."""
        text = (text or "").strip()
        if text in self.items:
            return self.items[text]
        squeezed = _squeeze(text)
        return next((i for i in self.items.values() if _squeeze(i.label) == squeezed), None)

    def star_level(self, total: int, vetoed: bool = False, unrated: bool = False) -> StarLevel:
        """The star level a year's points give; a veto cancels it whatever the points.
        `unrated`: the member has no entries for the year (未评定, not the fail level)."""
        if vetoed:
            return StarLevel(None, "取消评星资格", vetoed=True)
        if unrated:
            return StarLevel(None, UNRATED)
        reached = [s for s in self.stars if total >= s.min]
        if not reached:
            return StarLevel(0, self.fail_label)
        best = max(reached, key=lambda s: s.min)
        return StarLevel(best.stars, best.label)


@dataclass(frozen=True)
class RuleSet:
    key: str
    year: int
    name: str
    committees: tuple[str, ...]
    objection_days: int
    member: Scheme
    group: Scheme
    source: str = ""
    allow_self_approval: bool = False  # 支委会审定 by the one who entered (one-person branches)

    @property
    def ref(self) -> str:
        """How entries name the rule set they were made under, e.g. "default-2026"."""
        return f"{self.key}-{self.year}"

    def scheme(self, subject: str) -> Scheme:
        return self.member if subject == "member" else self.group


def _squeeze(text: str) -> str:
    return "".join(text.replace("“", "").replace("”", "").replace('"', "").split())


# --------------------------------------------------------------------------- caps


def cap_problem(item: Item, category: Category, item_total: int, category_total: int,
                amount: int, used_label: str = "已审定") -> str | None:
    """Why adding `amount` (signed tenths) would break a cap, or None.

    `item_total` and `category_total` are what is already approved within the
    cap's period. Deduction caps bound the amount deducted (a magnitude).
    """
    for cap, total, per, what in ((item.cap, item_total, item.cap_per, f"“{item.label}”"),
                                  (category.cap, category_total, category.cap_per,
                                   f"“{category.label}”")):
        if cap is None:
            continue
        used, adding = (-total, -amount) if item.is_deduction else (total, amount)
        if adding > 0 and used + adding > cap:
            span = "全年累计" if per == "year" else "每季度累计"
            verb = "扣分" if item.is_deduction else ""
            return (f"{what}{span}{verb}不超过{fmt(cap)}分：{used_label}{fmt(used)}分，"
                    f"本条{fmt(adding)}分，超出{fmt(used + adding - cap)}分")
    return None


def entry_problem(item: Item, magnitude: int) -> str | None:
    """Why one entry of `magnitude` tenths (as typed, > 0) is not allowed, or None."""
    if item.is_veto:
        return None
    if magnitude <= 0:
        return "分值必须大于0" + ("（扣分项填写扣除的分数）" if item.is_deduction else "")
    if item.max_entry is not None and magnitude > item.max_entry:
        return f"“{item.label}”每条不超过{fmt(item.max_entry)}分"
    if item.cap is not None and magnitude > item.cap:
        return f"“{item.label}”累计不超过{fmt(item.cap)}分"
    return None


# --------------------------------------------------------------------------- loading


def _fail(where: str, what: str) -> RuleSetError:
    return RuleSetError(f"{where}: {what}")


def _text(data: Mapping[str, Any], name: str, where: str, required: bool = True) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise _fail(where, f"'{name}' must be a non-empty string")
    return value.strip()


def _amount(data: Mapping[str, Any], name: str, where: str) -> int | None:
    if name not in data:
        return None
    try:
        value = to_tenths(data[name])
    except AmountError as exc:
        raise _fail(where, f"'{name}': {exc}") from None
    if value <= 0:
        raise _fail(where, f"'{name}' must be > 0")
    return value


def _unknown(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = set(data) - allowed
    if extra:
        raise _fail(where, f"unknown keys {sorted(extra)}")


def _item(data: Any, cat: Mapping[str, Any], where: str) -> Item:
    if not isinstance(data, Mapping):
        raise _fail(where, "an item must be a table")
    _unknown(data, _ITEM_KEYS, where)
    kind = cat["kind"]
    points, cap = _amount(data, "points", where), _amount(data, "cap", where)
    max_entry = _amount(data, "max_entry", where)
    if kind == "veto":
        if points or cap or max_entry:
            raise _fail(where, "a veto item has no points, max_entry or cap")
    else:
        # One entry may carry several occurrences (a quarter's meetings), up to the cap.
        max_entry = max_entry or cap or points or cat.get("cap_tenths")
        if max_entry is None:
            raise _fail(where, "needs 'points', 'max_entry' or 'cap' (or a category cap)")
        if points is not None and points > max_entry:
            raise _fail(where, "'points' is more than 'max_entry'")
        if cap is not None and max_entry > cap:
            raise _fail(where, "'max_entry' is more than 'cap'")
    cap_per = data.get("cap_per", cat["cap_per"])
    if cap_per not in CAP_PERIODS:
        raise _fail(where, f"'cap_per' must be one of {CAP_PERIODS}")
    from_round = data.get("from_round", False)
    if not isinstance(from_round, bool) or (from_round and kind not in ("award", "bonus")):
        raise _fail(where, "'from_round' is true or false, and only for award/bonus items")
    return Item(key=_text(data, "key", where), label=_text(data, "label", where),
                category=cat["key"], kind=kind, points=points, max_entry=max_entry, cap=cap,
                cap_per=cap_per, from_round=from_round,
                description=_text(data, "description", where, required=False))


def _category(data: Any, scheme_cap_per: str, where: str) -> Category:
    if not isinstance(data, Mapping):
        raise _fail(where, "a category must be a table")
    _unknown(data, _CATEGORY_KEYS, where)
    kind = data.get("kind")
    if kind not in KINDS:
        raise _fail(where, f"'kind' must be one of {KINDS}")
    cap = _amount(data, "cap", where)
    if kind == "veto" and cap:
        raise _fail(where, "a veto category has no cap")
    cap_per = data.get("cap_per", scheme_cap_per)
    if cap_per not in CAP_PERIODS:
        raise _fail(where, f"'cap_per' must be one of {CAP_PERIODS}")
    key = _text(data, "key", where)
    info = {"key": key, "kind": kind, "cap_per": cap_per, "cap_tenths": cap}
    raw_items = data.get("items") or []
    if not isinstance(raw_items, list) or not raw_items:
        raise _fail(where, "needs at least one item")
    items = tuple(_item(d, info, f"{where}.items[{i}]") for i, d in enumerate(raw_items))
    return Category(key=key, label=_text(data, "label", where), kind=kind, cap=cap,
                    cap_per=cap_per, items=items,
                    description=_text(data, "description", where, required=False))


def _stars(raw: Any, where: str) -> tuple[Star, ...]:
    if not isinstance(raw, list):
        raise _fail(where, "'stars' must be a list of tables")
    stars = []
    for i, s in enumerate(raw):
        at = f"{where}.stars[{i}]"
        if not isinstance(s, Mapping) or set(s) - {"min", "stars", "label"}:
            raise _fail(at, "a star threshold has exactly min, stars and label")
        n = s.get("stars")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10:
            raise _fail(at, "'stars' must be an integer 1-10")
        low = _amount(s, "min", at)
        if low is None:
            raise _fail(at, "needs 'min'")
        stars.append(Star(low, n, _text(s, "label", at)))
    for a, b in zip(stars, stars[1:], strict=False):
        if not (b.min > a.min and b.stars > a.stars):
            raise _fail(where, "star thresholds must rise: higher 'min', more 'stars'")
    return tuple(stars)


def _scheme(data: Any, subject: str, where: str) -> Scheme:
    if not isinstance(data, Mapping):
        raise _fail(where, f"needs a [{subject}] table")
    _unknown(data, _SCHEME_KEYS, where)
    cap_per = data.get("cap_per", "year")
    if cap_per not in CAP_PERIODS:
        raise _fail(where, f"'cap_per' must be one of {CAP_PERIODS}")
    raw = data.get("categories") or []
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "needs at least one category")
    cats = tuple(_category(c, cap_per, f"{where}.categories[{i}]") for i, c in enumerate(raw))
    _unique((c.key for c in cats), where, "category keys")
    _unique((i.key for c in cats for i in c.items), where, "item keys")
    _unique((i.label for c in cats for i in c.items), where, "item labels")
    stars = _stars(data.get("stars", []), where)
    if subject == "group" and stars:
        raise _fail(where, "party groups have no star levels")
    shows = data.get("board_shows", list(DEFAULT_BOARD_SHOWS))
    if (not isinstance(shows, list) or not all(isinstance(x, str) for x in shows)
            or set(shows) - set(BOARD_SHOWS)):
        raise _fail(where, f"'board_shows' must be a list of {BOARD_SHOWS}")
    return Scheme(subject=subject, label=_text(data, "label", where), cap_per=cap_per,
                  categories=cats, stars=stars,
                  fail_label=_text(data, "fail_label", where, required=False) or "不合格",
                  board_shows=tuple(shows))


def _unique(values: Iterable[str], where: str, what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise _fail(where, f"duplicate {what}: {v!r}")
        seen.add(v)


def parse_rule_set(data: Mapping[str, Any], where: str = "rules") -> RuleSet:
    """Check a rule set given as plain data (parsed TOML)."""
    _unknown(data, _TOP_KEYS, where)
    year = data.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        raise _fail(where, "'year' must be a year such as 2026")
    committees = data.get("committees", [])
    if not isinstance(committees, list) or not all(isinstance(c, str) for c in committees):
        raise _fail(where, "'committees' must be a list of committee names")
    self_approval = data.get("allow_self_approval", False)
    if not isinstance(self_approval, bool):
        raise _fail(where, "'allow_self_approval' must be true or false")
    days = data.get("objection_days", 7)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 60:
        raise _fail(where, "'objection_days' must be an integer 0-60")
    return RuleSet(key=_text(data, "key", where), year=year, name=_text(data, "name", where),
                   committees=tuple(c.strip() for c in committees), objection_days=days,
                   member=_scheme(data.get("member"), "member", f"{where}.member"),
                   group=_scheme(data.get("group"), "group", f"{where}.group"),
                   source=where, allow_self_approval=self_approval)


def load_rule_set(path: Path) -> RuleSet:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleSetError(f"{path.name}: {exc}") from None
    rules = parse_rule_set(data, path.name)
    if path.stem != rules.ref:
        raise RuleSetError(f"{path.name}: file name must be {rules.ref}.toml (key-year)")
    return rules


def load_folder(folder: Path) -> list[RuleSet]:
    """Every rule set in `folder`, checked; RuleSetError names the first bad file."""
    sets = [load_rule_set(p) for p in sorted(Path(folder).glob("*.toml"))]
    claimed: dict[tuple[str, int], str] = {}
    for rs in sets:
        for name in rs.committees or ("",):
            if (name, rs.year) in claimed:
                who = name or "the default"
                raise RuleSetError(f"{rs.source}: {who} already has {rs.year} rules in "
                                   f"{claimed[(name, rs.year)]}")
            claimed[(name, rs.year)] = rs.source
    return sets


def pick(sets: Iterable[RuleSet], committee_name: str, year: int) -> RuleSet | None:
    """The committee's own rules for the year, else the default (no committees listed)."""
    sets = [s for s in sets if s.year == year]
    own = next((s for s in sets if committee_name.strip() in s.committees), None)
    return own or next((s for s in sets if not s.committees), None)
