"""The ASGI app every deployment serves: gunicorn's uvicorn workers
(config/gunicorn.conf.py), `make run`, and the tests' live servers.

Ballots are answered on the event loop (voting/asgi.py); every other request
goes to the Flask app in a pool of PINGYI_THREADS threads.
"""

from server.app import create_app
from server.core.settings import read_settings
from server.voting.asgi import BallotFront

app = BallotFront(create_app(), threads=read_settings().PINGYI_THREADS)
