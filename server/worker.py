"""gunicorn's worker class for server/asgi.py (config/gunicorn.conf.py).

uvicorn with httptools (HTTP parsed in C) and uvloop. Proxy headers are left
to the app's own ProxyFix (TRUSTED_PROXY_HOPS, core/ratelimit.py), so a
client's address is worked out once, the same way on every path; HTTPS behind
a proxy is recognised by gunicorn's rule, as with the threaded workers. The
app has no startup or shutdown hooks, so lifespan events are not sent.
"""

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from server.core.access_log import AccessLogged

MAX_HEAD = 64 * 1024  # a request's line and headers, in bytes


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on a request's head.

    uvicorn buffers a request line and headers of any size; gunicorn's own
    workers refuse over-long ones (431), and so does this: a client cannot make
    a worker hold megabytes of headers. Counted per chunk received before the
    head is complete, so the bound may be passed by one read at most.
    """

    _in_head = True
    _head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._refuse_head()
                return
        super().data_received(data)

    def _refuse_head(self) -> None:
        """431, as gunicorn answers an over-long header field, and close."""
        msg = b"Request Header Fields Too Large"
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                             b"content-type: text/plain; charset=utf-8\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                             % (len(msg), msg))
        self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes = True, 0  # the next request's head
        super().on_message_complete()


class Worker(UvicornWorker):
    # access_log off: uvicorn's own line has no response time; core/access_log.py
    # writes gthread's format to gunicorn's access log instead (below).
    CONFIG_KWARGS = {"loop": "uvloop", "http": BoundedHttpTools, "lifespan": "off",
                     "proxy_headers": False, "server_header": False, "access_log": False}

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # gunicorn's own rule for X-Forwarded-Proto (FORWARDED_ALLOW_IPS,
        # secure_scheme_headers), which its threaded workers apply themselves.
        trust = getattr(self.wsgi, "trust_scheme_headers", None)
        if trust is not None:
            trust(self.cfg.forwarded_allow_ips, self.cfg.secure_scheme_headers)
        if self.cfg.accesslog:
            self.wsgi = AccessLogged(self.wsgi, self.log.access_log)
