"""The public receipt page /r/<round id>: a voter checks that their ballot was counted.

The page carries the whole published list and searches it in the browser, so
the server never learns which receipt anyone looked for (a lookup logged with
an address could otherwise tie that address to the ballot with that receipt).
"""

from __future__ import annotations

from flask import Blueprint, render_template

from server.core.db import db
from server.results.exports import published_receipts
from server.roundbase.models import Round

bp = Blueprint("receipts_page", __name__, template_folder="templates", static_folder="static",
               static_url_path="/r/static")


@bp.get("/r/<int:round_id>")
def receipts_page(round_id: int) -> tuple[str, int] | str:
    rnd = db.session.get(Round, round_id)
    if rnd is None:
        return render_template("results/receipts.html", rnd=None), 404
    published = rnd.status == "published"
    codes = published_receipts(rnd)["receipts"] if published else []
    return render_template("results/receipts.html", rnd=rnd, published=published,
                           receipts=codes)
