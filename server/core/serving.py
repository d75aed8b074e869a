"""How uvicorn serves the ASGI app (server/asgi.py), the same everywhere: gunicorn's
workers (config/gunicorn.conf.py, also under `make run`) and the tests' live servers.

HTTP parsed in C (httptools) on uvloop. Proxy headers are uvicorn's own: from a
peer in FORWARDED_ALLOW_IPS (gunicorn's setting, default loopback) X-Forwarded-For
gives the client's address and X-Forwarded-Proto its scheme; from anyone else both
are ignored. The app has no startup or shutdown hooks, so lifespan events are off.
"""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker

UVICORN: dict[str, Any] = {"loop": "uvloop", "http": "httptools", "lifespan": "off",
                           "proxy_headers": True, "server_header": False}


class Worker(UvicornWorker):
    """gunicorn's uvicorn worker with these settings; its access log is
    core/access_log.py's (uvicorn's own line has no response time)."""

    CONFIG_KWARGS = {**UVICORN, "access_log": False}
