"""Voting: the ballot path, the live tally in Redis, the mobile page."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from server.core import signals
    from server.core.api import api
    from server.core.security import csrf
    from server.voting import api as voting_api
    from server.voting import livetally, pages
    from server.voting.groupcommit import GroupCommitter

    signals.tokens_issued.connect(livetally.add_tokens)
    app.extensions["pingyi_committer"] = GroupCommitter(app)

    csrf.exempt(voting_api.blp)
    api.register_blueprint(voting_api.blp)
    app.register_blueprint(pages.bp)
