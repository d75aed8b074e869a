"""Slips are printed in an order unrelated to how their token rows are stored (issue #24,
item 5): the PDF's QR codes read back with zbar, slip by slip, against the rows in
the table's own order (SQLite rowid, PostgreSQL heap position); and a token row has
no id or time from which the print order could be derived."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import inspect, text

from server.core.db import db
from server.tokens.codec import token_hash
from tests.factories import make_round
from tests.test_slips import _rasterise, _scan_slips, needs_tools

N = 24


def _rank_correlation(xs: list[int]) -> float:
    """Spearman's rho between positions 0..n-1 and a permutation `xs` of them."""
    n = len(xs)
    return 1 - 6 * sum((i - x) ** 2 for i, x in enumerate(xs)) / (n * (n * n - 1))


@needs_tools
def test_print_order_is_unrelated_to_storage_order(app, client, key, tmp_path: Path):
    with app.app_context():
        rnd, _ = make_round("appraisal", open_it=False, tokens_per_category=1)
        rid, cat = rnd.id, rnd.categories[1].id
        columns = {c["name"] for c in inspect(db.engine).get_columns("tokens")}
    # nothing on a row but the hash, its round, category and rehearsal mark
    assert columns == {"token_hash", "round_id", "category_id", "rehearsal"}
    res = client.post(f"/api/v1/rounds/{rid}/tokens", headers=key,
                      json={"category_id": cat, "count": N, "format": "pdf"})
    assert res.status_code == 201, res.get_data(as_text=True)[:300]
    printed = [token_hash(urlsplit(code).fragment)
               for codes in _scan_slips(_rasterise(res.data, tmp_path), 8, tmp_path)
               for code in codes]
    assert len(printed) == len(set(printed)) == N
    with app.app_context():
        order = "ctid" if db.engine.dialect.name == "postgresql" else "rowid"
        stored = [h for (h,) in db.session.execute(text(
            f"SELECT token_hash FROM tokens WHERE category_id = :c ORDER BY {order}"),
            {"c": cat})]
    stored = [h for h in stored if h in set(printed)]
    assert sorted(stored) == sorted(printed)
    where = {h: i for i, h in enumerate(stored)}
    positions = [where[h] for h in printed]
    assert positions != list(range(N)) and positions != list(range(N))[::-1]
    # independent orders: |rho| has sd 1/sqrt(N-1) ~ 0.21; 0.75 is ~3.6 sd (p < 0.001)
    assert abs(_rank_correlation(positions)) < 0.75, positions
