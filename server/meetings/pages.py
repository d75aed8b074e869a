"""The voter's page for a meeting slip, /v/m/#M<id>.<token>: the voting page with the
meeting's script, which moves the voter through the meeting's forms."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("meeting_page", __name__, static_folder="static",
               static_url_path="/v/m/static")


@bp.get("/v/m/")
def meeting_page() -> str:
    return render_template("vote/index.html", meeting=True)
