"""The settings tables in README.md and docs/, generated from server/core/settings.py.

A table sits between two marker comments naming its kind:

    <!-- settings table: core (generated from server/core/settings.py: pingyi settings docs) -->
    | variable | default | meaning |
    ...
    <!-- end of settings table -->

`pingyi settings docs` rewrites every such table; tests/test_settings.py checks
that the docs hold what this module generates.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from server.core.settings import GROUPS

ROOT = Path(__file__).resolve().parents[2]
# Which tables each document holds.
DOCS: dict[str, tuple[str, ...]] = {
    "README.md": ("core",),
    "docs/deploy.md": ("web", "production"),
    "docs/miniprogram.md": ("wechat",),
    "docs/bot.md": ("bot",),
}
# kind: (group of settings, the third column's title, with a production column)
KINDS: dict[str, tuple[str, str, bool]] = {
    "core": ("core", "meaning", False),
    "production": ("core", "why", True),
    "web": ("web", "note", False),
    "wechat": ("wechat", "meaning", False),
    "bot": ("bot", "meaning", False),
}
END = "<!-- end of settings table -->"
TABLE = re.compile(r"(<!-- settings table: (?P<kind>[a-z]+) [^\n]*-->\n)(?P<body>.*?)("
                   + re.escape(END) + ")", re.DOTALL)


def marker(kind: str) -> str:
    return (f"<!-- settings table: {kind} (generated from server/core/settings.py: "
            "pingyi settings docs) -->")


def _extra(field: FieldInfo, key: str) -> Any:
    extra = field.json_schema_extra
    return extra.get(key) if isinstance(extra, dict) else None


def _shown(field: FieldInfo) -> str:
    """The default as the docs show it."""
    if _extra(field, "shown"):
        return str(_extra(field, "shown"))
    value = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]  # takes no argument
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`" if value != "" else "empty"


def table(kind: str) -> str:
    """The markdown table of one kind, ending in a newline."""
    group, about, production = KINDS[kind]
    head = ["variable", "default", *(["production value"] if production else []), about]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, field in GROUPS[group].model_fields.items():
        cells = [f"`{name}`", _shown(field)]
        if production:
            cells.append(_extra(field, "production") or "the default")
        cells.append(field.description or "")
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def regenerate(text: str) -> str:
    """`text` with every settings table generated anew."""
    return TABLE.sub(lambda m: marker(m["kind"]) + "\n" + table(m["kind"]) + END, text)


def stale(root: Path = ROOT) -> list[str]:
    """The documents whose tables differ from the settings, or lack one they should hold."""
    found = []
    for name, kinds in DOCS.items():
        text = (root / name).read_text(encoding="utf-8")
        held = [m["kind"] for m in TABLE.finditer(text)]
        if sorted(held) != sorted(kinds) or regenerate(text) != text:
            found.append(name)
    return found


def write(root: Path = ROOT) -> list[str]:
    """Rewrite the tables in every document; the names of those that changed."""
    changed = []
    for name in DOCS:
        path = root / name
        text = path.read_text(encoding="utf-8")
        new = regenerate(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(name)
    return changed
