"""`pingyi backup FILE` / `pingyi restore FILE`: the SQL record in one file, and back.

A backup file is a header line `PINGYI-BACKUP`, one line of JSON (what it holds: the
database kind, the time it was taken, the schema revision, the payload's size and
SHA-256), then the payload: a copy of the SQLite database made with SQLite's online
backup API, or a `pg_dump -Fc` archive. Files are created 0600.

Restore checks the whole file before it touches anything (a file that is not a pingyi
backup, of another database kind, truncated or altered, changes nothing), then copies
it in: SQLite through the backup API into the live database, PostgreSQL with
`pg_restore --clean --single-transaction` (all or nothing). Redis holds nothing that is
not in SQL: restore empties pingyi's Redis database and rebuilds every round's live
state and the leaderboards from the restored rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flask import current_app
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url

from server.core.db import db
from server.core.redis import ClusterClient, get_redis
from server.points import boards
from server.roundbase.models import Round
from server.voting import roundinfo
from server.voting.rebuild import rebuild

log = logging.getLogger(__name__)

MAGIC = b"PINGYI-BACKUP\n"
FORMAT = 1
CHUNK = 1 << 20


class BackupError(Exception):
    """A refusal with a stable code and a Chinese message; nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Header:
    meta: dict[str, Any]
    offset: int  # where the payload starts

    @property
    def taken_at(self) -> str:
        return str(self.meta.get("taken_at", "?"))


def _kind() -> str:
    return "postgresql" if db.engine.dialect.name == "postgresql" else "sqlite"


def _revision() -> str | None:
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _count(table: str) -> int:
    from sqlalchemy import func, select
    from sqlalchemy import table as sql_table

    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sql_table(table))).scalar_one())


@contextmanager
def _private_file(folder: Path, suffix: str) -> Iterator[tuple[Path, IO[bytes]]]:
    """A new 0600 file beside the target (whatever the umask); removed unless kept."""
    fd, name = tempfile.mkstemp(prefix=".pingyi-", suffix=suffix, dir=folder)
    os.fchmod(fd, 0o600)
    path = Path(name)
    try:
        with os.fdopen(fd, "w+b") as fh:
            yield path, fh
    finally:
        path.unlink(missing_ok=True)


# -- the payloads ---------------------------------------------------------------------


def _sqlite_path() -> str:
    path = make_url(current_app.config["DATABASE_URL"]).database
    if not path or path == ":memory:":
        raise BackupError("no_database_file", "SQLite 数据库不是文件，无法备份")
    return path


def _pg_env(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password (it goes in PGPASSWORD, not on a command line)."""
    dsn = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    # Fail, not hang, when the web hosts still hold the tables.
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c lock_timeout=15s").strip()
    return dsn, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError("missing_tool", f"找不到 {name}：请安装与数据库服务器同版本的 "
                          "PostgreSQL 客户端（Debian: apt-get install postgresql-client），"
                          "并确保它在 PATH 中")
    return found


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BackupError(f"{what}_failed", f"{Path(args[0]).name} 失败：{' / '.join(detail)}")


def _dump_payload(into: Path) -> None:
    if _kind() == "sqlite":
        src = sqlite3.connect(_sqlite_path(), timeout=30)
        dst = sqlite3.connect(into)
        try:
            src.backup(dst)  # one step: a consistent snapshot, WAL included
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        finally:
            dst.close()
            src.close()
        return
    dsn, env = _pg_env(db.engine.url)
    _run([_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(into), "-d", dsn], env, "pg_dump")


def write_backup(target: Path) -> dict[str, Any]:
    """Write a backup of the SQL database to `target` (0600, replaced atomically)."""
    target = Path(target).resolve()
    if not target.parent.is_dir():
        raise BackupError("no_folder", f"目录不存在：{target.parent}")
    revision = _revision()
    if revision is None:
        raise BackupError("not_migrated",
                          "数据库还没有 pingyi 的表结构（先运行 pingyi db upgrade）")
    taken = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with _private_file(target.parent, ".payload") as (payload, _):
        _dump_payload(payload)
        digest, size = hashlib.sha256(), 0
        with open(payload, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        meta = {"app": "pingyi", "format": FORMAT, "kind": _kind(), "revision": revision,
                "taken_at": taken.isoformat().replace("+00:00", "Z"),
                "rounds": _count("rounds"), "ballots": _count("ballots"),
                "size": size, "sha256": digest.hexdigest()}
        with _private_file(target.parent, ".tmp") as (tmp, out), open(payload, "rb") as src:
            out.write(MAGIC + json.dumps(meta, ensure_ascii=False).encode() + b"\n")
            shutil.copyfileobj(src, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
            os.replace(tmp, target)
    return meta


# -- reading and restoring ------------------------------------------------------------------


def read_header(source: Path) -> Header:
    """The backup's description; BackupError if the file is not a whole pingyi backup."""
    source = Path(source)
    if not source.is_file():
        raise BackupError("no_file", f"找不到备份文件：{source}")
    not_ours = BackupError("not_a_backup", f"{source.name} 不是 pingyi 的备份文件"
                           "（由 pingyi backup 生成），未做任何改动")
    with open(source, "rb") as fh:
        if fh.read(len(MAGIC)) != MAGIC:
            raise not_ours
        line = fh.readline(65536)
        try:
            meta = json.loads(line)
        except ValueError:
            raise not_ours from None
        if not isinstance(meta, dict) or meta.get("app") != "pingyi":
            raise not_ours
        if meta.get("format") != FORMAT:
            raise BackupError("unknown_format", f"备份格式 {meta.get('format')} 不是本版本能读的"
                              f"格式 {FORMAT}，未做任何改动")
        offset = fh.tell()
        digest, size = hashlib.sha256(), 0
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    if size != meta.get("size") or digest.hexdigest() != meta.get("sha256"):
        raise BackupError("damaged_backup", f"{source.name} 不完整或已被改动（校验和不符），"
                          "未做任何改动")
    return Header(meta, offset)


def _extract(source: Path, header: Header, into: IO[bytes]) -> None:
    with open(source, "rb") as fh:
        fh.seek(header.offset)
        shutil.copyfileobj(fh, into, CHUNK)
    into.flush()


def _known_revisions() -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(current_app.config["MIGRATIONS_DIR"]))
    return {r.revision for r in ScriptDirectory.from_config(config).walk_revisions()}


