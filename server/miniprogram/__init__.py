"""The mini-program backend: staff WeChat sign-in, mini-program slips, session QR,
content checks for members' comments, and the API the front-end team needs.

See docs/miniprogram.md for the flows and what each mode reveals.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from server.core import auth, signals
    from server.core.api import api
    from server.core.security import csrf
    from server.miniprogram import api as mp_api
    from server.miniprogram import console, content, session_qr, slips, staff, web_claim
    from server.voting import comments

    auth.add_bearer_resolver(staff.resolve_bearer)
    signals.comment_checking.connect(content.require_pass)
    # Inside close's transaction, after the ballots were shuffled.
    for receiver in (comments.shuffle, slips.forget_unclaimed, session_qr.forget_pool):
        signals.round_closing.connect(receiver)
    for blp in (mp_api.auth_blp, mp_api.blp):
        csrf.exempt(blp)
        api.register_blueprint(blp)
    app.register_blueprint(console.bp)
    app.register_blueprint(web_claim.bp)
