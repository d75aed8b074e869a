"""gunicorn settings for production and the benchmark (`gunicorn -c config/gunicorn.conf.py`).

Settings (PINGYI_BIND, PINGYI_WORKERS, PINGYI_THREADS, PINGYI_ACCESS_LOG,
PINGYI_LOG_LEVEL, PINGYI_SWITCH_INTERVAL, FORWARDED_ALLOW_IPS) come from the one
settings object, server/core/settings.py (docs/deploy.md §1).

uvicorn workers (server/core/serving.py) serve server/asgi.py:
ballots wait for their group commit as coroutines on the event loop, every
other request runs in a pool of PINGYI_THREADS threads through the Flask app.
Slow clients are the TLS proxy's to bound (docs/deploy.md §7: nginx's header
and body timeouts, request buffering).

Each worker has its own committer, so fewer workers make bigger batches (fewer
SQL commits and Redis calls per ballot); one more worker than cores keeps every
core busy while a worker waits. Measured on 2 cores (make bench, threaded workers,
three interleaved A/B pairs): 3 x 12 took 1839-2236 ballots/s where 5 x 8
took 1536-1641, with less PostgreSQL CPU per ballot (0.10-0.17 ms vs 0.24-0.26).
"""

from server.core.settings import read_settings

web = read_settings()  # the one settings object (server/core/settings.py)
wsgi_app = "server.asgi:app"
worker_class = "server.core.serving.Worker"
bind = web.PINGYI_BIND
workers = web.PINGYI_WORKERS
threads = web.PINGYI_THREADS
backlog = 2048
timeout = 30
graceful_timeout = 10
keepalive = 5
# Tokens only ever travel in POST bodies and URL fragments, so the request
# line logged here never holds one (server/core/access_log.py writes the line).
accesslog = web.PINGYI_ACCESS_LOG or None
errorlog = "-"
loglevel = web.PINGYI_LOG_LEVEL
forwarded_allow_ips = web.FORWARDED_ALLOW_IPS


def post_fork(server, worker):  # noqa: ANN001, ANN201, ARG001
    # Threads waiting on I/O (the group-commit thread above all) get the GIL
    # back sooner; the default 5 ms switch interval makes each of its hops wait.
    import sys

    sys.setswitchinterval(web.PINGYI_SWITCH_INTERVAL)


def post_worker_init(worker):  # noqa: ANN001, ANN201, ARG001
    from server.core.warmup import warm_up

    warm_up(worker.wsgi)  # SQL, Redis and the group committer, before the first ballot
    if worker.cfg.accesslog and worker.cfg.worker_class_str == worker_class:
        from server.core.access_log import AccessLogged

        worker.wsgi = AccessLogged(worker.wsgi, worker.log.access_log)

    # The loaded app is ~190,000 objects that live as long as the worker. Left in
    # the collector's oldest generation, each full collection walked them all,
    # holding the GIL for 90-270 ms in the middle of a burst of ballots (its p99
    # was mostly these pauses). Frozen, they are never walked again; a full
    # collection now takes 5-20 ms.
    import gc

    gc.collect()
    gc.freeze()
    # A ballot's objects are nearly all freed by reference counting within its
    # request, yet at the default young-generation threshold (700 allocations)
    # collections kept walking the objects of the ballots in flight: ~8% of a
    # worker's CPU samples in bursts (perf). At 50,000, most of that garbage is
    # gone before a collection looks. Web CPU per ballot in bursts, three
    # interleaved pairs of six bursts (medians): 0.23/0.19/0.19 ms at the
    # default, 0.20/0.16/0.15 ms with this.
    gc.set_threshold(50_000, 20, 10)
