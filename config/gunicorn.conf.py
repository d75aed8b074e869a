"""gunicorn settings for production and the benchmark (`gunicorn -c config/gunicorn.conf.py`).

Environment: PINGYI_BIND (default 127.0.0.1:8000), PINGYI_WORKERS (default
cores + 1), PINGYI_THREADS (default 12). Workers are threaded (gthread): a
ballot spends most of its time waiting for its group commit. Each worker has
its own committer, so fewer workers with more threads make bigger batches
(fewer SQL commits and Redis calls per ballot); one more worker than cores
keeps every core busy while a worker waits. Measured on 2 cores (make bench,
three interleaved A/B pairs): 3 x 12 took 1839-2236 ballots/s where 5 x 8
took 1536-1641, with less PostgreSQL CPU per ballot (0.10-0.17 ms vs 0.24-0.26).
"""

import multiprocessing
import os

wsgi_app = "server.wsgi:app"
bind = os.environ.get("PINGYI_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("PINGYI_WORKERS", multiprocessing.cpu_count() + 1))
worker_class = "gthread"
threads = int(os.environ.get("PINGYI_THREADS", "12"))
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
