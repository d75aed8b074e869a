"""A real Redis Cluster (3 masters, no replicas) on loopback ports, for tests.

    cluster = RedisClusterProcess(tmp_dir).start()   # 3 redis-servers + `redis-cli --cluster create`
    cluster.nodes                                      # "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3"
    cluster.flush()                                    # FLUSHALL on every master
    cluster.kill(); cluster.restart()                  # SIGKILL all, then start them empty
    cluster.stop()

The servers are child processes of the test run (not daemonized), with no
persistence (`--save "" --appendonly no`); only each node's cluster config file
lives in the temporary directory, so a killed cluster comes back with the same
slots and no data. `stop()` terminates every process it started, and on Linux
the servers also get SIGTERM if the test process itself dies.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from server.core.redis import redis_server_binary

MASTERS = 3
BUS_OFFSET = 10000  # Redis Cluster's bus port is the client port + 10000


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def cluster_binaries() -> tuple[str, str] | None:
    """(redis-server, redis-cli), or None when redis-cli is not installed."""
    cli = shutil.which("redis-cli")
    if not cli:
        return None
    server = shutil.which("redis-server") or redis_server_binary()
    return server, cli


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(n: int) -> list[int]:
    """n client ports whose bus ports (port + 10000) are free too."""
    ports: list[int] = []
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + BUS_OFFSET <= 65535 and port not in ports and _bindable(port + BUS_OFFSET):
            ports.append(port)
            if len(ports) == n:
                return ports
    raise RuntimeError("no free port pairs for a Redis Cluster")


class RedisClusterProcess:
    def __init__(self, folder: Path, masters: int = MASTERS) -> None:
        found = cluster_binaries()
        if found is None:
            raise RuntimeError("redis-cli is not installed (Debian: redis-tools)")
        self.server_bin, self.cli_bin = found
        self.folder = folder
        self.masters = masters
        self.ports: list[int] = []
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def nodes(self) -> str:
        """The REDIS_CLUSTER_NODES value for this cluster."""
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, decode_responses=True)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> RedisClusterProcess:
        for attempt in range(3):  # a port taken between the check and the bind: try others
            self.ports = _free_ports(self.masters)
            try:
                for port in self.ports:
                    self._spawn(port)
                break
            except RuntimeError:
                self.stop()
                if attempt == 2:
                    raise
        try:
            self._create()
            self.wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, port: int) -> None:
        folder = self.folder / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        log = open(folder / "redis.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [self.server_bin, "--port", str(port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf"),
             "--cluster-node-timeout", "3000", "--dir", str(folder),
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=log, stderr=log, preexec_fn=_die_with_parent,
        )
        log.close()
        self.procs[port] = proc
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server on port {port} exited; see {folder}/redis.log")
            try:
                with self.client(port) as c:
                    if c.ping():
                        return
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {port} did not start")

    def _create(self) -> None:
        out = subprocess.run(
            [self.cli_bin, "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60,
        )
        if out.returncode != 0 or "All 16384 slots covered" not in out.stdout:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{out.stdout}\n{out.stderr}")

    def wait_ok(self, timeout_s: float = 30) -> None:
        """Until every node says cluster_state:ok and knows every master."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if all(self._node_ok(p) for p in self.ports):
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def _node_ok(self, port: int) -> bool:
        with self.client(port) as c:
            info = str(c.execute_command("CLUSTER", "INFO"))
        fields = dict(line.split(":", 1) for line in info.split() if ":" in line)
        return (fields.get("cluster_state") == "ok"
                and fields.get("cluster_slots_assigned") == "16384"
                and int(fields.get("cluster_known_nodes", 0)) == self.masters)

    def flush(self) -> None:
        """Empty every master (tests start from a clean cluster)."""
        for port in self.ports:
            with self.client(port) as c:
                c.flushall()

    def kill(self) -> None:
        """SIGKILL every node: all data is gone; the cluster config files remain."""
        for proc in self.procs.values():
            proc.kill()
            proc.wait(timeout=10)
        self.procs.clear()

    def restart(self) -> None:
        """Start the killed nodes again (empty) and wait until the cluster is ok."""
        for port in self.ports:
            self._spawn(port)
        self.wait_ok()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
