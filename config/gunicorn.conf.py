"""gunicorn settings for production and the benchmark (`gunicorn -c config/gunicorn.conf.py`).

Environment: PINGYI_BIND (default 127.0.0.1:8000), PINGYI_WORKERS (default
2 x cores + 1), PINGYI_THREADS (default 8). Workers are threaded (gthread):
a ballot spends most of its time waiting on Redis and the SQL commit.
"""

import multiprocessing
import os

wsgi_app = "server.wsgi:app"
bind = os.environ.get("PINGYI_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("PINGYI_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("PINGYI_THREADS", "8"))
backlog = 2048
timeout = 30
graceful_timeout = 10
keepalive = 5
# Tokens only ever travel in POST bodies and URL fragments, so the request
# line logged here never holds one.
accesslog = os.environ.get("PINGYI_ACCESS_LOG") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("PINGYI_LOG_LEVEL", "info")


def post_fork(server, worker):  # noqa: ANN001, ANN201, ARG001
    # Threads waiting on I/O (the group-commit thread above all) get the GIL
    # back sooner; the default 5 ms switch interval makes each of its hops wait.
    import sys

    sys.setswitchinterval(float(os.environ.get("PINGYI_SWITCH_INTERVAL", "0.0005")))
