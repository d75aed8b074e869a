"""gunicorn's worker class for server/asgi.py (config/gunicorn.conf.py).

uvicorn with httptools (HTTP parsed in C) and uvloop. Proxy headers are left
to the app's own ProxyFix (TRUSTED_PROXY_HOPS, core/ratelimit.py), so a
client's address is worked out once, the same way on every path; HTTPS behind
a proxy is recognised by gunicorn's rule, as with the threaded workers. The
app has no startup or shutdown hooks, so lifespan events are not sent.
"""

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS = {"loop": "uvloop", "http": "httptools", "lifespan": "off",
                     "proxy_headers": False, "server_header": False}

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # gunicorn's own rule for X-Forwarded-Proto (FORWARDED_ALLOW_IPS,
        # secure_scheme_headers), which its threaded workers apply themselves.
        trust = getattr(self.wsgi, "trust_scheme_headers", None)
        if trust is not None:
            trust(self.cfg.forwarded_allow_ips, self.cfg.secure_scheme_headers)
