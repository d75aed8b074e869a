"""The two sections of the forms tests design: a team on 好/较好/一般/差 and its members
on 优秀/称职/基本称职/不称职/不了解 (docs/forms.md)."""

from __future__ import annotations

TEAM = {"key": "team", "label": "领导班子",
        "criteria": [{"key": "overall", "label": "总体评价", "overall": True}],
        "grades": [{"key": "good", "label": "好", "points": 95},
                   {"key": "fair", "label": "较好", "points": 85},
                   {"key": "average", "label": "一般", "points": 75},
                   {"key": "poor", "label": "差", "points": 60}]}
MEMBERS = {"key": "members", "label": "班子成员",
           "criteria": [{"key": "political", "label": "政治素质"},
                        {"key": "overall", "label": "总体评价", "overall": True}],
           "grades": [{"key": "excellent", "label": "优秀", "points": 95},
                      {"key": "competent", "label": "称职", "points": 85},
                      {"key": "basic", "label": "基本称职", "points": 75},
                      {"key": "incompetent", "label": "不称职", "points": 65},
                      {"key": "unknown", "label": "不了解", "abstain": True}]}
