"""Files the world cannot read: the instance folder, the SQLite database (and its WAL
and SHM, which SQLite creates with the database's own mode), the instance secrets
and every export written to disk are the owner's alone (0600, folders 0700).

The app factory sets the process umask to 077, so whatever else the app, its CLI or
a redis-server it starts writes is private too; the database and exports are also
created with explicit modes, and files of an earlier release are tightened.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url

PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700


def private_umask() -> None:
    """New files and folders of this process: owner only."""
    os.umask(PRIVATE_UMASK)


def private_dir(path: str | os.PathLike[str]) -> Path:
    """The folder (and missing parents) created 0700; an existing one is tightened."""
    folder = Path(path)
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(folder, DIR_MODE)
    return folder


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a file that only the owner can read (also when it already existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), FILE_MODE)
        fh.write(data)


def tighten(path: str | os.PathLike[str]) -> None:
    """An existing file made 0600 (a file of an earlier release); missing ones are left."""
    try:
        os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass


def private_sqlite(url: str) -> None:
    """Create the SQLite database file 0600 before SQLite does (SQLite gives its WAL
    and SHM the database's mode) and tighten those of an earlier release."""
    if not url.startswith("sqlite"):
        return
    name = make_url(url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for suffix in ("", "-wal", "-shm", "-journal"):
        tighten(f"{path}{suffix}")


def attachment(filename_ascii: str, filename: str) -> str:
    """Content-Disposition with an ASCII fallback and the UTF-8 (Chinese) name."""
    return f"attachment; filename=\"{filename_ascii}\"; filename*=UTF-8''{quote(filename)}"
