"""`pingyi backup` / `pingyi restore` with a round open in the middle of the vote.

Ballots before the backup are kept and their slips stay spent; ballots after it are
lost with the restore (expected; the restore says when the backup was taken) and their
slips may vote again; Redis is rebuilt from the restored rows, so the round goes on and
closes with the live tally equal to the SQL recount. Files that are not whole pingyi
backups of this kind of database are refused and change nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from server.core.db import db
from server.maintenance.backup import MAGIC
from tests.conftest import _dispose
from tests.factories import make_round, organizer, valid_answers
from tests.support.blank_db import drop_everything, migrated_app


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Flask]:
    app = migrated_app(request, tmp_path, redis_url)
    yield app
    _dispose(app)


def _cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def _ballots(app: Flask, rid: int) -> int:
    with app.app_context():
        return db.session.execute(text("SELECT COUNT(*) FROM ballots WHERE round_id = :r"),
                                  {"r": rid}).scalar_one()


def _vote(client: Any, token: str, answers: dict[str, Any]) -> Any:
    return client.post("/api/v1/ballots", json={"token": token, "answers": answers})


@pytest.fixture
def round_mid_vote(app: Flask) -> tuple[int, list[str], dict[str, Any], str]:
    with app.app_context():
        _, key = organizer()
        rnd, tokens = make_round("appraisal", tokens_per_category=6)
        answers = valid_answers(rnd)
        flat = [t for ts in tokens.values() for t in ts]
        return rnd.id, flat, answers, key


def test_restore_mid_vote_round_goes_on(app: Flask, round_mid_vote: Any,
                                        tmp_path: Path) -> None:
    rid, tokens, answers, key = round_mid_vote
    client = app.test_client()
    before, after, later = tokens[:6], tokens[6:10], tokens[10:]
    receipts = []
    for token in before:
        res = _vote(client, token, answers)
        assert res.status_code == 201, res.json
        receipts.append(res.json["receipt"])

    backup = tmp_path / "backups" / "pingyi.backup"
    backup.parent.mkdir()
    old_umask = os.umask(0)  # the file is private whatever the umask
    try:
        made = _cli(app, "backup", str(backup))
    finally:
        os.umask(old_umask)
    assert made.exit_code == 0, made.output
    assert "备份完成" in made.output and "6 张选票" in made.output
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert backup.read_bytes().startswith(MAGIC)
    assert [p.name for p in backup.parent.iterdir()] == ["pingyi.backup"]  # no temporaries
    taken_at = json.loads(backup.read_bytes().split(b"\n")[1])["taken_at"]

    for token in after:  # acknowledged, then lost by the restore
        assert _vote(client, token, answers).status_code == 201
    assert _ballots(app, rid) == 10

    restored = _cli(app, "restore", str(backup), "--yes")
    assert restored.exit_code == 0, restored.output
    assert f"已恢复 {taken_at} 的备份" in restored.output
    assert _ballots(app, rid) == 6

    for token in before:  # spent in the backup: stay spent
        res = _vote(client, token, answers)
        assert res.status_code == 409 and res.json["error"]["code"] == "token_spent"
    for receipt in receipts:  # no acknowledged ballot of the backup lost
        check = client.post("/api/v1/receipts/check", json={"round_id": rid, "receipt": receipt})
        assert check.json["found"] is True
    for token in after + later:  # spent after the backup: vote again, as do fresh slips
        res = _vote(client, token, answers)
        assert res.status_code == 201, res.json
    turnout = client.get(f"/api/v1/rounds/{rid}/turnout",
                         headers={"Authorization": f"Bearer {key}"})
    assert turnout.status_code == 200 and turnout.json["actual"] == 18

    closed = client.post(f"/api/v1/rounds/{rid}/close", json={"check_turnout": False},
                         headers={"Authorization": f"Bearer {key}"})
    assert closed.status_code == 200, closed.json  # Redis tally == SQL recount
    assert closed.json["status"] == "closed"
    assert _ballots(app, rid) == 18


def test_not_a_backup_is_refused_and_changes_nothing(app: Flask, round_mid_vote: Any,
                                                     tmp_path: Path) -> None:
    rid, tokens, answers, _ = round_mid_vote
    client = app.test_client()
    assert _vote(client, tokens[0], answers).status_code == 201
    good = tmp_path / "good.backup"
    assert _cli(app, "backup", str(good)).exit_code == 0
    assert _vote(client, tokens[1], answers).status_code == 201

    other_db = tmp_path / "other.sqlite3"
    sqlite3.connect(other_db).execute("CREATE TABLE t (x)").connection.commit()
    header, payload = good.read_bytes().split(b"\n", 2)[1:]
    meta = json.loads(header)
    wrong_kind = {**meta, "kind": "postgresql" if meta["kind"] == "sqlite" else "sqlite"}
    cases = {
        "not_a_backup": [tmp_path / "notes.txt", b"hello\n"],
        "not_a_backup ": [other_db, None],
        "damaged_backup": [tmp_path / "cut.backup", good.read_bytes()[:-100]],
        "damaged_backup ": [tmp_path / "edited.backup",
                            good.read_bytes()[:-1] + bytes([good.read_bytes()[-1] ^ 1])],
        "wrong_kind": [tmp_path / "kind.backup",
                       MAGIC + json.dumps(wrong_kind).encode() + b"\n" + payload],
        "no_file": [tmp_path / "missing.backup", None],
    }
    for code, (path, content) in cases.items():
        if content is not None:
            path.write_bytes(content)
        res = _cli(app, "restore", str(path), "--yes")
        assert res.exit_code == 1, (code, res.output)
        assert f"{code.strip()}:" in res.output, (code, res.output)
        assert _ballots(app, rid) == 2
    assert _vote(client, tokens[2], answers).status_code == 201  # the round goes on
    assert _ballots(app, rid) == 3


def test_backup_of_postgresql_needs_pg_dump(app: Flask, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite needs no external tool")
    monkeypatch.setenv("PATH", str(tmp_path))
    res = _cli(app, "backup", str(tmp_path / "x.backup"))
    assert res.exit_code == 1 and "missing_tool: 找不到 pg_dump" in res.output
    assert not (tmp_path / "x.backup").exists()


def test_restore_into_an_empty_database(app: Flask, round_mid_vote: Any, tmp_path: Path) -> None:
    """The disk died: a new, empty database gets the backup; the round goes on."""
    rid, tokens, answers, _ = round_mid_vote
    client = app.test_client()
    assert _vote(client, tokens[0], answers).status_code == 201
    backup = tmp_path / "b.backup"
    assert _cli(app, "backup", str(backup)).exit_code == 0
    drop_everything(app)
    res = _cli(app, "restore", str(backup), "--yes")
    assert res.exit_code == 0, res.output
    assert _ballots(app, rid) == 1
    assert _vote(client, tokens[0], answers).status_code == 409
    assert _vote(client, tokens[1], answers).status_code == 201
