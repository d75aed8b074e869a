"""WSGI entry point for gunicorn."""

from server import create_app

app = create_app()
