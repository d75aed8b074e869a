"""`pingyi doctor`: is this deployment right, before a meeting?

Each check gives lines of (status, name, detail): 正常, 警告 (works, but see the
detail) or 异常 (fix it: the detail says how). The command exits 1 when any line is
异常, so monitoring can run it. No secret is ever printed: keys and passwords are
reported as set or not, URLs without their credentials.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask
from sqlalchemy import text

from server.core.db import db
from server.core.fonts import cjk_any_font_path, cjk_ttf_path
from server.core.redis import ClusterClient, get_redis, sync
from server.maintenance.schema import current_revisions, head_revisions

OK, WARN, FAIL = "正常", "警告", "异常"
CLOCK_WARN_S, CLOCK_FAIL_S = 2.0, 30.0
WEAK_KEYS = {"", "dev", "secret", "changeme", "change-me", "test", "test-secret", "pingyi",
             "secret-key", "please-change-me"}


@dataclass(frozen=True)
class Line:
    status: str
    name: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.status}] {self.name}：{self.detail}"


def _error(exc: BaseException) -> str:
    """An exception's class and first line, without credentials of any URL in it."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    words = []
    for word in first.split():
        if "://" in word and "@" in word:
            scheme, rest = word.split("://", 1)
            word = f"{scheme}://…@{rest.rsplit('@', 1)[1]}"
        words.append(word)
    return f"{type(exc).__name__}: {' '.join(words)}".rstrip(": ")


def _http_error(exc: requests.RequestException) -> str:
    """What went wrong with an HTTP request, in a few words."""
    if isinstance(exc, requests.Timeout):
        return "超时"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS 证书无效"
    found = re.search(r"\[Errno -?\d+\] [^'\")\]]+", str(exc))
    return found.group(0) if found else _error(exc)


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


# -- settings ---------------------------------------------------------------------------


def check_secret_key(app: Flask) -> list[Line]:
    key = str(app.config.get("SECRET_KEY") or "")
    name = "SECRET_KEY"
    generated = Path(app.instance_path) / "secret_key"
    if key.lower() in WEAK_KEYS or len(key) < 32:
        return [Line(FAIL, name, "太短或是常见的默认值：用 python3 -c 'import secrets; "
                     "print(secrets.token_hex(32))' 生成一个，每台 Web 主机设置相同的值")]
    if generated.is_file() and generated.read_text().strip() == key:
        return [Line(WARN, name, f"未设置，使用本机生成的 {generated}：只适用于单台主机；"
                     "多台主机时请在每台设置相同的 SECRET_KEY")]
    return [Line(OK, name, "已设置（不显示）")]


def _host_kind(host: str) -> str:
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return "loopback"
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return "name"
    if ip.is_unspecified:
        return "unspecified"
    return "loopback" if ip.is_loopback else "address"


def check_public_base_url(app: Flask) -> list[Line]:
    name = "PUBLIC_BASE_URL"
    base = str(app.config.get("PUBLIC_BASE_URL") or "").strip()
    if not base:
        return [Line(WARN, name, "未设置：选票二维码将使用请求中的主机名，"
                     "请设置为手机能访问的地址，例如 https://pingyi.example.com")]
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [Line(FAIL, name, f"{base!r} 不是 http(s) 地址：请设置为手机能访问的地址，"
                     "例如 https://pingyi.example.com")]
    kind = _host_kind(parts.hostname)
    if kind == "unspecified":
        return [Line(FAIL, name, f"{_safe_url(base)} 是监听地址而不是访问地址，手机无法打开："
                     "请改为本机的局域网地址或域名")]
    if kind == "loopback":
        return [Line(WARN, name, f"{_safe_url(base)} 只有本机能访问：给他人扫码投票时，"
                     "请改为局域网地址或域名")]
    if parts.scheme == "http":
        return [Line(WARN, name, f"{_safe_url(base)} 未使用 HTTPS：正式使用时请在代理上启用 TLS")]
    return [Line(OK, name, _safe_url(base))]


