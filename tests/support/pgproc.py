"""A private PostgreSQL cluster for tests that stop and restart the database.

Never the machine's PostgreSQL (other jobs use it): `initdb` into a fresh
folder under /tmp, owned by the `postgres` user (initdb refuses to run as
root), started with `pg_ctl` on a free loopback port and a private socket
folder, every statement logged (log_statement=all) to `log_path`, and removed
at `destroy()`. Needs root (to switch to the postgres user) and the Debian
PostgreSQL binaries; `unavailable()` says why not when it cannot run.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.gunicorn import free_port

PG_ROOT = Path("/usr/lib/postgresql")


def pg_bindir() -> Path | None:
    if not PG_ROOT.is_dir():
        return None
    versions = sorted((p for p in PG_ROOT.iterdir() if (p / "bin" / "initdb").exists()),
                      key=lambda p: int(p.name) if p.name.isdigit() else 0)
    return versions[-1] / "bin" if versions else None


def unavailable() -> str | None:
    """Why a private cluster cannot be started here, or None."""
    if os.geteuid() != 0:
        return "a private PostgreSQL cluster needs root (initdb runs as the postgres user)"
    if pg_bindir() is None:
        return "no PostgreSQL binaries under /usr/lib/postgresql/*/bin"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres system user"
    if shutil.which("runuser") is None:
        return "no runuser"
    return None


class PostgresProcess:
    """initdb + pg_ctl start/stop of a throwaway cluster on 127.0.0.1:<free port>."""

    def __init__(self, max_connections: int = 200) -> None:
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        self.bindir = pg_bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="pingyi-pg-"))
        pw = pwd.getpwnam("postgres")
        os.chown(self.folder, pw.pw_uid, pw.pw_gid)
        os.chmod(self.folder, 0o755)
        self.data = self.folder / "data"
        self.log_path = self.folder / "postgresql.log"
        self.port = free_port()
        self.max_connections = max_connections
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/pingyi"
        try:
            self._initdb()
        except BaseException:
            self.destroy()
            raise

    def _as_postgres(self, *args: str, check: bool = True, timeout: float = 60
                     ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], check=check,
                              capture_output=True, text=True, timeout=timeout)

    def _initdb(self) -> None:
        self._as_postgres(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust",
                          "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self.start()
        self._as_postgres(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p",
                          str(self.port), "-U", "postgres", "pingyi")

    def start(self) -> PostgresProcess:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   f"-c max_connections={self.max_connections} -c log_statement=all "
                   "-c logging_collector=off -c shared_buffers=32MB -c fsync=on")
        res = self._as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
                                "-l", str(self.log_path), "-w", "-t", "60", "start",
                                check=False)
        if res.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {res.stdout}{res.stderr}\n"
                               f"{self.log_tail()}")
        return self

    def stop(self, mode: str = "fast") -> None:
        """`mode`: smart, fast (abort sessions, clean shutdown) or immediate (like a crash)."""
        self._as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                          "-t", "60", "stop", check=False)

    def running(self) -> bool:
        res = self._as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.data), "status",
                                check=False)
        return res.returncode == 0

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def destroy(self) -> None:
        if self.running():
            self.stop("immediate")
            deadline = time.monotonic() + 10
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.1)
        shutil.rmtree(self.folder, ignore_errors=True)
