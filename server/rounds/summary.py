"""Plain totals of a count (all categories together), for the simple results view.

Category breakdowns are deliberately absent here: they need the k-anonymity
rules of the results engine.
"""

from __future__ import annotations

from typing import Any


def summarize(form: dict[str, Any], subjects: list[dict[str, Any]],
              counts: dict[str, Any]) -> dict[str, Any]:
    total: dict[str, int] = {}
    for fields in counts["tallies"].values():
        for field, n in fields.items():
            total[field] = total.get(field, 0) + int(n)
    ballots = sum(int(n) for n in counts["turnout"].values())
    kind = form["kind"]
    rows: list[dict[str, Any]] = []
    for s in subjects:
        sid = str(s["id"])
        row: dict[str, Any] = {"id": s["id"], "name": s["name"], "note": s.get("note", "")}
        if kind == "appraisal":
            row["criteria"] = [
                {"key": c["key"], "label": c["label"],
                 "grades": [{"key": g["key"], "label": g["label"],
                             "count": total.get(f"{sid}:{c['key']}:{g['key']}", 0)}
                            for g in form["grades"]]}
                for c in form["criteria"]
            ]
        elif kind == "recommendation":
            votes = total.get(sid, 0)
            row["votes"] = votes
            row["share"] = round(votes / ballots, 4) if ballots else 0.0
        else:
            scale = 10 ** form["decimals"]
            items = []
            weighted = 0.0
            for item in form["items"]:
                mean = total.get(f"{sid}:{item['key']}", 0) / scale / ballots if ballots else 0.0
                weighted += mean * item["weight"]
                items.append({"key": item["key"], "label": item["label"],
                              "mean": round(mean, 2)})
            row["items"] = items
            row["total"] = round(weighted, 2)
        rows.append(row)
    if kind == "recommendation":
        rows.sort(key=lambda r: (-r["votes"], r["id"]))
    elif kind == "scoring":
        rows.sort(key=lambda r: (-r["total"], r["id"]))
    return {"ballots": ballots, "subjects": rows}