def check_healthz(app: Flask, timeout: float) -> list[Line]:
    name = "对外地址 /healthz"
    base = str(app.config.get("PUBLIC_BASE_URL") or "").strip()
    if not base or not urlsplit(base).hostname:
        return [Line(WARN, name, "未检查：PUBLIC_BASE_URL 未设置")]
    url = base.rstrip("/") + "/healthz"
    try:
        res = requests.get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return [Line(FAIL, name, f"{_safe_url(url)} 无法访问（{_http_error(exc)}）："
                     "确认服务已启动、地址和端口正确、防火墙和代理放行")]
    if res.status_code != 200:
        return [Line(FAIL, name, f"{_safe_url(url)} 返回 {res.status_code}：503 表示数据库或 Redis "
                     "不可用；其他状态请检查代理配置")]
    try:
        body = res.json()
    except ValueError:
        body = None
    if body != {"ok": True}:
        return [Line(FAIL, name, f"{_safe_url(url)} 的应答不是 pingyi 的："
                     "地址是否指向了别的服务？")]
    return [Line(OK, name, f"本机访问 {_safe_url(url)} 正常")]


# -- database, Redis, clock ---------------------------------------------------------------


def check_database(app: Flask) -> list[Line]:
    name = "数据库"
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = current_revisions(conn)
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        return [Line(FAIL, name, f"无法连接（{_error(exc)}）：检查 DATABASE_URL 和数据库服务")]
    lines = [Line(OK, name, f"{db.engine.dialect.name} 可以连接")]
    heads = head_revisions(app)
    if current == heads:
        lines.append(Line(OK, "表结构版本", f"{', '.join(sorted(current))}（最新）"))
    elif not current:
        lines.append(Line(FAIL, "表结构版本", "数据库还没有表结构：运行 pingyi db upgrade"))
    else:
        lines.append(Line(FAIL, "表结构版本", f"数据库在 {', '.join(sorted(current))}，本版本是 "
                          f"{', '.join(sorted(heads))}：运行 pingyi db upgrade（先备份）"))
    return lines


def _redis_nodes(client: Any) -> list[tuple[str, Any]]:
    if isinstance(client, ClusterClient):
        return [(n.name, client.get_redis_connection(n)) for n in client.get_primaries()]
    return [("", client)]


def check_redis(app: Flask) -> list[Line]:
    name = "Redis"
    try:
        client = get_redis()
        client.ping()
        nodes = _redis_nodes(client)
    except Exception as exc:  # noqa: BLE001
        return [Line(FAIL, name, f"无法连接（{_error(exc)}）：检查 REDIS_URL / REDIS_CLUSTER_NODES "
                     "和 Redis 服务")]
    lines = [Line(OK, name, "可以连接" + (f"（集群 {len(nodes)} 个主节点）" if len(nodes) > 1
                                          else ""))]
    problems, unknown = [], []
    for label, node in nodes:
        where = f"{label} " if label else ""
        try:
            conf = {**node.config_get("save"), **node.config_get("appendonly"),
                    **node.config_get("maxmemory-policy")}
        except Exception as exc:  # noqa: BLE001 - CONFIG may be renamed on managed Redis
            unknown.append(f"{where}{_error(exc)}")
            continue
        if str(conf.get("save", "")).strip():
            problems.append(f"{where}save \"{conf['save']}\"（RDB 快照）")
        if str(conf.get("appendonly", "no")).lower() == "yes":
            problems.append(f"{where}appendonly yes（AOF 文件）")
        if conf.get("maxmemory-policy", "noeviction") != "noeviction":
            problems.append(f"{where}maxmemory-policy {conf['maxmemory-policy']}")
    if problems:
        lines.append(Line(FAIL, "Redis 配置", "；".join(problems) + "：Redis 不得持久化"
                          "（磁盘上的文件会把票证和选票联系起来）也不得淘汰键，请设置 save \"\"、"
                          "appendonly no、maxmemory-policy noeviction（docs/deploy.md 第 5 节）"))
    elif unknown:
        lines.append(Line(WARN, "Redis 配置", "无法读取 CONFIG（" + "；".join(unknown) + "）："
                          "请人工确认没有持久化（save \"\"、appendonly no）且 maxmemory-policy 为 "
                          "noeviction"))
    else:
        lines.append(Line(OK, "Redis 配置", "不持久化（save \"\"、appendonly no），noeviction"))
    return lines


def _offset_line(name: str, offset: float) -> Line:
    text_ = f"与本机相差 {offset:+.1f} 秒"
    if abs(offset) > CLOCK_FAIL_S:
        return Line(FAIL, name, text_ + "：截止时间和统计会出错，请在两台主机上启用 NTP 时间同步")
    if abs(offset) > CLOCK_WARN_S:
        return Line(WARN, name, text_ + "：请检查 NTP 时间同步")
    return Line(OK, name, text_)


