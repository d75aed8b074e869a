"""Paper ballots (纸质票): printed per round, entered twice in the console (双人录入),
counted by the same results engine as the electronic ballots (docs/paper.md)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from server.core import signals
    from server.core.api import api
    from server.core.security import csrf
    from server.paper import api as paper_api
    from server.paper import pages
    from server.paper.operations import refuse_unresolved

    csrf.exempt(paper_api.blp)
    api.register_blueprint(paper_api.blp)
    app.register_blueprint(pages.bp)
    signals.round_publishing.connect(refuse_unresolved)
