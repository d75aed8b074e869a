"""Marshmallow fields for result rules: exact shares ("2/3", "50%", 0.5) and rule lists.

The API reads and writes a threshold as the rules hold it (server/resultsengine/config.py):
a number, a fraction or percent string, or {"value", "compare"}; the engine checks
the rest when the round is built.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from server.resultsengine.config import threshold_of

SHARE_DOC = {"description": "an exact share: \"2/3\", \"1/3\", \"50%\", a decimal string or a "
                            "number (a float is the decimal it says); or {value, compare} with "
                            "compare at_least (达到, ≥) or above (超过, >)",
             "oneOf": [{"type": "number"}, {"type": "string"},
                       {"type": "object", "properties": {
                           "value": {"oneOf": [{"type": "number"}, {"type": "string"}]},
                           "compare": {"type": "string", "enum": ["at_least", "above"]}}}]}


class Share(ma.fields.Field):
    """A threshold as written; refused (422) when it is no fraction in [0, 1]."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {})
        kwargs["metadata"] = {**SHARE_DOC, **kwargs["metadata"]}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            exact, _ = threshold_of(value, "at_least")
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None
        if not 0 <= exact <= 1:
            raise ma.ValidationError("must lie in [0, 1]")
        return value


def rule_list(description: str) -> ma.fields.List:
    """A list of level or veto rules (server/resultsengine/config.py check_level, check_veto)."""
    return ma.fields.List(ma.fields.Dict(), metadata={"description": description})


LEVELS_DOC = ("考核等次: ordered [{level, when: [conditions], quota}] (or a table of such "
              "lists by section key); a condition is {rate|grades|score: ..., at_least|above|"
              "at_most|below: share} or {flag: label}. See docs/results.md")
VETOES_DOC = "一票否决: [{label, when: [conditions], level, rank}]"
