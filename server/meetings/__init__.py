"""Meetings (测评会): several forms on one slip (models.py says how)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this feature with the app."""
