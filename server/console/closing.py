"""The console's close button: below the turnout threshold it asks first.

继续等待 goes back to the round; 仍然关闭 posts again with `force`, and the round
closes (its results can then not be published; the round's page offers 重新测评).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from server.console import access
from server.console.access import STAFF
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.rounds.closing import round_shortfall, shortfall_text
from server.rounds.operations import close_round


@require_console_role(*STAFF)
def round_close(round_id: int) -> Response | tuple[str, int]:
    rnd = access.load_round(round_id)
    if not request.form.get("force") and rnd.status == "open":
        short = round_shortfall(rnd)
        if short is not None:
            return render_template("console/close_confirm.html", rnd=rnd, short=short,
                                   text=shortfall_text(short)), 409
    try:
        close_round(rnd, access.user())
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        flash("投票已结束，计票完成，结果已冻结。", "success")
    return redirect(url_for("console.round_detail", round_id=round_id), 303)
