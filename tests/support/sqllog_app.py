"""server.asgi:app (what gunicorn serves by default) with every SQL statement and its
parameters logged to the app log, so the linkage test's log search also covers
what the app sends to the database."""

import logging

from server.asgi import app

logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)

__all__ = ["app"]