def check_clocks(app: Flask) -> list[Line]:
    lines = []
    try:
        with db.engine.connect() as conn:
            if db.engine.dialect.name == "sqlite":
                lines.append(Line(OK, "数据库时钟", "SQLite 与本机使用同一时钟"))
            else:
                before = time.time()
                now = conn.execute(text("SELECT now()")).scalar_one()
                mid = (before + time.time()) / 2
                lines.append(_offset_line("数据库时钟", now.timestamp() - mid))
    except Exception as exc:  # noqa: BLE001
        lines.append(Line(WARN, "数据库时钟", f"未检查（{_error(exc)}）"))
    try:
        before = time.time()
        seconds, micros = sync(get_redis().time())
        mid = (before + time.time()) / 2
        lines.append(_offset_line("Redis 时钟", seconds + micros / 1e6 - mid))
    except Exception as exc:  # noqa: BLE001
        lines.append(Line(WARN, "Redis 时钟", f"未检查（{_error(exc)}）"))
    return lines


# -- fonts and WeChat -----------------------------------------------------------------------


def check_font(app: Flask) -> list[Line]:
    ttf = cjk_ttf_path()
    if ttf:
        return [Line(OK, "中文字体", ttf)]
    other = cjk_any_font_path()
    if other:
        return [Line(WARN, "中文字体", f"只有 {other}（PDF 无法嵌入）：选票 PDF 将依赖阅读器"
                     "自带的字体，请安装 fonts-wqy-zenhei")]
    return [Line(FAIL, "中文字体", "没有中文字体：选票 PDF 和积分榜图片中的汉字无法显示，"
                 "请安装 fonts-wqy-zenhei（Debian/Ubuntu）")]


def _service(name: str, base: str, who: str, timeout: float) -> Line:
    """正常 when the API's base URL answers HTTP at all (whatever the status)."""
    try:
        requests.get(base, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return Line(FAIL, name, f"{_safe_url(base)} 无法访问（{_http_error(exc)}）："
                    "检查网络和出站代理")
    return Line(OK, name, f"{who}，密钥已设置（不显示），{_safe_url(base)} 可以访问")


def check_wechat(app: Flask, timeout: float) -> list[Line]:
    lines = []
    appid = app.config.get("WECHAT_MINIPROGRAM_APPID")
    if not appid:
        lines.append(Line(OK, "微信小程序", "未配置（不使用小程序）"))
    elif not app.config.get("WECHAT_MINIPROGRAM_SECRET"):
        lines.append(Line(FAIL, "微信小程序", "已设置 WECHAT_MINIPROGRAM_APPID 但没有 "
                          "WECHAT_MINIPROGRAM_SECRET：在 mp.weixin.qq.com 取得 AppSecret"))
    else:
        lines.append(_service("微信小程序", str(app.config.get("WECHAT_MINIPROGRAM_API_BASE")),
                              f"AppID {appid}", timeout))
    corp = app.config.get("WECOM_CORP_ID")
    if not corp:
        lines.append(Line(OK, "企业微信", "未配置应用（群机器人仍可使用）"))
    elif not app.config.get("WECOM_APP_SECRET") or not app.config.get("WECOM_AGENT_ID"):
        lines.append(Line(FAIL, "企业微信", "已设置 WECOM_CORP_ID 但缺少 WECOM_APP_SECRET 或 "
                          "WECOM_AGENT_ID：在企业微信管理后台的自建应用中取得"))
    else:
        lines.append(_service("企业微信", str(app.config.get("WECOM_API_BASE")), f"企业 {corp}",
                              timeout))
    return lines


def run_checks(app: Flask, timeout: float = 5.0) -> list[Line]:
    """Every check, in the order an operator fixes things."""
    checks: list[tuple[Callable[..., list[Line]], tuple[Any, ...]]] = [
        (check_secret_key, ()), (check_public_base_url, ()), (check_database, ()),
        (check_redis, ()), (check_clocks, ()), (check_font, ()), (check_healthz, (timeout,)),
        (check_wechat, (timeout,)),
    ]
    lines: list[Line] = []
    for check, args in checks:
        try:
            lines.extend(check(app, *args))
        except Exception as exc:  # noqa: BLE001 - a broken check is a finding, not a crash
            lines.append(Line(FAIL, "检查程序", f"{check.__name__} 出错：{_error(exc)}"))
    return lines


def summary(lines: list[Line]) -> str:
    fails = sum(line.status == FAIL for line in lines)
    warns = sum(line.status == WARN for line in lines)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if fails:
        return f"{fails} 项异常，{warns} 项警告（{when}）"
    return "全部正常" + (f"，{warns} 项警告" if warns else "") + f"（{when}）"
