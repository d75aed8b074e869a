"""`pingyi doctor` through the CLI: a good deployment (a live server on loopback answering
/healthz, a Redis that does not persist, the schema at head), and broken ones (Redis with
`appendonly yes`, PUBLIC_BASE_URL where nothing answers, a weak key, the schema behind)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from server.maintenance.doctor import (
    FAIL,
    OK,
    WARN,
    _error,
    check_public_base_url,
    check_secret_key,
)
from tests.conftest import _dispose, make_app
from tests.support.blank_db import blank_app, migrated_app
from tests.support.liveserver import live_server
from tests.support.redisproc import RedisProcess

pytestmark = pytest.mark.single_redis  # each test runs redis-servers of its own

STRONG_KEY = secrets.token_hex(32)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    proc = RedisProcess(tmp_path / "redis").start()
    yield proc
    proc.stop()


@pytest.fixture
def persisting_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    proc = RedisProcess(tmp_path / "redis-aof", "--appendonly", "yes").start()
    yield proc
    proc.stop()


def _doctor(app: Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["doctor", "--timeout", "3"])
    return result.exit_code, result.output


def _line(output: str, status: str, name: str) -> str:
    found = [line for line in output.splitlines() if line.startswith(f"[{status}] {name}：")]
    assert found, f"no [{status}] {name} line in:\n{output}"
    return found[0]


def test_good_setup(request: pytest.FixtureRequest, tmp_path: Path,
                    private_redis: RedisProcess) -> None:
    wechat_secret = "mp-secret-" + secrets.token_hex(8)
    app = migrated_app(request, tmp_path, private_redis.url, SECRET_KEY=STRONG_KEY)
    try:
        with live_server(app) as base:
            app.config.update(PUBLIC_BASE_URL=base, WECHAT_MINIPROGRAM_APPID="wx0123456789abcdef",
                              WECHAT_MINIPROGRAM_SECRET=wechat_secret,
                              WECHAT_MINIPROGRAM_API_BASE=base)
            code, out = _doctor(app)
    finally:
        _dispose(app)
    print(out)
    assert code == 0, out
    assert "异常" not in out
    _line(out, OK, "SECRET_KEY")
    _line(out, WARN, "PUBLIC_BASE_URL")  # loopback: fine here, not for phones
    _line(out, OK, "数据库")
    assert "（最新）" in _line(out, OK, "表结构版本")
    _line(out, OK, "Redis 配置")
    _line(out, OK, "Redis 时钟")
    _line(out, OK, "数据库时钟")
    assert base in _line(out, OK, "对外地址 /healthz")
    _line(out, OK, "微信小程序")
    assert STRONG_KEY not in out and wechat_secret not in out
    assert out.splitlines()[-1].startswith("全部正常")


def test_broken_setup(request: pytest.FixtureRequest, tmp_path: Path,
                      persisting_redis: RedisProcess) -> None:
    app = blank_app(request, tmp_path, persisting_redis.url, SECRET_KEY="test-secret",
                    PUBLIC_BASE_URL="http://127.0.0.1:9", WECHAT_MINIPROGRAM_APPID="wx01",
                    WECHAT_MINIPROGRAM_SECRET="")
    try:
        upgraded = app.test_cli_runner().invoke(args=["db", "upgrade", "5c0b1f836c94"])
        assert upgraded.exit_code == 0, upgraded.output
        code, out = _doctor(app)
    finally:
        _dispose(app)
    print(out)
    assert code == 1, out
    _line(out, FAIL, "SECRET_KEY")
    assert "pingyi db upgrade" in _line(out, FAIL, "表结构版本")
    assert "5c0b1f836c94" in out
    assert "appendonly yes" in _line(out, FAIL, "Redis 配置")
    assert "无法访问" in _line(out, FAIL, "对外地址 /healthz")
    assert "WECHAT_MINIPROGRAM_SECRET" in _line(out, FAIL, "微信小程序")
    assert "test-secret" not in out
    assert "项异常" in out.splitlines()[-1]


def test_database_unreachable(tmp_path: Path, private_redis: RedisProcess) -> None:
    """Nothing listens where DATABASE_URL points: 异常, and its password never shows."""
    app = make_app(tmp_path, private_redis.url, SECRET_KEY=STRONG_KEY,
                   DATABASE_URL="postgresql+psycopg://pingyi:s3cret-pw@127.0.0.1:9/pingyi")
    try:
        code, out = _doctor(app)
    finally:
        _dispose(app)
    assert code == 1, out
    assert "DATABASE_URL" in _line(out, FAIL, "数据库")
    assert "s3cret-pw" not in out and STRONG_KEY not in out


def _app(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    return app


@pytest.mark.parametrize("base,status,words", [
    ("", WARN, "未设置"),
    ("http://0.0.0.0:5000", FAIL, "监听地址"),
    ("pingyi.example.com", FAIL, "不是 http(s) 地址"),
    ("http://localhost:5000", WARN, "只有本机能访问"),
    ("http://[::1]:5000", WARN, "只有本机能访问"),
    ("http://192.168.1.20:5000", WARN, "未使用 HTTPS"),
    ("https://user:pw@pingyi.example.com", OK, "https://pingyi.example.com"),
])
def test_public_base_url_rules(base: str, status: str, words: str) -> None:
    [line] = check_public_base_url(_app(PUBLIC_BASE_URL=base))
    assert line.status == status and words in line.detail, line
    assert "pw" not in line.detail


def test_secret_key_rules(tmp_path: Path) -> None:
    for weak in ("test-secret", "changeme", "x" * 31):
        assert check_secret_key(_app(SECRET_KEY=weak))[0].status == FAIL
    app = _app(SECRET_KEY=STRONG_KEY)
    app.instance_path = str(tmp_path)
    assert check_secret_key(app)[0].status == OK
    (tmp_path / "secret_key").write_text(STRONG_KEY)
    assert check_secret_key(app)[0].status == WARN  # generated on this host only


def test_errors_never_carry_credentials() -> None:
    err = RuntimeError('connection to postgresql://pingyi:s3cret@db.internal:5432/pingyi failed')
    assert "s3cret" not in _error(err) and "db.internal:5432" in _error(err)
