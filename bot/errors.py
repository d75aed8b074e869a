"""What can happen to one WeChat request, and WeChat Work error codes in Chinese.

Three outcomes besides success, and the outbox treats them differently:

- `Rejected`: WeCom answered with an errcode. The message was not delivered;
  retrying is safe (later, for a rate limit or a busy system) or pointless
  (an invalid webhook key: `permanent`).
- `NotDelivered`: the request never reached WeCom (connection refused, DNS,
  connect timeout). Retrying is safe.
- `Uncertain`: the request was sent but no answer came back (read timeout,
  connection reset, a gateway error page). WeCom may have delivered it, and
  neither the group robot nor app chat API can be asked, nor deduplicates a
  resend, so the outbox never resends it by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from bot.redact import redact

RETRY, PERMANENT, TOKEN = "retry", "permanent", "token"
CHECK_GROUP = "为避免重复发送，系统不会自动重发，请到群里核对后在发布记录中确认"


@dataclass(frozen=True)
class Code:
    zh: str
    kind: str
    retry_after_s: int | None = None


ERRCODES: dict[int, Code] = {
    -1: Code("企业微信系统繁忙，稍后自动重试", RETRY, 30),
    40001: Code("企业微信应用的 Secret 不正确（WECOM_APP_SECRET），请管理员检查配置", PERMANENT),
    40013: Code("企业 ID 不正确（WECOM_CORP_ID），请管理员检查配置", PERMANENT),
    40014: Code("企业微信 access_token 无效，已重新获取后重试", TOKEN),
    42001: Code("企业微信 access_token 已过期，已重新获取后重试", TOKEN),
    40006: Code("图片大小不符合要求（须为不超过 2 MB 的 PNG 或 JPG）", PERMANENT),
    40007: Code("图片素材已失效，稍后重新上传后重试", RETRY, 5),
    40008: Code("消息类型不正确", PERMANENT),
    40009: Code("图片大小不符合要求（须为不超过 2 MB 的 PNG 或 JPG）", PERMANENT),
    40058: Code("消息格式不正确（缺少字段或参数不合法）", PERMANENT),
    44004: Code("消息内容为空", PERMANENT),
    45002: Code("消息内容超过企业微信的长度限制", PERMANENT),
    45009: Code("发送太频繁：企业微信限制每个群机器人每分钟最多发送 20 条消息，稍后自动重试",
                RETRY, 60),
    45033: Code("企业微信接口并发调用过多，稍后自动重试", RETRY, 10),
    48002: Code("该企业微信应用没有调用此接口的权限，请管理员在企业微信后台授权", PERMANENT),
    60020: Code("本服务器的 IP 不在企业微信应用的“企业可信IP”中，请管理员在企业微信后台添加",
                PERMANENT),
    86001: Code("群聊 ID 不正确，请核对后重新填写", PERMANENT),
    86003: Code("群聊不存在，或本应用不在该群聊中，请核对群聊 ID", PERMANENT),
    93000: Code("群机器人地址无效：机器人可能已被移出群聊，或地址填写有误。"
                "请在群里重新添加机器人并更新地址", PERMANENT),
}


class Delivery(Exception):  # noqa: N818 - an outcome, not only an error
    """A request that did not end in errcode 0."""

    def __init__(self, zh: str, errcode: int | None = None) -> None:
        super().__init__(redact(zh))
        self.zh = redact(zh)
        self.errcode = errcode


class Rejected(Delivery):
    def __init__(self, zh: str, errcode: int | None, kind: str = RETRY,
                 retry_after_s: int | None = None) -> None:
        super().__init__(zh, errcode)
        self.kind = kind
        self.retry_after_s = retry_after_s

    @property
    def permanent(self) -> bool:
        return self.kind == PERMANENT


class NotDelivered(Delivery):
    pass


class Uncertain(Delivery):
    pass


def rejected(errcode: int, errmsg: str = "") -> Rejected:
    code = ERRCODES.get(errcode)
    if code is None:
        detail = f"：{errmsg.split(',')[0][:80]}" if errmsg else ""
        return Rejected(f"企业微信拒绝了该消息（错误码 {errcode}{detail}），稍后自动重试",
                        errcode, RETRY, None)
    return Rejected(f"{code.zh}（错误码 {errcode}）", errcode, code.kind, code.retry_after_s)


def _caused_by_connect(exc: BaseException) -> bool:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, NewConnectionError | NameResolutionError):
            return True
        stack += [cur.__cause__, cur.__context__, getattr(cur, "reason", None)]
        stack += [a for a in getattr(cur, "args", ()) if isinstance(a, BaseException)]
    return False


def from_requests(exc: requests.RequestException) -> Delivery:
    """Classify a failed request: never sent, or maybe delivered."""
    if isinstance(exc, requests.ConnectTimeout) or (
            isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout)
            and _caused_by_connect(exc)):
        return NotDelivered("无法连接企业微信服务器（网络不通或域名无法解析），稍后自动重试")
    if isinstance(exc, requests.ReadTimeout):
        return Uncertain("企业微信在规定时间内没有应答：消息可能已经送达，也可能没有。"
                         + CHECK_GROUP)
    return Uncertain(f"与企业微信的连接在发送后中断：消息可能已经送达。{CHECK_GROUP}")


def from_status(status: int) -> Delivery:
    if status >= 500:
        return Uncertain(f"企业微信返回 HTTP {status}：消息可能已经送达。{CHECK_GROUP}")
    return Rejected(f"企业微信拒绝了请求（HTTP {status}），稍后自动重试", None, RETRY, 60)