def _restore_sqlite(payload: Path) -> None:
    check = sqlite3.connect(payload)
    try:
        ok = check.execute("PRAGMA quick_check").fetchone()
        has = check.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone()
    except sqlite3.DatabaseError:
        ok, has = None, None
    if not ok or ok[0] != "ok" or not has:
        check.close()
        raise BackupError("damaged_backup", "备份中的 SQLite 数据库无法读取，未做任何改动")
    live = sqlite3.connect(_sqlite_path(), timeout=30)
    try:
        check.backup(live)  # page by page into the live file, under SQLite's locks
    finally:
        live.close()
        check.close()


def _restore_postgres(payload: Path, header: Header) -> None:
    dsn, env = _pg_env(db.engine.url)
    restore = _tool("pg_restore")
    _run([restore, "--list", str(payload)], env, "pg_restore")  # a readable archive?
    current = _revision()
    if current is not None and current != header.meta["revision"]:
        raise BackupError("revision_differs", f"数据库的表结构版本（{current}）与备份的"
                          f"（{header.meta['revision']}）不同：请恢复到一个空数据库，再运行 "
                          "pingyi db upgrade；未做任何改动")
    _run([restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
          "--exit-on-error", "-d", dsn, str(payload)], env, "pg_restore")


def restore_backup(source: Path) -> dict[str, Any]:
    """Replace the SQL database with the backup's, then rebuild Redis from it."""
    source = Path(source).resolve()
    header = read_header(source)
    kind = header.meta.get("kind")
    if kind != _kind():
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        raise BackupError("wrong_kind", f"这是 {names.get(str(kind), kind)} 的备份，"
                          f"当前 DATABASE_URL 是 {names[_kind()]}，未做任何改动")
    if header.meta.get("revision") not in _known_revisions():
        raise BackupError("newer_backup", f"备份的表结构版本 {header.meta.get('revision')} 不属于"
                          "本版本（来自更新的版本？），未做任何改动")
    db.session.remove()
    db.engine.dispose()
    folder = Path(tempfile.gettempdir()) if _kind() == "postgresql" else \
        Path(_sqlite_path()).resolve().parent
    with _private_file(folder, ".restore") as (payload, fh):
        _extract(source, header, fh)
        if _kind() == "sqlite":
            _restore_sqlite(payload)
        else:
            _restore_postgres(payload, header)
    db.engine.dispose()
    return {**header.meta, **rebuild_live_state()}


def rebuild_live_state() -> dict[str, int]:
    """Empty pingyi's Redis database and rebuild it from SQL: every round but drafts
    (`pingyi tally rebuild --all`) and every leaderboard (`pingyi points rebuild`)."""
    from redis.cluster import RedisCluster

    client = get_redis()
    if isinstance(client, ClusterClient):
        client.flushdb(target_nodes=RedisCluster.PRIMARIES)
    else:
        client.flushdb()
    roundinfo._CACHE.clear()
    ids = list(db.session.execute(
        db.select(Round.id).where(Round.status != "draft").order_by(Round.id)).scalars())
    for rid in ids:
        rebuild(rid)
    scopes = boards.scopes_with_entries(None, None)
    for scope in scopes:
        boards.rebuild(scope)
    db.session.remove()
    return {"rebuilt_rounds": len(ids), "rebuilt_boards": len(scopes)}
