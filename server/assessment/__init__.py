"""Combined assessments (综合考核): rounds and imported scores combined with weights, per
roster member, with their own 考核等次; and a member's results year over year."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from server.assessment import api as assessment_api
    from server.assessment import pages
    from server.core.api import api
    from server.core.security import csrf

    csrf.exempt(assessment_api.blp)
    api.register_blueprint(assessment_api.blp)
    app.register_blueprint(pages.bp)
