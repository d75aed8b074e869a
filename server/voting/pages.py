"""The mobile voting page at /v/ (the token stays in the URL fragment)."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("vote_page", __name__, template_folder="templates", static_folder="static",
               static_url_path="/v/static")


@bp.get("/v/")
def vote_page() -> str:
    return render_template("vote/index.html")
