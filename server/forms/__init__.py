"""Form templates (config/forms) and the rules a ballot's answers must follow."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from server.forms.templates import load_forms


def init_app(app: Flask) -> None:
    from server.core.api import api
    from server.core.security import csrf
    from server.forms import api as forms_api

    app.extensions["pingyi_forms"] = load_forms(app.config["FORMS_DIR"])
    csrf.exempt(forms_api.blp)
    api.register_blueprint(forms_api.blp)


def available_forms() -> dict[str, dict[str, Any]]:
    return current_app.extensions["pingyi_forms"]
