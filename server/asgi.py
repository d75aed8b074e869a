"""ASGI entry point for gunicorn's uvicorn worker (config/gunicorn.conf.py).

Ballots are served on the event loop (voting/asgi.py); every other request
goes to the same WSGI app server/wsgi.py serves, in a pool of PINGYI_THREADS
threads.
"""

import os

from server import create_app
from server.voting.asgi import BallotFront

app = BallotFront(create_app(), threads=int(os.environ.get("PINGYI_THREADS", "12")))
