"""Files the world cannot read: the SQLite database with its WAL and SHM, the instance
secret, the instance folder, the demo's printed slips and the CLI's exports are the
owner's alone (files 0600, folders 0700), whatever umask the process started with."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from server.app import create_app
from server.core.db import db
from server.core.files import private_dir, write_private
from tests.conftest import _dispose
from tests.support.points import build_world


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The umask most shells start with (files 0644): what the app must not rely on."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _fresh_app(instance: Path, redis_url: str) -> Flask:
    """An app of its own on the embedded SQLite of `instance`, with no SECRET_KEY set:
    as `make run` and a first install start."""
    return create_app({"TESTING": True, "INSTANCE_PATH": instance, "DATABASE_URL": "",
                       "SECRET_KEY": "", "REDIS_URL": redis_url,
                       "PUBLIC_BASE_URL": "https://vote.example.test"})


@pytest.fixture
def fresh(tmp_path: Path, redis_url: str, loose_umask: None) -> Iterator[Flask]:
    app = _fresh_app(tmp_path / "instance", redis_url)
    yield app
    _dispose(app)


def test_a_new_instance_is_private(fresh, tmp_path):
    instance = tmp_path / "instance"
    with fresh.app_context():
        db.create_all()
        db.session.execute(text("SELECT COUNT(*) FROM rounds")).all()  # WAL and SHM open
        db_file = instance / "pingyi.sqlite3"
        assert fresh.config["DATABASE_URL"] == f"sqlite:///{db_file}"
        files = [db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm"),
                 instance / "secret_key"]
        assert {p.name: oct(mode(p)) for p in files} == {p.name: "0o600" for p in files}
        assert mode(instance) == 0o700
        assert os.umask(0o077) == 0o077  # the factory set it for whatever else is written


def test_an_earlier_releases_files_are_tightened(tmp_path, redis_url, loose_umask):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    old = [instance / "pingyi.sqlite3", instance / "pingyi.sqlite3-wal", instance / "secret_key"]
    for path in old:
        path.write_bytes(b"k" * 64 if path.name == "secret_key" else b"")
        os.chmod(path, 0o644)
    app = _fresh_app(instance, redis_url)
    try:
        assert app.config["SECRET_KEY"] == "k" * 64  # the same key, kept
        assert [oct(mode(p)) for p in old] == ["0o600"] * 3
        assert mode(instance) == 0o700
    finally:
        _dispose(app)


def test_write_private_and_private_dir(tmp_path, loose_umask):
    target = tmp_path / "export.xlsx"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    write_private(target, b"new")
    assert target.read_bytes() == b"new" and mode(target) == 0o600
    folder = private_dir(tmp_path / "a" / "b")
    assert mode(folder) == 0o700


def test_demo_slips_and_links_are_private(fresh, tmp_path, loose_umask):
    os.umask(0o022)  # the factory set 077; the demo must not rely on it
    with fresh.app_context():
        db.create_all()
    res = fresh.test_cli_runner().invoke(args=["demo", "seed", "--base-url",
                                               "https://vote.example.test"])
    assert res.exit_code == 0, res.output
    demo = tmp_path / "instance" / "demo"
    written = sorted(demo.iterdir())
    assert any(p.suffix == ".pdf" for p in written) and (demo / "sample-links.txt") in written
    assert {p.name: oct(mode(p)) for p in written} == {p.name: "0o600" for p in written}
    assert mode(demo) == 0o700


def test_cli_export_is_private(app, tmp_path, loose_umask):
    with app.app_context():
        build_world()
    runner = app.test_cli_runner()
    closes = [["points", "close", f"2026Q{q}", "--as", "dangwei"] for q in range(1, 5)]
    for args in (*closes, ["points", "close", "2026"], ["points", "review", "2026"]):
        res = runner.invoke(args=args)
        assert res.exit_code == 0, res.output
    os.umask(0o022)
    out = tmp_path / "exports" / "stars.xlsx"
    out.parent.mkdir()
    res = runner.invoke(args=["points", "export-stars", "2026", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert mode(out) == 0o600
